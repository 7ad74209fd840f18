import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { compileExpression } from '../../src/hog/compile.js'
import { propertyFilterToHogQL, type PropertyFilter } from '../../src/hog/property-filters.js'
import { globalsOf, runBytecode } from '../../src/hog/run.js'
import { HogQLPrinter, PostHogBox, type BoxEvent } from '../support/posthog-box/index.js'

/**
 * HogQL meets ClickHouse with the column types PostHog gives it. An event property without a
 * typed property definition is a Nullable(String) extraction; with a Numeric, Boolean or DateTime
 * definition it is converted (posthog/hogql/transforms/property_types.py). The printed forms are
 * PostHog's (posthog/hogql/transforms/test/__snapshots__/test_property_types.ambr,
 * posthog/hogql/printer/test/__snapshots__/test_printer.ambr), values inlined where PostHog
 * passes them as parameters.
 */
const events: BoxEvent[] = [
  { uuid: '0190b5a8-0000-7000-8000-000000000001', event: 'checkout', distinct_id: 'a', timestamp: '2026-11-20T10:00:00Z', properties: { plan: 'Pro', amount: 42, beta: true, note: 'x' }, person: { id: 'p1', properties: { email: 'a@example.com' } } },
  { uuid: '0190b5a8-0000-7000-8000-000000000002', event: 'checkout', distinct_id: 'b', timestamp: '2026-11-20T11:00:00Z', properties: { plan: 'Team', amount: '7.5', beta: false }, person: { id: 'p2', properties: { email: 'b@internal.test' } } },
  { uuid: '0190b5a8-0000-7000-8000-000000000003', event: 'checkout', distinct_id: 'c', timestamp: '2026-11-20T12:00:00Z', properties: { plan: null, amount: 'n/a', beta: 'true' }, person: { id: 'p3', properties: {} } },
  { uuid: '0190b5a8-0000-7000-8000-000000000004', event: 'checkout', distinct_id: 'd', timestamp: '2026-11-20T13:00:00Z', properties: {}, person: { id: 'p4', properties: { email: 'd@example.com' } } },
]

let untyped: PostHogBox
let typed: PostHogBox
beforeAll(async () => {
  untyped = new PostHogBox()
  typed = new PostHogBox({ eventPropertyTypes: new Map([['amount', 'Numeric'], ['beta', 'Boolean']]) })
  await untyped.insert(events)
  await typed.insert(events)
})
afterAll(() => {
  untyped.close()
  typed.close()
})

const printed = (hogql: string, types?: ReadonlyMap<string, 'Numeric' | 'Boolean' | 'DateTime' | 'String'>) =>
  new HogQLPrinter({ timezone: 'UTC', eventPropertyTypes: types }).printSelect(`SELECT ${hogql} AS x FROM events`)

describe("HogQL printed as PostHog's printer prints it", () => {
  it.each([
    // test_printer.ambr / test_property_types.ambr: an untyped property, and each converted type
    ['properties.plan', undefined, "replaceRegexpAll(nullIf(nullIf(JSONExtractRaw(events.properties, 'plan'), ''), 'null'), '^\"|\"$', '')"],
    ['properties.amount', new Map([['amount', 'Numeric' as const]]), "accurateCastOrNull(replaceRegexpAll(nullIf(nullIf(JSONExtractRaw(events.properties, 'amount'), ''), 'null'), '^\"|\"$', ''), 'Float64')"],
    ['properties.beta', new Map([['beta', 'Boolean' as const]]), "accurateCastOrNull(transform(toString(replaceRegexpAll(nullIf(nullIf(JSONExtractRaw(events.properties, 'beta'), ''), 'null'), '^\"|\"$', '')), ['true', 'false'], [1, 0], NULL), 'Bool')"],
    ['person.properties.email', undefined, "replaceRegexpAll(nullIf(nullIf(JSONExtractRaw(events.person_properties, 'email'), ''), 'null'), '^\"|\"$', '')"],
    // printer/clickhouse.py: booleans print as 1 and 0; `= NULL` as isNull; `in` unwrapped
    ['true', undefined, '1'],
    ['properties.plan = NULL', undefined, "isNull(replaceRegexpAll(nullIf(nullIf(JSONExtractRaw(events.properties, 'plan'), ''), 'null'), '^\"|\"$', ''))"],
    ["event in ('a', 'b')", undefined, "in(events.event, tuple('a', 'b'))"],
    ['toDate(timestamp)', undefined, "toDate(toTimeZone(events.timestamp, 'UTC'))"],
    // test_printer.py: comparisons with a nullable side against a constant, and between two columns
    ["properties.plan != 'a'", undefined, "ifNull(notEquals(replaceRegexpAll(nullIf(nullIf(JSONExtractRaw(events.properties, 'plan'), ''), 'null'), '^\"|\"$', ''), 'a'), 1)"],
    ["properties.plan ilike '%a%'", undefined, "ifNull(ilike(replaceRegexpAll(nullIf(nullIf(JSONExtractRaw(events.properties, 'plan'), ''), 'null'), '^\"|\"$', ''), '%a%'), 0)"],
    ['properties.plan = properties.note', undefined, "ifNull(equals(replaceRegexpAll(nullIf(nullIf(JSONExtractRaw(events.properties, 'plan'), ''), 'null'), '^\"|\"$', ''), replaceRegexpAll(nullIf(nullIf(JSONExtractRaw(events.properties, 'note'), ''), 'null'), '^\"|\"$', '')), and(isNull(replaceRegexpAll(nullIf(nullIf(JSONExtractRaw(events.properties, 'plan'), ''), 'null'), '^\"|\"$', '')), isNull(replaceRegexpAll(nullIf(nullIf(JSONExtractRaw(events.properties, 'note'), ''), 'null'), '^\"|\"$', ''))))"],
    // printer/clickhouse.py: concat makes each argument a string; toDateTime of a string takes a precision and the zone
    ["concat('$feature/', properties.plan)", undefined, "concat('$feature/', ifNull(toString(replaceRegexpAll(nullIf(nullIf(JSONExtractRaw(events.properties, 'plan'), ''), 'null'), '^\"|\"$', '')), ''))"],
    ["toDateTime('2026-11-20 00:00:00', 'UTC')", undefined, "parseDateTime64BestEffortOrNull('2026-11-20 00:00:00', 6, 'UTC')"],
    ['count(DISTINCT person_id)', undefined, 'count(DISTINCT events.person_id)'],
    ['arrayFilter(x -> notEmpty(x), [event])', undefined, 'arrayFilter(x -> notEmpty(x), [events.event])'],
    ["JSONExtractRaw(properties, '$feature_flag_response')", undefined, "JSONExtractRaw(events.properties, '$feature_flag_response')"],
  ])('%s', async (hogql, types, expected) => {
    expect(await printed(hogql, types)).toContain(`SELECT ${expected} AS x FROM`)
  })

  it('caps the rows as PostHog does: 100 without a LIMIT, 50,000 at most', async () => {
    expect(await new HogQLPrinter({ timezone: 'UTC' }).printSelect('SELECT event FROM events')).toMatch(/ LIMIT 100 SETTINGS/)
    expect(await new HogQLPrinter({ timezone: 'UTC' }).printSelect('SELECT event FROM events LIMIT 900000')).toMatch(/ LIMIT 50000 SETTINGS/)
  })
})

describe('comparisons on a real ClickHouse, whatever the property type', () => {
  it("rejects a boolean compared with an untyped property, as a real PostHog does: the form the exposures query used", async () => {
    await expect(untyped.hogql("SELECT countIf(properties.beta = true) FROM events")).rejects.toThrow(/There is no supertype for types String, UInt8|Cannot convert string/)
    await expect(untyped.hogql('SELECT countIf(properties.amount > 5) FROM events')).rejects.toThrow(/no supertype|Cannot (convert|parse)/)
    // With a Boolean definition the same text runs (and the text "true" reads as true too).
    expect((await typed.hogql('SELECT countIf(properties.beta = true) AS n FROM events')).results).toEqual([[2]])
  })

  // Every form the property filters produce, each operator with text, number and boolean values:
  // the same answer untyped and typed, and the same as HogVM's at ingestion.
  const filters: PropertyFilter[] = [
    { key: 'plan', value: 'Pro', operator: 'exact' },
    { key: 'plan', value: ['Team', 'Pro'], operator: 'exact' },
    { key: 'plan', value: 'Pro', operator: 'is_not' },
    { key: 'plan', value: ['Team', 'Pro'], operator: 'is_not' },
    { key: 'plan', value: 'pr', operator: 'icontains' },
    { key: 'plan', value: 'pr', operator: 'not_icontains' },
    { key: 'plan', value: '^T', operator: 'regex' },
    { key: 'plan', value: '^T', operator: 'not_regex' },
    { key: 'amount', value: 42, operator: 'exact' },
    { key: 'amount', value: [42, 7.5], operator: 'exact' },
    { key: 'amount', value: 42, operator: 'is_not' },
    { key: 'amount', value: 5, operator: 'gt' },
    { key: 'amount', value: '7.5', operator: 'gte' },
    { key: 'amount', value: 42, operator: 'lt' },
    { key: 'amount', value: 42, operator: 'lte' },
    { key: 'amount', value: '4', operator: 'icontains' },
    { key: 'beta', value: true, operator: 'exact' },
    { key: 'beta', value: ['false'], operator: 'exact' },
    { key: 'beta', value: true, operator: 'is_not' },
    { key: 'beta', operator: 'is_set' },
    { key: 'beta', operator: 'is_not_set' },
    { key: 'email', value: '@internal.test', operator: 'not_icontains', type: 'person' },
    { key: 'email', value: 'example.com', operator: 'icontains', type: 'person' },
  ]
  it.each(filters.map((f) => [propertyFilterToHogQL(f), f]))('%s', async (hogql) => {
    const query = `SELECT distinct_id FROM events WHERE ${hogql} ORDER BY distinct_id LIMIT 10`
    const plain = (await untyped.hogql(query)).results.map((r) => r[0])
    const converted = (await typed.hogql(query)).results.map((r) => r[0])
    const bytecode = await compileExpression(hogql)
    const hogvm = events.filter((e) => runBytecode(bytecode, globalsOf({ ...e, person: e.person ?? undefined })) === true).map((e) => e.distinct_id)
    expect(plain).toEqual(hogvm)
    expect(converted).toEqual(hogvm)
  })
})
