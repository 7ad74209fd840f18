/**
 * Slows down a client that keeps failing authentication (the API token, an intake's secret): after
 * `maxFailures` failures within `windowMs` it is refused with 429 for `blockMs`, without its
 * credentials being checked, so a wrong-token loop learns nothing at 1,300 guesses a second
 * (issue 19, item 6). In memory, per process, and bounded: at most `maxClients` entries, the one
 * least recently failed dropped first, so an attacker with many addresses cannot grow memory.
 *
 * hono-rate-limiter (0.5) was considered: it counts every request rather than failures, and its
 * memory store keeps one entry per client for the window without a cap.
 */
export interface ThrottleLimits {
  readonly maxFailures: number
  readonly windowMs: number
  readonly blockMs: number
  readonly maxClients: number
}

export const AUTH_THROTTLE: ThrottleLimits = {
  // A person retyping a token or a destination with an old secret fails a few times a minute; ten
  // leaves them room and holds a guessing client to about ten guesses a minute.
  maxFailures: 10,
  windowMs: 60_000,
  // A minute: long enough to make guessing pointless, short enough that a mistyped token costs
  // only a minute. PostHog retries a 429 (three tries over about a minute).
  blockMs: 60_000,
  // About 100 bytes an entry: 10,000 clients hold about 1 MB.
  maxClients: 10_000,
}

interface Entry {
  since: number
  failures: number
  blockedUntil: number
}

export class FailureThrottle {
  readonly #clients = new Map<string, Entry>()

  constructor(
    readonly limits: ThrottleLimits = AUTH_THROTTLE,
    private readonly now: () => number = Date.now,
  ) {}

  /** Whole seconds before this client is checked again; 0 when it may be checked now. */
  retryAfter(client: string): number {
    const left = (this.#clients.get(client)?.blockedUntil ?? 0) - this.now()
    return left > 0 ? Math.ceil(left / 1000) : 0
  }

  /** Records one failed authentication; true when it is the one that blocks the client. */
  fail(client: string): boolean {
    const now = this.now()
    const old = this.#clients.get(client)
    const entry = old && now < old.since + this.limits.windowMs ? old : { since: now, failures: 0, blockedUntil: old?.blockedUntil ?? 0 }
    entry.failures++
    const blocks = entry.failures >= this.limits.maxFailures
    if (blocks) {
      entry.blockedUntil = now + this.limits.blockMs
      // The client starts afresh once the block ends.
      entry.since = entry.blockedUntil
      entry.failures = 0
    }
    // Re-inserted, so the Map's order is the order of last failure and the first key is the stalest.
    this.#clients.delete(client)
    this.#clients.set(client, entry)
    while (this.#clients.size > this.limits.maxClients) this.#clients.delete(this.#clients.keys().next().value!)
    return blocks
  }

  /** Clients remembered now (at most `maxClients`). */
  get size(): number {
    return this.#clients.size
  }
}

/**
 * The client a failure is charged to: an IPv4 address, or an IPv6 address's /64 (what one site or
 * one machine is given, RFC 6177, so an attacker cannot take a fresh address per guess).
 * `in-process` when there is no socket (the app called directly).
 */
export function clientKey(address: string | undefined): string {
  if (!address) return 'in-process'
  const v4 = /^(?:::ffff:)?(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(address)
  if (v4) return v4[1]!
  if (!address.includes(':')) return address
  const bare = address.split('%')[0]!.toLowerCase()
  const [head = '', tail] = bare.split('::')
  const front = head ? head.split(':') : []
  const back = tail ? tail.split(':') : []
  const groups = tail === undefined ? front : [...front, ...Array<string>(Math.max(0, 8 - front.length - back.length)).fill('0'), ...back]
  return `${groups
    .slice(0, 4)
    .map((g) => (Number.parseInt(g, 16) || 0).toString(16))
    .join(':')}::/64`
}
