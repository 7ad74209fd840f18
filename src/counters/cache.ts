/**
 * The slice of PostHog's plugin cache (`meta.cache`) that the counters use. Only these four calls:
 * they are atomic across plugin-server workers (INCR), and every host we run on offers them.
 */
export interface CacheOptions {
  /** plugin-server JSON-encodes values unless this is false */
  readonly jsonSerialize?: boolean
}

export interface ContractCache {
  /** Redis INCR: the new value, atomic across workers; a missing key counts from 0. */
  incr(key: string): Promise<number>
  /** Redis EXPIRE: false when the key does not exist. */
  expire(key: string, ttlSeconds: number): Promise<boolean>
  /** The stored value (JSON-decoded), or `defaultValue` when the key is missing. */
  get(key: string, defaultValue: unknown, options?: CacheOptions): Promise<unknown>
  /** Stores the value (JSON-encoded); a TTL replaces any earlier one, no TTL keeps the key forever. */
  set(key: string, value: unknown, ttlSeconds?: number, options?: CacheOptions): Promise<void>
}

/** The shared cache failed (Redis gone, a timeout): not a fault of the event or of this code. */
export class CacheUnavailableError extends Error {
  constructor(cause: unknown) {
    super(`the cache is unavailable: ${cause instanceof Error ? cause.message : String(cause)}`, { cause })
    this.name = 'CacheUnavailableError'
  }
}

/** Rethrows a failure of the shared cache as CacheUnavailableError. */
export function rethrowUnavailable(e: unknown): never {
  throw e instanceof CacheUnavailableError ? e : new CacheUnavailableError(e)
}
const unavailable = rethrowUnavailable

/** The same cache, its failures marked as CacheUnavailableError, so callers tell them from bugs. */
export function markCacheFailures(cache: ContractCache): ContractCache {
  return {
    incr: (key) => cache.incr(key).then(undefined, unavailable),
    expire: (key, ttl) => cache.expire(key, ttl).then(undefined, unavailable),
    get: (key, d, o) => cache.get(key, d, o).then(undefined, unavailable),
    set: (key, v, ttl, o) => cache.set(key, v, ttl, o).then(undefined, unavailable),
  }
}

export type CacheMethod = keyof ContractCache
export const CACHE_METHODS: readonly CacheMethod[] = ['incr', 'expire', 'get', 'set']

/** Wraps a cache and counts the calls per method: benchmarks and tests read the costs off it. */
export class CountingCache implements ContractCache {
  readonly calls: Record<CacheMethod, number> = { incr: 0, expire: 0, get: 0, set: 0 }

  constructor(private readonly inner: ContractCache) {}

  get total(): number {
    return this.calls.incr + this.calls.expire + this.calls.get + this.calls.set
  }

  reset(): void {
    for (const m of CACHE_METHODS) this.calls[m] = 0
  }

  incr(key: string): Promise<number> {
    this.calls.incr++
    return this.inner.incr(key)
  }
  expire(key: string, ttlSeconds: number): Promise<boolean> {
    this.calls.expire++
    return this.inner.expire(key, ttlSeconds)
  }
  get(key: string, defaultValue: unknown, options?: CacheOptions): Promise<unknown> {
    this.calls.get++
    return this.inner.get(key, defaultValue, options)
  }
  set(key: string, value: unknown, ttlSeconds?: number, options?: CacheOptions): Promise<void> {
    this.calls.set++
    return this.inner.set(key, value, ttlSeconds, options)
  }
}

/**
 * Only the four contract calls of a cache, as plugin-server's `meta.cache` offers them: the
 * counters then keep one key per field (ContractStore), as they do on plugin-server.
 */
export function contractOnly(cache: ContractCache): ContractCache {
  return {
    incr: (key) => cache.incr(key),
    expire: (key, ttl) => cache.expire(key, ttl),
    get: (key, d, o) => cache.get(key, d, o),
    set: (key, v, ttl, o) => cache.set(key, v, ttl, o),
  }
}
