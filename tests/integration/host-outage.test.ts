import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import { setupServer } from 'msw/node'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { auditEvents } from '../../src/audit/offline-audit.js'
import { RedisCache, pluginKeyPrefix } from '../../src/counters/redis-cache.js'
import type { Report } from '../../src/coverage/report.js'
import { hogqlParser } from '../../src/hog/parser.js'
import { createApp } from '../../src/host/app.js'
import { replayQuery } from '../../src/host/gaps.js'
import { Host } from '../../src/host/host.js'
import type { SimEvent } from '../../src/sim/traffic.js'
import { INTERNAL_EMAIL_FILTER, posthogProject } from '../support/posthog-box/index.js'
import { HOST, KEY, PROJECT } from '../support/posthog-api.js'
import { asBody, postSigned, silent, variantNumbers } from '../support/host.js'
import { REDIS_URL, dropPrefix, redisOrSkipReason } from '../support/redis.js'
import { simulatedProject } from '../support/sim-project.js'

const skip = redisOrSkipReason('the outage gap fill')
const END = Date.UTC(2026, 10, 20, 12)
// An hour of a project's traffic; the host is down for five minutes in the middle.
const p = simulatedProject({ seed: 29, users: 500, days: 0.04, endMs: END })
const START = Date.parse(p.events[0]!.timestamp)
const DOWN = START + Math.floor((END - START) * 0.45)
const UP = DOWN + 5 * 60_000

// PostHog's side: the project's events in a real ClickHouse, every query printed as PostHog prints it.
// Every event is after the watermark (the host starts with the first one), so the aggregated
// backfill of what came before is rightly empty; the replay queries get the events.
let ph: Awaited<ReturnType<typeof posthogProject>>
let server: ReturnType<typeof setupServer>
let queryBodies: unknown[] = []
beforeAll(async () => {
  ph = await posthogProject(p.api, p.events, p.defs, { testAccountFilters: INTERNAL_EMAIL_FILTER })
  server = setupServer(...ph.handlers)
  server.events.on('request:start', async ({ request }) => {
    if (request.url.endsWith('/query/')) queryBodies.push(await request.clone().json())
  })
  server.listen({ onUnhandledRequest: 'error' })
})
afterAll(() => {
  server.close()
  ph.close()
})

describe.skipIf(skip !== null)('no gap after an outage', () => {
  it('a host down for five minutes: after restart the gap is filled from HogQL, and the report equals the truth', { timeout: 180_000 }, async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'coverage-outage-'))
    const redis = new Redis(REDIS_URL!)
    const cache = new RedisCache(redis, pluginKeyPrefix('experiment-coverage', PROJECT))
    await dropPrefix(cache)
    let now = START
    const config = { posthogHost: HOST, posthogProjectId: PROJECT, posthogPersonalApiKey: KEY }
    const open = () => Host.open({ dataDir, redisUrl: REDIS_URL!, logger: silent, processMetrics: false, clock: () => now, reportMaxAgeMs: 0 })
    // The host's scheduler ticks every few seconds; here the clock follows the events and ticks every 15 s of it.
    const feed = async (host: Host, events: SimEvent[], secret: string) => {
      const app = createApp(host)
      let lastTick = now
      for (const e of events) {
        const t = Date.parse(e.timestamp)
        while (now < t) {
          now = Math.min(t, lastTick + 15_000)
          if (now - lastTick >= 15_000) {
            await host.tick()
            lastTick = now
          }
        }
        const res = await postSigned(app, PROJECT, secret, asBody(e), `msg_${e.uuid}`)
        expect(res.status).toBe(200)
      }
    }
    try {
      const a = await open()
      await a.start({ scheduler: false })
      const row = await a.addProject({ id: PROJECT, config })
      const secret = a.ingestSecret(row)
      await feed(a, p.events.filter((e) => Date.parse(e.timestamp) < DOWN), secret)
      await a.stop() // the host goes down
      const missed = p.events.filter((e) => Date.parse(e.timestamp) >= DOWN && Date.parse(e.timestamp) < UP)
      expect(missed.length).toBeGreaterThan(50) // events PostHog gave up delivering

      now = UP
      const b = await open()
      await b.start({ scheduler: false })
      const gaps = b.runtime(PROJECT)!.gaps
      expect(gaps).toHaveLength(1)
      expect(gaps[0]!.state).toBe('pending')
      expect(gaps[0]!.fromMs).toBeLessThanOrEqual(DOWN)
      expect(gaps[0]!.toMs).toBeGreaterThanOrEqual(UP)
      // Until it is filled, the report says its numbers miss that period.
      const pending = (await (await createApp(b).request(`/api/projects/${PROJECT}/report`)).json()) as Report
      expect(pending.flags.some((f) => f.assumptions.some((x) => x.includes('being read back from HogQL')))).toBe(true)
      queryBodies = []
      await feed(b, p.events.filter((e) => Date.parse(e.timestamp) >= UP), secret)
      await b.tick()
      expect(ph.log.filter((q) => q.error).map((q) => q.error)).toEqual([])
      expect(b.runtime(PROJECT)!.gaps[0]!.note).toMatch(/filled/)
      expect(b.runtime(PROJECT)!.gaps[0]!.state).toBe('filled')
      // The replay asked ClickHouse for the destination's events of the gap, test accounts left out as set.
      const replay = queryBodies.map((q) => q as { query: { query: string; filters?: { filterTestAccounts?: boolean } } }).filter((q) => q.query.query.includes('person.properties'))
      expect(replay.length).toBeGreaterThan(0)
      expect(replay[0]!.query.filters).toEqual({ filterTestAccounts: true })

      const report = (await (await createApp(b).request(`/api/projects/${PROJECT}/report`)).json()) as Report
      const truth = await auditEvents(p.defs, {}, p.events, { now })
      expect(variantNumbers(report)).toEqual(variantNumbers(truth.report))
      expect(report.flags.some((f) => f.assumptions.some((x) => x.includes('No host counted')))).toBe(false)
      // Without the fill, the five minutes would be missing: the truth without them differs.
      const withoutGap = await auditEvents(p.defs, {}, p.events.filter((e) => !missed.includes(e)), { now })
      expect(variantNumbers(withoutGap.report)).not.toEqual(variantNumbers(truth.report))
      await b.stop()
    } finally {
      await dropPrefix(cache)
      redis.disconnect()
      rmSync(dataDir, { recursive: true, force: true })
    }
  })

  it("reads a gap back with HogQL that PostHog's parser accepts, in a stable order", async () => {
    const q = replayQuery({ fromMs: DOWN, toMs: UP }, ['$feature_flag_called', "it's"], { timestamp: '2026-11-20T10:00:00.123456Z', uuid: '0190b5a8-7f00-7000-8000-000000000001' })
    const ast = JSON.parse((await hogqlParser()).parseSelect(q, true)) as { error?: boolean; message?: string }
    expect(ast.error ? ast.message : 'ok').toBe('ok')
    expect(q).toMatch(/ORDER BY timestamp ASC, uuid ASC\nLIMIT 5000$/)
    expect(q).not.toMatch(/OFFSET/)
  })
})
