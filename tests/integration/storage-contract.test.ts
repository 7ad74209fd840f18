import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { MemoryStorage } from '../../src/counters/memory-storage.js'
import { PostgresStore } from '../../src/host/store-postgres.js'
import { SqliteStore } from '../../src/host/store-sqlite.js'
import { pluginStorage, type HostStore } from '../../src/host/store.js'
import type { Storage } from '../../src/posthog/backfill-job.js'
import { freshSchema, postgresOrSkipReason } from '../support/postgres.js'

/**
 * plugin-server's `meta.storage` contract (POSTHOG-FACTS §2): JSON values, `get` with a default,
 * `set(key, undefined)` deletes, `del`. The same suite for every implementation the plugin runs on.
 */
function storageContract(name: string, open: () => Promise<{ storage: Storage; close: () => Promise<void> }>, skip: string | null = null) {
  describe.skipIf(skip !== null)(`meta.storage: ${name}`, () => {
    let storage: Storage
    let close: () => Promise<void>
    beforeAll(async () => {
      ;({ storage, close } = await open())
    })
    afterAll(() => close())

    it('returns the default for a missing key, and JSON values as they were stored', async () => {
      expect(await storage.get('missing', 'd')).toBe('d')
      expect(await storage.get('missing', null)).toBeNull()
      for (const v of [0, 1.5, 'text', '', true, false, null, [1, 'a', null], { a: { b: [1, 2] }, s: 'é \u0000 "q"' }]) {
        await storage.set('k', v)
        expect(await storage.get('k', 'default')).toEqual(v)
      }
    })

    it('deletes with del and with set(key, undefined); overwrites in place', async () => {
      await storage.set('x', 1)
      await storage.set('x', 2)
      expect(await storage.get('x', null)).toBe(2)
      await storage.set('x', undefined)
      expect(await storage.get('x', 'gone')).toBe('gone')
      await storage.set('y', 1)
      await storage.del('y')
      expect(await storage.get('y', 'gone')).toBe('gone')
      await storage.del('never-there')
    })

    it('keeps a large value (a stored backfill result is megabytes)', async () => {
      const big = { rows: Array.from({ length: 20_000 }, (_, i) => [i, `flag-${i % 50}`, 'control', i * 3]) }
      await storage.set('big', big)
      expect(await storage.get('big', null)).toEqual(big)
    })
  })
}

storageContract('in memory', async () => ({ storage: new MemoryStorage(), close: async () => {} }))

async function onStore(store: HostStore, done: () => Promise<void>) {
  await store.migrate()
  return {
    storage: pluginStorage(store, 'contract'),
    close: async () => {
      await store.close()
      await done()
    },
  }
}

storageContract('the host on SQLite', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'coverage-storage-'))
  return onStore(new SqliteStore(join(dir, 's.sqlite')), async () => rmSync(dir, { recursive: true, force: true }))
})

storageContract(
  'the host on PostgreSQL',
  async () => {
    const { url, drop } = await freshSchema()
    return onStore(new PostgresStore(url), drop)
  },
  postgresOrSkipReason('meta.storage on PostgreSQL'),
)
