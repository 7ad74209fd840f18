import { randomUUID } from 'node:crypto'
import { Redis } from 'ioredis'
import { RedisCache, deleteKeysWithPrefix } from '../../src/counters/redis-cache.js'

/** The Redis the tests use, from REDIS_URL; null (with the reason printed once) when it is unset. */
export const REDIS_URL = process.env.REDIS_URL ?? null
let told = false
export function redisOrSkipReason(suite: string): string | null {
  if (REDIS_URL) return null
  const reason = `REDIS_URL is not set: skipping "${suite}" (CI sets it; locally run redis-server and export REDIS_URL=redis://127.0.0.1:6379)`
  if (!told) console.warn(reason)
  told = true
  return reason
}

/** A cache under a fresh plugin-server-style prefix, so parallel tests never share keys. */
export function freshRedisCache(): RedisCache {
  const prefix = `@plugin/test-${randomUUID()}/1/`
  return new RedisCache(new Redis(REDIS_URL as string, { enableAutoPipelining: true }), prefix)
}

/** Removes every key under the cache's prefix (tests only: the contract itself has no SCAN/DEL). */
export async function dropPrefix(cache: RedisCache): Promise<void> {
  await deleteKeysWithPrefix(cache.redis, cache.prefix)
}
