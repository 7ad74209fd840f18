import type { CacheOptions, ContractCache } from './cache.js'
import { MemoryHashStore, type CounterStore, type StoreProvider } from './store.js'

interface Entry {
  value: string
  expiresAt: number | null
}

// Redis keeps integers as signed 64-bit; INCR past that fails, and so does INCR on a non-integer.
const INT_PATTERN = /^-?(0|[1-9]\d*)$/
const NOT_AN_INTEGER = 'ERR value is not an integer or out of range'

function assertTtl(ttlSeconds: number, command: string): void {
  if (!Number.isSafeInteger(ttlSeconds)) throw new Error(NOT_AN_INTEGER)
  if (command === 'set' && ttlSeconds <= 0) throw new Error("ERR invalid expire time in 'set' command")
}

/**
 * The plugin cache contract in memory, with Redis's semantics: INCR's return values and errors,
 * TTLs that INCR keeps and SET replaces, EXPIRE on a missing key, JSON set/get, the default for a
 * missing key. The embedded default and the tests use it; the clock is injectable so tests can
 * move past a TTL without waiting.
 */
export class MemoryCache implements ContractCache, StoreProvider {
  private readonly entries = new Map<string, Entry>()
  private writesSinceSweep = 0
  /** The counters' own store, beside the contract's keys (which the plugin's other state uses). */
  readonly store: MemoryHashStore

  constructor(private readonly now: () => number = Date.now) {
    this.store = new MemoryHashStore(now)
  }

  counterStore(): CounterStore {
    return this.store
  }

  /** Live keys (expired ones are not counted). */
  get size(): number {
    this.sweep()
    return this.entries.size
  }

  keys(): string[] {
    this.sweep()
    return [...this.entries.keys()]
  }

  private live(key: string): Entry | undefined {
    const entry = this.entries.get(key)
    if (entry && entry.expiresAt !== null && entry.expiresAt <= this.now()) {
      this.entries.delete(key)
      return undefined
    }
    return entry
  }

  private wrote(): void {
    // Amortised sweep: expired keys never read again would otherwise stay in memory forever.
    if (++this.writesSinceSweep > Math.max(1024, this.entries.size)) this.sweep()
  }

  private sweep(): void {
    this.writesSinceSweep = 0
    const t = this.now()
    for (const [key, entry] of this.entries) {
      if (entry.expiresAt !== null && entry.expiresAt <= t) this.entries.delete(key)
    }
  }

  async incr(key: string): Promise<number> {
    const entry = this.live(key)
    if (!entry) {
      this.entries.set(key, { value: '1', expiresAt: null })
      this.wrote()
      return 1
    }
    if (!INT_PATTERN.test(entry.value)) throw new Error(NOT_AN_INTEGER)
    const next = BigInt(entry.value) + 1n
    if (next > 9223372036854775807n) throw new Error('ERR increment or decrement would overflow')
    entry.value = next.toString()
    return Number(next)
  }

  async expire(key: string, ttlSeconds: number): Promise<boolean> {
    assertTtl(ttlSeconds, 'expire')
    const entry = this.live(key)
    if (!entry) return false
    if (ttlSeconds <= 0) {
      this.entries.delete(key) // Redis deletes a key whose new TTL is not positive
      return true
    }
    entry.expiresAt = this.now() + ttlSeconds * 1000
    return true
  }

  async get(key: string, defaultValue: unknown, options?: CacheOptions): Promise<unknown> {
    const entry = this.live(key)
    if (!entry) return defaultValue
    return options?.jsonSerialize === false ? entry.value : JSON.parse(entry.value)
  }

  async set(key: string, value: unknown, ttlSeconds?: number, options?: CacheOptions): Promise<void> {
    const text = options?.jsonSerialize === false ? String(value) : JSON.stringify(value)
    if (text === undefined) throw new TypeError(`cache.set: ${typeof value} cannot be stored as JSON`)
    // plugin-server passes a TTL to Redis only when it is truthy; SET without EX clears an earlier TTL.
    if (ttlSeconds) assertTtl(ttlSeconds, 'set')
    this.entries.set(key, { value: text, expiresAt: ttlSeconds ? this.now() + ttlSeconds * 1000 : null })
    this.wrote()
  }
}
