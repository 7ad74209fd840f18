import { uniformFloat64 } from 'pure-rand/distribution/uniformFloat64'
import { xoroshiro128plus } from 'pure-rand/generator/xoroshiro128plus'
import { hash32 } from '../counters/hash.js'

/**
 * A seeded stream of PostHog-shaped events for a small project: the demo, the benchmarks and the
 * multi-worker test feed it through `onEvent`. Property sets follow what posthog-js and
 * posthog-node send (super properties, `$feature/<key>` on later events, deduplicated exposures).
 */
export interface SimVariant {
  readonly key: string | boolean
  readonly share: number
}

export interface SimFlag {
  readonly key: string
  /** Variants with their rollout shares; for a boolean flag: true/false with the rollout share. */
  readonly variants: readonly SimVariant[]
  /** Which SDK evaluates it: the browser, or the server with local evaluation. */
  readonly lib: 'web' | 'posthog-node'
  /** Share of users who get the flag evaluated at all (the page or code path that reads it). */
  readonly reach: number
  /** Tracking defects this flag carries, to make the demo and tests show something. */
  readonly defects?: {
    /** Reads the flag without sending exposure events (payload-only or bulk getters). */
    readonly noExposureEvents?: boolean
    /** Share of users whose client sends a mis-cased variant key. */
    readonly miscasedShare?: number
    /** Share of users who see a second variant (identity merges, cache resets). */
    readonly crossoverShare?: number
    /** Also sends the ingestion-side `$experiment_exposure` copy. */
    readonly experimentExposureCopy?: boolean
  }
}

export interface SimOptions {
  readonly seed: number
  readonly users: number
  readonly days: number
  /** Last moment of the stream (ms); events run over the `days` before it. */
  readonly endMs: number
  readonly flags?: readonly SimFlag[]
  /** Share of events delivered twice (same uuid), as webhook retries do. */
  readonly redeliveryShare?: number
}

export interface SimEvent {
  uuid: string
  event: string
  distinct_id: string
  timestamp: string
  properties: Record<string, unknown>
  person?: { id: string; properties: Record<string, unknown> }
}

export const DEMO_FLAGS: readonly SimFlag[] = [
  {
    key: 'checkout-redesign',
    variants: [
      { key: 'control', share: 0.5 },
      { key: 'test', share: 0.5 },
    ],
    lib: 'web',
    reach: 0.6,
    defects: { experimentExposureCopy: true },
  },
  {
    key: 'pricing-page-v2',
    variants: [
      { key: 'control', share: 1 / 3 },
      { key: 'test', share: 1 / 3 },
      { key: 'test-2', share: 1 / 3 },
    ],
    lib: 'web',
    reach: 0.4,
    defects: { miscasedShare: 0.05 },
  },
  {
    key: 'new-onboarding',
    variants: [
      { key: true, share: 0.3 },
      { key: false, share: 0.7 },
    ],
    lib: 'web',
    reach: 0.9,
  },
  {
    key: 'search-ranking',
    variants: [
      { key: 'control', share: 0.4 },
      { key: 'test', share: 0.6 },
    ],
    lib: 'posthog-node',
    reach: 0.5,
  },
  {
    key: 'dark-mode',
    variants: [
      { key: true, share: 0.5 },
      { key: false, share: 0.5 },
    ],
    lib: 'web',
    reach: 0.7,
    defects: { noExposureEvents: true },
  },
  {
    key: 'annual-plan-banner',
    variants: [
      { key: 'control', share: 0.5 },
      { key: 'banner', share: 0.5 },
    ],
    lib: 'web',
    reach: 0.5,
    defects: { crossoverShare: 0.15 },
  },
]

const PAGES = ['/', '/pricing', '/docs', '/blog', '/signup', '/checkout', '/settings']
const CUSTOM = ['signed_up', 'checkout_started', 'checkout_completed', 'invite_sent', '$exception']
const HOUR_MS = 3_600_000
const DAY_MS = 86_400_000

/** Deterministic bucket in [0, 1) for a user and a flag, like PostHog's hash-based rollout. */
function bucket(userId: string, salt: string): number {
  return hash32(`${salt}.${userId}`) / 0x1_0000_0000
}

function pickVariant(flag: SimFlag, userId: string, salt = flag.key): string | boolean {
  let b = bucket(userId, salt)
  for (const v of flag.variants) {
    if (b < v.share) return v.key
    b -= v.share
  }
  return flag.variants[flag.variants.length - 1]!.key
}

/**
 * Yields events in time order per user, users interleaved by session start. Memory stays bounded:
 * one user's sessions at a time.
 */
export function* simulateEvents(opts: SimOptions): Generator<SimEvent> {
  const rng = xoroshiro128plus(opts.seed)
  const rand = () => uniformFloat64(rng)
  const flags = opts.flags ?? DEMO_FLAGS
  const redelivery = opts.redeliveryShare ?? 0.01
  const startMs = opts.endMs - opts.days * DAY_MS
  let seq = 0
  const uuid = () => {
    seq++
    const hi = Math.floor(rand() * 0x1_0000_0000).toString(16).padStart(8, '0')
    return `0190${hi.slice(0, 4)}-${hi.slice(4, 8)}-7${(seq >>> 16).toString(16).padStart(3, '0').slice(-3)}-8${(seq & 0xfff).toString(16).padStart(3, '0')}-${seq.toString(16).padStart(12, '0')}`
  }

  for (let u = 0; u < opts.users; u++) {
    const userId = `user-${opts.seed}-${u}`
    const personId = `0190aaaa-0000-7000-8000-${u.toString(16).padStart(12, '0')}`
    const anonId = `anon-${opts.seed}-${u}`
    const identifiedAt = rand() < 0.6 ? 1 + Math.floor(rand() * 3) : Infinity // session index of sign-up
    const sessions = 1 + Math.floor(rand() * 4)
    let t = startMs + rand() * (opts.days - 0.5) * DAY_MS
    const reached = flags.filter((f) => bucket(userId, `${f.key}.reach`) < f.reach)
    const assigned = new Map(reached.map((f) => [f.key, pickVariant(f, userId)]))
    const crossed = new Set(reached.filter((f) => bucket(userId, `${f.key}.cross`) < (f.defects?.crossoverShare ?? 0)).map((f) => f.key))
    const miscased = new Set(reached.filter((f) => bucket(userId, `${f.key}.case`) < (f.defects?.miscasedShare ?? 0)).map((f) => f.key))
    const serverReported = new Set<string>()

    for (let s = 0; s < sessions && t < opts.endMs; s++) {
      const identified = s >= identifiedAt
      const distinctId = identified ? userId : anonId
      const webReported = new Set<string>()
      // A crossed user sees the other variant from its second session on (a cache reset or merge).
      const valueOf = (f: SimFlag): string | boolean => {
        let v = assigned.get(f.key)!
        if (s > 0 && crossed.has(f.key)) v = f.variants.find((x) => x.key !== v)?.key ?? v
        if (typeof v === 'string' && miscased.has(f.key)) v = v.charAt(0).toUpperCase() + v.slice(1)
        return v
      }
      const webFlags = reached.filter((f) => f.lib === 'web')
      const superProps = (): Record<string, unknown> => {
        const props: Record<string, unknown> = {
          $lib: 'web',
          $lib_version: '1.200.2',
          $browser: 'Chrome',
          $os: 'Mac OS X',
          $device_type: 'Desktop',
          $session_id: `sess-${u}-${s}`,
        }
        for (const f of webFlags) props[`$feature/${f.key}`] = valueOf(f)
        props.$active_feature_flags = webFlags.filter((f) => valueOf(f) !== false).map((f) => f.key)
        return props
      }
      const emit = (event: string, props: Record<string, unknown>): SimEvent => ({
        uuid: uuid(),
        event,
        distinct_id: distinctId,
        timestamp: new Date(Math.min(t, opts.endMs - 1)).toISOString(),
        properties: props,
        // PostHog processes a person for every event (the anonymous id is merged into it on identify).
        person: { id: personId, properties: identified ? { email: `${u}@example.com` } : {} },
      })
      const out: SimEvent[] = []
      const pageviews = 1 + Math.floor(rand() * 8)
      for (let p = 0; p < pageviews; p++) {
        t += 5_000 + rand() * 120_000
        out.push(emit('$pageview', { ...superProps(), $current_url: `https://app.example.com${PAGES[Math.floor(rand() * PAGES.length)]}` }))
        // The page reads its flags: posthog-js sends $feature_flag_called once per flag value per session.
        for (const f of webFlags) {
          if (f.defects?.noExposureEvents || rand() > 0.5) continue
          const value = valueOf(f)
          const dedupKey = `${f.key}:${String(value)}`
          if (webReported.has(dedupKey)) continue
          webReported.add(dedupKey)
          t += 50
          const props = { ...superProps(), $feature_flag: f.key, $feature_flag_response: value, $feature_flag_request_id: `req-${u}-${s}` }
          out.push(emit('$feature_flag_called', props))
          if (f.defects?.experimentExposureCopy) out.push(emit('$experiment_exposure', props))
        }
        // Most of a real project's events carry no exposure: clicks, page leaves, web vitals.
        for (let a = Math.floor(rand() * 10); a > 0; a--) {
          t += 1_000 + rand() * 30_000
          out.push(emit('$autocapture', { ...superProps(), $event_type: 'click' }))
        }
        if (rand() < 0.5) out.push(emit('$web_vitals', { ...superProps(), $web_vitals_LCP_value: Math.round(rand() * 4000) }))
        t += 1_000
        out.push(emit('$pageleave', superProps()))
        if (rand() < 0.3) {
          t += 2_000
          const custom = CUSTOM[Math.floor(rand() * CUSTOM.length)]!
          if (custom !== 'checkout_completed' || rand() < (assigned.get('checkout-redesign') === 'test' ? 0.6 : 0.45)) {
            out.push(emit(custom, superProps()))
          }
        }
      }
      // Server-evaluated flags: posthog-node with local evaluation, deduplicated per distinct id in memory.
      for (const f of reached.filter((x) => x.lib === 'posthog-node')) {
        if (serverReported.has(`${f.key}:${distinctId}`)) continue
        serverReported.add(`${f.key}:${distinctId}`)
        t += 200
        out.push(
          emit('$feature_flag_called', {
            $lib: 'posthog-node',
            $lib_version: '5.9.0',
            $feature_flag: f.key,
            $feature_flag_response: valueOf(f),
            locally_evaluated: true,
            [`$feature/${f.key}`]: valueOf(f),
            $geoip_disable: true,
          }),
        )
      }
      if (s === identifiedAt) out.push(emit('$identify', { ...superProps(), $anon_distinct_id: anonId }))
      for (const e of out) {
        yield e
        if (rand() < redelivery) yield structuredClone(e)
      }
      t += HOUR_MS * (2 + rand() * 48)
    }
  }
}
