import Database from 'better-sqlite3'
import { randomUUID } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'
import pino from 'pino'
import { afterEach, describe, expect, it } from 'vitest'
import { createApp } from '../../src/host/app.js'
import { Host, type HostOptions } from '../../src/host/host.js'
import { SecretKeyMismatchError } from '../../src/host/key-check.js'
import { SecretBox } from '../../src/host/secrets.js'
import { signedHeaders } from '../../src/host/demo-feed.js'
import { postSigned, silent } from '../support/host.js'
import { killAll, spawnHost } from '../support/host-process.js'
import { DATABASE_URL, freshSchema } from '../support/postgres.js'

/**
 * Issue 19, item 5: two processes shared one database without COVERAGE_SECRET_KEY, each with a key
 * file of its own. The second re-sealed the stored intake secret under its key; the first then
 * answered 500 to every delivery while /readyz said ready. Now the storage records the key's
 * fingerprint and a process with another key is refused at start; a secret this process cannot
 * decrypt anyway is said at start, in /readyz, and the intake answers 503 (PostHog retries).
 * Each case runs on a real PostgreSQL (skipped, and said, without DATABASE_URL) and on SQLite.
 */

const KEY_A = 'a'.repeat(64)
const KEY_B = 'b'.repeat(64)

/** One storage that several hosts open: PostgreSQL (a data directory each) or one SQLite file (one data directory). */
interface Shared {
  readonly kind: 'postgres' | 'sqlite'
  /** options of a host process on this storage; `n` picks its data directory (PostgreSQL only: SQLite's lives in it) */
  options(n: number): Pick<HostOptions, 'dataDir' | 'databaseUrl'>
  /** runs SQL on the storage, as an operator would */
  sql(text: string): Promise<void>
  drop(): Promise<void>
}

async function sharedPostgres(): Promise<Shared> {
  const { url, drop } = await freshSchema()
  const dirs = [0, 1, 2].map(() => mkdtempSync(join(tmpdir(), 'coverage-key-pg-')))
  return {
    kind: 'postgres',
    options: (n) => ({ dataDir: dirs[n]!, databaseUrl: url }),
    async sql(text) {
      const c = new pg.Client({ connectionString: url })
      await c.connect()
      await c.query(text)
      await c.end()
    },
    async drop() {
      await drop()
      for (const d of dirs) rmSync(d, { recursive: true, force: true })
    },
  }
}

async function sharedSqlite(): Promise<Shared> {
  const dir = mkdtempSync(join(tmpdir(), 'coverage-key-sqlite-'))
  return {
    kind: 'sqlite',
    options: () => ({ dataDir: dir }),
    async sql(text) {
      const db = new Database(join(dir, 'coverage.sqlite'))
      db.exec(text)
      db.close()
    },
    async drop() {
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

const STORES = [['PostgreSQL', sharedPostgres, DATABASE_URL === null], ['SQLite', sharedSqlite, false]] as const
if (DATABASE_URL === null) console.warn('DATABASE_URL is not set: the PostgreSQL cases of "one secret key per storage" are skipped')

/** A pino logger whose lines the test reads. */
function captured() {
  const lines: { level: number; msg: string; [k: string]: unknown }[] = []
  const logger = pino({ level: 'info' }, { write: (s: string) => void lines.push(JSON.parse(s)) })
  return { logger, lines, errors: () => lines.filter((l) => l.level >= 50) }
}

const event = () => ({ event: { uuid: randomUUID(), event: '$pageview', distinct_id: 'u1', properties: {}, timestamp: new Date().toISOString() }, person: null })

const opened: Host[] = []
const open = async (o: HostOptions) => {
  const h = await Host.open({ logger: silent, processMetrics: false, ...o })
  opened.push(h)
  return h
}
afterEach(async () => {
  for (const h of opened.splice(0)) await h.stop().catch(() => {})
  killAll()
})

describe.each(STORES)('one secret key per storage, on %s', (_name, makeShared, skip) => {
  it.skipIf(skip)('a second process with another key is refused at start and names COVERAGE_SECRET_KEY; the first keeps taking deliveries', async () => {
    const s = await makeShared()
    try {
      // The first process: on PostgreSQL its own key file (no COVERAGE_SECRET_KEY), as in the report.
      const a = await open({ ...s.options(0), secretKey: s.kind === 'sqlite' ? KEY_A : undefined })
      await a.start({ scheduler: false })
      const row = await a.addProject({ id: 'p1', config: {} })
      const secret = a.ingestSecret(row)
      const app = createApp(a)
      expect((await postSigned(app, 'p1', secret, event())).status).toBe(200)

      // The second: another key file (PostgreSQL, another data directory) or another COVERAGE_SECRET_KEY (one SQLite file).
      const second = open({ ...s.options(1), secretKey: s.kind === 'sqlite' ? KEY_B : undefined })
      await expect(second).rejects.toThrow(SecretKeyMismatchError)
      await expect(second).rejects.toThrow(/COVERAGE_SECRET_KEY.*same key|same key.*COVERAGE_SECRET_KEY/)

      // Nothing was re-sealed: the first process still answers 200 (it answered 500 before), and is ready.
      expect((await a.project('p1'))!.ingestSecret).toBe(row.ingestSecret)
      await a.tick()
      expect((await postSigned(app, 'p1', secret, event())).status).toBe(200)
      expect((await app.request('/readyz')).status).toBe(200)

      // The fix the error gives: the first process's key. The second then starts and opens the same secret.
      const keyOfA = s.kind === 'sqlite' ? KEY_A : readFileSync(join(s.options(0).dataDir, 'secret.key'), 'utf8')
      const b = await open({ ...s.options(1), secretKey: keyOfA })
      expect(b.ingestSecret((await b.project('p1'))!)).toBe(secret)
    } finally {
      await s.drop()
    }
  })

  it.skipIf(skip)('two processes with different keys starting at once on an empty storage: exactly one starts', async () => {
    const s = await makeShared()
    try {
      const results = await Promise.allSettled([open({ ...s.options(0), secretKey: KEY_A }), open({ ...s.options(1), secretKey: KEY_B })])
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1)
      const refused = results.find((r) => r.status === 'rejected') as PromiseRejectedResult
      expect(refused.reason).toBeInstanceOf(SecretKeyMismatchError)
    } finally {
      await s.drop()
    }
  })

  it.skipIf(skip)('a storage with sealed secrets from before fingerprints: another key is refused and records nothing; the key that opens them is recorded', async () => {
    const s = await makeShared()
    try {
      const a = await open({ ...s.options(0), secretKey: KEY_A })
      await a.addProject({ id: 'p1', config: { posthogPersonalApiKey: 'phx_old' }, start: false })
      await a.stop()
      await s.sql('DELETE FROM coverage_host_meta') // as a database of an earlier version holds it

      const wrong = open({ ...s.options(1), secretKey: KEY_B })
      await expect(wrong).rejects.toThrow(/does not open the secrets stored in .*project p1's intake secret, project p1's posthogPersonalApiKey.*COVERAGE_SECRET_KEY/)

      const right = await open({ ...s.options(0), secretKey: KEY_A })
      expect(await right.store.keyFingerprint()).toBe(SecretBox.fromText(KEY_A).fingerprint())
      await right.stop()
      // Recorded now: another key is refused by the fingerprint, even on a storage without sealed secrets.
      await expect(open({ ...s.options(1), secretKey: KEY_B })).rejects.toThrow(/another key's fingerprint.*COVERAGE_SECRET_KEY/)
    } finally {
      await s.drop()
    }
  })

  it.skipIf(skip)('a stored secret this process cannot decrypt: said at start and in /readyz, and the intake answers 503 with Retry-After, never 500', async () => {
    const s = await makeShared()
    try {
      const a = await open({ ...s.options(0), secretKey: KEY_A })
      await a.start({ scheduler: false })
      const good = await a.addProject({ id: 'good', config: {} })
      const row = await a.addProject({ id: 'p1', config: {} })
      const secret = a.ingestSecret(row)
      // A process of an earlier version, with another key, re-seals p1's intake secret (as in the report).
      await a.store.putProject({ ...row, ingestSecret: SecretBox.fromText(KEY_B).seal(secret), updatedAt: row.updatedAt + 1 })

      // The running process picks the change up at its next round.
      const app = createApp(a)
      await a.tick()
      const res = await postSigned(app, 'p1', secret, event())
      expect(res.status).toBe(503)
      expect(res.headers.get('retry-after')).toMatch(/^\d+$/)
      const ready = await app.request('/readyz')
      expect(ready.status).toBe(503)
      expect(((await ready.json()) as { reasons: string[] }).reasons.join('\n')).toMatch(/project p1 cannot be decrypted .*COVERAGE_SECRET_KEY/)
      // The other project, whose secrets open, keeps counting.
      expect((await postSigned(app, 'good', a.ingestSecret(good), event())).status).toBe(200)

      // A process starting on this storage says it at start, in its log.
      const log = captured()
      const c = await open({ ...s.options(0), secretKey: KEY_A, logger: log.logger })
      await c.start({ scheduler: false })
      expect(log.errors().map((l) => [l.project, l.msg])).toEqual([['p1', expect.stringMatching(/cannot decrypt the project's stored secrets.*COVERAGE_SECRET_KEY/)]])
      expect((await postSigned(createApp(c), 'p1', secret, event())).status).toBe(503)
      await c.tick()
      await c.tick()
      expect(log.errors()).toHaveLength(1) // said once, not every round
    } finally {
      await s.drop()
    }
  })
})

describe.skipIf(DATABASE_URL === null)('two serve processes on one PostgreSQL, each with its own key file (the report, with real processes)', () => {
  it('the second exits with code 2 and says to give every process the same COVERAGE_SECRET_KEY; the first keeps answering its intake with 200', { timeout: 120_000 }, async () => {
    const s = await sharedPostgres()
    const project = `p${randomUUID().slice(0, 8)}`
    try {
      const setup = await open({ ...s.options(0) })
      const secret = setup.ingestSecret(await setup.addProject({ id: project, config: {}, start: false }))
      await setup.stop()
      // No COVERAGE_SECRET_KEY: each process generates or reads the key file of its own data directory.
      const env = { COVERAGE_SECRET_KEY: '', REDIS_URL: '', POSTHOG_PROJECT_ID: '', POSTHOG_PERSONAL_API_KEY: '' }
      const args = (n: number) => ['--port', '0', '--database', s.options(n).databaseUrl!, '--data-dir', s.options(n).dataDir]
      const first = await spawnHost(args(0), env)
      const post = async () => {
        const text = JSON.stringify(event())
        const res = await fetch(`${first.url}/ingest/${project}`, { method: 'POST', body: text, headers: signedHeaders(secret, `msg_${randomUUID()}`, text) })
        return res.status
      }
      expect(await post()).toBe(200)

      const second = await spawnHost(args(1), env).then(
        () => null,
        (e: Error) => e.message,
      )
      expect(second).toMatch(/exited \(2\) before it listened/)
      expect(second).toMatch(/experiment-coverage: this process's secret key \(the key file .*secret\.key\) is not the key .*same key: set COVERAGE_SECRET_KEY/)
      expect(await post()).toBe(200) // it answered 500 to every delivery once the second had re-sealed the secret
      expect((await fetch(`${first.url}/readyz`)).status).toBe(200)
    } finally {
      killAll()
      await s.drop()
    }
  })
})
