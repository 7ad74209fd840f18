import type { Settings } from '../settings/settings.js'
import { inRun, retentionDays, type ExperimentRun } from '../coverage/windows.js'
import { groupUnit, readEvent, type ReadOptions } from '../events/read-event.js'
import type { Exposure, FlagSighting, MetricHit, ReadEvent, RejectReason, VariantValue } from '../events/types.js'
import type { ContractCache } from './cache.js'
import { inUnitSample } from './hash.js'
import { DAY_MS, KIND_TOKEN, KeyScheme, dayNumber, enc, series, variantToken } from './keys.js'
import { storeFor, type CounterStore } from './store.js'

// PostHog and its webhook destination redeliver within hours; two days covers retries and replays.
const DELIVERY_TTL_S = 2 * 86_400
// Caps keep one misbehaving client from growing the cache without bound; overflow is counted.
export const CAPS = { flagsPerDay: 20_000, seriesPerFlagDay: 400, pairsPerUnit: 2_000, pendingPerUnit: 1_000 } as const
// The local memo only saves cache calls for `$feature/<key>` sightings already counted; the shared
// cache stays the source of truth, so a worker that forgets simply asks again.
const MEMO_MAX = 200_000
const MEMO_TTL_MS = 3_600_000

export interface IngestContext {
  /** where the counters live: the cache's own store in the host, one key per field on plugin-server */
  readonly store: CounterStore
  readonly settings: Settings
  readonly keys: KeyScheme
  readonly now: () => number
  readonly readOptions: Omit<ReadOptions, 'nowMs'>
  readonly isCountedValue: (flag: string, value: VariantValue) => boolean
  readonly watermark: () => number | null
  /** Periods the host is filling from HogQL after an outage: live events in them are left out. */
  readonly filling: () => readonly FillingPeriod[]
  /** Told each rejection once it is counted (the host's metrics); nothing by default. */
  readonly onRejected: (reason: RejectReason) => void
  /** The experiment's run for a flag with a launched experiment; null: the rolling lookback. */
  readonly runOf: (flag: string) => ExperimentRun | null
  /** Flags whose experiment's surface is measured, by the metric matcher that marks reaching it. */
  readonly surfaceFlagsByMetric: ReadonlyMap<string, readonly string[]>
  readonly surfaceFlags: ReadonlySet<string>
  /** Per-process memo of counted sightings; never shared, never required for correctness. */
  readonly memo: Map<string, number>
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
}

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
  return {
    store: storeFor(input.cache),
    settings: input.settings,
    keys: new KeyScheme(input.project),
    now: input.now ?? Date.now,
    readOptions: { maxAgeDays: retentionDays(input.settings), metricsByEvent, groupTypeOf: input.groupTypeOf, exposureFilterOf: input.exposureFilterOf },
    memo: new Map(),
    isCountedValue: input.isCountedValue ?? (() => true),
    watermark: input.watermark ?? (() => null),
    filling: input.filling ?? noPeriods,
    onRejected: input.onRejected ?? (() => {}),
    runOf: input.experimentRunOf ?? (() => null),
    surfaceFlagsByMetric: invert(input.surfaceMetrics ?? new Map()),
    surfaceFlags: new Set(input.surfaceMetrics?.keys() ?? []),
  }
}

function invert(byFlag: ReadonlyMap<string, readonly string[]>): Map<string, string[]> {
  const out = new Map<string, string[]>()
  for (const [flag, metrics] of byFlag) for (const m of new Set(metrics)) out.set(m, [...(out.get(m) ?? []), flag])
  return out
}

export type IngestOutcome = 'counted' | 'ignored' | 'duplicate' | 'rejected'

/** A period of event time, start inclusive, end exclusive (ms). */
export interface FillingPeriod {
  readonly fromMs: number
  readonly toMs: number
}

/** How an event reaches the counters: live (the default), or replayed by the gap fill. */
export interface IngestVia {
  readonly replay?: boolean
}

/**
 * Reads one event and updates the shared counters. Never throws for bad events: they are counted
 * by reason. An event that carries nothing to count (most events) costs no cache call at all.
 * Cache failures do propagate: the caller decides whether a lost update is worth a retry.
 */
export async function ingestEvent(ctx: IngestContext, raw: unknown, via: IngestVia = {}): Promise<IngestOutcome> {
  const nowMs = ctx.now()
  const read = readEvent(raw, { ...ctx.readOptions, nowMs })
  if (!read.ok) {
    await countRejection(ctx, dayNumber(nowMs), read.reason, nowMs)
    return 'rejected'
  }
  const e = read.event
  const watermark = ctx.watermark()
  if (watermark !== null && e.timestampMs < watermark) return 'ignored' // the backfill's side of the split
  // A period being filled from HogQL: its replay counts these, the live delivery does not.
  if (!via.replay && ctx.filling().some((p) => e.timestampMs >= p.fromMs && e.timestampMs < p.toMs)) return 'ignored'
  const rate = ctx.settings.unitSampleRate
  const sightings = e.sightings.filter((s) => !memoHas(ctx, s, nowMs) && inUnitSample(s.unit, rate))
  const metricUnits = e.metrics.length > 0 ? metricUnitsOf(e).filter((u) => inUnitSample(u, rate)) : []
  if (!e.exposure && sightings.length === 0 && metricUnits.length === 0 && e.partialRejections.length === 0) {
    return 'ignored'
  }

  const day = dayNumber(e.timestampMs)
  // Sightings are idempotent, so only events that add to a count need the redelivery check.
  const adds = e.exposure !== null || metricUnits.length > 0 || e.partialRejections.length > 0
  if (adds && e.uuid !== null && !(await firstDelivery(ctx, e, e.uuid, day, nowMs))) return 'duplicate'

  // The parts of one event do not wait for each other: each is written so that any interleaving
  // (as between workers) gives the same totals, and issuing them together lets the cache client
  // pipeline them into fewer round trips.
  await Promise.all([
    e.exposure ? countExposure(ctx, e, e.exposure, day, nowMs) : null,
    ...sightings.map((s) => countSighting(ctx, s, e.timestampMs, day, nowMs)),
    ...metricUnits.map((unit) => countMetrics(ctx, e, unit, nowMs)),
    metricUnits.length > 0 ? countSurfaceReached(ctx, e, nowMs) : null,
    ...e.partialRejections.map((reason) => countRejection(ctx, day, reason, nowMs)),
  ])
  return e.exposure || sightings.length > 0 || metricUnits.length > 0 ? 'counted' : 'rejected'
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

/**
 * Bumps markers and tells, for each, whether this call created it. Each later marker can only be
 * new when the first one is (a unit's first value is also its first of this value and library),
 * so where a bump costs a call per field, the others are bumped only after the first is found new:
 * a repeat costs one call. Where fields are bumped in one call, all go together.
 */
async function firstOfEach(ctx: IngestContext, group: string, markers: readonly string[], ttl: number): Promise<boolean[]> {
  if (ctx.store.batches) return (await ctx.store.bump(group, markers, ttl)).map((n) => n === 1)
  const [first] = await ctx.store.bump(group, markers.slice(0, 1), ttl)
  if (first !== 1) return markers.map(() => false)
  return [true, ...(await ctx.store.bump(group, markers.slice(1), ttl)).map((n) => n === 1)]
}

async function firstDelivery(ctx: IngestContext, e: ReadEvent, uuid: string, day: number, nowMs: number): Promise<boolean> {
  const [n] = await ctx.store.bump(ctx.keys.deliveries(day, e.personUnit), [enc(uuid)], DELIVERY_TTL_S)
  if (n === 1) return true
  await ctx.store.bump(ctx.keys.day(day), ['dup'], dayTtl(ctx, day, nowMs))
  return false
}

async function countRejection(ctx: IngestContext, day: number, reason: RejectReason, nowMs: number): Promise<void> {
  await ctx.store.bump(ctx.keys.day(day), [`rej:${reason}`], dayTtl(ctx, day, nowMs))
  ctx.onRejected(reason)
}

async function registerFlag(ctx: IngestContext, day: number, flag: string, ttl: number): Promise<void> {
  const added = await ctx.store.addMember(ctx.keys.flagsOfDay(day), flag, flag, ttl, CAPS.flagsPerDay)
  // The sample rate in force when the flag's day began: readers scale sampled unit counts by it.
  if (added) await ctx.store.put(ctx.keys.flagDay(day, flag), 'rate', ctx.settings.unitSampleRate, ttl)
}

/** Bumps flag-level counters of a day; the first bump of the day lists the flag. */
async function bumpFlag(ctx: IngestContext, day: number, flag: string, counters: readonly string[], nowMs: number): Promise<void> {
  const ttl = dayTtl(ctx, day, nowMs)
  const ns = await ctx.store.bump(ctx.keys.flagDay(day, flag), counters, ttl)
  if (ns.includes(1)) await registerFlag(ctx, day, flag, ttl)
}

/** Bumps counters of one series of a day; the first bump of the day lists the series (and the flag). */
async function bumpSeries(ctx: IngestContext, day: number, flag: string, name: string, counters: readonly string[], nowMs: number): Promise<void> {
  if (counters.length === 0) return
  const base = ctx.keys.flagDay(day, flag)
  const ttl = dayTtl(ctx, day, nowMs)
  const ns = await ctx.store.bump(
    base,
    counters.map((c) => `${name}:${c}`),
    ttl,
  )
  if (!ns.includes(1)) return
  if (await ctx.store.addMember(`${base}:series`, name, name, ttl, CAPS.seriesPerFlagDay)) await registerFlag(ctx, day, flag, ttl)
}

/** One (flag, value) the unit was exposed to: goals count for each value the unit saw. */
interface ExposedPair {
  readonly f: string
  readonly v: string
  /** timestamp of the exposure that listed the pair (the first to arrive) */
  readonly t: number
}

/** A goal or guardrail event waiting for (or already matched with) the unit's exposures. */
interface PendingMetric {
  /** delivery id (uuid) of the metric event */
  readonly g: string
  readonly t: number
  readonly m: readonly string[]
}

async function countExposure(ctx: IngestContext, e: ReadEvent, x: Exposure, day: number, nowMs: number): Promise<void> {
  // PostHog's experiment query counts exposures inside the experiment's date range only.
  if (!inFlagWindow(ctx, x.flag, e.timestampMs)) return
  const token = variantToken(x.variant)
  const name = series.exposure(x.event, token)
  const counters = ['ev', `lib:${x.lib}`]
  if (x.bootstrapped) counters.push('boot')
  if (x.bootstrapMismatch) counters.push('bootmis')
  if (x.locallyEvaluated) counters.push('local')
  if (x.error !== null) counters.push('err')
  // A value outside the flag's variants is an exposure event, but PostHog's filter drops it: it
  // must not make a unit distinct, or "seen with several variants".
  if (!ctx.isCountedValue(x.flag, x.variant) || !inUnitSample(x.unit, ctx.settings.unitSampleRate)) {
    await bumpSeries(ctx, day, x.flag, name, counters, nowMs)
    return
  }

  // Per-unit state, per exposure event kind: PostHog counts units from one exposure event only.
  // The markers are bumped together: each counter below is counted by whichever call saw its
  // marker reach 1, exactly once under any arrival order across workers.
  const unitTtlS = unitTtl(ctx, x.flag)
  const kind = KIND_TOKEN[x.event]
  const g = unitKey(ctx, x.flag, x.unit)
  const [, [libFirst, valueFirst], [mismatchFirst]] = await Promise.all([
    bumpSeries(ctx, day, x.flag, name, counters, nowMs),
    firstOfEach(ctx, g, [`${kind}:v:${token}:${x.lib}`, `${kind}:v:${token}`], unitTtlS),
    // Units exposed to this value although their page was bootstrapped with another one.
    x.bootstrapMismatch ? firstOfEach(ctx, g, [`${kind}:bm:${token}`], unitTtlS) : [false],
  ])
  // Units by library class, whatever arrived first; units per value.
  const unitCounters: string[] = []
  if (mismatchFirst) unitCounters.push('bmunits')
  if (libFirst) unitCounters.push(`ulib:${x.lib}`)
  if (!valueFirst) {
    await bumpSeries(ctx, day, x.flag, name, unitCounters, nowMs) // this unit already saw this value
    return
  }
  unitCounters.push('units')
  await Promise.all([
    bumpSeries(ctx, day, x.flag, name, unitCounters, nowMs),
    countValuesSeen(ctx, x, g, kind, token, unitTtlS, day, nowMs),
    countExposedPair(ctx, x, token, e.timestampMs, day, nowMs),
  ])
}

/** A value new to the unit (for this exposure kind): its first, or one more that makes it `$multiple`. */
async function countValuesSeen(ctx: IngestContext, x: Exposure, g: string, kind: string, token: string, ttl: number, day: number, nowMs: number): Promise<void> {
  const [valuesSeen] = await ctx.store.bump(g, [`${kind}:nv`], ttl)
  if (valuesSeen === 1) {
    await Promise.all([ctx.store.put(g, `${kind}:first`, token, ttl), bumpFlag(ctx, day, x.flag, [`units|${kind}`], nowMs)])
    // A second value may have arrived at another worker before `first` was written: look again.
    const [now] = await ctx.store.readCounts(g, [`${kind}:nv`])
    if ((now ?? 0) >= 2) await countFirstValueAsMultiple(ctx, x, g, kind, day, nowMs)
    return
  }
  // The unit now has more than one value: PostHog puts such units in `$multiple` (default) or
  // keeps their first variant. Count them per value they saw, and once per flag.
  await Promise.all([
    bumpSeries(ctx, day, x.flag, series.exposure(x.event, token), ['multi'], nowMs),
    valuesSeen === 2 ? countFirstValueAsMultiple(ctx, x, g, kind, day, nowMs) : null,
    valuesSeen === 2 ? bumpFlag(ctx, day, x.flag, [`multi|${kind}`], nowMs) : null,
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
  await bumpSeries(ctx, day, x.flag, series.exposure(x.event, first), ['multi'], nowMs)
}

/**
 * Across exposure kinds: the unit is exposed to this (flag, value). Lists the pair on the unit so
 * later goal events find it, claims the goal events that arrived earlier, and feeds the gap count.
 */
async function countExposedPair(ctx: IngestContext, x: Exposure, token: string, ts: number, day: number, nowMs: number): Promise<void> {
  const ttl = unitTtl(ctx, x.flag)
  const g = unitKey(ctx, x.flag, x.unit)
  const pair: ExposedPair = { f: x.flag, v: token, t: ts }
  const run = ctx.runOf(x.flag)
  const id = `${enc(x.flag)}${run ? `@${run.startMs}` : ''}|${token}`
  const added = await ctx.store.addMember(ctx.keys.unitIndex(x.unit), id, pair, unitIndexTtl(ctx), CAPS.pairsPerUnit)
  if (!added) return // the other exposure kind listed it already
  const claimPending = async () => {
    const pending = await ctx.store.readMembers(ctx.keys.pendingMetrics(x.unit), CAPS.pendingPerUnit)
    await Promise.all((pending.values as PendingMetric[]).map((p) => claimMetric(ctx, p, pair, x.unit, nowMs)))
  }
  const exposedOnce = async () => {
    const [any] = await ctx.store.bump(g, ['any'], ttl)
    if (any !== 1) return
    await Promise.all([
      ctx.surfaceFlags.has(x.flag) ? joinSurface(ctx, x.flag, g, 'exposed', day, nowMs) : null,
      // Whichever side (exposure or sighting) arrives second sees 2, exactly once across workers.
      ctx.store.bump(g, ['both'], ttl).then(([both]) => (both === 2 ? bumpFlag(ctx, day, x.flag, ['both'], nowMs) : undefined)),
    ])
  }
  await Promise.all([ctx.settings.metrics.length > 0 ? claimPending() : null, exposedOnce()])
}

/**
 * Counts a metric event for one exposed (flag, value) exactly once, whichever side gets there first:
 * the metric event (finding the pair listed) or the exposure (finding the event pending). Each side
 * writes its own record before reading the other's, so at least one of them sees both; the claim
 * makes sure only one counts. Arrival order between workers does not change the totals.
 */
async function claimMetric(ctx: IngestContext, p: PendingMetric, pair: ExposedPair, unit: string, nowMs: number): Promise<void> {
  // Inside an experiment's run only: the metric event, and the exposure (a pair listed by an earlier
  // run of a relaunched experiment does not count for the new one).
  if (!inFlagWindow(ctx, pair.f, p.t) || !inFlagWindow(ctx, pair.f, pair.t)) return
  const ttl = unitTtl(ctx, pair.f)
  const [claim] = await ctx.store.bump(ctx.keys.claims(unit), [`${enc(p.g)}:${enc(pair.f)}|${pair.v}`], ttl)
  if (claim !== 1) return
  const day = dayNumber(p.t)
  // PostHog counts metric events from the first exposure on; these would be lost to it. "First"
  // is the first exposure of the pair to arrive, exact when a unit's exposures arrive in time order.
  const eventCounters = p.t < pair.t ? ['ev', 'pre'] : ['ev']
  const [, firsts] = await Promise.all([
    Promise.all(p.m.map((metric) => bumpSeries(ctx, day, pair.f, series.metric(metric, pair.v), eventCounters, nowMs))),
    ctx.store.bump(
      unitKey(ctx, pair.f, unit),
      p.m.map((metric) => `m:${enc(metric)}:${pair.v}`),
      ttl,
    ),
  ])
  await Promise.all(p.m.map((metric, i) => (firsts[i] === 1 ? bumpSeries(ctx, day, pair.f, series.metric(metric, pair.v), ['units'], nowMs) : null)))
}

/** Sightings are idempotent per (unit, value): a redelivery or a repeat changes nothing. */
async function countSighting(ctx: IngestContext, s: FlagSighting, ts: number, day: number, nowMs: number): Promise<void> {
  if (!inFlagWindow(ctx, s.flag, ts)) return
  const ttl = unitTtl(ctx, s.flag)
  const g = unitKey(ctx, s.flag, s.unit)
  const token = variantToken(s.variant)
  // Markers bumped together, each compared with 1: this value, any value, any truthy value.
  const surface = s.variant !== false && s.variant !== null && ctx.surfaceFlags.has(s.flag)
  const [valueFirst, anyFirst, truthyFirst] = await firstOfEach(ctx, g, surface ? [`s:${token}`, 's', 'sv'] : [`s:${token}`, 's'], ttl)
  await Promise.all([
    // Units per value carried, whatever order the values arrive in (a unit may carry two).
    valueFirst ? bumpSeries(ctx, day, s.flag, series.sighting(token), ['units'], nowMs) : null,
    truthyFirst ? joinSurface(ctx, s.flag, g, 'carried', day, nowMs) : null,
    anyFirst ? bumpFlag(ctx, day, s.flag, ['sunits'], nowMs) : null,
    anyFirst ? ctx.store.bump(g, ['both'], ttl).then(([both]) => (both === 2 ? bumpFlag(ctx, day, s.flag, ['both'], nowMs) : undefined)) : null,
  ])
  memoAdd(ctx, s, nowMs)
}

/** Goals and guardrails count for the person and for each group the event belongs to. */
function metricUnitsOf(e: ReadEvent): string[] {
  const units = [e.personUnit]
  for (const [type, key] of e.groups) units.push(groupUnit(type, key))
  return units
}

async function countMetrics(ctx: IngestContext, e: ReadEvent, unit: string, nowMs: number): Promise<void> {
  // Without a uuid a redelivery cannot be told apart anyway; this id at least keeps claims per event.
  const id = e.uuid ?? `${e.event}|${e.timestampMs}|${e.personUnit}`
  const pending: PendingMetric = { g: id, t: e.timestampMs, m: e.metrics.map((m) => m.name) }
  await ctx.store.addMember(ctx.keys.pendingMetrics(unit), enc(id), pending, unitIndexTtl(ctx), CAPS.pendingPerUnit)
  const pairs = await ctx.store.readMembers(ctx.keys.unitIndex(unit), CAPS.pairsPerUnit)
  await Promise.all((pairs.values as ExposedPair[]).map((pair) => claimMetric(ctx, pending, pair, unit, nowMs)))
}

/**
 * The experiment's surface, per unit: it carried a value of the flag (`carried`), sent one of the
 * experiment's primary metric events (`metric`), and was exposed (`exposed`). Each side calls this
 * once, the first time it becomes true; two counters then see 2 (carried and metric: the unit
 * reached the surface) and 3 (and exposed) exactly once, whatever order workers see the sides in.
 */
async function joinSurface(ctx: IngestContext, flag: string, g: string, side: 'carried' | 'metric' | 'exposed', day: number, nowMs: number): Promise<void> {
  const ns = await ctx.store.bump(g, side === 'exposed' ? ['r3'] : ['r2', 'r3'], unitTtl(ctx, flag))
  const counters: string[] = []
  if (side !== 'exposed' && ns[0] === 2) counters.push('reach')
  if (ns[ns.length - 1] === 3) counters.push('reachx')
  if (counters.length > 0) await bumpFlag(ctx, day, flag, counters, nowMs)
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
      const g = unitKey(ctx, flag, unit)
      const [n] = await ctx.store.bump(g, ['sm'], unitTtl(ctx, flag))
      if (n === 1) await joinSurface(ctx, flag, g, 'metric', dayNumber(e.timestampMs), nowMs)
    }),
  )
}

function memoKey(s: FlagSighting): string {
  return `${s.flag}\u0000${s.unit}\u0000${variantToken(s.variant)}`
}

function memoHas(ctx: IngestContext, s: FlagSighting, nowMs: number): boolean {
  const until = ctx.memo.get(memoKey(s))
  return until !== undefined && until > nowMs
}

function memoAdd(ctx: IngestContext, s: FlagSighting, nowMs: number): void {
  if (ctx.memo.size >= MEMO_MAX) ctx.memo.clear()
  ctx.memo.set(memoKey(s), nowMs + MEMO_TTL_MS)
}
