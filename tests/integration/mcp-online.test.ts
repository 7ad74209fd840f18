import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js'
import { setupServer } from 'msw/node'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { auditOnline } from '../../src/audit/online-audit.js'
import type { Report } from '../../src/coverage/report-schema.js'
import { createMcpServer, type LogLevel } from '../../src/mcp/server.js'
import { Scrubber, secretsOfEnv } from '../../src/mcp/scrub.js'
import { onlineSource } from '../../src/mcp/source-online.js'
import { listFlags } from '../../src/mcp/views.js'
import { PostHogClient } from '../../src/posthog/client.js'
import { call, expectAnswersEqualReport, textOf } from '../support/mcp-reports.js'
import { authError, base, HOST, http, KEY, PROJECT } from '../support/posthog-api.js'
import { posthogProject } from '../support/posthog-box/index.js'
import { simulatedProject } from '../support/sim-project.js'

/**
 * `experiment-coverage mcp` on a PostHog project (issue 23): the server built as src/cli/mcp.ts
 * builds it for the online source, run in this process so that msw stands in for PostHog's REST
 * API (every HogQL query run by a real ClickHouse), spoken to by the SDK's own Client over the
 * SDK's in-memory transport pair.
 */
const END = Date.UTC(2026, 10, 20, 12)
const DAY_MS = 86_400_000
// Small, so the audits (one direct, several through the tools) stay quick on two busy cores.
const project = simulatedProject({ seed: 11, users: 400, days: 14, endMs: END })
const ENV = { POSTHOG_HOST: HOST, POSTHOG_PROJECT_ID: PROJECT, POSTHOG_PERSONAL_API_KEY: KEY }

let ph: Awaited<ReturnType<typeof posthogProject>>
let msw: ReturnType<typeof setupServer>
let direct: Awaited<ReturnType<typeof auditOnline>>
// Everything the server says outside its answers: its log lines (stderr in the CLI) and this process's stderr.
const logLines: string[] = []
const stderr: string[] = []
const writeStderr = process.stderr.write.bind(process.stderr)
const opened: Client[] = []

/** A client connected to a fresh server on the online source, as `experiment-coverage mcp` makes it from ENV. */
async function connect(): Promise<Client> {
  const scrubber = new Scrubber(secretsOfEnv(ENV))
  const source = onlineSource({ host: HOST, projectId: PROJECT, personalApiKey: KEY, config: {}, now: () => END })
  scrubber.add(source.secrets())
  const log = (level: LogLevel, message: string) => logLines.push(`experiment-coverage mcp: ${level}: ${scrubber.text(message)}`)
  const server = createMcpServer({ source, scrubber, log, version: 'test' })
  const [clientSide, serverSide] = InMemoryTransport.createLinkedPair()
  await server.connect(serverSide)
  const client = new Client({ name: 'mcp-online-test', version: '1.0.0' })
  await client.connect(clientSide)
  opened.push(client)
  return client
}

beforeAll(async () => {
  process.stderr.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
    stderr.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString())
    return (writeStderr as (...a: unknown[]) => boolean)(chunk, ...rest)
  }) as typeof process.stderr.write
  ph = await posthogProject(project.api, project.events, project.defs)
  msw = setupServer(...ph.handlers)
  msw.listen({ onUnhandledRequest: 'error' })
  direct = await auditOnline(new PostHogClient({ host: HOST, projectId: PROJECT, personalApiKey: KEY }), {}, { nowMs: END })
}, 180_000)

afterEach(() => msw.resetHandlers())

afterAll(async () => {
  for (const c of opened) await c.close().catch(() => {})
  msw?.close()
  ph?.close()
  process.stderr.write = writeStderr
})

type RunAnswer = { mode: string; ran: boolean; inputs_applied: boolean; window: { from: string; to: string; days: number }; summary: Report['summary']; generated_at: string }
type FlagBrief = { key: string; due_in_days: number | null; tags: string[] | null }

/** `run_audit` with a progress token: its answer and every progress notification it sent. */
async function runAudit(client: Client, args: Record<string, unknown>) {
  const progress: { progress: number; total?: number; message?: string }[] = []
  const answer = (await client.callTool({ name: 'run_audit', arguments: args }, undefined, { onprogress: (p) => progress.push(p), timeout: 120_000 })) as Awaited<ReturnType<typeof call>>
  return { answer, result: answer.structuredContent as RunAnswer, progress }
}

/** The report the server holds now, as its resource gives it. */
async function reportOf(client: Client): Promise<Report> {
  const r = await client.readResource({ uri: `coverage://${PROJECT}/report.json` })
  return JSON.parse((r.contents[0] as { text: string }).text) as Report
}

describe('experiment-coverage mcp on a PostHog project (the online audit)', () => {
  it('answers list_flags, get_flag_coverage, get_plan, get_readout and explain_check with the report the online audit gives', { timeout: 180_000 }, async () => {
    const report = direct.report
    // Something to find, or equality would prove little.
    expect(report.summary.blocked + report.summary.needs_backfill).toBeGreaterThan(0)
    expect(report.flags.filter((f) => f.variants.some((v) => v.units > 0)).length).toBeGreaterThan(5)
    const client = await connect()
    // The first tool that needs a report runs the first audit.
    await expectAnswersEqualReport(client, report)
    // Each flag's tags, as PostHog's flag list has them.
    const tags = new Map(direct.definitions.flags.map((f) => [f.key, [...(f.tags ?? [])]]))
    const page = await call(client, 'list_flags', { limit: 100 })
    expect(page.structuredContent).toEqual({ ...listFlags(report, tags, {}, { limit: 100 }), project: PROJECT })
    expect((await reportOf(client)).flags).toEqual(report.flags)
    const projects = await call(client, 'list_projects')
    expect(projects.structuredContent).toEqual({ source: { kind: 'posthog', where: `${HOST} project ${PROJECT}`, refresh: 'audit' }, projects: [{ id: PROJECT, name: `PostHog project ${PROJECT}` }] })
  })

  it('run_audit sends progress notifications, from the definitions to the last HogQL query', { timeout: 180_000 }, async () => {
    const client = await connect()
    const { answer, result, progress } = await runAudit(client, {})
    expect(answer.isError, textOf(answer)).toBeFalsy()
    expect(result).toMatchObject({ mode: 'audit', ran: true, inputs_applied: true })
    expect(result.summary).toEqual(direct.report.summary)
    const messages = progress.map((p) => p.message ?? '')
    expect(messages[0]).toMatch(/fetching flags, experiments/)
    expect(messages.some((m) => /running \d+ HogQL queries/.test(m))).toBe(true)
    const total = direct.runs.length
    expect(messages).toContain(`HogQL queries: ${total} of ${total} done`)
    // Progress only grows (MCP: "MUST increase with each notification").
    const values = progress.map((p) => p.progress)
    expect(values).toEqual([...values].sort((a, b) => a - b))
    expect(new Set(values).size).toBe(values.length)
  })

  it.each([7, 30])('run_audit with lookback_days %i judges the flags without an experiment over that many days', { timeout: 180_000 }, async (days) => {
    const client = await connect()
    const { answer, result } = await runAudit(client, { lookback_days: days })
    expect(answer.isError, textOf(answer)).toBeFalsy()
    expect(result.inputs_applied).toBe(true)
    const report = await reportOf(client)
    const lookback = report.flags.filter((f) => f.window.basis === 'lookback')
    expect(lookback.length).toBeGreaterThan(0)
    // From the start of the first UTC day to now: the last day is today's part.
    for (const f of lookback) expect(Math.ceil((Date.parse(f.window.to) - Date.parse(f.window.from)) / DAY_MS), f.key).toBe(days)
    // The report's window (the lookback's days), as run_audit answers it.
    expect(result.window).toEqual(report.window)
    expect(result.window.days).toBe(days)
    expect(textOf(answer)).toContain(`(${report.window.days} days)`)
  })

  it('run_audit asked for while the first audit still runs waits for it, then audits with its own lookback and its own progress', { timeout: 180_000 }, async () => {
    const client = await connect()
    // list_flags starts the first audit (the default 30 days); run_audit comes while it runs.
    const first = call(client, 'list_flags', { limit: 100 })
    const { answer, result, progress } = await runAudit(client, { lookback_days: 7 })
    expect(answer.isError, textOf(answer)).toBeFalsy()
    expect((await first).isError).toBeFalsy()
    expect(result.inputs_applied).toBe(true)
    expect(result.window.days).toBe(7)
    expect(progress.map((p) => p.message)).toContain(`HogQL queries: ${direct.runs.length} of ${direct.runs.length} done`)
    expect((await reportOf(client)).window.days).toBe(7)
  })

  it('run_audit with deadlines sets the readout deadlines: due_in_days in list_flags and days_to_deadline in the plan', { timeout: 180_000 }, async () => {
    const client = await connect()
    const withRepairs = direct.report.flags.filter((f) => f.backfill.length > 0)
    expect(withRepairs.length).toBeGreaterThan(1)
    // One flag due in 10 days; an experiment with a planned end, given a deadline after it (the deadline set wins).
    const soon = withRepairs.find((f) => !f.experiment?.end_date) ?? withRepairs[0]!
    const later = withRepairs.find((f) => f.key !== soon.key && f.experiment?.end_date && Date.parse(f.experiment.end_date) > END)
    expect(later, 'an experiment with repairs and a planned end after now').toBeDefined()
    if (!later) return
    const dayOf = (ms: number) => new Date(ms).toISOString().slice(0, 10)
    const deadlines = { [soon.key]: dayOf(END + 10 * DAY_MS), [later.key]: dayOf(END + 200 * DAY_MS) }
    const { answer } = await runAudit(client, { deadlines })
    expect(answer.isError, textOf(answer)).toBeFalsy()
    expect((answer.structuredContent as RunAnswer).inputs_applied).toBe(true)
    const expected = (date: string) => Math.round(((Date.parse(date) - END) / DAY_MS) * 10) / 10
    const listed = (await call(client, 'list_flags', { limit: 100 })).structuredContent as { flags: FlagBrief[] }
    for (const key of [soon.key, later.key]) {
      expect(listed.flags.find((f) => f.key === key)?.due_in_days, key).toBe(expected(deadlines[key]!))
      const plan = (await call(client, 'get_plan', { flags: [key], limit: 100 })).structuredContent as { items: { days_to_deadline: number | null }[] }
      expect(plan.items.length).toBeGreaterThan(0)
      for (const i of plan.items) expect(i.days_to_deadline, key).toBe(expected(deadlines[key]!))
    }
    // due_within_days finds the one due in 10 days, and not the one due in 200.
    const due = (await call(client, 'list_flags', { due_within_days: 14, limit: 100 })).structuredContent as { flags: FlagBrief[] }
    expect(due.flags.map((f) => f.key)).toContain(soon.key)
    expect(due.flags.map((f) => f.key)).not.toContain(later.key)
  })

  it('a key PostHog rejects (401 on the query route) is a tool error that says what to do, and never the key', { timeout: 180_000 }, async () => {
    const client = await connect()
    msw.use(http.post(`${base}/query/`, () => authError()))
    const { answer, progress } = await runAudit(client, { lookback_days: 14 })
    expect(answer.isError).toBe(true)
    const text = textOf(answer)
    expect(text).toMatch(/rejected the personal API key/)
    expect(text).toMatch(/POSTHOG_PERSONAL_API_KEY/)
    expect(text).toMatch(/expired or revoked/)
    expect(text).not.toContain(KEY)
    expect(progress.length).toBeGreaterThan(0)
    // The first report too: a tool that needs one says the same.
    const fresh = await connect()
    const listed = await call(fresh, 'list_flags')
    expect(listed.isError).toBe(true)
    expect(textOf(listed)).toMatch(/POSTHOG_PERSONAL_API_KEY/)
    msw.resetHandlers()
    // Once PostHog answers again, the next call audits again.
    const again = await call(fresh, 'list_flags', { limit: 100 })
    expect(again.isError, textOf(again)).toBeFalsy()
  })

  it('no answer, progress message, log line or stderr line of these sessions holds the personal API key', { timeout: 180_000 }, async () => {
    expect(logLines.length).toBeGreaterThan(0)
    expect(logLines.some((l) => /rejected the personal API key/.test(l))).toBe(true)
    for (const l of [...logLines, ...stderr]) expect(l).not.toContain(KEY)
    const client = await connect()
    const seen: string[] = []
    const { answer, progress } = await runAudit(client, {})
    seen.push(textOf(answer), ...progress.map((p) => JSON.stringify(p)))
    for (const name of ['list_projects', 'list_flags', 'get_plan', 'get_readout', 'what_changed']) seen.push(textOf(await call(client, name)))
    seen.push(JSON.stringify(await reportOf(client)))
    for (const s of seen) expect(s).not.toContain(KEY)
  })
})
