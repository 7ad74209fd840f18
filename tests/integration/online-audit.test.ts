import { experimentRuns } from '../../src/coverage/windows.js'
import { setupServer } from 'msw/node'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { auditEvents, runAudit } from '../../src/cli/audit.js'
import { mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { http, HttpResponse } from 'msw'
import type { Report } from '../../src/coverage/report.js'
import { hogqlParser } from '../../src/hog/parser.js'
import { backfillWindow, observationsFromBackfill } from '../../src/posthog/backfill.js'
import { buildReport } from '../../src/coverage/report.js'
import { planBackfill } from '../../src/posthog/backfill-queries.js'
import { PostHogClient, type RequestInfo } from '../../src/posthog/client.js'
import { auditOnline } from '../../src/posthog/online-audit.js'
import { makeFakeClickHouse } from '../support/fake-clickhouse.js'
import { simulatedProject } from '../support/sim-project.js'
import { HOST, KEY, PROJECT, base, posthogHandlers } from '../support/posthog-api.js'

const END = Date.UTC(2026, 10, 20, 12)
const { events, api, defs, settings } = simulatedProject({ seed: 13, users: 700, days: 14, endMs: END })
const window = backfillWindow(END, settings, null, experimentRuns(defs))
const plan = planBackfill(defs, settings.metrics, window)
const answer = makeFakeClickHouse(events, defs, window)
const byName = new Map(plan.map((q) => [q.name, q]))
const queries: string[] = []
const server = setupServer(
  ...posthogHandlers({
    ...api,
    query: (hogql) => {
      const q = plan.find((p) => p.hogql === hogql)
      if (!q) throw new Error('a query the plan does not have')
      queries.push(q.name)
      return answer(q)
    },
  }),
)
beforeAll(() => server.listen({ onUnhandledRequest: 'error' }))
afterAll(() => server.close())

/** The parts of a report that say where numbers came from, not what they are. */
function normalized(r: Report) {
  return { ...r, flags: r.flags.map((f) => ({ ...f, data: { ...f.data, source: 'any' } })) }
}

describe('the online audit', () => {
  it('gives the same report as the offline audit of the same events', async () => {
    const offline = await auditEvents(defs, {}, events, { now: END })
    // The project has something to find, or equality would prove little.
    expect(offline.report.summary.blocked).toBeGreaterThan(0)
    expect(offline.report.flags.filter((f) => f.variants.some((v) => v.units > 0)).length).toBeGreaterThan(10)
    const seen: RequestInfo[] = []
    const client = new PostHogClient({ host: HOST, projectId: PROJECT, personalApiKey: KEY, onRequest: (i) => seen.push(i) })
    const online = await auditOnline(client, {}, { nowMs: END })
    expect(online.report.flags.every((f) => f.data.source === 'backfill' || f.data.source === 'none')).toBe(true)
    expect(normalized(online.report)).toEqual(normalized({ ...offline.report, project: PROJECT }))
    expect(queries.length).toBe(plan.length)
    expect(byName.size).toBe(plan.length)
  })

  it('sends only HogQL that parses with PostHog\'s own parser, each with an explicit LIMIT', async () => {
    const parser = await hogqlParser()
    for (const q of plan) {
      const ast = JSON.parse(parser.parseSelect(q.hogql, true)) as { error?: boolean; message?: string; limit?: unknown }
      expect(ast.error ? `${q.name}: ${ast.message}` : 'ok').toBe('ok')
      expect(ast.limit, q.name).toBeTruthy()
    }
  })
})

describe("the backfill of experiments that started before the lookback window", () => {
  it("queries each experiment's own run, and gives the same experiment reports as the offline audit", async () => {
    // Experiments started up to 44 days ago, some before the 30-day lookback, a quarter stopped.
    const p = simulatedProject({ seed: 13, users: 700, days: 45, endMs: END, experimentStartDays: [5, 44], endedShare: 0.25 })
    const w = backfillWindow(END, p.settings, null, experimentRuns(p.defs))
    const fake = makeFakeClickHouse(p.events, p.defs, w)
    const runs = planBackfill(p.defs, p.settings.metrics, w).map((query) => {
      const { columns, results } = fake(query)
      return { query, result: { columns, rows: results }, ms: 0 }
    })
    const online = buildReport({ definitions: p.defs, observations: observationsFromBackfill(p.defs, runs, PROJECT, w, p.settings.lookbackDays), settings: p.settings, nowMs: END })
    const offline = (await auditEvents(p.defs, {}, p.events, { now: END })).report
    const experiments = (r: Report) => normalized(r).flags.filter((f) => f.kind === 'experiment')
    expect(experiments(offline).filter((f) => Date.parse(f.window.from) < END - 30 * 86_400_000).length).toBeGreaterThan(0)
    expect(experiments(offline).filter((f) => f.experiment?.status === 'stopped').length).toBeGreaterThan(0)
    expect(experiments(online)).toEqual(experiments(offline))
    // Flags without an experiment keep the lookback: their exposure events add up the same way.
    const lookback = (r: Report) => r.flags.filter((f) => f.kind !== 'experiment').map((f) => [f.key, f.window, f.variants.map((v) => v.exposures)])
    expect(lookback(online)).toEqual(lookback(offline))
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
