import { reportWithSlices } from '../../src/audit/online-audit.js'
import { describe, expect, it } from 'vitest'
import { auditEvents } from '../../src/audit/offline-audit.js'
import { parseExperiments, type Definitions } from '../../src/definitions/definitions.js'
import { buildReport, type Report } from '../../src/coverage/report.js'
import { experimentRuns } from '../../src/definitions/windows.js'
import { backfillWindow, observationsFromBackfill } from '../../src/posthog/backfill.js'
import { planBackfill } from '../../src/posthog/backfill-queries.js'
import type { SimEvent } from '../../src/sim/traffic.js'
import { PROJECT } from '../support/posthog-api.js'
import { PostHogBox } from '../support/posthog-box/index.js'
import { simulatedProject } from '../support/sim-project.js'
import { auditJourneys, baseTestExperiment, baseTestFlag, definitionsOf, journeys, type JourneyEvent } from '../support/journeys.js'
import { auditConfig } from '../../src/definitions/audit-config.js'
import { parseSettings, type Settings } from '../../src/settings/settings.js'

/**
 * PostHog's experiment rules, counted the same way online (every query on ClickHouse as PostHog
 * prints it) and offline (the plugin's own counters). Each case names the PostHog source of its rule.
 */
const END = Date.UTC(2026, 10, 20, 12)
const config = { filterTestAccounts: 'No' }
const normalized = (r: Report) => ({ ...r, project: PROJECT, flags: r.flags.map((f) => ({ ...f, data: { ...f.data, source: 'any' } })) })

/** The online audit's report of these events and definitions, every query run on a box. */
async function onlineReport(defs: Definitions, events: readonly SimEvent[], settings: Settings, nowMs = END): Promise<Report> {
  const window = backfillWindow(nowMs, settings, null, experimentRuns(defs))
  const box = new PostHogBox({ groupTypes: defs.groupTypes })
  try {
    await box.insert(events)
    const runs = []
    for (const query of planBackfill(defs, settings.metrics, window)) {
      const { columns, results } = await box.hogql(query.hogql, { personalApiKey: true })
      runs.push({ query, result: { columns, rows: results }, ms: 0 })
    }
    // As the online audit: then the splits by slice it asks on demand, on the same box.
    const onBox = { query: async (hogql: string) => { const r = await box.hogql(hogql, { personalApiKey: true }); return { columns: r.columns, rows: r.results } } }
    return await reportWithSlices(onBox, { definitions: defs, observations: observationsFromBackfill(defs, runs, PROJECT, window, settings.lookbackDays), settings: { ...settings, filterTestAccounts: false }, nowMs })
  } finally {
    box.close()
  }
}

/** Every fifth person (by id) gets `value` instead of what the flag served them, on every event. */
function reassign(events: readonly SimEvent[], flag: string, value: string): SimEvent[] {
  const chosen = (id: string) => [...id].reduce((h, c) => (Math.imul(h, 31) + c.charCodeAt(0)) >>> 0, 7) % 5 === 0
  return events.map((e) => {
    if (!chosen(e.person?.id ?? e.distinct_id)) return e
    const p = { ...e.properties }
    if (p.$feature_flag === flag && typeof p.$feature_flag_response === 'string') p.$feature_flag_response = value
    if (typeof p[`$feature/${flag}`] === 'string') p[`$feature/${flag}`] = value
    return { ...e, properties: p }
  })
}

describe("PostHog's experiment rules, online as offline", () => {
  it('holdouts: the holdout value is one of the flag\'s own values, its units counted, and the split checked on the variants alone (products/experiments/backend/hogql_queries/experiment_exposures_query_runner.py _calculate_srm; test_srm_calculation_adjusts_for_holdout)', async () => {
    const p = simulatedProject({ seed: 9, users: 300, days: 8, endMs: END })
    const exp = p.defs.experiments.find((e) => e.start_date && p.defs.flags.find((f) => f.key === e.feature_flag_key)?.filters.multivariate)!
    const withHoldout = parseExperiments('experiments', p.defs.experiments.map((e) => (e.id === exp.id ? { ...e, holdout: { id: 7, name: 'Q4 holdout', filters: [{ properties: [], rollout_percentage: 20, variant: 'holdout-7' }] } } : e)))
    const defs = { ...p.defs, experiments: withHoldout }
    const events = reassign(p.events, exp.feature_flag_key, 'holdout-7')
    const offline = (await auditEvents(defs, config, events, { now: END })).report
    const flag = offline.flags.find((f) => f.key === exp.feature_flag_key)!
    const holdout = flag.variants.find((v) => v.key === 'holdout-7')!
    // The holdout is counted as a value of the flag, with its planned share, not as an unknown value.
    expect(holdout.units).toBeGreaterThan(10)
    expect(holdout.expected_share).toBeCloseTo(0.2)
    expect(flag.checks.find((c) => c.id === 'variant_values')!.status).toBe('pass')
    const online = await onlineReport(defs, events, p.settings)
    expect(normalized(online).flags.find((f) => f.key === exp.feature_flag_key)).toEqual(normalized(offline).flags.find((f) => f.key === exp.feature_flag_key))
    expect(normalized(online)).toEqual(normalized(offline))
  })

  // products/experiments/backend/hogql_queries/test/experiment_query_runner/test_experiment_exposures_query_runner.py:
  // setUp makes an experiment from 2024-01-01 to 2024-01-07 on the base test flag (control/test).
  const FLAG = 'test-experiment'
  const RUN = { start_date: '2024-01-01T00:00:00Z', end_date: '2024-01-07T00:00:00Z' }
  const NOW = Date.parse('2024-01-07T12:00:00Z')
  const flagCall = (variant: string, timestamp: string): JourneyEvent => ({ event: '$feature_flag_called', timestamp, properties: { $feature_flag_response: variant, [`$feature/${FLAG}`]: variant, $feature_flag: FLAG } })
  const pageview = (variant: string, timestamp: string, extra: Record<string, unknown> = {}): JourneyEvent => ({ event: '$pageview', timestamp, properties: { [`$feature/${FLAG}`]: variant, ...extra } })
  const planIsNotFree = [{ key: 'plan', operator: 'is_not', value: 'free', type: 'event' }]

  it.each([
    {
      name: 'test_exposure_query_with_custom_exposure: $pageview with a property filter exposes control 4, test 5 (exposure_query_logic.py get_exposure_event_and_property)',
      criteria: { exposure_config: { kind: 'ExperimentEventExposureConfig', event: '$pageview', properties: planIsNotFree } },
      events: () =>
        journeys({
          user_control_1: [pageview('control', '2024-01-02')],
          user_control_2: [pageview('control', '2024-01-02')],
          user_control_3: [pageview('control', '2024-01-03')],
          user_control_4: [pageview('control', '2024-01-03')],
          user_test_1: [pageview('test', '2024-01-02')],
          user_test_2: [pageview('test', '2024-01-02')],
          user_test_3: [pageview('test', '2024-01-02')],
          user_test_4: [pageview('test', '2024-01-03')],
          user_test_5: [pageview('test', '2024-01-03')],
          // left out by the exposure criteria's filter, and a view before flags loaded: no exposure
          user_free: [pageview('control', '2024-01-02', { plan: 'free' })],
          user_early: [{ event: '$pageview', timestamp: '2024-01-02', properties: {} }],
          // a flag call of the same flag: PostHog counts the configured event only
          user_called: [flagCall('test', '2024-01-02')],
        }),
      units: { control: 4, test: 5 },
    },
    {
      name: 'test_exposure_query_multiple_variant_handling_first_seen: each unit in the variant it saw first, control 2, test 2 (experiment_query_builder.py argMin(variant, timestamp))',
      criteria: { multiple_variant_handling: 'first_seen' },
      events: () =>
        journeys({
          user_control_only: [flagCall('control', '2024-01-02')],
          user_test_only: [flagCall('test', '2024-01-02')],
          user_multiple_control_first: [flagCall('control', '2024-01-02'), flagCall('test', '2024-01-03')],
          user_multiple_test_first: [flagCall('test', '2024-01-02'), flagCall('control', '2024-01-04')],
        }),
      units: { control: 2, test: 2 },
    },
    {
      name: 'test_exposure_query_with_multiple_variant_exposures: exclude puts the unit that saw both in $multiple, control 2, test 1',
      criteria: { multiple_variant_handling: 'exclude' },
      events: () =>
        journeys({
          user_control_1: [flagCall('control', '2024-01-02')],
          user_control_2: [flagCall('control', '2024-01-02')],
          user_test_1: [flagCall('test', '2024-01-02')],
          user_test_2: [flagCall('test', '2024-01-02'), flagCall('control', '2024-01-02T00:00:01')],
        }),
      units: { control: 2, test: 1 },
    },
  ])('$name', async ({ criteria, events, units }) => {
    const defs = definitionsOf([baseTestFlag()], [baseTestExperiment({ ...RUN, exposure_criteria: criteria })])
    const offline = await auditJourneys(defs, events(), NOW)
    const flag = offline.report.flags.find((f) => f.key === FLAG)!
    expect(Object.fromEntries(flag.variants.map((v) => [v.key, v.units]))).toEqual(units)
    const { config, counted } = auditConfig({}, defs)
    const settings = parseSettings({ ...config, filterTestAccounts: 'No' }, { countedEvents: counted })
    const online = await onlineReport(defs, events() as SimEvent[], settings, NOW)
    expect(normalized(online).flags.find((f) => f.key === FLAG)).toEqual(normalized(offline.report).flags.find((f) => f.key === FLAG))
  })
})
