import { createServer, type Server } from 'node:http'
import { setupServer } from 'msw/node'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createApp } from '../../src/host/app.js'
import { asBody, postSigned, testHost } from '../support/host.js'
import { HOST, KEY, PROJECT, posthogHandlers } from '../support/posthog-api.js'
import { publishHandlers, type PublishSide } from '../support/posthog-publish.js'
import { simulatedProject } from '../support/sim-project.js'

const END = Date.UTC(2026, 10, 20, 12)
const p = simulatedProject({ seed: 41, users: 400, days: 6, endMs: END })
// The flag list as PostHog serves it (the plugin reads its definitions from it too), with the team's own tags.
const side: PublishSide = { flags: (p.api.flags as PublishSide['flags']).map((f) => ({ ...f, tags: ['team:own'] })), notebooks: [], writes: [], captured: [], editBeforePatch: false }
// The running experiments' flags were set up before their start: a history with nothing during the run.
const running = (p.api.experiments as { feature_flag_key: string; end_date: string | null; start_date: string | null }[]).filter((e) => e.start_date && !e.end_date)
const activity = running.map((e) => {
  const flag = (p.api.flags as { id: number; key: string; filters: unknown }[]).find((f) => f.key === e.feature_flag_key)!
  return { user: { first_name: 'Ada', email: 'ada@example.com' }, activity: 'updated', scope: 'FeatureFlag', item_id: String(flag.id), detail: { changes: [{ type: 'FeatureFlag', action: 'changed', field: 'filters', before: { groups: [] }, after: flag.filters }], name: flag.key }, created_at: new Date(Date.parse(e.start_date!) - 3_600_000).toISOString() }
})
const server = setupServer(...publishHandlers(side), ...posthogHandlers({ ...p.api, activity }))

let receiver: Server
let hook: string
const received: { text: string }[] = []
beforeAll(async () => {
  server.listen({ onUnhandledRequest: (req, print) => (new URL(req.url).hostname === '127.0.0.1' ? undefined : print.error()) })
  receiver = createServer((req, res) => {
    let body = ''
    req.on('data', (c: Buffer) => (body += c.toString()))
    req.on('end', () => {
      received.push(JSON.parse(body) as { text: string })
      res.writeHead(200).end('ok')
    })
  })
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', () => r()))
  hook = `http://127.0.0.1:${(receiver.address() as { port: number }).port}/slack`
})
afterAll(async () => {
  server.close()
  await new Promise<void>((r) => receiver.close(() => r()))
})

describe("the host's scheduled review", () => {
  it('publishes on schedule when enabled, alerts the receiver once, and repeats nothing while nothing changes', async () => {
    let now = END
    const t = await testHost({ clock: () => now })
    // A running experiment whose readout is due tomorrow: the review reminds once.
    const experiment = (p.api.experiments as { feature_flag_key: string; end_date: string | null; start_date: string | null }[]).find((e) => e.start_date && !e.end_date)!
    const config = {
      posthogHost: HOST,
      posthogProjectId: PROJECT,
      posthogPersonalApiKey: KEY,
      publishEnabled: 'Yes',
      alertWebhookUrl: hook,
      readoutDeadlines: JSON.stringify({ [experiment.feature_flag_key]: new Date(END + 86_400_000).toISOString().slice(0, 10) }),
    }
    const secret = t.host.ingestSecret(await t.host.addProject({ id: PROJECT, config }))
    // Everything before the watermark is the backfill's (msw answers no rows); count live from now on.
    for (const e of p.events) await postSigned(t.app, PROJECT, secret, asBody({ ...e, timestamp: new Date(END + 1000).toISOString() }))
    now = END + 2000
    await t.host.tick()
    const rt = t.host.runtime(PROJECT)!
    // The tick ran the hour's review: tags and the notebook written, events captured.
    expect(side.writes.filter((w) => w.path === 'bulk_update_tags').length).toBeGreaterThan(0)
    expect(side.notebooks).toHaveLength(1)
    expect(side.captured).toHaveLength(1)
    expect(side.flags.every((f) => f.tags.includes('team:own'))).toBe(true)
    await new Promise((r) => setTimeout(r, 300)) // the alert goes out without holding the review
    const reminders = received.filter((m) => m.text.includes(experiment.feature_flag_key) && m.text.includes('readout due'))
    expect(reminders).toHaveLength(1)
    // The same hour again: the review is not repeated. The next hour: nothing new to say or write.
    const before = { writes: side.writes.length, received: received.length }
    await t.host.tick()
    now += 3_600_000
    await t.host.tick()
    await new Promise((r) => setTimeout(r, 300))
    expect(side.writes.filter((w) => w.path !== 'notebooks PATCH').length).toBe(before.writes)
    expect(received.length).toBe(before.received)
    expect(side.captured).toHaveLength(2) // one "checked" event per flag per review
    // History: both reviews are kept, and the API says what changed between them.
    const history = (await (await createApp(t.host).request(`/api/projects/${PROJECT}/history`)).json()) as { runs: unknown[]; changes: { verdictChanges: unknown[] } | null }
    expect(history.runs.length).toBe(2)
    expect(history.changes).not.toBeNull()
    expect((await rt.history(10)).length).toBe(2)
    // The first review of a new month posts the month's summary, once.
    now = Date.UTC(2026, 11, 1, 9)
    await t.host.tick()
    now += 3_600_000
    await t.host.tick()
    await new Promise((r) => setTimeout(r, 300))
    expect(received.filter((m) => m.text.startsWith('Experiment coverage, 2026-11'))).toHaveLength(1)
    await t.close()
  })

  it("judges what changed in each experiment's flag from PostHog's activity log, read beside the review and never waited for", async () => {
    const t = await testHost({ clock: () => END })
    await t.host.addProject({ id: PROJECT, config: { posthogHost: HOST, posthogProjectId: PROJECT, posthogPersonalApiKey: KEY } })
    const rt = t.host.runtime(PROJECT)!
    const flagChanges = async () => {
      const { report } = (await rt.report({ fresh: true })) as { report: { flags: { key: string; checks: { id: string; status: string; summary: string }[] }[] } }
      return report.flags.filter((f) => running.some((e) => e.feature_flag_key === f.key)).map((f) => f.checks.find((c) => c.id === 'flag_changes')!)
    }
    // The first review starts the read; it does not wait for it.
    expect((await flagChanges()).every((c) => c.status === 'not_applicable')).toBe(true)
    let checks = await flagChanges()
    for (let i = 0; i < 100 && !checks.every((c) => c.status === 'pass'); i++) {
      await new Promise((r) => setTimeout(r, 50))
      checks = await flagChanges()
    }
    expect(checks.length).toBe(running.length)
    expect(checks.every((c) => c.status === 'pass' && c.summary.includes('(1 changes in its history)'))).toBe(true)
    await t.close()
  })
})
