import { MemoryCache } from '../../src/counters/memory-cache.js'
import { cacheConformance } from '../support/cache-conformance.js'
import { dropPrefix, freshRedisCache, redisOrSkipReason } from '../support/redis.js'

cacheConformance(
  'in-memory cache',
  async () => {
    let now = Date.UTC(2026, 10, 1)
    return {
      cache: new MemoryCache(() => now),
      advance: async (ms) => {
        now += ms
      },
      close: async () => {},
    }
  },
  null,
)

cacheConformance(
  'Redis cache',
  async () => {
    const cache = freshRedisCache()
    return {
      cache,
      advance: (ms) => new Promise((r) => setTimeout(r, ms)),
      close: async () => {
        await dropPrefix(cache)
        await cache.close()
      },
    }
  },
  redisOrSkipReason('Redis cache: plugin cache contract'),
)
