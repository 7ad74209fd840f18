import { createServer, type Server } from 'node:http'
import { setupServer } from 'msw/node'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { alertBody, decideAlerts, deliverAlert } from '../../src/alerts/alerts.js'
import { auditEvents } from '../../src/audit/offline-audit.js'
import { compareReports, recurringGaps } from '../../src/coverage/compare.js'
import type { Report } from '../../src/coverage/report.js'
import { PostHogClient } from '../../src/posthog/client.js'
import { coverageTag, planTags } from '../../src/publish/plan.js'
import { publishReport } from '../../src/publish/publish.js'
import { HOST, KEY, PROJECT, posthogHandlers } from '../support/posthog-api.js'
import { PROJECT_TOKEN, publishHandlers, type PublishSide } from '../support/posthog-publish.js'
import { simulatedProject } from '../support/sim-project.js'

const END = Date.UTC(2026, 10, 20, 12)
const p = simulatedProject({ seed: 37, users: 600, days: 10, endMs: END })

// PostHog's side: flags with tags (some the team's own), bulk_update_tags, notebooks with versions, capture.
const side: PublishSide = { flags: [], notebooks: [], writes: [], captured: [], editBeforePatch: false }
const server = setupServer(...publishHandlers(side), ...posthogHandlers(p.api))
// The local alert receiver is a real server: msw lets requests to it through.
beforeAll(() => server.listen({ onUnhandledRequest: (req, print) => (new URL(req.url).hostname === '127.0.0.1' ? undefined : print.error()) }))
afterAll(() => server.close())

let report: Report
beforeAll(async () => {
  report = (await auditEvents(p.defs, {}, p.events, { now: END })).report
})
let flags: PublishSide['flags']
let notebooks: PublishSide['notebooks']
let writes: PublishSide['writes']
let captured: PublishSide['captured']
beforeEach(() => {
  // The team's own tags, and a coverage tag from an earlier publish that is now wrong for the first flag.
  flags = side.flags = p.defs.flags.map((f) => ({ id: f.id, key: f.key, tags: [...(f.tags ?? []), 'team:growth'], deleted: false }))
  flags[0]!.tags.push(coverageTag('coverage:', report.flags.find((r) => r.key === flags[0]!.key)!.verdict === 'blocked' ? 'trustworthy' : 'blocked'))
  notebooks = side.notebooks = []
  writes = side.writes = []
  captured = side.captured = []
})

const client = () => new PostHogClient({ host: HOST, projectId: PROJECT, personalApiKey: KEY, retries: 0 })
const publish = (r: Report, dryRun = false) => publishReport(r, { client: client(), posthogHost: HOST, project: PROJECT, tagPrefix: 'coverage:', hostUrl: 'https://coverage.example.com', dryRun })

describe('publish', () => {
  it('--dry-run lists the tag changes, the notebook and the events, and writes nothing', async () => {
    const r = await publish(report, true)
    expect(writes).toEqual([])
    expect(captured).toEqual([])
    expect(r.writes.filter((w) => w.url.endsWith('bulk_update_tags/')).length).toBeGreaterThan(0)
    expect(r.writes.some((w) => w.what === 'create the notebook')).toBe(true)
    expect(r.writes.some((w) => w.what.startsWith('capture'))).toBe(true)
    expect(JSON.stringify(r.writes)).not.toContain(KEY)
  })

  it("tags each flag with its verdict, never touching a tag it did not write; creates the notebook; captures one event per flag with the project token only", async () => {
    const r = await publish(report)
    for (const f of flags.filter((x) => report.flags.some((y) => y.key === x.key))) {
      const verdict = report.flags.find((y) => y.key === f.key)!.verdict
      expect(f.tags.filter((t) => t.startsWith('coverage:'))).toEqual([coverageTag('coverage:', verdict)])
      expect(f.tags).toContain('team:growth') // the team's own tag stays
    }
    expect(writes.filter((w) => w.path === 'bulk_update_tags').every((w) => ['add', 'remove'].includes(String(w.body.action)))).toBe(true)
    expect(r.tags.removed).toBe(1)
    expect(notebooks).toHaveLength(1)
    const nodes = (notebooks[0]!.content as { content: { type: string; attrs?: Record<string, unknown> }[] }).content
    expect(nodes.some((n) => n.type === 'ph-feature-flag' && typeof n.attrs?.id === 'number')).toBe(true)
    expect(nodes.some((n) => n.type === 'ph-query')).toBe(true)
    expect(nodes.some((n) => n.type === 'ph-embed' && String(n.attrs?.src).startsWith('https://coverage.example.com/'))).toBe(true)
    expect(captured).toHaveLength(1)
    expect(captured[0]!.body.api_key).toBe(PROJECT_TOKEN)
    expect(captured[0]!.auth).toBeNull() // the personal key never goes to capture
    expect((captured[0]!.body.batch as unknown[]).length).toBe(report.flags.length)
  })

  it('a second publish of an unchanged report sends no tag change and no new notebook; a verdict change moves the tag', async () => {
    await publish(report)
    writes = side.writes = []
    const again = await publish(report)
    expect(writes).toEqual([])
    expect(again.notebook.action).toBe('unchanged')
    expect(notebooks).toHaveLength(1)
    const changed = structuredClone(report)
    const f = changed.flags[0]!
    const old = f.verdict
    f.verdict = old === 'blocked' ? 'trustworthy' : 'blocked'
    await publish(changed)
    const flag = flags.find((x) => x.key === f.key)!
    expect(flag.tags.filter((t) => t.startsWith('coverage:'))).toEqual([coverageTag('coverage:', f.verdict)])
    expect(writes.filter((w) => w.path === 'bulk_update_tags').map((w) => [w.body.action, w.body.tags])).toEqual([
      ['remove', [coverageTag('coverage:', old)]],
      ['add', [coverageTag('coverage:', f.verdict)]],
    ])
    expect(writes.filter((w) => w.path === 'notebooks PATCH')).toHaveLength(1) // updated in place, with its version
    expect(notebooks).toHaveLength(1)
  })

  it('re-reads and retries once when the notebook was edited meanwhile (version conflict)', async () => {
    await publish(report)
    const changed = structuredClone(report)
    changed.flags[0]!.verdict = changed.flags[0]!.verdict === 'blocked' ? 'trustworthy' : 'blocked'
    side.editBeforePatch = true
    const r = await publish(changed)
    expect(r.notebook.action).toBe('updated')
    expect(writes.filter((w) => w.path === 'notebooks PATCH')).toHaveLength(2)
  })

  it('keeps to 500 ids a bulk_update_tags request', () => {
    const many = Array.from({ length: 1200 }, (_, i) => ({ id: i + 1, key: `f${i}`, tags: [] }))
    const requests = planTags({ flags: many.map((f) => ({ ...report.flags[0]!, key: f.key, verdict: 'blocked' as const })) }, many, 'coverage:')
    expect(requests.map((r) => r.ids.length)).toEqual([500, 500, 200])
  })
})

describe('comparing runs', () => {
  it('says what changed: verdicts, new failures, repaired flags; and which gaps recur by area', () => {
    const later = structuredClone(report)
    const a = later.flags.find((f) => f.verdict === 'blocked' || f.verdict === 'needs_backfill')!
    const wasVerdict = a.verdict
    a.verdict = 'trustworthy'
    const b = later.flags.find((f) => f !== a && f.checks.some((c) => c.id === 'guardrails' && c.status !== 'fail'))!
    b.checks.find((c) => c.id === 'guardrails')!.status = 'fail'
    const c = compareReports(report, later)
    expect(c.repaired).toEqual([{ flag: a.key, from: wasVerdict }])
    expect(c.verdictChanges).toContainEqual({ flag: a.key, from: wasVerdict, to: 'trustworthy', worse: false })
    expect(c.newFailures.map((x) => [x.flag, x.check])).toContainEqual([b.key, 'guardrails'])
    expect(compareReports(report, report).verdictChanges).toEqual([])
    const gaps = recurringGaps([later, report, report])
    expect(gaps.length).toBeGreaterThan(0)
    expect(gaps.every((g) => g.runs >= 2)).toBe(true)
  })
})

describe('alerts', () => {
  let receiver: Server
  let url: string
  let received: unknown[]
  let failNext = 0
  beforeAll(async () => {
    receiver = createServer((req, res) => {
      let body = ''
      req.on('data', (c: Buffer) => (body += c.toString()))
      req.on('end', () => {
        if (failNext > 0) {
          failNext--
          res.writeHead(503).end()
          return
        }
        received.push(JSON.parse(body))
        res.writeHead(200).end('ok')
      })
    })
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', () => r()))
    url = `http://127.0.0.1:${(receiver.address() as { port: number }).port}/hook`
  })
  afterAll(() => new Promise<void>((r) => receiver.close(() => r())))
  beforeEach(() => {
    received = []
  })

  const running = (r: Report) => r.flags.find((f) => f.kind === 'experiment' && f.experiment?.start_date && !f.experiment.end_date && f.verdict !== 'blocked')!

  it('fires once per change, reaches the receiver (retried after a failure), and says nothing while nothing changes', async () => {
    const first = decideAlerts(report, null, { srmAlpha: 0.001, nowMs: END, link: (k) => `https://coverage.example.com/?flag=${k}` })
    const quiet = decideAlerts(report, first.state, { srmAlpha: 0.001, nowMs: END, link: () => null })
    expect(quiet.alerts.filter((a) => a.kind !== 'sample_ratio')).toEqual([])
    const worse = structuredClone(report)
    const f = running(worse)
    f.verdict = 'blocked'
    f.checks.find((c) => c.id === 'flag_state')!.status = 'fail'
    const changed = decideAlerts(worse, quiet.state, { srmAlpha: 0.001, nowMs: END, link: (k) => `https://coverage.example.com/?flag=${k}` })
    const mine = changed.alerts.filter((a) => a.flag === f.key)
    expect(mine.map((a) => a.kind).sort()).toEqual(['blocking_check', 'verdict_worse'])
    expect(decideAlerts(worse, changed.state, { srmAlpha: 0.001, nowMs: END, link: () => null }).alerts.filter((a) => a.flag === f.key && a.kind !== 'readout_due')).toEqual([])
    failNext = 1
    const ok = await deliverAlert(url, alertBody(mine[0]!, 'slack', PROJECT), { baseDelayMs: 10 })
    expect(ok).toBe(true)
    expect(received).toHaveLength(1)
    expect((received[0] as { text: string }).text).toContain(f.key)
    await deliverAlert(url, alertBody(mine[1]!, 'json', PROJECT), { baseDelayMs: 10 })
    expect(received[1]).toMatchObject({ project: PROJECT, flag: f.key, link: `https://coverage.example.com/?flag=${f.key}` })
  })

  it('says a stall once, when exposures stop, even for a flag that already needs repair', () => {
    const first = decideAlerts(report, null, { srmAlpha: 0.001, nowMs: END, link: () => null })
    const stalled = structuredClone(report)
    const f = running(stalled)
    const check = f.checks.find((c) => c.id === 'exposure_stall')!
    Object.assign(check, { status: 'fail', summary: 'No exposure since 2026-11-18 (60 hours).', fix: 'Find what changed.', evidence: { ...check.evidence, stalled_since: '2026-11-18' } })
    const said = decideAlerts(stalled, first.state, { srmAlpha: 0.001, nowMs: END, link: () => null })
    const stall = said.alerts.filter((a) => a.flag === f.key && a.kind === 'exposure_stall')
    expect(stall).toHaveLength(1)
    expect(stall[0]!.title).toBe(`${f.key}: no exposure since 2026-11-18`)
    // The same stall an hour later: nothing new to say.
    expect(decideAlerts(stalled, said.state, { srmAlpha: 0.001, nowMs: END, link: () => null }).alerts.filter((a) => a.kind === 'exposure_stall')).toEqual([])
  })

  it('a receiver that keeps failing is given up on, and says why', async () => {
    failNext = 10
    const failures: string[] = []
    expect(await deliverAlert(url, { text: 'x' }, { baseDelayMs: 5, attempts: 3, onFailure: (m) => failures.push(m) })).toBe(false)
    expect(failures.join()).toMatch(/after 3 attempts/)
    failNext = 0
  })
})
