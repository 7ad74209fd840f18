import { describe, expect, it } from 'vitest'
import { compileExpression } from '../../../src/hog/compile.js'
import { propertyFilterToHogQL, propertyFiltersToHogQL } from '../../../src/hog/property-filters.js'
import { globalsOf, runBytecode } from '../../../src/hog/run.js'

const event = globalsOf({
  event: 'checkout_completed',
  distinct_id: 'd1',
  timestamp: '2026-11-20T10:00:00Z',
  properties: { plan: 'Pro', amount: 42, '$feature/checkout-one-page': 'test', url: 'https://x.io/checkout' },
  person: { id: 'p1', properties: { email: 'ana@example.com' } },
})

describe("PostHog's property filters as HogQL, judged the same at ingestion", () => {
  it.each([
    [{ key: 'plan', value: ['Pro'], operator: 'exact', type: 'event' }, "properties.plan = 'Pro'", true],
    [{ key: 'plan', value: ['Team', 'Pro'], operator: 'exact', type: 'event' }, "properties.plan in ('Team', 'Pro')", true],
    [{ key: 'plan', value: 'Pro', operator: 'is_not' }, "properties.plan != 'Pro'", false],
    [{ key: 'email', value: '@example.com', operator: 'icontains', type: 'person' }, "person.properties.email ilike '%@example.com%'", true],
    [{ key: 'url', value: '/check.*', operator: 'regex' }, "properties.url =~ '/check.*'", true],
    [{ key: 'amount', value: '40', operator: 'gt' }, 'properties.amount > 40', true],
    [{ key: '$feature/checkout-one-page', value: ['test'], operator: 'exact' }, "properties.`$feature/checkout-one-page` = 'test'", true],
    [{ key: 'coupon', operator: 'is_set' }, 'properties.coupon is not null', false],
    [{ key: 'coupon', operator: 'is_not_set' }, 'properties.coupon is null', true],
  ])('%j -> %s', async (filter, hogql, matches) => {
    expect(propertyFilterToHogQL(filter)).toBe(hogql)
    expect(runBytecode(await compileExpression(hogql), event)).toBe(matches)
  })

  it('joins several filters with and; none means every event', async () => {
    const text = propertyFiltersToHogQL([{ key: 'plan', value: 'Pro' }, { key: 'amount', value: 50, operator: 'lt' }])
    expect(runBytecode(await compileExpression(text), event)).toBe(true)
    expect(propertyFiltersToHogQL([])).toBe('true')
  })

  it('refuses cohort filters and unknown operators with the filter named', () => {
    expect(() => propertyFilterToHogQL({ key: 'id', value: 2, type: 'cohort' })).toThrow(/type "cohort"/)
    expect(() => propertyFilterToHogQL({ key: 'd', value: '2026', operator: 'is_date_before' })).toThrow(/is_date_before/)
  })
})
