import { describe, expect, it } from 'vitest'
import type { ContractCache } from '../../src/counters/cache.js'

export interface CacheUnderTest {
  readonly cache: ContractCache
  /** Lets time pass: a fake clock for memory, a real wait for Redis. */
  advance(ms: number): Promise<void>
  close(): Promise<void>
}

/**
 * One suite for every implementation of the plugin cache contract: what plugin-server's Redis
 * did is what the in-memory cache must do, call for call.
 */
export function cacheConformance(name: string, make: () => Promise<CacheUnderTest>, skip: string | null): void {
  describe.skipIf(skip !== null)(`${name}: plugin cache contract`, () => {
    const withCache = async (fn: (t: CacheUnderTest) => Promise<void>) => {
      const t = await make()
      try {
        await fn(t)
      } finally {
        await t.close()
      }
    }

    it('INCR counts from 0 and returns the new value, like Redis', () =>
      withCache(async ({ cache }) => {
        expect(await cache.incr('a')).toBe(1)
        expect(await cache.incr('a')).toBe(2)
        expect(await cache.get('a', null)).toBe(2)
      }))

    it('INCR continues from a number stored with set', () =>
      withCache(async ({ cache }) => {
        await cache.set('n', 41)
        expect(await cache.incr('n')).toBe(42)
      }))

    it('INCR on a JSON string value fails as Redis does', () =>
      withCache(async ({ cache }) => {
        await cache.set('s', 'text')
        await expect(cache.incr('s')).rejects.toThrow(/not an integer/)
      }))

    it('get returns the default for a missing key, and JSON values round-trip', () =>
      withCache(async ({ cache }) => {
        expect(await cache.get('missing', 'fallback')).toBe('fallback')
        const value = { a: [1, 'two', null], b: { c: true } }
        await cache.set('obj', value)
        expect(await cache.get('obj', null)).toEqual(value)
        await cache.set('raw', 'plain', undefined, { jsonSerialize: false })
        expect(await cache.get('raw', null, { jsonSerialize: false })).toBe('plain')
      }))

    it('EXPIRE is false for a missing key and true for an existing one', () =>
      withCache(async ({ cache }) => {
        expect(await cache.expire('nothing', 10)).toBe(false)
        await cache.incr('k')
        expect(await cache.expire('k', 10)).toBe(true)
      }))

    it('a key expires after its TTL; INCR keeps the TTL, SET without TTL clears it', () =>
      withCache(async ({ cache, advance }) => {
        await cache.incr('kept')
        await cache.expire('kept', 1)
        await cache.incr('kept') // INCR must not reset the TTL
        await cache.set('ttl', 'x', 1)
        await cache.set('cleared', 'y', 1)
        await cache.set('cleared', 'y') // a plain SET removes the TTL
        await advance(1_300)
        expect(await cache.get('kept', 'gone')).toBe('gone')
        expect(await cache.get('ttl', 'gone')).toBe('gone')
        expect(await cache.get('cleared', 'gone')).toBe('y')
        expect(await cache.incr('kept')).toBe(1) // an expired counter starts again
      }))

    it('EXPIRE with a non-positive TTL deletes the key', () =>
      withCache(async ({ cache }) => {
        await cache.incr('k')
        expect(await cache.expire('k', 0)).toBe(true)
        expect(await cache.get('k', 'gone')).toBe('gone')
      }))

    it('concurrent INCRs never lose an update', () =>
      withCache(async ({ cache }) => {
        const results = await Promise.all(Array.from({ length: 200 }, () => cache.incr('c')))
        expect(new Set(results).size).toBe(200)
        expect(Math.max(...results)).toBe(200)
      }))

    it('keys are opaque text: unicode, colons and slashes stay distinct', () =>
      withCache(async ({ cache }) => {
        const keys = ['ä:/x', 'ä/:x', '🧪', 'a\u0000b', ' ']
        for (const k of keys) await cache.set(k, k)
        for (const k of keys) expect(await cache.get(k, null)).toBe(k)
      }))
  })
}
