import { randomBytes, randomUUID } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import { afterEach, describe, expect, it } from 'vitest'
import { auditEvents } from '../../src/audit/offline-audit.js'
import { RedisCache, pluginKeyPrefix } from '../../src/counters/redis-cache.js'
import type { Report } from '../../src/coverage/report.js'
import { Host } from '../../src/host/host.js'
import type { DemoSpec } from '../../src/host/project.js'
import { definitionsOf, simulate } from '../../src/sim/simulation.js'
import type { SimEvent } from '../../src/sim/traffic.js'
import { deliver, killAll, spawnHost, type HostProcess } from '../support/host-process.js'
import { freshSchema, postgresOrSkipReason } from '../support/postgres.js'
import { REDIS_URL, dropPrefix, redisOrSkipReason, startRedisServer } from '../support/redis.js'
import { silent, variantNumbers } from '../support/host.js'

// Real processes, real Redis, real PostgreSQL: what a team runs behind a load balancer.
const skip = redisOrSkipReason('host faults') ?? postgresOrSkipReason('host faults')
const SECRET_KEY = randomBytes(32).toString('hex')
const HOUR = 3_600_000

interface Setup {
  project: string
  database: string
  dataDir: string
  secret: string
  events: SimEvent[]
  offline: Report
  cleanup: () => Promise<void>
}

/** A demo-style project (simulated definitions) stored in a fresh schema, and the offline truth of its events. */
async function setup(seed: number, redisUrl: string): Promise<Setup> {
  const { url: database, drop } = await freshSchema()
  const dataDir = mkdtempSync(join(tmpdir(), 'coverage-faults-'))
  const project = `p${randomUUID().slice(0, 8)}`
  const spec: DemoSpec = { seed, flags: 20, users: 200, days: 2, endMs: Math.floor(Date.now() / HOUR) * HOUR }
  const host = await Host.open({ dataDir, databaseUrl: database, secretKey: SECRET_KEY, logger: silent, processMetrics: false })
  const row = await host.addProject({ id: project, demo: spec, start: false })
  const secret = host.ingestSecret(row)
  await host.stop()
  const sim = simulate({ ...spec, defects: 'mix', redeliveryShare: 0.01 })
  const events = [...sim.events]
  const offline = (await auditEvents(definitionsOf(sim.project), {}, events, { now: Date.now() })).report
  return {
    project,
    database,
    dataDir,
    secret,
    events,
    offline,
    async cleanup() {
      const redis = new Redis(redisUrl)
      await dropPrefix(new RedisCache(redis, pluginKeyPrefix('experiment-coverage', project)))
      redis.disconnect()
      await drop()
      rmSync(dataDir, { recursive: true, force: true })
    },
  }
}

const hostArgs = (s: Setup, redisUrl: string, port = 0) => ['--port', String(port), '--redis', redisUrl, '--database', s.database, '--data-dir', s.dataDir]
const env = { COVERAGE_SECRET_KEY: SECRET_KEY }

async function reportOf(h: HostProcess, project: string): Promise<Report> {
  const res = await fetch(`${h.url}/api/projects/${project}/report?fresh=1`)
  expect(res.status).toBe(200)
  return (await res.json()) as Report
}

/**
 * After crashes or an outage mid-stream, with everything not acknowledged delivered again, the
 * numbers are the offline audit's: every event counted once, none lost, none twice, also those in
 * flight when the host died (their retry completes what the crash cut off).
 */
function expectCountedExactlyOnce(report: Report, offline: Report) {
  expect(variantNumbers(report)).toEqual(variantNumbers(offline))
}

describe.skipIf(skip !== null)('the host under faults (real Redis, PostgreSQL and processes)', () => {
  afterEach(() => killAll())

  it('two host processes sharing one Redis and one database count exactly what one process counts', { timeout: 180_000 }, async () => {
    const s = await setup(41, REDIS_URL!)
    const a = await spawnHost(hostArgs(s, REDIS_URL!), env)
    const b = await spawnHost(hostArgs(s, REDIS_URL!), env)
    try {
      let i = 0
      const run = deliver(s.events, { target: () => (i++ % 2 === 0 ? a.url : b.url), project: s.project,
      secret: s.secret, concurrency: 8 })
      const d = await run.finished
      expect(d.acked.size).toBe(new Set(s.events.map((e) => e.uuid)).size)
      expect(d.statuses.get(200)).toBeGreaterThan(s.events.length / 2)
      expect(variantNumbers(await reportOf(a, s.project))).toEqual(variantNumbers(s.offline))
      expect(variantNumbers(await reportOf(b, s.project))).toEqual(variantNumbers(s.offline))
    } finally {
      await Promise.all([a.stop(), b.stop()])
      await s.cleanup()
    }
  })

  it('a host killed with SIGKILL five times mid-stream and restarted counts every event exactly once', { timeout: 240_000 }, async () => {
    const s = await setup(42, REDIS_URL!)
    let current = await spawnHost(hostArgs(s, REDIS_URL!), env)
    const port = current.port
    const kill = async () => {
      await current.stop('SIGKILL')
      current = await spawnHost(hostArgs(s, REDIS_URL!, port), env)
    }
    const run = deliver(s.events, {
      target: () => current.url,
      project: s.project,
      secret: s.secret,
      // Many requests in flight at each kill, so some are cut off between their parts (before the
      // tags, this lost a few units and exposures each run).
      concurrency: 32,
      faults: [0.15, 0.3, 0.5, 0.7, 0.85].map((at) => ({ at, run: kill })),
    })
    try {
      const d = await run.finished
      expect(d.faultsRun).toBe(5)
      expect(d.statuses.get(0) ?? 0).toBeGreaterThan(0) // requests did hit the dead host
      expect(d.inFlightAtMark.size).toBeGreaterThan(0) // and some were cut off in flight
      expect(d.acked.size).toBe(new Set(s.events.map((e) => e.uuid)).size)
      expectCountedExactlyOnce(await reportOf(current, s.project), s.offline)
    } finally {
      await current.stop()
      await s.cleanup()
    }
  })

  it('Redis stopped and started mid-stream: the intake answers 503 meanwhile, then counts everything, nothing twice', { timeout: 180_000 }, async () => {
    const port = 20000 + Math.floor(Math.random() * 20000)
    const dir = mkdtempSync(join(tmpdir(), 'coverage-redis-'))
    const startRedis = () => startRedisServer(port, dir, { persist: true })
    let redis = await startRedis()
    const url = `redis://127.0.0.1:${port}`
    const s = await setup(43, url)
    const h = await spawnHost(hostArgs(s, url), env)
    let readyWhileDown: number | null = null
    const run = deliver(s.events, {
      target: () => h.url,
      project: s.project,
      secret: s.secret,
      concurrency: 4,
      fault: {
        at: 0.3,
        run: async () => {
          // A clean shutdown (the append-only file keeps every counter), as a restart for maintenance does.
          const admin = new Redis({ port, maxRetriesPerRequest: 0 })
          await admin.shutdown('SAVE').catch(() => {})
          admin.disconnect()
          await new Promise<void>((r) => (redis.exitCode !== null ? r() : redis.once('exit', () => r())))
          await new Promise((r) => setTimeout(r, 1500))
          readyWhileDown = (await fetch(`${h.url}/readyz`)).status
          redis = await startRedis()
        },
      },
    })
    try {
      const d = await run.finished
      expect(d.faulted).toBe(true)
      expect(d.statuses.get(503) ?? 0).toBeGreaterThan(0) // the intake refused while Redis was gone
      expect(readyWhileDown).toBe(503)
      expect(d.acked.size).toBe(new Set(s.events.map((e) => e.uuid)).size)
      expectCountedExactlyOnce(await reportOf(h, s.project), s.offline)
    } finally {
      await h.stop()
      await s.cleanup()
      redis.kill('SIGKILL')
      rmSync(dir, { recursive: true, force: true })
    }
  })
})

