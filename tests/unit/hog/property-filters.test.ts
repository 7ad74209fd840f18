import { describe, expect, it } from 'vitest'
import { compileExpression } from '../../../src/hog/compile.js'
import { propertyFilterToHogQL, propertyFiltersToHogQL } from '../../../src/hog/property-filters.js'
import { globalsOf, runBytecode } from '../../../src/hog/run.js'

const event = globalsOf({
  event: 'checkout_completed',
  distinct_id: 'd1',
  timestamp: '2026-11-20T10:00:00Z',
  properties: { plan: 'Pro', amount: 42, beta: true, '$feature/checkout-one-page': 'test', url: 'https://x.io/checkout' },
  person: { id: 'p1', properties: { email: 'ana@example.com' } },
})

describe("PostHog's property filters as HogQL, judged the same at ingestion", () => {
  it.each([
    [{ key: 'plan', value: ['Pro'], operator: 'exact', type: 'event' }, "toString(properties.plan) = 'Pro'", true],
    [{ key: 'plan', value: ['Team', 'Pro'], operator: 'exact', type: 'event' }, "toString(properties.plan) in ('Team', 'Pro')", true],
    [{ key: 'plan', value: 'Pro', operator: 'is_not' }, "toString(properties.plan) != 'Pro'", false],
    [{ key: 'email', value: '@example.com', operator: 'icontains', type: 'person' }, "toString(person.properties.email) ilike '%@example.com%'", true],
    [{ key: 'url', value: '/check.*', operator: 'regex' }, "toString(properties.url) =~ '/check.*'", true],
    [{ key: 'amount', value: '40', operator: 'gt' }, 'toFloat(properties.amount) is not null and toFloat(properties.amount) > 40', true],
    // Numbers and booleans compare as text (PostHog prints an untyped property as Nullable(String)).
    [{ key: 'amount', value: 42, operator: 'exact' }, "toString(properties.amount) = '42'", true],
    [{ key: 'amount', value: '41.5', operator: 'lte' }, 'toFloat(properties.amount) is not null and toFloat(properties.amount) <= 41.5', false],
    [{ key: 'beta', value: true, operator: 'exact' }, "toString(properties.beta) = 'true'", true],
    [{ key: 'beta', value: ['false'], operator: 'is_not' }, "toString(properties.beta) != 'false'", true],
    [{ key: 'missing', value: 3, operator: 'gt' }, 'toFloat(properties.missing) is not null and toFloat(properties.missing) > 3', false],
    [{ key: 'missing', value: 3, operator: 'lt' }, 'toFloat(properties.missing) is not null and toFloat(properties.missing) < 3', false],
    [{ key: 'plan', value: 'Team', operator: 'is_not' }, "toString(properties.plan) != 'Team'", true],
    [{ key: 'missing', value: 'x', operator: 'is_not' }, "toString(properties.missing) != 'x'", true],
    [{ key: '$feature/checkout-one-page', value: ['test'], operator: 'exact' }, "toString(properties.`$feature/checkout-one-page`) = 'test'", true],
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
