import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { SecretBox, SecretBoxError } from '../../src/host/secrets.js'
import { PostgresStore, redactUrl } from '../../src/host/store-postgres.js'
import { SqliteStore } from '../../src/host/store-sqlite.js'
import { pluginStorage, type HostStore } from '../../src/host/store.js'
import { freshSchema, postgresOrSkipReason } from '../support/postgres.js'

/** The host store's contract, the same for SQLite and PostgreSQL. */
function conformance(name: string, open: () => Promise<{ store: HostStore; drop: () => Promise<void> }>, skip: string | null = null) {
  describe.skipIf(skip !== null)(`the ${name} host store`, () => {
    let store: HostStore
    let drop: () => Promise<void>
    beforeAll(async () => {
      ;({ store, drop } = await open())
      await store.migrate()
      await store.migrate() // twice: migrations are idempotent
    })
    afterAll(async () => {
      await store.close()
      await drop()
    })

    it("keeps each project's plugin storage apart, as JSON, with undefined deleting", async () => {
      const a = pluginStorage(store, 'a')
      const b = pluginStorage(store, 'b')
      await a.set('k', { n: 1, s: 'é"\u2028' })
      await b.set('k', [1, 2])
      expect(await a.get('k', null)).toEqual({ n: 1, s: 'é"\u2028' })
      expect(await b.get('k', null)).toEqual([1, 2])
      await a.set('k', undefined)
      expect(await a.get('k', 'gone')).toBe('gone')
      await b.del('k')
      expect(await b.get('k', 'gone')).toBe('gone')
      await expect(a.set('x'.repeat(201), 1)).rejects.toThrow(/200/)
    })

    it('gives a task slot to exactly one of many concurrent claimers', async () => {
      const results = await Promise.all(Array.from({ length: 20 }, (_, i) => store.claim('minute:p', 42, `proc-${i}`, Date.now())))
      expect(results.filter(Boolean)).toHaveLength(1)
      expect(await store.claim('minute:p', 43, 'proc-0', Date.now())).toBe(true)
      await store.pruneClaims(Date.now() + 1000)
      expect(await store.claim('minute:p', 42, 'proc-1', Date.now())).toBe(true) // pruned: claimable again
    })

    it('leases a gap to one holder at a time, until the lease runs out', async () => {
      await store.addGap({ project: 'p', fromMs: 1000, toMs: 5000, state: 'pending', done: 0, note: 'n', updatedAt: 1 })
      await store.addGap({ project: 'p', fromMs: 1000, toMs: 9999, state: 'pending', done: 0, note: 'twice', updatedAt: 1 }) // the same gap again: ignored
      expect(await store.gaps('p')).toEqual([{ project: 'p', fromMs: 1000, toMs: 5000, state: 'pending', done: 0, note: 'n', updatedAt: 1 }])
      const leases = await Promise.all(['x', 'y', 'z'].map((h) => store.leaseGap('p', 1000, h, 100, 200)))
      expect(leases.filter(Boolean)).toHaveLength(1)
      const holder = ['x', 'y', 'z'][leases.indexOf(true)]!
      expect(await store.leaseGap('p', 1000, holder, 150, 300)).toBe(true) // the holder renews
      expect(await store.leaseGap('p', 1000, 'other', 250, 400)).toBe(false)
      expect(await store.leaseGap('p', 1000, 'other', 301, 400)).toBe(true) // expired: taken over
      await store.updateGap('p', 1000, { done: 77, updatedAt: 2 })
      await store.updateGap('p', 1000, { state: 'filled', note: 'done', updatedAt: 3 })
      expect(await store.gaps('p')).toEqual([{ project: 'p', fromMs: 1000, toMs: 5000, state: 'filled', done: 77, note: 'done', updatedAt: 3 }])
      expect(await store.leaseGap('p', 1000, 'other', 500, 600)).toBe(false) // filled gaps are not leased
    })

    it("keeps the first key fingerprint recorded: a later or concurrent one does not replace it", async () => {
      expect(await store.keyFingerprint()).toBeNull()
      const winners = await Promise.all(['fp-a', 'fp-b', 'fp-c'].map((fp) => store.recordKeyFingerprint(fp)))
      expect(new Set(winners).size).toBe(1) // every process that started at once reads the same one
      expect(['fp-a', 'fp-b', 'fp-c']).toContain(winners[0])
      expect(await store.recordKeyFingerprint('fp-later')).toBe(winners[0])
      expect(await store.keyFingerprint()).toBe(winners[0])
    })

    it('records heartbeats per process, projects, and reports with their history', async () => {
      await store.heartbeat('p', { processId: 'a', startedAt: 1, aliveAt: 10 })
      await store.heartbeat('p', { processId: 'a', startedAt: 1, aliveAt: 20 })
      await store.heartbeat('p', { processId: 'b', startedAt: 5, aliveAt: 15 })
      expect((await store.periods('p')).sort((x, y) => x.processId.localeCompare(y.processId))).toEqual([
        { processId: 'a', startedAt: 1, aliveAt: 20 },
        { processId: 'b', startedAt: 5, aliveAt: 15 },
      ])
      const row = { id: 'p', name: 'P', enabled: true, demo: false, config: { lookbackDays: '7' }, ingestSecret: 'enc:v1:x', createdAt: 1, updatedAt: 2 }
      await store.putProject(row)
      await store.putProject({ ...row, enabled: false })
      expect(await store.getProject('p')).toEqual({ ...row, enabled: false })
      expect((await store.listProjects()).map((r) => r.id)).toEqual(['p'])
      await store.putReport('p', { at: 100, report: { n: 1 } }, true)
      await store.putReport('p', { at: 160, report: { n: 2 } }, false)
      await store.putReport('p', { at: 220, report: { n: 3 } }, false)
      expect(await store.latestReport('p')).toEqual({ at: 220, report: { n: 3 } })
      expect(await store.reportHistory('p', 10)).toEqual([{ at: 100, report: { n: 1 } }]) // the latest replaces the previous latest; history stays
    })
  })
}

conformance('SQLite', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'coverage-store-'))
  return { store: new SqliteStore(join(dir, 'c.sqlite')), drop: async () => rmSync(dir, { recursive: true, force: true }) }
})

const pgSkip = postgresOrSkipReason('the PostgreSQL host store')
conformance(
  'PostgreSQL',
  async () => {
    const { url, drop } = await freshSchema()
    return { store: new PostgresStore(url), drop }
  },
  pgSkip,
)

describe('secrets at rest', () => {
  it('seal and open with the same key; another key cannot open them', () => {
    const box = SecretBox.fromText('a'.repeat(64))
    const sealed = box.seal('phx_secret')
    expect(sealed).toMatch(/^enc:v1:/)
    expect(sealed).not.toContain('phx_secret')
    expect(box.seal('phx_secret')).not.toBe(sealed) // a fresh IV each time
    expect(box.open(sealed)).toBe('phx_secret')
    expect(() => SecretBox.fromText('b'.repeat(64)).open(sealed)).toThrow(SecretBoxError)
    expect(() => box.open(`${sealed.slice(0, -4)}AAAA`)).toThrow(/cannot be decrypted/) // tampered
    expect(() => SecretBox.fromText('short')).toThrow(/too short/)
  })

  it("fingerprint a key without revealing it: the same key gives the same one, another key another", () => {
    const hex = 'a'.repeat(64)
    const fp = SecretBox.fromText(hex).fingerprint()
    expect(fp).toMatch(/^hmac-sha256:v1:[0-9a-f]{64}$/)
    expect(SecretBox.fromText(hex).fingerprint()).toBe(fp)
    expect(SecretBox.fromText('b'.repeat(64)).fingerprint()).not.toBe(fp)
    expect(fp).not.toContain(hex)
  })

  it('generate a key file once, readable by its owner only', () => {
    const dir = mkdtempSync(join(tmpdir(), 'coverage-key-'))
    const file = join(dir, 'nested', 'secret.key')
    const a = SecretBox.load({ keyFile: file })
    const b = SecretBox.load({ keyFile: file })
    expect(b.box.open(a.box.seal('x'))).toBe('x')
    expect(a.source).toBe(file)
    expect(SecretBox.load({ envKey: 'c'.repeat(64), keyFile: file }).source).toBe('COVERAGE_SECRET_KEY')
    rmSync(dir, { recursive: true, force: true })
  })

  it('never print a database password', () => {
    expect(redactUrl('postgres://u:hunter2@db:5432/x')).not.toContain('hunter2')
  })
})
