import type { Settings } from '../settings/settings.js'
import { inRun, retentionDays, type ExperimentRun } from '../definitions/windows.js'
import { groupUnit, readEvent, type ReadOptions } from '../events/read-event.js'
import type { Exposure, FlagSighting, MetricHit, ReadEvent, RejectReason, VariantValue } from '../events/types.js'
import type { ContractCache } from './cache.js'
import { inUnitSample, shortId } from './hash.js'
import { KeyScheme, enc, variantToken } from './keys.js'
import { DAY, EXPOSURE, FLAG, KIND_TOKEN, METRIC, RATE, SIGHTING, series } from './schema.js'
import { DAY_MS, dayNumber } from '../time.js'
import { EventScope, MemoryHashStore, storeFor, toCount, type CounterStore, type Step } from './store.js'

// PostHog and its webhook destination redeliver within hours; two days covers retries and replays.
const DELIVERY_TTL_S = 2 * 86_400
// Caps keep one misbehaving client from growing the cache without bound; overflow is counted.
export const CAPS = { flagsPerDay: 20_000, seriesPerFlagDay: 400, pairsPerUnit: 2_000, pendingPerUnit: 1_000 } as const
// The local memo only saves cache calls for `$feature/<key>` sightings already counted; the shared
// cache stays the source of truth, so a worker that forgets simply asks again.
const MEMO_MAX = 200_000
// Units in the sightings memo (each with its flags' values): the units active lately.
const MEMO_UNITS = 5_000
const MEMO_TTL_MS = 3_600_000

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

const NO_FLAGS: ReadonlySet<string> = new Set()

// No period being filled (plugin-server, the audit): one shared empty list, no allocation per event.
const NO_PERIODS: readonly FillingPeriod[] = []
const noPeriods = () => NO_PERIODS

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

function invert(byFlag: ReadonlyMap<string, readonly string[]>): Map<string, string[]> {
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
 * Reads one event and updates the shared counters. Never throws for bad events: they are counted
 * by reason. An event that carries nothing to count (most events) costs no cache call at all.
 * Cache failures do propagate: the caller decides whether a lost update is worth a retry.
 */
export function ingestEvent(ctx: IngestContext, raw: unknown, via: IngestVia = {}): Promise<IngestOutcome> {
  const nowMs = ctx.now()
  const read = readEvent(raw, ctx.readOptions, nowMs)
  if (!read.ok) return countRejection(ctx, dayNumber(nowMs), read.reason, nowMs).then(() => 'rejected')
  const e = read.event
  const watermark = ctx.watermark()
  if (watermark !== null && e.timestampMs < watermark) return ignored(ctx, 'before_watermark') // the backfill's side of the split
  // A period being filled from HogQL: its replay counts these, the live delivery does not.
  if (!via.replay) {
    const periods = ctx.filling()
    if (periods.length > 0 && periods.some((p) => e.timestampMs >= p.fromMs && e.timestampMs < p.toMs)) return ignored(ctx, 'being_filled')
  }
  const rate = ctx.settings.unitSampleRate
  const sightings = e.sightings.length > 0 ? e.sightings.filter((s) => !memoHas(ctx, s, nowMs) && inUnitSample(s.unit, rate)) : NO_SIGHTINGS
  const metricUnits = e.metrics.length > 0 ? metricUnitsOf(e).filter((u) => inUnitSample(u, rate)) : NO_UNITS
  // Most events: nothing to count, decided without a call or a promise of their own.
  if (!e.exposure && e.customExposures.length === 0 && sightings.length === 0 && metricUnits.length === 0 && e.partialRejections.length === 0) return ignored(ctx, e.sightings.length > 0 || e.metrics.length > 0 ? 'seen_or_unsampled' : 'no_flag_or_metric')
  const id = e.uuid ?? via.deliveryId ?? null
  if (id !== null && ctx.store.atomic && ctx.exactlyOnce) return countOnce(ctx, e, id, sightings, metricUnits, nowMs)
  return countEvent(ctx, e, id, sightings, metricUnits, nowMs)
}

const IGNORED: Promise<IngestOutcome> = Promise.resolve('ignored')
function ignored(ctx: IngestContext, reason: IgnoreReason): Promise<IngestOutcome> {
  ctx.onIgnored(reason)
  return IGNORED
}
const NO_SIGHTINGS: readonly FlagSighting[] = []
const NO_UNITS: readonly string[] = []

/**
 * An event with an id, on a shared atomic store (Redis, a Redis Cluster), counted exactly once, also
 * when a crash cuts it off and PostHog delivers it again:
 * - its delivery marker moves to "open" (OPEN) while its parts count, each call tagged (EventScope):
 *   a retry of an attempt cut off midway repeats what was done as it was done, and does the rest;
 * - once every part is done the marker moves to "settled" (SETTLED), after the answer (a crash
 *   before that only makes the retry wait), and the tags are forgotten FORGET_AFTER_MS later;
 * - a marker found settled makes the event a redelivery: its event counts (and only those) wait for
 *   the marker and are left out, as on one key per field; its other calls are the first attempt's
 *   calls again (the same tags: done once) or, once the tags are forgotten, find the markers set;
 * - a marker found open belongs to an attempt still counting or to one that died: this attempt
 *   waits for it to settle (settleWaitMs), and then either is a redelivery or takes the event over.
 * In this process a second delivery of an event waits for the first.
 */
function countOnce(ctx: IngestContext, e: ReadEvent, id: string, sightings: readonly FlagSighting[], metricUnits: readonly string[], nowMs: number): Promise<IngestOutcome> {
  const before = ctx.counting.get(id)
  const run = (before ? before.then(noop, noop) : Promise.resolve()).then(() => countTagged(ctx, e, id, sightings, metricUnits, nowMs))
  ctx.counting.set(id, run)
  const done = () => {
    if (ctx.counting.get(id) === run) ctx.counting.delete(id)
  }
  run.then(done, done)
  return run
}

const noop = () => {}
// The marker's states. Below OPEN: a count of deliveries kept by an earlier version (a bump per
// delivery), so the event was counted; such a marker is settled when a delivery finds it.
const OPEN = 10
const SETTLED = 20
// Tags outlive their event by a minute: an attempt that took the event over while the first was
// still counting (slow, not dead) finds every answer until it ends too.
const FORGET_AFTER_MS = 60_000
// Past this many settled events waiting, the oldest are forgotten early (memory stays bounded).
const MAX_RETIRING = 50_000

async function countTagged(ctx: IngestContext, e: ReadEvent, id: string, sightings: readonly FlagSighting[], metricUnits: readonly string[], nowMs: number): Promise<IngestOutcome> {
  const day = dayNumber(e.timestampMs)
  const marker = ctx.keys.deliveries(day, e.personUnit)
  const field = shortId(id)
  const scope = new EventScope(ctx.store, id)
  const c: IngestContext = { ...ctx, store: scope.store, tagged: true }
  const delivered = ctx.store.advance(marker, field, OPEN, DELIVERY_TTL_S).then(async (held) => {
    if (held > 0 && held < OPEN) await ctx.store.advance(marker, field, SETTLED, DELIVERY_TTL_S)
    return held === 0 || (held === OPEN && !(await settles(ctx, marker, field)))
  })
  await Promise.all([delivered, countParts(c, e, sightings, metricUnits, day, nowMs, delivered)])
  if (!(await delivered)) {
    retire(ctx, scope)
    // An event that adds to no count (only sightings, each counted once by its marker) is no
    // redelivery to report: as on one key per field, where it is not checked.
    const adds = e.exposure !== null || e.customExposures.length > 0 || metricUnits.length > 0 || e.partialRejections.length > 0
    if (!adds) return outcomeOf(e, sightings, metricUnits)
    await ctx.store.bump(ctx.keys.day(day), [DAY.redelivered], dayTtl(ctx, day, nowMs))
    return 'duplicate'
  }
  // Settled after the answer: a failure here leaves the marker open, which a retry waits out.
  const settling = ctx.store.advance(marker, field, SETTLED, DELIVERY_TTL_S).then(() => retire(ctx, scope), noop)
  ctx.settling.add(settling)
  void settling.then(() => ctx.settling.delete(settling))
  return outcomeOf(e, sightings, metricUnits)
}

/** Waits for an open delivery marker to settle; false when it stays open (its attempt died). */
async function settles(ctx: IngestContext, marker: string, field: string): Promise<boolean> {
  // Wall-clock time and timers: plugin-server's VM has neither `performance` nor (in some versions)
  // setTimeout, but there the store is never atomic and this never runs.
  if (typeof setTimeout !== 'function') return false
  const until = Date.now() + ctx.settleWaitMs
  while (Date.now() < until) {
    await new Promise((resolve) => setTimeout(resolve, 25))
    if (toCount(await ctx.store.read(marker, field)) >= SETTLED) return true
  }
  return false
}

/** Queues a settled event's tags to be forgotten once FORGET_AFTER_MS has passed. */
function retire(ctx: IngestContext, scope: EventScope): void {
  const now = Date.now()
  const q = ctx.retiring
  q.push({ due: now + FORGET_AFTER_MS, scope })
  let k = 0
  while (k < q.length && ((q[k] as Retiring).due <= now || q.length - k > MAX_RETIRING)) k++
  if (k === 0) return
  // In the background: a failure leaves tags that go with their groups' TTL.
  for (const r of q.splice(0, k)) r.scope.forget().catch(noop)
}

/**
 * Settles what is still counted as settled and forgets every settled event's tags now: before a
 * process ends (the plugin's teardown), so no marker stays open for a retry to wait out.
 */
export async function forgetSettled(ctx: IngestContext): Promise<void> {
  while (ctx.settling.size > 0) await Promise.all([...ctx.settling])
  const all = ctx.retiring.splice(0)
  await Promise.all(all.map((r) => r.scope.forget().catch(noop)))
}

const FIRST = Promise.resolve(true)

/**
 * An event on a store of one key per field (plugin-server's cache), or with no id: its delivery
 * check runs beside the rest, not before: only event counts (an exposure's, a partial rejection's)
 * wait for it. Everything else is counted once by its own marker whatever the delivery: sightings
 * and units by their markers, a goal event by its id among the unit's pending events. A crash
 * midway can leave part of such an event counted and the rest lost to its retry.
 */
async function countEvent(ctx: IngestContext, e: ReadEvent, id: string | null, sightings: readonly FlagSighting[], metricUnits: readonly string[], nowMs: number): Promise<IngestOutcome> {
  const day = dayNumber(e.timestampMs)
  const adds = e.exposure !== null || e.customExposures.length > 0 || metricUnits.length > 0 || e.partialRejections.length > 0
  const delivered = adds && id !== null ? firstDelivery(ctx, e, id, day, nowMs) : FIRST
  await Promise.all([delivered, countParts(ctx, e, sightings, metricUnits, day, nowMs, delivered)])
  if (!(await delivered)) return 'duplicate'
  return outcomeOf(e, sightings, metricUnits)
}

function outcomeOf(e: ReadEvent, sightings: readonly FlagSighting[], metricUnits: readonly string[]): IngestOutcome {
  return e.exposure || e.customExposures.length > 0 || sightings.length > 0 || metricUnits.length > 0 ? 'counted' : 'rejected'
}

/**
 * The parts of one event. They do not wait for each other: each is written so that any interleaving
 * (as between workers) gives the same totals, and issuing them together lets the cache client
 * pipeline them into fewer round trips. Event counts wait for `delivered`.
 */
async function countParts(ctx: IngestContext, e: ReadEvent, sightings: readonly FlagSighting[], metricUnits: readonly string[], day: number, nowMs: number, delivered: Promise<boolean>): Promise<void> {
  await Promise.all([
    e.exposure ? countExposure(ctx, e, e.exposure, day, nowMs, delivered) : null,
    ...e.customExposures.map((x) => countExposure(ctx, e, x, day, nowMs, delivered)),
    ...sightings.map((s) => countSighting(ctx, s, e.timestampMs, day, nowMs)),
    ...metricUnits.map((unit) => countMetrics(ctx, e, unit, nowMs)),
    metricUnits.length > 0 ? countSurfaceReached(ctx, e, nowMs) : null,
    e.partialRejections.length > 0 ? delivered.then((first) => (first ? Promise.all(e.partialRejections.map((reason) => countRejection(ctx, day, reason, nowMs))) : null)) : null,
  ])
}

/**
 * Seconds until a day bucket leaves the longest window a flag may be read over: the lookback, or
 * an experiment's run up to `experimentMaxDays` (at least a minute, so late events still land).
 */
function dayTtl(ctx: IngestContext, day: number, nowMs: number): number {
  const end = (day + retentionDays(ctx.settings) + 1) * DAY_MS
  return Math.max(60, Math.ceil((end - nowMs) / 1000))
}

/** Per-unit state lives as long as the flag's window: an experiment's run, or the lookback. */
function unitTtl(ctx: IngestContext, flag: string): number {
  return (ctx.runOf(flag) ? ctx.settings.experimentMaxDays : ctx.settings.lookbackDays) * 86_400
}

/** State shared by all of a unit's flags (its exposed pairs, its pending goal events) lives as long as the longest. */
function unitIndexTtl(ctx: IngestContext): number {
  return retentionDays(ctx.settings) * 86_400
}

/**
 * A unit's state for one flag. An experiment's run is part of the key, so a relaunched experiment
 * (a new start date) starts from fresh markers, as PostHog counts it from its new start.
 */
function unitKey(ctx: IngestContext, flag: string, unit: string): string {
  return ctx.keys.unit(flag, unit, ctx.runOf(flag)?.startMs ?? null)
}

/** False for an event of a flag whose experiment's run does not include the event's time. */
function inFlagWindow(ctx: IngestContext, flag: string, ts: number): boolean {
  const run = ctx.runOf(flag)
  return run === null || inRun(run, ts)
}

async function firstDelivery(ctx: IngestContext, e: ReadEvent, id: string, day: number, nowMs: number): Promise<boolean> {
  const [n] = await ctx.store.bump(ctx.keys.deliveries(day, e.personUnit), [shortId(id)], DELIVERY_TTL_S)
  if (n === 1) return true
  await ctx.store.bump(ctx.keys.day(day), [DAY.redelivered], dayTtl(ctx, day, nowMs))
  return false
}

async function countRejection(ctx: IngestContext, day: number, reason: RejectReason, nowMs: number): Promise<void> {
  await ctx.store.bump(ctx.keys.day(day), [DAY.rejected(reason)], dayTtl(ctx, day, nowMs))
  ctx.onRejected(reason)
}

/**
 * Lists a member in a set once; true when this call added it. A member this process already saw
 * listed costs no call (a day's flags and series are listed again by every new counter otherwise).
 */
async function listOnce(ctx: IngestContext, set: string, member: string, ttl: number, cap: number, nowMs: number): Promise<boolean> {
  const key = `${set}\u0000${member}`
  const until = ctx.listed.get(key)
  if (until !== undefined && until > nowMs) return false
  const added = await ctx.store.addMember(set, member, member, ttl, cap)
  if (ctx.listed.size >= MEMO_MAX) ctx.listed.clear()
  ctx.listed.set(key, nowMs + MEMO_TTL_MS)
  return added
}

async function registerFlag(ctx: IngestContext, day: number, flag: string, ttl: number, nowMs: number): Promise<void> {
  const added = await listOnce(ctx, ctx.keys.flagsOfDay(day), flag, ttl, CAPS.flagsPerDay, nowMs)
  // The sample rate in force when the flag's day began: readers scale sampled unit counts by it.
  if (added) await ctx.store.put(ctx.keys.flagDay(day, flag), RATE, ctx.settings.unitSampleRate, ttl)
}

/** Bumps flag-level counters of a day; the first bump of the day lists the flag. */
async function bumpFlag(ctx: IngestContext, day: number, flag: string, counters: readonly string[], nowMs: number): Promise<void> {
  const ttl = dayTtl(ctx, day, nowMs)
  const ns = await ctx.store.bump(ctx.keys.flagDay(day, flag), counters, ttl)
  if (ns.includes(1)) await registerFlag(ctx, day, flag, ttl, nowMs)
}

/** Bumps counters of one series of a day; the first bump of the day lists the series (and the flag). */
function bumpSeries(ctx: IngestContext, day: number, flag: string, name: string, counters: readonly string[], nowMs: number): Promise<void> {
  return bumpSeriesOf(ctx, day, flag, [{ name, counters }], nowMs)
}

/** Bumps counters of several series of one flag's day in one call, listing each series new that day. */
async function bumpSeriesOf(ctx: IngestContext, day: number, flag: string, list: readonly { name: string; counters: readonly string[] }[], nowMs: number): Promise<void> {
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

/** One (flag, value) the unit was exposed to: goals count for each value the unit saw. */
interface ExposedPair {
  readonly f: string
  readonly v: string
  /** timestamp of the exposure that listed the pair (the first to arrive) */
  readonly t: number
}
/** As stored in the unit's set: `[flag, value token, timestamp]`, short enough for Redis's compact hashes. */
type StoredPair = [string, string, number]
const pairOf = (s: StoredPair): ExposedPair => ({ f: s[0], v: s[1], t: s[2] })

/** A goal or guardrail event waiting for (or already matched with) the unit's exposures. */
interface PendingMetric {
  /** short id of the metric event (its uuid's) */
  readonly g: string
  readonly t: number
  readonly m: readonly string[]
}
/** As stored in the unit's set, under the event's short id: `[short id, timestamp, ...metric names]`. */
type StoredPending = [string, number, ...string[]]

/** An exposure event: its event counts once its delivery is known to be the first, its unit's state at once. */
async function countExposure(ctx: IngestContext, e: ReadEvent, x: Exposure, day: number, nowMs: number, delivered: Promise<boolean>): Promise<void> {
  // PostHog's experiment query counts exposures inside the experiment's date range only.
  if (!inFlagWindow(ctx, x.flag, e.timestampMs)) return
  const token = variantToken(x.variant)
  const name = series.exposure(x.event, token)
  const counters: string[] = [EXPOSURE.events, EXPOSURE.eventsByLib(x.lib)]
  if (x.bootstrapped) counters.push(EXPOSURE.bootstrapped)
  if (x.bootstrapMismatch) counters.push(EXPOSURE.bootstrapMismatch)
  if (x.locallyEvaluated) counters.push(EXPOSURE.locallyEvaluated)
  if (x.error !== null) counters.push(EXPOSURE.errored)
  // A value outside the flag's variants is an exposure event, but PostHog's filter drops it: it
  // must not make a unit distinct, or "seen with several variants".
  if (!ctx.isCountedValue(x.flag, x.variant) || !inUnitSample(x.unit, ctx.settings.unitSampleRate)) {
    if (await delivered) await bumpSeries(ctx, day, x.flag, name, counters, nowMs)
    return
  }

  // The unit's state for the flag, in one call: each marker is added to once its condition's
  // marker is new, and each counter below is counted by the call that saw its marker become new,
  // exactly once under any arrival order across workers. Per exposure event kind: PostHog counts
  // units from one exposure event only.
  const ttl = unitTtl(ctx, x.flag)
  const kind = KIND_TOKEN[x.event]
  const g = unitKey(ctx, x.flag, x.unit)
  const surface = ctx.surfaceFlags.has(x.flag)
  const steps: Step[] = []
  const step = (st: Step) => steps.push(st) - 1
  const lib = step({ field: `${kind}:v:${token}:${x.lib}` }) // this value from this library class
  const value = step({ field: `${kind}:v:${token}`, if: lib }) // this value
  const values = step({ field: `${kind}:nv`, if: value }) // how many values
  step({ field: `${kind}:first`, if: values, set: token }) // the first value
  const pair = step({ field: `p:${token}`, if: value }) // this value, whatever the exposure kind
  const any = step({ field: 'any', if: pair }) // exposed at all
  // Units exposed to this value although their page was bootstrapped with another one.
  const mismatch = x.bootstrapMismatch ? step({ field: `${kind}:bm:${token}` }) : -1
  // First seen: the unit's earliest exposure (time and value), kept beside the markers.
  const earliest = ctx.firstSeen.has(x.flag) ? ctx.store.keepEarliest(g, `${kind}:fs`, { time: e.timestampMs, value: token }, ttl) : null
  const [first, r, fs] = await Promise.all([delivered, ctx.store.steps(g, steps, ttl), earliest])
  const at = (i: number) => r[i] ?? 0
  // The event's counts (a first delivery) and the unit's (markers new), in one call; apart where the
  // calls are tagged, so a redelivery's call for the unit's counts is the same call as the first's.
  const seriesCounters: string[] = first && !ctx.tagged ? counters : []
  if (at(mismatch) === 1) seriesCounters.push(EXPOSURE.bootstrapMismatchUnits)
  if (at(lib) === 1) seriesCounters.push(EXPOSURE.unitsByLib(x.lib)) // units by library class, whatever arrived first
  if (at(value) === 1) seriesCounters.push(EXPOSURE.units)
  const flagCounters: string[] = []
  if (at(values) === 1) flagCounters.push(FLAG.units(x.event))
  const valuesSeen = at(values)
  // The unit now has more than one value: PostHog puts such units in `$multiple` (default) or
  // keeps their first variant. Count them per value they saw, and once per flag.
  if (valuesSeen >= 2) seriesCounters.push(EXPOSURE.multi)
  if (valuesSeen === 2) flagCounters.push(FLAG.multi(x.event))
  // PostHog's `first_seen` puts a unit in the variant of its earliest exposure (argMin(variant,
  // timestamp): experiment_query_builder.py). This exposure is now the unit's earliest with another
  // value than before: the unit counts here (`fs`) and leaves the value it was counted in (`fsout`,
  // on that exposure's day), so the totals are the same whatever order the exposures arrive in.
  const moved = fs !== null && fs.replaced && fs.previous?.value !== token
  if (moved) seriesCounters.push(EXPOSURE.firstSeen)
  const left = moved ? fs.previous : null
  await Promise.all([
    bumpSeries(ctx, day, x.flag, name, seriesCounters, nowMs),
    first && ctx.tagged ? bumpSeries(ctx, day, x.flag, name, counters, nowMs) : null,
    left ? bumpSeries(ctx, dayNumber(left.time), x.flag, series.exposure(x.event, left.value), [EXPOSURE.firstSeenOut], nowMs) : null,
    flagCounters.length > 0 ? bumpFlag(ctx, day, x.flag, flagCounters, nowMs) : null,
    // Where another worker's calls interleave, a second value may have arrived there before `first`
    // was written here: look again. (An atomic store wrote `first` in the same step as the count.)
    valuesSeen === 1 && !ctx.store.atomic
      ? ctx.store.readCounts(g, [`${kind}:nv`]).then(([now]) => ((now ?? 0) >= 2 ? countFirstValueAsMultiple(ctx, x, g, kind, day, nowMs) : undefined))
      : null,
    valuesSeen === 2 ? countFirstValueAsMultiple(ctx, x, g, kind, day, nowMs) : null,
    at(pair) === 1 ? listExposedPair(ctx, x, token, e.timestampMs, nowMs) : null,
    at(any) === 1 ? exposedOnUnit(ctx, x, surface, day, nowMs) : null,
  ])
}

/**
 * The unit's first value becomes "seen with another value" once. Both the worker that wrote the
 * first value and the one that brought the second try; each writes before it reads, so at least
 * one sees both, and the claim lets exactly one count it.
 */
async function countFirstValueAsMultiple(ctx: IngestContext, x: Exposure, g: string, kind: string, day: number, nowMs: number): Promise<void> {
  const first = await ctx.store.read(g, `${kind}:first`)
  if (typeof first !== 'string') return // the other worker will see the second value and count it
  const [claim] = await ctx.store.bump(g, [`${kind}:firstmulti`], unitTtl(ctx, x.flag))
  if (claim !== 1) return
  await bumpSeries(ctx, day, x.flag, series.exposure(x.event, first), [EXPOSURE.multi], nowMs)
}

/**
 * The unit is exposed to a (flag, value) for the first time, whatever the exposure kind: lists the
 * pair on the unit so later goal events find it, and counts the goal events that came before.
 */
async function listExposedPair(ctx: IngestContext, x: Exposure, token: string, ts: number, nowMs: number): Promise<void> {
  const pair: ExposedPair = { f: x.flag, v: token, t: ts }
  const id = pairKey(ctx, pair)
  const stored: StoredPair = [pair.f, pair.v, pair.t]
  const { added, other } = await ctx.store.join(ctx.keys.unitSides(x.unit), 'x', id, stored, unitIndexTtl(ctx), CAPS.pairsPerUnit, 'p', CAPS.pendingPerUnit)
  if (!added || ctx.settings.metrics.length === 0) return
  await claimMetrics(ctx, x.unit, (other.values as StoredPending[]).map(([g, t, ...m]) => ({ p: { g, t, m }, pair })), nowMs)
}

/**
 * Counts metric events for exposed (flag, value) pairs exactly once each, whichever side gets there
 * first: the metric event (finding the pair listed) or the exposure (finding the event pending).
 * In an atomic store, of the two joins (each adds its side and reads the other in one step) exactly
 * one sees the other. Otherwise each side writes its own record before reading the other's, so at
 * least one of them sees both, and a claim (one field per event and pair, all of a unit's in one
 * call) makes sure only one counts. Arrival order between workers does not change the totals.
 */
async function claimMetrics(ctx: IngestContext, unit: string, matches: readonly { p: PendingMetric; pair: ExposedPair }[], nowMs: number): Promise<void> {
  // Inside an experiment's run only: the metric event, and the exposure (a pair listed by an earlier
  // run of a relaunched experiment does not count for the new one).
  const inRun = matches.filter(({ p, pair }) => inFlagWindow(ctx, pair.f, p.t) && inFlagWindow(ctx, pair.f, pair.t))
  if (inRun.length === 0) return
  if (ctx.store.atomic) {
    await countMatched(ctx, unit, inRun, nowMs)
    return
  }
  const ttl = Math.max(...inRun.map(({ pair }) => unitTtl(ctx, pair.f)))
  const claims = await ctx.store.bump(
    ctx.keys.claims(unit),
    inRun.map(({ p, pair }) => `${p.g}:${enc(pair.f)}|${pair.v}`),
    ttl,
  )
  await countMatched(ctx, unit, inRun.filter((_, i) => claims[i] === 1), nowMs)
}

/**
 * Counts matched (metric event, exposed pair) couples of one unit: each metric's events, the events
 * before the exposure, and units (a marker per pair and metric, all of the unit's in one call).
 */
async function countMatched(ctx: IngestContext, unit: string, matched: readonly { p: PendingMetric; pair: ExposedPair }[], nowMs: number): Promise<void> {
  if (matched.length === 0) return
  const markers: string[] = []
  // Short fields (Redis keeps a hash compact while its fields are at most 64 bytes).
  for (const { p, pair } of matched) for (const metric of p.m) markers.push(shortId(`${pairKey(ctx, pair)}:${metric}`, 'm'))
  const firsts = await ctx.store.bump(ctx.keys.unitSides(unit), markers, unitIndexTtl(ctx))
  // Then each flag's day in one call: PostHog counts metric events from the first exposure on, so
  // those before it would be lost to it ("first" is the first exposure of the pair to arrive, exact
  // when a unit's exposures arrive in time order).
  const byFlagDay = new Map<string, { day: number; flag: string; list: { name: string; counters: string[] }[] }>()
  let i = 0
  for (const { p, pair } of matched) {
    const day = dayNumber(p.t)
    const k = `${day}\u0000${pair.f}`
    const entry = byFlagDay.get(k) ?? { day, flag: pair.f, list: [] }
    byFlagDay.set(k, entry)
    for (const metric of p.m) {
      const counters: string[] = p.t < pair.t ? [METRIC.events, METRIC.beforeExposure] : [METRIC.events]
      if (firsts[i++] === 1) counters.push(METRIC.units)
      entry.list.push({ name: series.metric(metric, pair.v), counters })
    }
  }
  await Promise.all([...byFlagDay.values()].map(({ day, flag, list }) => bumpSeriesOf(ctx, day, flag, list, nowMs)))
}

/** A pair as one key component: the flag, its experiment's run, the value. */
function pairKey(ctx: IngestContext, pair: ExposedPair): string {
  const run = ctx.runOf(pair.f)
  return `${enc(pair.f)}${run ? `@${run.startMs}` : ''}|${pair.v}`
}

/** Sightings are idempotent per (unit, value): a redelivery or a repeat changes nothing. */
async function countSighting(ctx: IngestContext, s: FlagSighting, ts: number, day: number, nowMs: number): Promise<void> {
  if (!inFlagWindow(ctx, s.flag, ts)) return
  const token = variantToken(s.variant)
  const surface = s.variant !== false && s.variant !== null && ctx.surfaceFlags.has(s.flag)
  const f = flagOfUnit(ctx, s.flag)
  const r = await ctx.store.steps(
    ctx.keys.unitFlags(s.unit),
    [
      { field: `${f}|s:${token}` }, // this value carried
      { field: `${f}|s`, if: 0 }, // any value carried
      { field: `${f}|both`, if: 1 }, // see countExposure
      ...(surface ? [{ field: `${f}|sv`, if: 0 }, ...surfaceSteps(f, 3)] : []), // a value that shows the experiment
    ],
    unitTtl(ctx, s.flag),
  )
  const flagCounters: string[] = []
  if (r[1] === 1) flagCounters.push(FLAG.sightingUnits)
  if (r[2] === 2) flagCounters.push(FLAG.sightingExposed)
  if (surface) flagCounters.push(...surfaceCounters(r, 4))
  await Promise.all([
    // Units per value carried, whatever order the values arrive in (a unit may carry two).
    r[0] === 1 ? bumpSeries(ctx, day, s.flag, series.sighting(token), [SIGHTING.units], nowMs) : null,
    flagCounters.length > 0 ? bumpFlag(ctx, day, s.flag, flagCounters, nowMs) : null,
  ])
  memoAdd(ctx, s, nowMs)
}

/**
 * A flag (and its experiment's run) as the prefix of its fields in a unit's group of every flag:
 * a short id, so the group stays compact in Redis (fields of at most 64 bytes) however long the key.
 */
function flagOfUnit(ctx: IngestContext, flag: string): string {
  const run = ctx.runOf(flag)
  return shortId(`${flag}\u0000${run?.startMs ?? ''}`)
}

/**
 * The unit is exposed to the flag for the first time: it meets the other sides in the unit's group
 * of every flag, `both` (carried and exposed) and the experiment's surface (see surfaceSteps).
 */
async function exposedOnUnit(ctx: IngestContext, x: Exposure, surface: boolean, day: number, nowMs: number): Promise<void> {
  const f = flagOfUnit(ctx, x.flag)
  const steps: Step[] = [{ field: `${f}|both` }]
  if (surface) steps.push({ field: `${f}|r3` })
  const r = await ctx.store.steps(ctx.keys.unitFlags(x.unit), steps, unitTtl(ctx, x.flag))
  const flagCounters: string[] = []
  // Whichever side (exposure or sighting) arrives second sees 2, exactly once across workers.
  if (r[0] === 2) flagCounters.push(FLAG.sightingExposed)
  if (surface && r[1] === 3) flagCounters.push(FLAG.reachedExposed)
  if (flagCounters.length > 0) await bumpFlag(ctx, day, x.flag, flagCounters, nowMs)
}

/** Goals and guardrails count for the person and for each group the event belongs to. */
function metricUnitsOf(e: ReadEvent): string[] {
  const units = [e.personUnit]
  for (const [type, key] of e.groups) units.push(groupUnit(type, key))
  return units
}

async function countMetrics(ctx: IngestContext, e: ReadEvent, unit: string, nowMs: number): Promise<void> {
  // Without a uuid a redelivery cannot be told apart anyway; this id at least keeps claims per event.
  const id = shortId(e.uuid ?? `${e.event}|${e.timestampMs}|${e.personUnit}`)
  const pending: PendingMetric = { g: id, t: e.timestampMs, m: e.metrics.map((m) => m.name) }
  const stored: StoredPending = [id, pending.t, ...pending.m]
  const { added, other } = await ctx.store.join(ctx.keys.unitSides(unit), 'p', id, stored, unitIndexTtl(ctx), CAPS.pendingPerUnit, 'x', CAPS.pairsPerUnit)
  // In an atomic store, an event already pending was matched when it joined.
  if (!added && ctx.store.atomic) return
  await claimMetrics(ctx, unit, (other.values as StoredPair[]).map((pair) => ({ p: pending, pair: pairOf(pair) })), nowMs)
}

/**
 * The experiment's surface, per unit: it carried a value of the flag, sent one of the experiment's
 * primary metric events, and was exposed. Each of the three sides adds to `r3` the first time it
 * becomes true, and the first two to `r2` as well: `r2` then reaches 2 (carried and sent: the unit
 * reached the surface) and `r3` reaches 3 (and exposed) exactly once, whatever order workers see the
 * sides in. The fields are the flag's (`f`) in the unit's group of every flag; these are the two
 * steps for a side that is not the exposure, on the step at `gate`.
 */
function surfaceSteps(f: string, gate: number): Step[] {
  return [
    { field: `${f}|r2`, if: gate },
    { field: `${f}|r3`, if: gate },
  ]
}

/** The flag counters that surfaceSteps' results (from index `at`) make due. */
function surfaceCounters(r: readonly number[], at: number): string[] {
  const out: string[] = []
  if (r[at] === 2) out.push(FLAG.reached)
  if (r[at + 1] === 3) out.push(FLAG.reachedExposed)
  return out
}

/** A primary metric event of an experiment: its unit reached the experiment's surface, exposed or not. */
async function countSurfaceReached(ctx: IngestContext, e: ReadEvent, nowMs: number): Promise<void> {
  const flags = new Set(e.metrics.flatMap((m) => ctx.surfaceFlagsByMetric.get(m.name) ?? []))
  await Promise.all(
    [...flags].map(async (flag) => {
      if (!inFlagWindow(ctx, flag, e.timestampMs)) return
      const type = ctx.readOptions.groupTypeOf?.(flag) ?? null
      const key = type === null ? e.personUnit : e.groups.get(type)
      if (key === undefined) return
      const unit = type === null ? key : groupUnit(type, key)
      if (!inUnitSample(unit, ctx.settings.unitSampleRate)) return
      const f = flagOfUnit(ctx, flag)
      const r = await ctx.store.steps(ctx.keys.unitFlags(unit), [{ field: `${f}|sm` }, ...surfaceSteps(f, 0)], unitTtl(ctx, flag))
      const counters = surfaceCounters(r, 1)
      if (counters.length > 0) await bumpFlag(ctx, dayNumber(e.timestampMs), flag, counters, nowMs)
    }),
  )
}

/** A unit's sightings this process counted: by flag, the values (one, or several). */
export interface UnitMemo {
  until: number
  readonly flags: Map<string, VariantValue | VariantValue[]>
}

function memoHas(ctx: IngestContext, s: FlagSighting, nowMs: number): boolean {
  const m = ctx.memo.get(s.unit)
  if (m === undefined || m.until <= nowMs) return false
  const seen = m.flags.get(s.flag)
  return seen === s.variant || (Array.isArray(seen) && seen.includes(s.variant))
}

function memoAdd(ctx: IngestContext, s: FlagSighting, nowMs: number): void {
  let m = ctx.memo.get(s.unit)
  if (m === undefined || m.until <= nowMs) {
    // Full: the unit entered first leaves (a Map keeps insertion order), so recent units stay.
    if (ctx.memo.size >= MEMO_UNITS) ctx.memo.delete(ctx.memo.keys().next().value as string)
    // Kept for an hour from its first entry, then begun again: the memo is never long out of date.
    m = { until: nowMs + MEMO_TTL_MS, flags: new Map() }
    ctx.memo.set(s.unit, m)
  }
  const seen = m.flags.get(s.flag)
  if (seen === undefined) m.flags.set(s.flag, s.variant)
  else if (Array.isArray(seen)) {
    if (!seen.includes(s.variant) && seen.length < 8) seen.push(s.variant)
  } else if (seen !== s.variant) m.flags.set(s.flag, [seen, s.variant])
}
