/**
 * The exposure protocol: an exposure event's counts (once its delivery is the first) and its unit's
 * state (first value, values seen, first seen), exact under any arrival order across workers.
 */
import type { Exposure, ReadEvent, SliceDim } from '../events/types.js'
import { inUnitSample } from './hash.js'
import { variantToken } from './keys.js'
import { EXPOSURE, FLAG, KIND_TOKEN, series } from './schema.js'
import { dayNumber } from '../time.js'
import type { Step } from './store.js'
import { bumpFlag, bumpSeries, CAPS, inFlagWindow, type IngestContext, unitIndexTtl, unitKey, unitTtl } from './ingest-context.js'
import { claimMetrics, type ExposedPair, pairKey, type StoredPair, type StoredPending } from './ingest-metrics.js'
import { exposedOnUnit } from './ingest-surface.js'

/** An exposure event: its event counts once its delivery is known to be the first, its unit's state at once. */
export async function countExposure(ctx: IngestContext, e: ReadEvent, x: Exposure, day: number, nowMs: number, delivered: Promise<boolean>): Promise<void> {
  // PostHog's experiment query counts exposures inside the experiment's date range only.
  if (!inFlagWindow(ctx, x.flag, e.timestampMs)) return
  const token = variantToken(x.variant)
  const name = series.exposure(x.event, token)
  const counters: string[] = [EXPOSURE.events, EXPOSURE.eventsByLib(x.lib)]
  if (x.bootstrapped) counters.push(EXPOSURE.bootstrapped)
  if (x.bootstrapMismatch) counters.push(EXPOSURE.bootstrapMismatch)
  if (x.locallyEvaluated) counters.push(EXPOSURE.locallyEvaluated)
  if (x.error !== null) counters.push(EXPOSURE.errored)
  // Which SDKs (and versions) send the exposures, day by day: one that stops is named (exposure_stall).
  if (x.slices?.sdk !== undefined && ctx.store.listsFields) counters.push(EXPOSURE.eventsBySdk(x.slices.sdk))
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
  // This value while anonymous (`a`) or once identified (`i`), where the SDK says which.
  const phase = x.identified === true || x.identified === false ? step({ field: `${kind}:${x.identified ? 'i' : 'a'}:${token}` }) : -1
  // First seen: the unit's earliest exposure (time and value), kept beside the markers.
  const earliest = ctx.firstSeen.has(x.flag) ? ctx.store.keepEarliest(g, `${kind}:fs`, { time: e.timestampMs, value: token }, ttl) : null
  const [first, r, fs] = await Promise.all([delivered, ctx.store.steps(g, steps, ttl), earliest])
  const at = (i: number) => r[i] ?? 0
  // The event's counts (a first delivery) and the unit's (markers new), in one call; apart where the
  // calls are tagged, so a redelivery's call for the unit's counts is the same call as the first's.
  const seriesCounters: string[] = first && !ctx.tagged ? counters : []
  if (at(mismatch) === 1) seriesCounters.push(EXPOSURE.bootstrapMismatchUnits)
  if (at(lib) === 1) seriesCounters.push(EXPOSURE.unitsByLib(x.lib)) // units by library class, whatever arrived first
  if (at(value) === 1) {
    seriesCounters.push(EXPOSURE.units)
    // Where the unit's first exposure to this value came from, to break a mismatched split down by
    // slice. Only where a group's fields can be listed back (not on one cache key per field).
    if (x.slices && ctx.store.listsFields) for (const [dim, v] of Object.entries(x.slices) as [SliceDim, string][]) seriesCounters.push(EXPOSURE.slice(dim, v))
  }
  const flagCounters: string[] = []
  if (at(values) === 1) flagCounters.push(FLAG.units(x.event))
  const valuesSeen = at(values)
  // The unit now has more than one value: PostHog puts such units in `$multiple` (default) or
  // keeps their first variant. Count them per value they saw, and once per flag.
  if (valuesSeen >= 2) seriesCounters.push(EXPOSURE.multi)
  if (valuesSeen === 2) {
    flagCounters.push(FLAG.multi(x.event))
    // Where units cross: the slices of the exposure that brought the second value (multiple_variants' breakdown).
    if (x.slices && ctx.store.listsFields) for (const [dim, v] of Object.entries(x.slices) as [SliceDim, string][]) seriesCounters.push(EXPOSURE.multiSlice(dim, v))
  }
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
    // A new (phase, value) on a unit that may have another value: did it cross at identify?
    at(phase) === 1 && !(at(value) === 1 && valuesSeen === 1) ? countIdentityCrossing(ctx, x, g, kind, day, nowMs) : null,
  ])
}

/**
 * The unit crossed variants at identify: it was exposed to a value while anonymous and to another
 * once identified. Read after this call's own (phase, value) marker was written, so of two workers
 * adding the two sides at least the later one sees both, and a claim counts the unit once.
 */
export async function countIdentityCrossing(ctx: IngestContext, x: Exposure, g: string, kind: string, day: number, nowMs: number): Promise<void> {
  const fields = await ctx.store.readAll(g)
  if (fields === null) return // one key per field: the fields cannot be listed, so this is not counted
  const anon = new Set<string>()
  const known = new Set<string>()
  for (const field of fields.keys()) {
    if (field.startsWith(`${kind}:a:`)) anon.add(field.slice(kind.length + 3))
    else if (field.startsWith(`${kind}:i:`)) known.add(field.slice(kind.length + 3))
  }
  if (!crossedAtIdentify(anon, known)) return
  const [claim] = await ctx.store.bump(g, [`${kind}:idx`], unitTtl(ctx, x.flag))
  if (claim === 1) await bumpFlag(ctx, day, x.flag, [FLAG.identityCrossed(x.event)], nowMs)
}

/** A value while anonymous and another once identified (the backfill's `crossed`, the same rule). */
export function crossedAtIdentify(anon: ReadonlySet<string>, known: ReadonlySet<string>): boolean {
  if (anon.size === 0 || known.size === 0) return false
  if (anon.size > 1 || known.size > 1) return true
  return [...anon][0] !== [...known][0]
}

/**
 * The unit's first value becomes "seen with another value" once. Both the worker that wrote the
 * first value and the one that brought the second try; each writes before it reads, so at least
 * one sees both, and the claim lets exactly one count it.
 */
export async function countFirstValueAsMultiple(ctx: IngestContext, x: Exposure, g: string, kind: string, day: number, nowMs: number): Promise<void> {
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
export async function listExposedPair(ctx: IngestContext, x: Exposure, token: string, ts: number, nowMs: number): Promise<void> {
  const pair: ExposedPair = { f: x.flag, v: token, t: ts }
  const id = pairKey(ctx, pair)
  const stored: StoredPair = [pair.f, pair.v, pair.t]
  const { added, other } = await ctx.store.join(ctx.keys.unitSides(x.unit), 'x', id, stored, unitIndexTtl(ctx), CAPS.pairsPerUnit, 'p', CAPS.pendingPerUnit)
  if (!added || ctx.settings.metrics.length === 0) return
  await claimMetrics(ctx, x.unit, (other.values as StoredPending[]).map(([g, t, ...m]) => ({ p: { g, t, m }, pair })), nowMs)
}
