import { describe, expect, it } from 'vitest'
import { auditEvents } from '../../src/cli/audit.js'
import { parseExperiments, type Definitions } from '../../src/coverage/definitions.js'
import { buildReport, type Report } from '../../src/coverage/report.js'
import { experimentRuns } from '../../src/coverage/windows.js'
import { backfillWindow, observationsFromBackfill } from '../../src/posthog/backfill.js'
import { planBackfill } from '../../src/posthog/backfill-queries.js'
import type { SimEvent } from '../../src/sim/traffic.js'
import { PROJECT } from '../support/posthog-api.js'
import { PostHogBox } from '../support/posthog-box/index.js'
import { simulatedProject } from '../support/sim-project.js'

/**
 * PostHog's experiment rules, counted the same way online (every query on ClickHouse as PostHog
 * prints it) and offline (the plugin's own counters). Each case names the PostHog source of its rule.
 */
const END = Date.UTC(2026, 10, 20, 12)
const config = { filterTestAccounts: 'No' }
const normalized = (r: Report) => ({ ...r, project: PROJECT, flags: r.flags.map((f) => ({ ...f, data: { ...f.data, source: 'any' } })) })

/** The online audit's report of these events and definitions, every query run on a box. */
async function onlineReport(defs: Definitions, events: readonly SimEvent[], settings: ReturnType<typeof simulatedProject>['settings']): Promise<Report> {
  const window = backfillWindow(END, settings, null, experimentRuns(defs))
  const box = new PostHogBox({ groupTypes: defs.groupTypes })
  try {
    await box.insert(events)
    const runs = []
    for (const query of planBackfill(defs, settings.metrics, window)) {
      const { columns, results } = await box.hogql(query.hogql, { personalApiKey: true })
      runs.push({ query, result: { columns, rows: results }, ms: 0 })
    }
    return buildReport({ definitions: defs, observations: observationsFromBackfill(defs, runs, PROJECT, window, settings.lookbackDays), settings: { ...settings, filterTestAccounts: false }, nowMs: END })
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
})
