import { mkdtempSync, rmSync, statfsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import { afterEach, describe, expect, it } from 'vitest'
import { createApp } from '../../src/host/app.js'
import { MIN_FREE_BYTES, readFreeBytes } from '../../src/host/disk.js'
import { Host } from '../../src/host/host.js'
import { killAll } from '../support/host-process.js'
import { testHost } from '../support/host.js'
import { freshSchema, postgresOrSkipReason } from '../support/postgres.js'
import { redisOrSkipReason, startRedisServer } from '../support/redis.js'

/**
 * Issue 19, item 6: /readyz said ready with a full disk, and a Redis outage wrote no log line.
 * The disk is read through an injected reader (statfs in production), so a full disk needs no full disk.
 */

/** A pino logger whose lines the test reads. */
function captured() {
  const lines: { level: number; msg: string; [k: string]: unknown }[] = []
  const logger = pino({ level: 'info' }, { write: (s: string) => void lines.push(JSON.parse(s)) })
  return { logger, lines, about: (re: RegExp) => lines.filter((l) => re.test(l.msg)).map((l) => (l.level >= 50 ? 'error' : l.level >= 40 ? 'warn' : 'info')) }
}

const readiness = async (app: ReturnType<typeof createApp>) => {
  const res = await app.request('/readyz')
  return { status: res.status, reasons: ((await res.json()) as { reasons: string[] }).reasons }
}

describe('/readyz and the data directory\'s disk (SQLite)', () => {
  it.each([
    ['a full disk', 0, 503, /disk of the data directory .* is full: 0\.0 MiB free, below 64 MiB/],
    ['a nearly full disk, half the threshold free', MIN_FREE_BYTES / 2, 503, /is nearly full: 32\.0 MiB free, below 64 MiB/],
    ['a byte under the threshold', MIN_FREE_BYTES - 1, 503, /is nearly full/],
    ['exactly the threshold free', MIN_FREE_BYTES, 200, null],
    ['a disk with room', 50 * MIN_FREE_BYTES, 200, null],
  ])('%s', async (_name, free, status, reason) => {
    const t = await testHost({ freeSpace: () => free })
    try {
      const r = await readiness(t.app)
      expect(r.status).toBe(status)
      if (reason) expect(r.reasons.join('\n')).toMatch(reason)
      else expect(r.reasons).toEqual([])
    } finally {
      await t.close()
    }
  })

  it('a disk whose free space cannot be read is not ready either, and says why', async () => {
    const t = await testHost({
      freeSpace: () => {
        throw new Error('EACCES: permission denied')
      },
    })
    try {
      const r = await readiness(t.app)
      expect(r.status).toBe(503)
      expect(r.reasons.join('\n')).toMatch(/free space of the data directory .* cannot be read: EACCES/)
    } finally {
      await t.close()
    }
  })

  it('a disk filling up and freed again: one error line, one info line, whatever the number of rounds', async () => {
    let free = 10 * MIN_FREE_BYTES
    const log = captured()
    const t = await testHost({ freeSpace: () => free, logger: log.logger })
    try {
      await t.host.tick()
      free = 1024
      for (let i = 0; i < 3; i++) await t.host.tick()
      expect((await readiness(t.app)).status).toBe(503)
      free = 10 * MIN_FREE_BYTES
      for (let i = 0; i < 3; i++) await t.host.tick()
      expect((await readiness(t.app)).status).toBe(200)
      expect(log.about(/disk/)).toEqual(['error', 'info'])
    } finally {
      await t.close()
    }
  })

  it('the real reader (statfs) gives the free bytes of this machine\'s temporary directory', () => {
    const s = statfsSync(tmpdir())
    expect(readFreeBytes(tmpdir())).toBe(s.bavail * s.bsize)
    expect(() => readFreeBytes(join(tmpdir(), 'no-such-dir-here'))).toThrow(/ENOENT/)
  })
})

const pgSkip = postgresOrSkipReason('readiness with PostgreSQL storage')
describe.skipIf(pgSkip !== null)('/readyz and the data directory\'s disk (PostgreSQL)', () => {
  it('with the storage in PostgreSQL a full local disk does not hold the process back: it writes nothing there after start', async () => {
    const { url, drop } = await freshSchema()
    const t = await testHost({ databaseUrl: url, secretKey: 'k'.repeat(64), freeSpace: () => 0 })
    try {
      expect(await readiness(t.app)).toEqual({ status: 200, reasons: [] })
    } finally {
      await t.close()
      await drop()
    }
  })
})

// The host's own lines (a plugin task that fails meanwhile says so in its own words).
const CACHE_LINES = /^the redis cache (is unavailable|answers again)/
const redisSkip = redisOrSkipReason('the Redis outage log') ?? pgSkip
describe.skipIf(redisSkip !== null)('a Redis outage in the log (real Redis and PostgreSQL)', () => {
  afterEach(() => killAll())

  it('Redis stopped and started again: one error line when it goes, one info line when it is back, not one a round', { timeout: 120_000 }, async () => {
    const port = 20000 + Math.floor(Math.random() * 20000)
    const dir = mkdtempSync(join(tmpdir(), 'coverage-redis-log-'))
    const startRedis = () => startRedisServer(port, dir)
    let redis = await startRedis()
    const { url, drop } = await freshSchema()
    const dataDir = mkdtempSync(join(tmpdir(), 'coverage-redis-log-data-'))
    const log = captured()
    const host = await Host.open({ dataDir, databaseUrl: url, redisUrl: `redis://127.0.0.1:${port}`, secretKey: 'k'.repeat(64), logger: log.logger, processMetrics: false })
    const app = createApp(host)
    try {
      await host.start({ scheduler: false })
      await host.addProject({ id: 'p1', config: {} })
      await host.tick()
      expect((await readiness(app)).status).toBe(200)
      expect(log.about(CACHE_LINES)).toEqual([])

      redis.kill('SIGKILL')
      await new Promise<void>((r) => (redis.exitCode !== null || redis.signalCode !== null ? r() : redis.once('exit', () => r())))
      for (let i = 0; i < 4; i++) await host.tick()
      const down = await readiness(app)
      expect(down.status).toBe(503)
      expect(down.reasons.join('\n')).toMatch(/redis cache of project p1 is unavailable/)
      expect(log.about(CACHE_LINES)).toEqual(['error'])
      const line = log.lines.find((l) => CACHE_LINES.test(l.msg))!
      expect(line).toMatchObject({ projects: ['p1'], err: expect.any(String) })

      redis = await startRedis()
      // ioredis reconnects on its own schedule: round after round until the cache answers (bounded, not timed).
      for (let i = 0; i < 200 && (await readiness(app)).status !== 200; i++) {
        await host.tick()
        await new Promise((r) => setTimeout(r, 100))
      }
      expect((await readiness(app)).status).toBe(200)
      for (let i = 0; i < 3; i++) await host.tick()
      expect(log.about(CACHE_LINES)).toEqual(['error', 'info'])
      expect(log.lines.find((l) => /cache answers again/.test(l.msg))).toBeDefined()
    } finally {
      await host.stop()
      redis.kill('SIGKILL')
      await drop()
      rmSync(dataDir, { recursive: true, force: true })
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
