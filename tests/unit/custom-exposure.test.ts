/**
 * Custom exposure events (issue 18, item 4): an experiment whose exposure criteria name another
 * event counts its exposures there, the variant being that event's `$feature/<flag key>`, as
 * PostHog's exposure query does (products/experiments/backend/hogql_queries/exposure_query_logic.py
 * `get_exposure_event_and_property`, `build_exposure_event_conditions`; experiment_query_builder.py
 * `_build_variant_property`).
 */
import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { customExposureEvents, exposureFilters } from '../../src/definitions/audit-config.js'
import { exposureCriterionOf, parseExperiments } from '../../src/definitions/definitions.js'
import { readEvent, type ReadOptions } from '../../src/events/read-event.js'
import { compileExpression } from '../../src/hog/compile.js'
import { auditJourneys, baseTestExperiment, baseTestFlag, definitionsOf, journeys, type JourneyEvent } from '../support/journeys.js'

const experiment = (config: Record<string, unknown> | null) => parseExperiments('test', [{ id: 1, name: 'e', feature_flag_key: 'my-flag', exposure_criteria: config ? { exposure_config: config } : null }])[0]!

describe('what an experiment counts as an exposure', () => {
  // test_exposure_query_logic.py test_resolves_default_exposure_against_the_rollout_event (its legacy-event rows)
  it.each([
    ['no config: $feature_flag_called', null, { kind: '$feature_flag_called', event: '$feature_flag_called' }],
    ['the stored default config', { kind: 'ExperimentEventExposureConfig', event: '$feature_flag_called', properties: [] }, { kind: '$feature_flag_called', event: '$feature_flag_called' }],
    ['$experiment_exposure named: that event', { kind: 'ExperimentEventExposureConfig', event: '$experiment_exposure', properties: [] }, { kind: '$experiment_exposure', event: '$experiment_exposure' }],
    ['custom_event: checkout_started, variant on $feature/my-flag', { kind: 'ExperimentEventExposureConfig', event: 'checkout_started', properties: [] }, { kind: 'custom', event: 'checkout_started' }],
    ['action: no event this audit counts', { kind: 'ActionsNode', id: 42, name: 'Qualified Purchase' }, { kind: 'action', event: null, label: 'action 42 (Qualified Purchase)' }],
  ])('%s', (_why, config, expected) => {
    expect(exposureCriterionOf(experiment(config))).toEqual(expected)
  })

  it('lists each custom event with every flag that counts it (two experiments may share $pageview)', () => {
    const exps = parseExperiments('test', [
      { id: 1, name: 'a', feature_flag_key: 'flag-a', exposure_criteria: { exposure_config: { kind: 'ExperimentEventExposureConfig', event: '$pageview', properties: [] } } },
      { id: 2, name: 'b', feature_flag_key: 'flag-b', exposure_criteria: { exposure_config: { kind: 'ExperimentEventExposureConfig', event: '$pageview', properties: [] } } },
      { id: 3, name: 'c', feature_flag_key: 'flag-c', exposure_criteria: { exposure_config: { kind: 'ExperimentEventExposureConfig', event: '$feature_flag_called', properties: [] } } },
      { id: 4, name: 'd', feature_flag_key: 'flag-d', deleted: true, exposure_criteria: { exposure_config: { kind: 'ExperimentEventExposureConfig', event: '$pageview', properties: [] } } },
    ])
    expect(customExposureEvents({ experiments: exps })).toEqual(new Map([['$pageview', ['flag-a', 'flag-b']]]))
  })
})

describe('the reader: a custom exposure event is an exposure of each flag whose experiment counts it', () => {
  const NOW = Date.UTC(2024, 0, 7, 12)
  const base: ReadOptions = { nowMs: NOW, maxAgeDays: 30, metricsByEvent: new Map(), customExposureFlagsOf: (e) => (e === '$pageview' ? ['my-flag', 'other-flag'] : undefined) }
  const pageview = (props: Record<string, unknown>) => ({ event: '$pageview', distinct_id: 'u1', timestamp: '2024-01-02T00:00:00Z', properties: props })
  const exposures = (raw: unknown, opts: ReadOptions = base) => {
    const r = readEvent(raw, opts)
    if (!r.ok) throw new Error(r.reason)
    return r.event.customExposures.map((x) => [x.flag, x.variant, x.event])
  }
  it.each([
    // get_exposure_event_and_property: a custom event's variant is `$feature/<key>`; no `$feature_flag` is asked for
    ['the variant is $feature/<key>', { '$feature/my-flag': 'control' }, [['my-flag', 'control', 'custom']]],
    ['one event, two experiments: an exposure of each flag it carries', { '$feature/my-flag': 'test', '$feature/other-flag': true }, [['my-flag', 'test', 'custom'], ['other-flag', true, 'custom']]],
    // _build_exposure_predicate: `$feature/<key> IN variants`: an event without a value is none
    ['no $feature/<key>: no exposure (a pageview before flags load)', { $current_url: 'https://example.com/' }, []],
    ['$feature_flag_response is not read on a custom event', { $feature_flag: 'my-flag', $feature_flag_response: 'test' }, []],
    ['a null value: no exposure', { '$feature/my-flag': null }, []],
    // a value outside the variants is an exposure event here, and kept out of the units (isCountedValue), as for $feature_flag_called
    ['false (outside the rollout) is read, then left out of the units', { '$feature/my-flag': false }, [['my-flag', false, 'custom']]],
  ])('%s', (_why, props, expected) => {
    expect(exposures(pageview(props))).toEqual(expected)
  })

  it("applies the experiment's exposure property filters (build_exposure_event_conditions `_build_property_filters`)", async () => {
    const exps = parseExperiments('test', [
      { id: 1, name: 'e', feature_flag_key: 'my-flag', exposure_criteria: { exposure_config: { kind: 'ExperimentEventExposureConfig', event: '$pageview', properties: [{ key: 'plan', operator: 'is_not', value: 'free', type: 'event' }] } } },
    ])
    const filter = await compileExpression(exposureFilters({ flags: [], experiments: exps, cohorts: [], groupTypes: new Map() }).get('my-flag')!)
    const opts: ReadOptions = { ...base, customExposureFlagsOf: () => ['my-flag'], exposureFilterOf: (f) => (f === 'my-flag' ? filter : undefined) }
    expect(exposures(pageview({ '$feature/my-flag': 'control', plan: 'free' }), opts)).toEqual([])
    expect(exposures(pageview({ '$feature/my-flag': 'control', plan: 'pro' }), opts)).toEqual([['my-flag', 'control', 'custom']])
    expect(exposures(pageview({ '$feature/my-flag': 'control' }), opts)).toEqual([['my-flag', 'control', 'custom']])
  })

  it('a $feature_flag_called is never a custom exposure: it stays the flag call it is', () => {
    const r = readEvent({ event: '$feature_flag_called', distinct_id: 'u1', timestamp: '2024-01-02T00:00:00Z', properties: { $feature_flag: 'my-flag', $feature_flag_response: 'test', '$feature/my-flag': 'test' } }, { ...base, customExposureFlagsOf: () => ['my-flag'] })
    expect(r.ok && r.event.customExposures).toEqual([])
    expect(r.ok && r.event.exposure?.event).toBe('$feature_flag_called')
  })
})

// test_experiment_exposures_query_runner.py (products/experiments/backend/hogql_queries/test/experiment_query_runner/):
// setUp makes an experiment from 2024-01-01 to 2024-01-07 on the base test flag (control/test).
const FLAG = 'test-experiment'
const RUN = { start_date: '2024-01-01T00:00:00Z', end_date: '2024-01-07T00:00:00Z' }
const NOW = Date.parse('2024-01-07T12:00:00Z')

/** test_exposure_query_with_custom_exposure: 4 control and 5 test users, one exposure each, on `event`. */
function customExposureJourneys(event: string, props: (variant: string) => Record<string, unknown>, extra: Record<string, JourneyEvent[]> = {}) {
  const at = (variant: string, timestamp: string): JourneyEvent[] => [{ event, timestamp, properties: props(variant) }]
  return journeys({
    user_control_1: at('control', '2024-01-02'),
    user_control_2: at('control', '2024-01-02'),
    user_control_3: at('control', '2024-01-03'),
    user_control_4: at('control', '2024-01-03'),
    user_test_1: at('test', '2024-01-02'),
    user_test_2: at('test', '2024-01-02'),
    user_test_3: at('test', '2024-01-02'),
    user_test_4: at('test', '2024-01-03'),
    user_test_5: at('test', '2024-01-03'),
    ...extra,
  })
}

const planIsNotFree = [{ key: 'plan', operator: 'is_not', value: 'free', type: 'event' }]

describe("PostHog's custom exposure tests through the offline audit: units per variant", () => {
  it.each([
    {
      name: 'test_exposure_query_with_custom_exposure (pageview): total_exposures control 4, test 5',
      config: { kind: 'ExperimentEventExposureConfig', event: '$pageview', properties: planIsNotFree },
      events: () => customExposureJourneys('$pageview', (v) => ({ [`$feature/${FLAG}`]: v })),
      units: { control: 4, test: 5 },
      present: 'pass',
    },
    {
      name: 'test_exposure_query_with_custom_exposure (feature_flag_called): total_exposures control 4, test 5',
      config: { kind: 'ExperimentEventExposureConfig', event: '$feature_flag_called', properties: planIsNotFree },
      events: () => customExposureJourneys('$feature_flag_called', (v) => ({ $feature_flag_response: v, $feature_flag: FLAG })),
      units: { control: 4, test: 5 },
      present: 'pass',
    },
    {
      // build_exposure_event_conditions: the criteria's property filters apply to the custom event
      name: 'the same, with two users on the free plan: the filter leaves them out',
      config: { kind: 'ExperimentEventExposureConfig', event: '$pageview', properties: planIsNotFree },
      events: () =>
        customExposureJourneys('$pageview', (v) => ({ [`$feature/${FLAG}`]: v }), {
          user_free_1: [{ event: '$pageview', timestamp: '2024-01-02', properties: { [`$feature/${FLAG}`]: 'control', plan: 'free' } }],
          user_free_2: [{ event: '$pageview', timestamp: '2024-01-02', properties: { [`$feature/${FLAG}`]: 'test', plan: 'free' } }],
        }),
      units: { control: 4, test: 5 },
      present: 'pass',
    },
    {
      // the `$feature_flag_called` of the same users do not count: PostHog counts the configured event only
      name: 'a custom event beside flag calls: only the custom event counts',
      config: { kind: 'ExperimentEventExposureConfig', event: 'checkout_started', properties: [] },
      events: () => [
        ...customExposureJourneys('checkout_started', (v) => ({ [`$feature/${FLAG}`]: v })),
        ...journeys({ user_extra_1: [{ event: '$feature_flag_called', timestamp: '2024-01-02', properties: { $feature_flag: FLAG, $feature_flag_response: 'test' } }] }),
      ],
      units: { control: 4, test: 5 },
      present: 'pass',
    },
  ])('$name', async ({ config, events, units, present }) => {
    const defs = definitionsOf([baseTestFlag()], [baseTestExperiment({ ...RUN, exposure_criteria: { exposure_config: config } })])
    const { report } = await auditJourneys(defs, events(), NOW)
    const flag = report.flags.find((f) => f.key === FLAG)!
    expect(Object.fromEntries(flag.variants.map((v) => [v.key, v.units]))).toEqual(units)
    expect(flag.checks.find((c) => c.id === 'exposure_present')!.status).toBe(present)
  })

  it('test_exposure_query_with_action_as_exposure_criteria: an action is named, not counted as zero exposures', async () => {
    const defs = definitionsOf([baseTestFlag()], [baseTestExperiment({ ...RUN, exposure_criteria: { exposure_config: { kind: 'ActionsNode', id: 7, name: 'Qualified Purchase' } } })])
    const purchases = journeys({ user_control_1: [{ event: 'purchase', timestamp: '2024-01-02', properties: { [`$feature/${FLAG}`]: 'control', plan: 'premium' } }] })
    const { report } = await auditJourneys(defs, purchases, NOW)
    const flag = report.flags.find((f) => f.key === FLAG)!
    expect(flag.experiment?.exposure_event).toBe('action 7 (Qualified Purchase)')
    const present = flag.checks.find((c) => c.id === 'exposure_present')!
    expect(present.status).toBe('unknown')
    expect(present.summary).toMatch(/action 7 \(Qualified Purchase\), which this audit cannot count/)
  })
})

type Json = Record<string, unknown>
const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'sdk')
const fixture = (file: string) => JSON.parse(readFileSync(join(FIXTURES, file), 'utf8')) as { events: Json[] }
/** As PostHog ingests them: posthog-js sends the distinct id inside properties only, capture lifts it. */
const ingested = (e: Json): Json => ('distinct_id' in e ? e : { ...e, distinct_id: (e.properties as Json).distinct_id })

describe('real SDK recordings (tests/fixtures/sdk) counted with a custom exposure event on checkout-redesign', () => {
  // Expected per PostHog's rule: a unit is exposed to the value of `$feature/checkout-redesign` on its
  // recorded event; an event without the property (the first `$pageview`, before /flags answers) is none.
  it.each([
    ['posthog-js-1.449.2.json', '$pageview', { control: 1, test: 0 }], // only the bootstrapped page's view carries the flag
    ['posthog-js-1.449.2.json', '$pageleave', { control: 0, test: 2 }], // the identified user and the bootstrapped one leave on test
    ['posthog-js-1.449.2.json', 'checkout_started', { control: 0, test: 1 }],
    ['posthog-js-1.449.2.json', 'checkout_completed', { control: 0, test: 1 }], // the payload-only visitor: exposed by the metric event itself
    ['posthog-node-5.70.0.json', 'checkout_started', { control: 1, test: 2 }], // sendFeatureFlags captures: remote, evaluateFlags, local evaluation
  ])('%s, exposure event %s', async (file, event, units) => {
    const events = fixture(file).events.map(ingested)
    const times = events.map((e) => Date.parse(String(e.timestamp)))
    const run = { start_date: new Date(Math.min(...times) - 3_600_000).toISOString(), end_date: null }
    const defs = definitionsOf(
      [{ ...(baseTestFlag('checkout-redesign') as Json), key: 'checkout-redesign' }],
      [baseTestExperiment({ ...run, exposure_criteria: { exposure_config: { kind: 'ExperimentEventExposureConfig', event, properties: [] } } } as never, 'checkout-redesign')],
    )
    const { report } = await auditJourneys(defs, events, Math.max(...times) + 60_000)
    const flag = report.flags.find((f) => f.key === 'checkout-redesign')!
    expect(Object.fromEntries(flag.variants.map((v) => [v.key, v.units]))).toEqual(units)
  })
})
