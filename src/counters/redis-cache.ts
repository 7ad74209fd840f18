import { Cluster, Redis } from 'ioredis'
import type { CacheOptions, ContractCache } from './cache.js'
import { RedisHashStore } from './redis-store.js'
import { markStoreFailures, type CounterStore, type StoreProvider } from './store.js'

/** plugin-server's key scheme, so counters written here and by a PostHog plugin-server are the same keys. */
export function pluginKeyPrefix(pluginId: number | string, teamId: number | string): string {
  return `@plugin/${pluginId}/${teamId}/`
}

/**
 * The plugin cache contract over Redis, as plugin-server implemented it: keys under
 * `@plugin/<pluginId>/<teamId>/`, JSON-encoded values, SET with EX for a TTL.
 * Auto-pipelining batches the many small commands the counters send without changing their order.
 */
export class RedisCache implements ContractCache, StoreProvider {
  constructor(
    /** one Redis, or a Redis Cluster: every call is a single-key command, so no call spans slots */
    readonly redis: Redis | Cluster,
    readonly prefix: string,
  ) {}

  /** The counters in hashes under the same prefix (the host's store; plugin-server has only the four calls). */
  counterStore(): CounterStore {
    return markStoreFailures(new RedisHashStore(this.redis, this.prefix))
  }

  static connect(url: string, prefix: string): RedisCache {
    const redis = new Redis(url, { enableAutoPipelining: true, maxRetriesPerRequest: 3, lazyConnect: false })
    return new RedisCache(redis, prefix)
  }

  /** A Redis Cluster from its nodes' addresses (`host:port`, or redis:// URLs); the client finds the rest. */
  static connectCluster(nodes: readonly string[], prefix: string): RedisCache {
    return new RedisCache(clusterOf(nodes), prefix)
  }

  async incr(key: string): Promise<number> {
    return this.redis.incr(this.prefix + key)
  }

  async expire(key: string, ttlSeconds: number): Promise<boolean> {
    return (await this.redis.expire(this.prefix + key, ttlSeconds)) === 1
  }

  async get(key: string, defaultValue: unknown, options?: CacheOptions): Promise<unknown> {
    const value = await this.redis.get(this.prefix + key)
    if (value === null) return defaultValue
    return options?.jsonSerialize === false ? value : JSON.parse(value)
  }

  async set(key: string, value: unknown, ttlSeconds?: number, options?: CacheOptions): Promise<void> {
    const text = options?.jsonSerialize === false ? String(value) : JSON.stringify(value)
    if (text === undefined) throw new TypeError(`cache.set: ${typeof value} cannot be stored as JSON`)
    if (ttlSeconds) await this.redis.set(this.prefix + key, text, 'EX', ttlSeconds)
    else await this.redis.set(this.prefix + key, text)
  }

  async close(): Promise<void> {
    await this.redis.quit()
  }
}

/** An ioredis Cluster client over the given seed nodes, auto-pipelining like the single client. */
export function clusterOf(nodes: readonly string[], opts: { maxRetriesPerRequest?: number } = {}): Cluster {
  const seeds = nodes.map((n) => {
    const u = new URL(n.includes('://') ? n : `redis://${n}`)
    return { host: u.hostname, port: Number(u.port || 6379) }
  })
  return new Cluster(seeds, { enableAutoPipelining: true, redisOptions: { maxRetriesPerRequest: opts.maxRetriesPerRequest ?? 3 } })
}

/**
 * Removes every key under a prefix and returns how many there were: for tests and benchmarks,
 * which must leave nothing behind (the counters themselves never scan or delete). On a cluster,
 * each master is scanned.
 */
export async function deleteKeysWithPrefix(redis: Redis | Cluster, prefix: string): Promise<number> {
  const nodes = redis instanceof Cluster ? redis.nodes('master') : [redis]
  let removed = 0
  for (const node of nodes) {
    let cursor = '0'
    do {
      const [next, keys] = await node.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 2000)
      cursor = next
      // A multi-key UNLINK must stay within one slot: on a cluster, one UNLINK per key (pipelined).
      if (keys.length) removed += redis instanceof Cluster ? (await Promise.all(keys.map((k) => redis.unlink(k)))).reduce((a, b) => a + b, 0) : await node.unlink(...keys)
    } while (cursor !== '0')
  }
  return removed
}
