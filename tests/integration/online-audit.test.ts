import { experimentRuns } from '../../src/definitions/windows.js'
import { setupServer } from 'msw/node'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runAudit } from '../../src/cli/audit.js'
import { auditEvents } from '../../src/audit/offline-audit.js'
import { mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { http, HttpResponse } from 'msw'
import type { Report } from '../../src/coverage/report.js'
import { backfillWindow, observationsFromBackfill } from '../../src/posthog/backfill.js'
import { buildReport } from '../../src/coverage/report.js'
import { planBackfill, type BackfillQuery } from '../../src/posthog/backfill-queries.js'
import { PostHogClient, type RequestInfo } from '../../src/posthog/client.js'
import { auditOnline } from '../../src/audit/online-audit.js'
import { INTERNAL_EMAIL_FILTER, PostHogBox, postHogSelectJson, posthogProject, withInternalUsers, withoutInternalUsers } from '../support/posthog-box/index.js'
import { simulatedProject } from '../support/sim-project.js'
import { SCENARIOS } from '../../src/sim/scenarios.js'
import { definitionsOf, simulate } from '../../src/sim/simulation.js'
import { parseDefectList } from '../../src/sim/defects.js'
import { auditConfig } from '../../src/definitions/audit-config.js'
import { parseSettings } from '../../src/settings/settings.js'
import { HOST, KEY, PROJECT, base } from '../support/posthog-api.js'
import { parseActivity } from '../../src/definitions/activity.js'
import { reportWithSlices } from '../../src/audit/online-audit.js'
import type { Definitions } from '../../src/definitions/definitions.js'
import type { Settings } from '../../src/settings/settings.js'
import type { Observations } from '../../src/counters/observation.js'

const END = Date.UTC(2026, 10, 20, 12)
// A project with internal users (team.test_account_filters keeps them out, as PostHog's default does).
const project = simulatedProject({ seed: 13, users: 700, days: 14, endMs: END })
const { defs, api } = project
const events = withInternalUsers(project.events)
const window = backfillWindow(END, project.settings, null, experimentRuns(defs))
// The history of one running experiment's flag, as PostHog's activity log has it: created, then its
// split changed three days before the end (flag_changes finds it online and offline alike).
const changed = defs.flags.find((f) => f.active && (f.filters.multivariate?.variants.length ?? 0) >= 2 && defs.experiments.some((e) => e.feature_flag_key === f.key && e.status === 'running' && Date.parse(e.start_date ?? '') < END - 5 * 86_400_000))!
const split = changed.filters.multivariate!.variants
const activityEntries = [
  { user: { first_name: 'Ada', email: 'ada@example.com' }, activity: 'created', scope: 'FeatureFlag', item_id: String(changed.id), detail: { changes: [], name: changed.key }, created_at: new Date(END - 40 * 86_400_000).toISOString() },
  {
    user: { first_name: 'Grace', email: 'grace@example.com' },
    activity: 'updated',
    scope: 'FeatureFlag',
    item_id: String(changed.id),
    detail: { changes: [{ type: 'FeatureFlag', action: 'changed', field: 'filters', before: { ...changed.filters, multivariate: { variants: split.map((v, i) => ({ ...v, rollout_percentage: i === 0 ? v.rollout_percentage + 10 : i === 1 ? v.rollout_percentage - 10 : v.rollout_percentage })) } }, after: changed.filters }], name: changed.key },
    created_at: new Date(END - 3 * 86_400_000).toISOString(),
  },
]
const activity = parseActivity('activity', activityEntries)
let ph: Awaited<ReturnType<typeof posthogProject>>
let server: ReturnType<typeof setupServer>
beforeAll(async () => {
  ph = await posthogProject({ ...api, activity: activityEntries }, events, defs, { testAccountFilters: INTERNAL_EMAIL_FILTER })
  server = setupServer(...ph.handlers)
  server.listen({ onUnhandledRequest: 'error' })
})
afterAll(() => {
  server.close()
  ph?.close()
})

/** The parts of a report that say where numbers came from, not what they are. */
function normalized(r: Report) {
  return { ...r, flags: r.flags.map((f) => ({ ...f, data: { ...f.data, source: 'any' } })) }
}

describe('the online audit, every query run by a real ClickHouse as PostHog prints it', () => {
  it.each([
    ['on (the default): internal users are left out, as the webhook destination leaves them out', {}, withoutInternalUsers(events)],
    ['off: every user counts', { filterTestAccounts: 'No' }, events],
  ])('gives the same report as the offline audit of the same events, test accounts %s', { timeout: 120_000 }, async (_name, config, offlineEvents) => {
    expect(offlineEvents.length).toBeLessThanOrEqual(events.length)
    const offline = await auditEvents(defs, config, offlineEvents, { now: END, activity })
    // The project has something to find, or equality would prove little.
    expect(offline.report.summary.blocked).toBeGreaterThan(0)
    expect(offline.report.flags.filter((f) => f.variants.some((v) => v.units > 0)).length).toBeGreaterThan(10)
    // Units crossing variants at identify ($is_identified): counted from the events offline, by a query online.
    const crossed = offline.report.flags.map((f) => f.checks.find((c) => c.id === 'multiple_variants')?.evidence.identity_crossed_units ?? 0)
    expect(Math.max(...crossed.map(Number))).toBeGreaterThan(0)
    const seen: RequestInfo[] = []
    const before = ph.log.length
    const client = new PostHogClient({ host: HOST, projectId: PROJECT, personalApiKey: KEY, onRequest: (i) => seen.push(i) })
    const online = await auditOnline(client, config, { nowMs: END })
    const ran = ph.log.slice(before)
    // No query was refused by ClickHouse or by PostHog's rules.
    expect(ran.filter((q) => q.error).map((q) => `${q.error} IN ${q.hogql.slice(0, 300)}`)).toEqual([])
    // The plan's queries, the one that looks for flags outside the flag list, and the split by slice
    // of mismatched splits (asked on demand, one query a flag).
    const sliceQueries = ran.filter((q) => q.hogql.startsWith('SELECT dimension, value, variant, units, first_day, multiple')).length
    expect(ran.length - sliceQueries).toBe(online.runs.length + 1)
    expect(online.report.flags.every((f) => f.data.source === 'backfill' || f.data.source === 'none')).toBe(true)
    expect(normalized(online.report)).toEqual(normalized({ ...offline.report, project: PROJECT }))
    // The flags' history was read from PostHog: the split changed mid-run is found, with its author.
    const check = online.report.flags.find((f) => f.key === changed.key)!.checks.find((c) => c.id === 'flag_changes')!
    expect(check.status).toBe('fail')
    expect(check.summary).toContain('by grace@example.com')
    expect(seen.some((r) => r.path.includes(`feature_flags/${changed.id}/activity/`) && r.status === 200)).toBe(true)
  })

  it('leaves internal users out only where the filter asks it: the two settings differ on this project', async () => {
    const all = await auditEvents(defs, { filterTestAccounts: 'No' }, events, { now: END })
    const external = await auditEvents(defs, {}, withoutInternalUsers(events), { now: END })
    const units = (r: Report) => r.flags.reduce((n, f) => n + f.variants.reduce((m, v) => m + v.units, 0), 0)
    expect(units(all.report)).toBeGreaterThan(units(external.report))
  })

  it("sends only HogQL that parses with PostHog's own parser, each with an explicit LIMIT", async () => {
    for (const q of planBackfill(defs, project.settings.metrics, window, { filterTestAccounts: true })) {
      // PostHog's parser's own answer (parseSelect(q.hogql, true)), kept from when the box printed the text.
      const ast = JSON.parse(await postHogSelectJson(q.hogql)) as { error?: boolean; message?: string; limit?: unknown }
      expect(ast.error ? `${q.name}: ${ast.message}` : 'ok').toBe('ok')
      expect(ast.limit, q.name).toBeTruthy()
    }
  })
})

/** Runs a plan's queries on a box as the API would (a personal API key), into backfill runs. */
async function runOnBox(box: PostHogBox, plan: readonly BackfillQuery[]) {
  const runs = []
  for (const query of plan) {
    const { columns, results } = await box.hogql(query.hogql, { personalApiKey: true, filterTestAccounts: query.filterTestAccounts })
    runs.push({ query, result: { columns, rows: results }, ms: 0 })
  }
  return runs
}

/** The report the online audit gives from a backfill run on a box, with the splits by slice it asks on demand run on the same box. */
async function reportFromBox(box: PostHogBox, defs: Definitions, settings: Settings, observations: Observations): Promise<Report> {
  const onBox = { query: async (hogql: string) => { const r = await box.hogql(hogql, { personalApiKey: true }); return { columns: r.columns, rows: r.results } } }
  return reportWithSlices(onBox, { definitions: defs, observations, settings, nowMs: END })
}

describe('a project outside UTC', () => {
  it('counts the same days in Pacific/Kiritimati (UTC+14): first and last days are UTC days, as the live counters keep them', async () => {
    const small = simulatedProject({ seed: 5, users: 200, days: 6, endMs: END })
    const w = backfillWindow(END, small.settings, null, experimentRuns(small.defs))
    const plan = planBackfill(small.defs, small.settings.metrics, w)
    const observe = async (timezone: string) => {
      const box = new PostHogBox({ groupTypes: small.defs.groupTypes, timezone })
      try {
        await box.insert(small.events)
        const observations = observationsFromBackfill(small.defs, await runOnBox(box, plan), PROJECT, w, small.settings.lookbackDays)
        const days = observations.flags.map((f) => [f.flag, f.firstDay, f.lastDay])
        return { days, report: await reportFromBox(box, small.defs, small.settings, observations) }
      } finally {
        box.close()
      }
    }
    const local = await observe('Pacific/Kiritimati')
    // Most events fall on another local day there: only UTC days agree.
    expect(local.days).toEqual((await observe('UTC')).days)
    const online = local.report
    const offline = (await auditEvents(small.defs, { filterTestAccounts: 'No' }, small.events, { now: END })).report
    expect(normalized(online)).toEqual(normalized({ ...offline, project: PROJECT }))
  })
})

describe('the backfill of experiments that started before the lookback window', () => {
  it("queries each experiment's own run, and gives the same experiment reports as the offline audit", async () => {
    // Experiments started up to 44 days ago, some before the 30-day lookback, a quarter stopped.
    const p = simulatedProject({ seed: 13, users: 400, days: 45, endMs: END, experimentStartDays: [5, 44], endedShare: 0.25 })
    const w = backfillWindow(END, p.settings, null, experimentRuns(p.defs))
    const box = new PostHogBox({ groupTypes: p.defs.groupTypes })
    try {
      await box.insert(p.events)
      const runs = await runOnBox(box, planBackfill(p.defs, p.settings.metrics, w))
      const online = await reportFromBox(box, p.defs, p.settings, observationsFromBackfill(p.defs, runs, PROJECT, w, p.settings.lookbackDays))
      const offline = (await auditEvents(p.defs, { filterTestAccounts: 'No' }, p.events, { now: END })).report
      const experiments = (r: Report) => normalized(r).flags.filter((f) => f.kind === 'experiment')
      expect(experiments(offline).filter((f) => Date.parse(f.window.from) < END - 30 * 86_400_000).length).toBeGreaterThan(0)
      expect(experiments(offline).filter((f) => f.experiment?.status === 'stopped').length).toBeGreaterThan(0)
      expect(experiments(online)).toEqual(experiments(offline))
      // Flags without an experiment keep the lookback: their exposure events add up the same way.
      const lookback = (r: Report) => r.flags.filter((f) => f.kind !== 'experiment').map((f) => [f.key, f.window, f.variants.map((v) => v.exposures)])
      expect(lookback(online)).toEqual(lookback(offline))
    } finally {
      box.close()
    }
  })
})

describe('experiment-coverage audit, online', () => {
  const env = (over: Record<string, string | undefined>) => {
    const saved = { ...process.env }
    Object.assign(process.env, over)
    for (const [k, v] of Object.entries(over)) if (v === undefined) delete process.env[k]
    return () => {
      process.env = saved
    }
  }

  it('reads the credentials from the environment and writes the report', async () => {
    const restore = env({ POSTHOG_HOST: HOST, POSTHOG_PROJECT_ID: PROJECT, POSTHOG_PERSONAL_API_KEY: KEY })
    try {
      const out = join(mkdtempSync(join(tmpdir(), 'ec-online-')), 'report.json')
      const { exitCode } = await runAudit({ format: 'json', out, now: new Date(END).toISOString() })
      expect(exitCode).toBe(0)
      const report = JSON.parse(readFileSync(out, 'utf8')) as Report
      expect(report.flags).toHaveLength(20)
      expect(report.summary.blocked).toBeGreaterThan(0)
    } finally {
      restore()
    }
  })

  it('says which variables to set when there are neither files nor credentials', async () => {
    const restore = env({ POSTHOG_PROJECT_ID: undefined, POSTHOG_PERSONAL_API_KEY: undefined })
    try {
      await expect(runAudit({ format: 'json' })).rejects.toThrow(/set POSTHOG_PROJECT_ID and POSTHOG_PERSONAL_API_KEY/)
    } finally {
      restore()
    }
  })

  it('reports a field the checks need that PostHog did not send, naming the endpoint and the field', async () => {
    const broken = (api.flags as Record<string, unknown>[]).map((f, i) => (i === 2 ? { ...f, active: undefined } : f))
    server.use(http.get(`${base}/feature_flags/`, () => HttpResponse.json({ count: broken.length, next: null, previous: null, results: broken })))
    const restore = env({ POSTHOG_HOST: HOST, POSTHOG_PROJECT_ID: PROJECT, POSTHOG_PERSONAL_API_KEY: KEY })
    try {
      await expect(runAudit({ format: 'json' })).rejects.toThrow(/feature_flags\/: flag "[^"]+" at \[2\]\.active/)
    } finally {
      restore()
      server.resetHandlers()
    }
  })

  it('stops with a clear message on an expired key', async () => {
    server.use(http.get(`${base}/feature_flags/`, () => HttpResponse.json({ type: 'authentication_error', code: 'authentication_failed', detail: 'Personal API key is invalid.' }, { status: 401 })))
    const restore = env({ POSTHOG_HOST: HOST, POSTHOG_PROJECT_ID: PROJECT, POSTHOG_PERSONAL_API_KEY: KEY })
    try {
      await expect(runAudit({ format: 'json' })).rejects.toThrow(/rejected the personal API key \(401/)
    } finally {
      restore()
      server.resetHandlers()
    }
  })
})

describe('the long-running scenario (npx experiment-coverage simulate --scenario long-running)', () => {
  it('gives the same experiment reports online, every query on the embedded ClickHouse, as offline, and the same exposures of flags without one', { timeout: 120_000 }, async () => {
    const scenario = SCENARIOS['long-running']!
    const sim = simulate({ seed: 3, flags: 20, users: 250, days: scenario.days, endMs: END, defects: parseDefectList(scenario.defects), ...scenario.options })
    const events = [...sim.events]
    const defs = definitionsOf(sim.project)
    const { config, counted } = auditConfig({ filterTestAccounts: 'No' }, defs)
    const settings = parseSettings(config, { countedEvents: counted })
    const box = new PostHogBox({ groupTypes: defs.groupTypes })
    try {
      await box.insert(events)
      const w = backfillWindow(END, settings, null, experimentRuns(defs))
      const online = await reportFromBox(box, defs, settings, observationsFromBackfill(defs, await runOnBox(box, planBackfill(defs, settings.metrics, w)), PROJECT, w, settings.lookbackDays))
      const offline = (await auditEvents(defs, { filterTestAccounts: 'No' }, events, { now: END })).report
      // Experiments older than the lookback and stopped ones are in it, or it proves little.
      expect(offline.flags.filter((f) => f.experiment?.status === 'stopped').length).toBeGreaterThan(0)
      const experiments = (r: Report) => normalized(r).flags.filter((f) => f.kind === 'experiment')
      expect(experiments(online)).toEqual(experiments({ ...offline, project: PROJECT }))
      // Flags without an experiment are counted over the lookback: their exposure events add up the
      // same way. Their units do not, over 61 days: the counters count a unit on the day they first
      // see it, so one first seen before the lookback and exposed again inside it is not in the
      // live count, and PostHog's distinct count (the online audit's) has it.
      const lookback = (r: Report) => r.flags.filter((f) => f.kind !== 'experiment').map((f) => [f.key, f.window, f.variants.map((v) => v.exposures)])
      expect(lookback(online)).toEqual(lookback(offline))
    } finally {
      box.close()
    }
  })
})
