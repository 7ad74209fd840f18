/**
 * The counters' writer, its context and its shared steps: the settings, keys and store it writes
 * with, how long each bucket lives, and the bumps that list a day's flags and series as they fill.
 */
import type { Settings } from '../settings/settings.js'
import { type ExperimentRun, inRun, retentionDays } from '../definitions/windows.js'
import type { ReadOptions } from '../events/read-event.js'
import type { MetricHit, RejectReason, VariantValue } from '../events/types.js'
import type { ContractCache } from './cache.js'
import { KeyScheme } from './keys.js'
import { DAY, RATE } from './schema.js'
import { DAY_MS } from '../time.js'
import { type CounterStore, EventScope, MemoryHashStore, storeFor } from './store.js'
import type { UnitMemo } from './ingest-memo.js'


// PostHog and its webhook destination redeliver within hours; two days covers retries and replays.
export const DELIVERY_TTL_S = 2 * 86_400
// Caps keep one misbehaving client from growing the cache without bound; overflow is counted.
export const CAPS = { flagsPerDay: 20_000, seriesPerFlagDay: 400, pairsPerUnit: 2_000, pendingPerUnit: 1_000 } as const
// The local memo only saves cache calls for `$feature/<key>` sightings already counted; the shared
// cache stays the source of truth, so a worker that forgets simply asks again.
export const MEMO_MAX = 200_000
// Units in the sightings memo (each with its flags' values): the units active lately.
export const MEMO_UNITS = 5_000
export const MEMO_TTL_MS = 3_600_000

export interface IngestContext {
  /** where the counters live: the cache's own store in the host, one key per field on plugin-server */
  readonly store: CounterStore
  readonly settings: Settings
  readonly keys: KeyScheme
  readonly now: () => number
  /** what readEvent needs, but the time, which each event's call passes */
  readonly readOptions: ReadOptions
  readonly isCountedValue: (flag: string, value: VariantValue) => boolean
  readonly watermark: () => number | null
  /** Periods the host is filling from HogQL after an outage: live events in them are left out. */
  readonly filling: () => readonly FillingPeriod[]
  /** Told each rejection once it is counted (the host's metrics); nothing by default. */
  readonly onRejected: (reason: RejectReason) => void
  /** Told why an event was ignored (the minute line's tally); nothing by default. */
  readonly onIgnored: (reason: IgnoreReason) => void
  /** The experiment's run for a flag with a launched experiment; null: the rolling lookback. */
  readonly runOf: (flag: string) => ExperimentRun | null
  /** Flags whose experiment's surface is measured, by the metric matcher that marks reaching it. */
  readonly surfaceFlagsByMetric: ReadonlyMap<string, readonly string[]>
  readonly surfaceFlags: ReadonlySet<string>
  /** Flags whose experiment keeps a unit's first variant (`first_seen`): their units are counted by it too. */
  readonly firstSeen: ReadonlySet<string>
  /** Per-process memo of counted sightings, by unit; never shared, never required for correctness. */
  readonly memo: Map<string, UnitMemo>
  /** Per-process memo of members known listed in a set (a day's flags, a flag-day's series), likewise. */
  readonly listed: Map<string, number>
  /** Events being counted in this process, by id: a second delivery of one waits for the first. */
  readonly counting: Map<string, Promise<IngestOutcome>>
  /** Counted exactly once (countOnce) where the store is atomic; else as countEvent says. */
  readonly exactlyOnce: boolean
  /** True inside countOnce: the store's calls are tagged, and an event's counts are a call of their own. */
  readonly tagged: boolean
  /** How long an event's second attempt waits for the first one's open marker to settle (ms). */
  readonly settleWaitMs: number
  /** Settled events whose tags are forgotten once due (Date.now() ms), oldest first. */
  readonly retiring: Retiring[]
  /** Markers being settled, after their events' answers. */
  readonly settling: Set<Promise<void>>
}

export interface Retiring {
  readonly due: number
  readonly scope: EventScope
}

export interface IngestContextInput {
  readonly cache: ContractCache
  readonly settings: Settings
  /** The PostHog project the counters belong to. */
  readonly project: string
  readonly now?: () => number
  readonly groupTypeOf?: (flag: string) => string | null
  readonly isCountedValue?: (flag: string, value: VariantValue) => boolean
  readonly exposureFilterOf?: (flag: string) => readonly unknown[] | undefined
  /** The flags whose experiment counts exposures on a custom event, by event name (customExposureEvents). */
  readonly customExposureFlagsOf?: (event: string) => readonly string[] | undefined
  /** compiled HogQL filters by matcher name (compileMatcherFilters) */
  readonly filters?: ReadonlyMap<string, readonly unknown[]>
  /**
   * The backfill watermark (ms): events before it are the HogQL backfill's, so the live counters
   * leave them out and no event is counted twice (mergeObservations). Null: count everything.
   */
  readonly watermark?: () => number | null
  /**
   * Periods missed while no host was counting, being filled from HogQL (the host's gap fill):
   * live events whose time falls in one are left out, as before the watermark, and the fill's
   * replay counts them. None by default.
   */
  readonly filling?: () => readonly FillingPeriod[]
  readonly onRejected?: (reason: RejectReason) => void
  readonly onIgnored?: (reason: IgnoreReason) => void
  /**
   * Each experiment's run (from its definition): its flag's exposures, sightings and metric events
   * count only inside it, and its per-unit state is kept for the run (`experimentMaxDays`), so the
   * numbers cover the whole experiment as PostHog's experiment page counts it.
   */
  readonly experimentRunOf?: (flag: string) => ExperimentRun | null
  /**
   * Per experiment flag, the metric matchers (names in the settings' metrics) whose events mark a
   * unit as having reached the experiment's surface: its primary metrics' goal events.
   */
  readonly surfaceMetrics?: ReadonlyMap<string, readonly string[]>
  /**
   * Flags whose experiment's multiple variant handling is `first_seen`: each unit is also counted in
   * the value of its earliest exposure, as PostHog's exposure query assigns it.
   */
  readonly firstSeenFlags?: ReadonlySet<string>
  /**
   * Count each event with an id exactly once across crashes and redeliveries (countOnce; atomic
   * stores only). On by default where the store is shared (Redis); off in this process's memory,
   * where a crash takes the counters with it, and in the offline audit.
   */
  readonly exactlyOnce?: boolean
  /** How long a second attempt waits for an event's open marker to settle (2 s by default). */
  readonly settleWaitMs?: number
}

export const NO_FLAGS: ReadonlySet<string> = new Set()

// No period being filled (plugin-server, the audit): one shared empty list, no allocation per event.
export const NO_PERIODS: readonly FillingPeriod[] = []
export const noPeriods = () => NO_PERIODS

export function createIngestContext(input: IngestContextInput): IngestContext {
  const metricsByEvent = new Map<string, MetricHit[]>()
  for (const m of input.settings.metrics) {
    const list = metricsByEvent.get(m.event) ?? []
    const filter = input.filters?.get(m.name)
    list.push(filter ? { name: m.name, kind: m.kind, filter } : { name: m.name, kind: m.kind })
    metricsByEvent.set(m.event, list)
  }
  const store = storeFor(input.cache)
  return {
    store,
    settings: input.settings,
    keys: new KeyScheme(input.project),
    now: input.now ?? Date.now,
    readOptions: {
      nowMs: 0,
      maxAgeDays: retentionDays(input.settings),
      metricsByEvent,
      groupTypeOf: input.groupTypeOf,
      exposureFilterOf: input.exposureFilterOf,
      customExposureFlagsOf: input.customExposureFlagsOf,
    },
    memo: new Map(),
    listed: new Map(),
    counting: new Map(),
    // In this process's memory the counters die with it and no call fails midway: nothing to redo.
    exactlyOnce: input.exactlyOnce ?? !(store instanceof MemoryHashStore),
    tagged: false,
    settleWaitMs: input.settleWaitMs ?? 2_000,
    retiring: [],
    settling: new Set(),
    isCountedValue: input.isCountedValue ?? (() => true),
    watermark: input.watermark ?? (() => null),
    filling: input.filling ?? noPeriods,
    onRejected: input.onRejected ?? (() => {}),
    onIgnored: input.onIgnored ?? (() => {}),
    runOf: input.experimentRunOf ?? (() => null),
    surfaceFlagsByMetric: invert(input.surfaceMetrics ?? new Map()),
    surfaceFlags: new Set(input.surfaceMetrics?.keys() ?? []),
    firstSeen: input.firstSeenFlags ?? NO_FLAGS,
  }
}

export function invert(byFlag: ReadonlyMap<string, readonly string[]>): Map<string, string[]> {
  const out = new Map<string, string[]>()
  for (const [flag, metrics] of byFlag) for (const m of new Set(metrics)) out.set(m, [...(out.get(m) ?? []), flag])
  return out
}

export type IngestOutcome = 'counted' | 'ignored' | 'duplicate' | 'rejected'

/**
 * Why an event was ignored: before the backfill watermark (the HogQL backfill counts it), in a period
 * being filled from HogQL (the fill's replay counts it), carrying no flag, exposure or metric event,
 * or carrying only flag sightings already counted for their unit (or units outside the unit sample).
 */
export type IgnoreReason = 'before_watermark' | 'being_filled' | 'no_flag_or_metric' | 'seen_or_unsampled'

/** A period of event time, start inclusive, end exclusive (ms). */
export interface FillingPeriod {
  readonly fromMs: number
  readonly toMs: number
}

/** How an event reaches the counters: live (the default), or replayed by the gap fill. */
export interface IngestVia {
  readonly replay?: boolean
  /**
   * The delivery's own id when the event has no uuid: a signed webhook's `webhook-id` (the signature
   * covers it, and PostHog sends the same one with each retry). It then marks the event's deliveries.
   */
  readonly deliveryId?: string
}

/**
 * Seconds until a day bucket leaves the longest window a flag may be read over: the lookback, or
 * an experiment's run up to `experimentMaxDays` (at least a minute, so late events still land).
 */
export function dayTtl(ctx: IngestContext, day: number, nowMs: number): number {
  const end = (day + retentionDays(ctx.settings) + 1) * DAY_MS
  return Math.max(60, Math.ceil((end - nowMs) / 1000))
}

/** Per-unit state lives as long as the flag's window: an experiment's run, or the lookback. */
export function unitTtl(ctx: IngestContext, flag: string): number {
  return (ctx.runOf(flag) ? ctx.settings.experimentMaxDays : ctx.settings.lookbackDays) * 86_400
}

/** State shared by all of a unit's flags (its exposed pairs, its pending goal events) lives as long as the longest. */
export function unitIndexTtl(ctx: IngestContext): number {
  return retentionDays(ctx.settings) * 86_400
}

/**
 * A unit's state for one flag. An experiment's run is part of the key, so a relaunched experiment
 * (a new start date) starts from fresh markers, as PostHog counts it from its new start.
 */
export function unitKey(ctx: IngestContext, flag: string, unit: string): string {
  return ctx.keys.unit(flag, unit, ctx.runOf(flag)?.startMs ?? null)
}

/** False for an event of a flag whose experiment's run does not include the event's time. */
export function inFlagWindow(ctx: IngestContext, flag: string, ts: number): boolean {
  const run = ctx.runOf(flag)
  return run === null || inRun(run, ts)
}

export async function countRejection(ctx: IngestContext, day: number, reason: RejectReason, nowMs: number): Promise<void> {
  await ctx.store.bump(ctx.keys.day(day), [DAY.rejected(reason)], dayTtl(ctx, day, nowMs))
  ctx.onRejected(reason)
}

/**
 * Lists a member in a set once; true when this call added it. A member this process already saw
 * listed costs no call (a day's flags and series are listed again by every new counter otherwise).
 */
export async function listOnce(ctx: IngestContext, set: string, member: string, ttl: number, cap: number, nowMs: number): Promise<boolean> {
  const key = `${set}\u0000${member}`
  const until = ctx.listed.get(key)
  if (until !== undefined && until > nowMs) return false
  const added = await ctx.store.addMember(set, member, member, ttl, cap)
  if (ctx.listed.size >= MEMO_MAX) ctx.listed.clear()
  ctx.listed.set(key, nowMs + MEMO_TTL_MS)
  return added
}

export async function registerFlag(ctx: IngestContext, day: number, flag: string, ttl: number, nowMs: number): Promise<void> {
  const added = await listOnce(ctx, ctx.keys.flagsOfDay(day), flag, ttl, CAPS.flagsPerDay, nowMs)
  // The sample rate in force when the flag's day began: readers scale sampled unit counts by it.
  if (added) await ctx.store.put(ctx.keys.flagDay(day, flag), RATE, ctx.settings.unitSampleRate, ttl)
}

/** Bumps flag-level counters of a day; the first bump of the day lists the flag. */
export async function bumpFlag(ctx: IngestContext, day: number, flag: string, counters: readonly string[], nowMs: number): Promise<void> {
  const ttl = dayTtl(ctx, day, nowMs)
  const ns = await ctx.store.bump(ctx.keys.flagDay(day, flag), counters, ttl)
  if (ns.includes(1)) await registerFlag(ctx, day, flag, ttl, nowMs)
}

/** Bumps counters of one series of a day; the first bump of the day lists the series (and the flag). */
export function bumpSeries(ctx: IngestContext, day: number, flag: string, name: string, counters: readonly string[], nowMs: number): Promise<void> {
  return bumpSeriesOf(ctx, day, flag, [{ name, counters }], nowMs)
}

/** Bumps counters of several series of one flag's day in one call, listing each series new that day. */
export async function bumpSeriesOf(ctx: IngestContext, day: number, flag: string, list: readonly { name: string; counters: readonly string[] }[], nowMs: number): Promise<void> {
  const fields: string[] = []
  const owner: string[] = []
  for (const { name, counters } of list) {
    for (const c of counters) {
      fields.push(`${name}:${c}`)
      owner.push(name)
    }
  }
  if (fields.length === 0) return
  const base = ctx.keys.flagDay(day, flag)
  const ttl = dayTtl(ctx, day, nowMs)
  const ns = await ctx.store.bump(base, fields, ttl)
  const fresh = [...new Set(owner.filter((_, i) => ns[i] === 1))]
  if (fresh.length === 0) return
  // Where a group's fields can be listed, they name the series: only the flag needs listing.
  if (ctx.store.listsFields) return registerFlag(ctx, day, flag, ttl, nowMs)
  const added = await Promise.all(fresh.map((name) => listOnce(ctx, `${base}:series`, name, ttl, CAPS.seriesPerFlagDay, nowMs)))
  if (added.includes(true)) await registerFlag(ctx, day, flag, ttl, nowMs)
}
