/**
 * `multiple_variant_handling: 'first_seen'` (issue 18, item 5): PostHog puts a unit in the variant of
 * its earliest exposure, argMin(variant, timestamp), with no `$multiple` group
 * (products/experiments/backend/hogql_queries/experiment_query_builder.py
 * `_build_variant_expr_for_mean`, exposure_query_logic.py). The counters keep each unit's earliest
 * exposure, so the counts do not depend on the order events arrive in; SRM and multiple_variants
 * read them as PostHog does.
 */
import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, describe, expect, it } from 'vitest'
import { contractOnly, type ContractCache } from '../../src/counters/cache.js'
import { createIngestContext, ingestEvent } from '../../src/counters/ingest.js'
import { MemoryCache } from '../../src/counters/memory-cache.js'
import { readObservations } from '../../src/counters/read.js'
import { storeFor } from '../../src/counters/store.js'
import type { Definitions } from '../../src/definitions/definitions.js'
import { hooksFromDefinitions } from '../../src/plugin/definition-hooks.js'
import { parseSettings } from '../../src/settings/settings.js'
import { byValue } from '../support/ingest.js'
import { auditJourneys, baseTestExperiment, baseTestFlag, definitionsOf, journeys, type JourneyEvent } from '../support/journeys.js'
import { dropPrefix, freshRedisCache, redisOrSkipReason } from '../support/redis.js'

const NOW = Date.parse('2024-01-07T12:00:00Z')

describe('keepEarliest: the store keeps the earliest (time, value) of a field, and says what it held', () => {
  const stores: [string, () => ContractCache][] = [
    ['in-memory hashes (host, audit)', () => new MemoryCache(() => NOW)],
    ['one key per field (plugin-server)', () => contractOnly(new MemoryCache(() => NOW))],
  ]
  it.each(stores)('%s', async (_name, make) => {
    const store = storeFor(make())
    const keep = (time: number, value: string) => store.keepEarliest('g', 'c:fs', { time, value }, 3600)
    expect(await keep(20, 'scontrol')).toEqual({ replaced: true, previous: null })
    expect(await keep(30, 'stest')).toEqual({ replaced: false, previous: { time: 20, value: 'scontrol' } })
    expect(await keep(20, 'stest')).toEqual({ replaced: false, previous: { time: 20, value: 'scontrol' } }) // a tie keeps the first kept
    expect(await keep(10, 'stest')).toEqual({ replaced: true, previous: { time: 20, value: 'scontrol' } })
    expect(await keep(5, 'stest')).toEqual({ replaced: true, previous: { time: 10, value: 'stest' } })
  })
})

// test_experiment_exposures_query_runner.py (products/experiments/backend/hogql_queries/test/experiment_query_runner/)
const FLAG = 'test-experiment'
const RUN = { start_date: '2024-01-01T00:00:00Z', end_date: '2024-01-07T00:00:00Z' }
const exposure = (variant: string, timestamp: string): JourneyEvent => ({
  event: '$feature_flag_called',
  timestamp,
  properties: { $feature_flag_response: variant, [`$feature/${FLAG}`]: variant, $feature_flag: FLAG },
})

/** test_exposure_query_multiple_variant_handling_first_seen */
const firstSeenJourneys = () =>
  journeys({
    user_control_only: [exposure('control', '2024-01-02')],
    user_test_only: [exposure('test', '2024-01-02')],
    // sees control first, then test: counted as control
    user_multiple_control_first: [exposure('control', '2024-01-02'), exposure('test', '2024-01-03')],
    // sees test first, then control: counted as test
    user_multiple_test_first: [exposure('test', '2024-01-02'), exposure('control', '2024-01-04')],
  })

/** test_exposure_query_with_multiple_variant_exposures: user_test_2 sees test and control at the same time */
const multipleJourneys = () =>
  journeys({
    user_control_1: [exposure('control', '2024-01-02')],
    user_control_2: [exposure('control', '2024-01-02')],
    user_test_1: [exposure('test', '2024-01-02')],
    user_test_2: [exposure('test', '2024-01-02'), exposure('control', '2024-01-02')],
  })

const defsWith = (handling: string | null): Definitions =>
  definitionsOf([baseTestFlag()], [baseTestExperiment({ ...RUN, exposure_criteria: handling ? { multiple_variant_handling: handling } : null })])

/** The events in the order given, and latest first: PostHog's argMin reads timestamps, not arrival. */
const orders = (events: unknown[]) => [
  ['in time order', events],
  ['latest first', [...events].reverse()],
] as const

describe("PostHog's first_seen test through the offline audit: units per variant, whatever the arrival order", () => {
  it.each([
    // total_exposures control 2, test 2; MULTIPLE_VARIANT_KEY not in total_exposures
    ...orders(firstSeenJourneys()).map(([order, events]) => ({ name: `test_exposure_query_multiple_variant_handling_first_seen, ${order}`, handling: 'first_seen', events, units: { control: 2, test: 2 }, multiple: 2 })),
    // the same users with the default handling: the two crossers go to $multiple
    ...orders(firstSeenJourneys()).map(([order, events]) => ({ name: `the same users with exclude, ${order}: the crossers leave both variants`, handling: null, events, units: { control: 1, test: 1 }, multiple: 2 })),
    // total_exposures control 2, test 1, $multiple 1
    ...orders(multipleJourneys()).map(([order, events]) => ({ name: `test_exposure_query_with_multiple_variant_exposures, ${order}`, handling: 'exclude', events, units: { control: 2, test: 1 }, multiple: 1 })),
  ])('$name', async ({ handling, events, units, multiple }) => {
    const { report, flag } = await auditJourneys(defsWith(handling), events, NOW)
    const f = report.flags.find((x) => x.key === FLAG)!
    expect(Object.fromEntries(f.variants.map((v) => [v.key, v.units]))).toEqual(units)
    expect(flag(FLAG)!.exposure.$feature_flag_called!.multipleVariantUnits).toBe(multiple)
    const srm = f.checks.find((c) => c.id === 'sample_ratio')!.evidence as { variants: { key: string; units: number }[] }
    expect(Object.fromEntries(srm.variants.map((v) => [v.key, v.units]))).toEqual(units)
  })
})

describe('SRM and multiple_variants with first_seen, as PostHog computes them', () => {
  // 50 control-only, 38 test-only, 12 who saw test first and control later. PostHog's _calculate_srm
  // tests total_exposures without `$multiple` against the rollout: first_seen gives 50/50
  // (test_srm_calculation_with_balanced_distribution: p_value 1.0); exclude gives 50/38 (+12 $multiple).
  const crossers = () => {
    const byPerson: Record<string, JourneyEvent[]> = {}
    for (let i = 0; i < 50; i++) byPerson[`user_control_${i}`] = [exposure('control', '2024-01-02T10:00:00')]
    for (let i = 0; i < 38; i++) byPerson[`user_test_${i}`] = [exposure('test', '2024-01-02T10:00:00')]
    for (let i = 0; i < 12; i++) byPerson[`user_cross_${i}`] = [exposure('test', '2024-01-02T10:00:00'), exposure('control', '2024-01-03T10:00:00')]
    return journeys(byPerson)
  }
  it.each([
    ['first_seen: 50 / 50, p = 1.0, no $multiple bucket, multiple_variants warns (12% crossed, PostHog raises nothing)', 'first_seen', { control: 50, test: 50 }, 'pass', 1, 'warn'],
    // SRM_MINIMUM_SAMPLE_SIZE (experiment_exposures_query_runner.py): 88 units outside $multiple are too few to test
    ['exclude: 50 / 38 with 12 in $multiple, too few for SRM (88 < 100), multiple_variants fails (above PostHog\'s 10%)', 'exclude', { control: 50, test: 38 }, 'unknown', undefined, 'fail'],
  ])('%s', async (_why, handling, units, srmStatus, p, multipleStatus) => {
    const { report } = await auditJourneys(defsWith(handling), crossers(), NOW)
    const f = report.flags.find((x) => x.key === FLAG)!
    expect(Object.fromEntries(f.variants.map((v) => [v.key, v.units]))).toEqual(units)
    const srm = f.checks.find((c) => c.id === 'sample_ratio')!
    expect(srm.status).toBe(srmStatus)
    expect(srm.evidence.p_value).toBe(p)
    expect(f.checks.find((c) => c.id === 'multiple_variants')).toMatchObject({ status: multipleStatus, evidence: { multiple_variant_units: 12, handling } })
  })
})

type Json = Record<string, unknown>
const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'sdk')
const ingested = (e: Json): Json => ('distinct_id' in e ? e : { ...e, distinct_id: (e.properties as Json).distinct_id })

describe('the posthog-js recording: a bootstrapped page corrected by /flags exposes one unit to two variants', () => {
  // web-bootstrap-user: control (bootstrapped, 09:17:52), then test once /flags answers (09:17:53);
  // the other two units saw test only. first_seen keeps the bootstrap user in control.
  const events = (JSON.parse(readFileSync(join(FIXTURES, 'posthog-js-1.449.2.json'), 'utf8')) as { events: Json[] }).events.map(ingested)
  const times = events.map((e) => Date.parse(String(e.timestamp)))
  const defs = (handling: string) =>
    definitionsOf(
      [baseTestFlag('checkout-redesign')],
      [baseTestExperiment({ start_date: new Date(Math.min(...times) - 3_600_000).toISOString(), end_date: new Date(Math.max(...times) + 3_600_000).toISOString(), exposure_criteria: { multiple_variant_handling: handling } }, 'checkout-redesign')],
    )
  it.each([
    ['first_seen, as recorded', 'first_seen', events, { control: 1, test: 2 }],
    ['first_seen, latest first', 'first_seen', [...events].reverse(), { control: 1, test: 2 }],
    ['exclude: the unit goes to $multiple', 'exclude', events, { control: 0, test: 2 }],
  ] as const)('%s', async (_why, handling, list, units) => {
    const { report } = await auditJourneys(defs(handling), list, Math.max(...times) + 60_000)
    const f = report.flags.find((x) => x.key === 'checkout-redesign')!
    expect(Object.fromEntries(f.variants.map((v) => [v.key, v.units]))).toEqual(units)
  })
})

/** Counts events into a cache with the definitions' hooks, as the plugin does, and reads the flag back. */
async function countInto(cache: ContractCache, defs: Definitions, events: readonly unknown[]) {
  const hooks = await hooksFromDefinitions(defs)
  const ctx = createIngestContext({ cache, settings: parseSettings({}, { countedEvents: hooks.countedEvents }), project: 'fs', now: () => NOW, ...hooks })
  for (const e of events) await ingestEvent(ctx, e)
  const obs = await readObservations({ cache, project: 'fs', lookbackDays: 30, experimentMaxDays: 90, experimentRunOf: hooks.experimentRunOf, nowMs: NOW })
  return byValue(obs.flags.find((f) => f.flag === FLAG)!.exposure.$feature_flag_called!.variants)
}

describe('first-seen units are the same in every store and under interleaved arrivals', () => {
  // every exposure twice: once in time order, then again latest first (as another client would resend them)
  const events = () => [...firstSeenJourneys(), ...firstSeenJourneys().reverse()]
  it.each([
    ['one key per field (plugin-server)', () => contractOnly(new MemoryCache(() => NOW))],
    ['in-memory hashes', () => new MemoryCache(() => NOW)],
  ])('%s', async (_name, make) => {
    const v = await countInto(make(), defsWith('first_seen'), events())
    expect({ control: v.control?.firstSeenUnits, test: v.test?.firstSeenUnits }).toEqual({ control: 2, test: 2 })
  })

  const skip = redisOrSkipReason('first-seen units in Redis')
  const redis = skip ? null : freshRedisCache()
  afterAll(async () => {
    if (!redis) return
    await dropPrefix(redis)
    await redis.redis.quit()
  })
  it.skipIf(skip !== null)('in Redis hashes (the host), every event sent at once', async () => {
    const hooks = await hooksFromDefinitions(defsWith('first_seen'))
    const ctx = createIngestContext({ cache: redis!, settings: parseSettings({}, { countedEvents: hooks.countedEvents }), project: 'fs', now: () => NOW, ...hooks })
    await Promise.all(events().map((e) => ingestEvent(ctx, e)))
    const obs = await readObservations({ cache: redis!, project: 'fs', lookbackDays: 30, experimentMaxDays: 90, experimentRunOf: hooks.experimentRunOf, nowMs: NOW })
    const v = byValue(obs.flags.find((f) => f.flag === FLAG)!.exposure.$feature_flag_called!.variants)
    expect({ control: v.control?.firstSeenUnits, test: v.test?.firstSeenUnits }).toEqual({ control: 2, test: 2 })
  })
})
