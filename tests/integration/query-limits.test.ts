import { reportWithSlices } from '../../src/audit/online-audit.js'
import { setupServer } from 'msw/node'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { auditEvents } from '../../src/audit/offline-audit.js'
import type { Report } from '../../src/coverage/report.js'
import { PostHogClient } from '../../src/posthog/client.js'
import { buildReport } from '../../src/coverage/report.js'
import { experimentRuns } from '../../src/definitions/windows.js'
import { backfillWindow, observationsFromBackfill, runBackfill } from '../../src/posthog/backfill.js'
import { backfillPlanner } from '../../src/posthog/backfill-queries.js'
import { HOST, KEY, PROJECT, base, http, HttpResponse } from '../support/posthog-api.js'
import { posthogProject } from '../support/posthog-box/index.js'
import { simulatedProject } from '../support/sim-project.js'

/**
 * PostHog's limits on the HogQL the audit sends (posthog/api/query.py, posthog/exceptions.py):
 * a query that runs out of memory gets 513, one past its time limit 504 ("This query hit the
 * N-second time limit for queries run through the API. Submit it as an async query..."). The
 * audit runs its queries asynchronously, and splits one that still does not fit: its flags into
 * halves, then one flag's units into shares by a hash of the unit. The parts add up exactly.
 * The box stands in for the memory limit with ClickHouse's max_rows_to_group_by (a limit on
 * aggregation state, deterministic where memory is not).
 */
const END = Date.UTC(2026, 10, 20, 12)
const project = simulatedProject({ seed: 21, users: 260, days: 6, endMs: END })
const config = { filterTestAccounts: 'No' }
let ph: Awaited<ReturnType<typeof posthogProject>>
let server: ReturnType<typeof setupServer>
let offline: Report
beforeAll(async () => {
  ph = await posthogProject(project.api, project.events, project.defs, { maxGroupByRows: 300 })
  server = setupServer(...ph.handlers)
  server.listen({ onUnhandledRequest: 'error' })
  offline = (await auditEvents(project.defs, config, project.events, { now: END })).report
})
afterAll(() => {
  server.close()
  ph.close()
})

const normalized = (r: Report) => ({ ...r, project: PROJECT, flags: r.flags.map((f) => ({ ...f, data: { ...f.data, source: 'any' } })) })

/** Three flags of the project (each query reads them all), its experiments, and their report. */
const keys = new Set(project.defs.flags.filter((f) => f.filters.aggregation_group_type_index == null).slice(0, 3).map((f) => f.key))
const defs = { ...project.defs, flags: project.defs.flags.filter((f) => keys.has(f.key)), experiments: project.defs.experiments.filter((e) => keys.has(e.feature_flag_key)) }
const window = backfillWindow(END, project.settings, null, experimentRuns(defs))

async function backfillReport(planOptions: { maxUnitParts?: number }, splits: string[]) {
  const client = new PostHogClient({ host: HOST, projectId: PROJECT, personalApiKey: KEY })
  const planner = backfillPlanner(defs, project.settings.metrics, window, planOptions)
  const runs = await runBackfill(client, planner.queries, { split: (q) => planner.split(q), onSplit: (q, n) => splits.push(`${q.name}: ${n}`) })
  return { runs, report: await reportWithSlices(client, { definitions: defs, observations: observationsFromBackfill(defs, runs, PROJECT, window, project.settings.lookbackDays), settings: { ...project.settings, filterTestAccounts: false }, nowMs: END }) }
}

describe("queries over PostHog's limits", () => {
  // Each split part is a new query text for PostHog's parser (WebAssembly, up to a second a query): room for a busy machine.
  it('splits a query over the memory limit by flags, then by shares of units, and the report is the one of the whole', { timeout: 120_000 }, async () => {
    const splits: string[] = []
    const before = ph.log.length
    const { runs, report } = await backfillReport({}, splits)
    const refused = ph.log.slice(before).filter((q) => q.error)
    // The limit was met, and met again after splitting by flags: both kinds of split ran.
    expect(refused.length).toBeGreaterThan(1)
    expect(refused.every((q) => /TOO_MANY_ROWS/.test(q.error!))).toBe(true)
    expect(splits.some((s) => /flags 1-3\): 2$/.test(s))).toBe(true)
    expect(runs.some((r) => r.query.flags.length === 1 && (r.query.part?.of ?? 1) >= 4)).toBe(true)
    const offline = (await auditEvents(defs, config, project.events, { now: END })).report
    // The project has units to count, or equality would prove little.
    expect(offline.flags.reduce((n, f) => n + f.variants.reduce((m, v) => m + v.units, 0), 0)).toBeGreaterThan(100)
    // The events name other flags too (unlisted offline, not queried online): the three flags' reports agree.
    const own = (r: Report) => normalized(r).flags.filter((f) => keys.has(f.key))
    expect(own(report)).toHaveLength(3)
    expect(own(report)).toEqual(own(offline))
  })

  it('names the query and what to do when even the finest split does not fit', { timeout: 120_000 }, async () => {
    const tight = await posthogProject(project.api, project.events, project.defs, { maxGroupByRows: 1 })
    server.resetHandlers(...tight.handlers)
    try {
      await expect(backfillReport({ maxUnitParts: 4 }, [])).rejects.toThrow(/ran out of memory[\s\S]*was split as far as it goes \(one flag, 4 shares of its units\); shorten the lookback/)
    } finally {
      server.resetHandlers(...ph.handlers)
      tight.close()
    }
  })

  it('does not retry a query that hit the time limit: it would hit it again (the backfill splits it)', async () => {
    let posts = 0
    server.use(
      http.post(`${base}/query/`, async () => {
        posts++
        return HttpResponse.json({ type: 'server_error', code: 'clickhouse_query_timeout', detail: 'This query hit the 10-second time limit for queries run through the API. Submit it as an async query to give it more time.', attr: null }, { status: 504 })
      }),
    )
    try {
      const client = new PostHogClient({ host: HOST, projectId: PROJECT, personalApiKey: KEY, asyncQueries: false })
      await expect(client.query('SELECT 1', 'slow')).rejects.toMatchObject({ status: 504 })
      expect(posts).toBe(1)
    } finally {
      server.resetHandlers(...ph.handlers)
    }
  })
})

describe('asynchronous queries', () => {
  it("posts with refresh: force_async, polls the query's status until complete, and reads its result", async () => {
    const seen: string[] = []
    const client = new PostHogClient({ host: HOST, projectId: PROJECT, personalApiKey: KEY, onRequest: (i) => seen.push(`${i.method} ${i.path} ${i.status}`) })
    const r = await client.query("SELECT event, count() AS n FROM events WHERE event = '$pageview' GROUP BY event LIMIT 10", 'pageviews')
    expect(r.columns).toEqual(['event', 'n'])
    expect(r.rows[0]![0]).toBe('$pageview')
    expect(r.rows[0]![1]).toBe(project.events.filter((e) => e.event === '$pageview').length)
    expect(seen[0]).toMatch(/^POST \/api\/projects\/4242\/query\/ 202$/)
    expect(seen.filter((s) => /^GET \/api\/projects\/4242\/query\/q\d+\/ 20[02]$/.test(s)).length).toBeGreaterThanOrEqual(2)
  })

  it('says what PostHog recorded when an asynchronous query fails', async () => {
    const client = new PostHogClient({ host: HOST, projectId: PROJECT, personalApiKey: KEY, retries: 0 })
    await expect(client.query('SELECT nosuchfunction(event) FROM events LIMIT 1', 'broken')).rejects.toThrow(/Unsupported function call 'nosuchfunction/)
  })

  it('reads a result PostHog answered at once (a cached query, or a PostHog without asynchronous queries)', async () => {
    server.use(http.post(`${base}/query/`, () => HttpResponse.json({ columns: ['n'], results: [[3]], types: [['n', 'UInt64']], is_cached: true })))
    try {
      const client = new PostHogClient({ host: HOST, projectId: PROJECT, personalApiKey: KEY })
      expect(await client.query('SELECT 3 AS n', 'cached')).toEqual({ columns: ['n'], rows: [[3]] })
    } finally {
      server.resetHandlers(...ph.handlers)
    }
  })
})
