import { readEvent } from '../events/read-event.js'
import type { FlagSighting, ReadEvent } from '../events/types.js'
import { inUnitSample, shortId } from './hash.js'
import { DAY } from './schema.js'
import { dayNumber } from '../time.js'
import { EventScope, toCount } from './store.js'
import { countRejection, dayTtl, inFlagWindow, DELIVERY_TTL_S, type IgnoreReason, type IngestContext, type IngestOutcome, type IngestVia, type Retiring } from './ingest-context.js'
import { countExposure } from './ingest-exposure.js'
import { countMetrics, metricUnitsOf } from './ingest-metrics.js'
import { countSightings, countSurfaceReached } from './ingest-surface.js'
import { claimSightings, memoHas } from './ingest-memo.js'

// The counters' writer, split by protocol: the context and its helpers, exposures, the metric
// join, the surface and sightings, the memo. Its public names stay importable from here.
export { CAPS, type FillingPeriod, type IgnoreReason, type IngestContext, type IngestContextInput, type IngestOutcome, type IngestVia, type Retiring, createIngestContext } from './ingest-context.js'
export type { UnitMemo } from './ingest-memo.js'

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
  const id = e.uuid ?? via.deliveryId ?? null
  const once = id !== null && ctx.store.atomic && ctx.exactlyOnce
  const sightings = e.sightings.length > 0 ? sightingsToCount(ctx, e, once, rate, nowMs) : NO_SIGHTINGS
  const metricUnits = e.metrics.length > 0 ? metricUnitsOf(e).filter((u) => inUnitSample(u, rate)) : NO_UNITS
  // Most events: nothing to count, decided without a call or a promise of their own.
  if (!e.exposure && e.customExposures.length === 0 && sightings.length === 0 && metricUnits.length === 0 && e.partialRejections.length === 0) return ignored(ctx, e.sightings.length > 0 || e.metrics.length > 0 ? 'seen_or_unsampled' : 'no_flag_or_metric')
  if (once) return countOnce(ctx, e, id, sightings, metricUnits, nowMs)
  const count = () => countEvent(ctx, e, id, sightings, metricUnits, nowMs)
  return sightings.length > 0 ? claimSightings(ctx, sightings, nowMs, count) : count()
}

/**
 * The event's sightings to count. Counted exactly once (tagged calls), a retry must send the calls
 * its first attempt sent, whatever this process has counted since: so all of the event's sightings
 * go together, or none when every one of them is already in the memo, and the memo learns them
 * only once counted (no claim: an event in flight does not take another's sightings). Otherwise
 * each sighting is left out once the memo has it, or once an event in flight claimed it.
 */
function sightingsToCount(ctx: IngestContext, e: ReadEvent, once: boolean, rate: number, nowMs: number): readonly FlagSighting[] {
  // The memo first: most events carry only sightings it has, and it is the cheapest test.
  const counted = (s: FlagSighting) => inUnitSample(s.unit, rate) && inFlagWindow(ctx, s.flag, e.timestampMs)
  const fresh = (s: FlagSighting) => !memoHas(ctx, s, nowMs) && counted(s)
  if (once) return e.sightings.some(fresh) ? e.sightings.filter(counted) : NO_SIGHTINGS
  return e.sightings.filter(fresh)
}

export const IGNORED: Promise<IngestOutcome> = Promise.resolve('ignored')
export function ignored(ctx: IngestContext, reason: IgnoreReason): Promise<IngestOutcome> {
  ctx.onIgnored(reason)
  return IGNORED
}
export const NO_SIGHTINGS: readonly FlagSighting[] = []
export const NO_UNITS: readonly string[] = []

/**
 * An event with an id, on a shared atomic store (Redis, a Redis Cluster), counted exactly once, also
 * when a crash cuts it off and PostHog delivers it again:
 * - its delivery marker moves to "open" (OPEN) while its parts count, each call tagged (EventScope):
 *   a retry of an attempt cut off midway repeats what was done as it was done, and does the rest;
 * - once every part is done the marker moves to "settled" (SETTLED), after the answer (a crash
 *   before that only makes the retry wait), and the tags are forgotten FORGET_AFTER_MS later;
 * - a marker found settled makes the event a redelivery: every part was counted, so it sends none
 *   of its parts (the parts wait for the marker's answer);
 * - a marker found open belongs to an attempt still counting or to one that died: this attempt
 *   waits for it to settle (settleWaitMs), and then either is a redelivery or takes the event over.
 * In this process a second delivery of an event waits for the first.
 */
export function countOnce(ctx: IngestContext, e: ReadEvent, id: string, sightings: readonly FlagSighting[], metricUnits: readonly string[], nowMs: number): Promise<IngestOutcome> {
  const before = ctx.counting.get(id)
  const run = (before ? before.then(noop, noop) : Promise.resolve()).then(() => countTagged(ctx, e, id, sightings, metricUnits, nowMs))
  ctx.counting.set(id, run)
  const done = () => {
    if (ctx.counting.get(id) === run) ctx.counting.delete(id)
  }
  run.then(done, done)
  return run
}

export const noop = () => {}
// The marker's states. Below OPEN: a count of deliveries kept by an earlier version (a bump per
// delivery), so the event was counted; such a marker is settled when a delivery finds it.
export const OPEN = 10
export const SETTLED = 20
// Tags outlive their event by a minute: an attempt that took the event over while the first was
// still counting (slow, not dead) finds every answer until it ends too.
export const FORGET_AFTER_MS = 60_000
// Past this many settled events waiting, the oldest are forgotten early (memory stays bounded).
export const MAX_RETIRING = 50_000

export async function countTagged(ctx: IngestContext, e: ReadEvent, id: string, sightings: readonly FlagSighting[], metricUnits: readonly string[], nowMs: number): Promise<IngestOutcome> {
  const day = dayNumber(e.timestampMs)
  const marker = ctx.keys.deliveries(day, e.personUnit)
  const field = shortId(id)
  const scope = new EventScope(ctx.store, id)
  const c: IngestContext = { ...ctx, store: scope.store, tagged: true }
  const delivered = ctx.store.advance(marker, field, OPEN, DELIVERY_TTL_S).then(async (held) => {
    if (held > 0 && held < OPEN) await ctx.store.advance(marker, field, SETTLED, DELIVERY_TTL_S)
    return held === 0 || (held === OPEN && !(await settles(ctx, marker, field)))
  })
  // The parts wait for the marker, so a redelivery sends none. Sent beside the marker, a redelivery's
  // calls replayed the first attempt's kept answers while another worker forgot that attempt's tags
  // (a worker's teardown, forgetSettled, forgets them at once): a call got its kept answer ("the unit
  // is new", "the goal event met an exposed pair"), the tag of the count that follows from it was
  // gone by the time that count was sent, and the count was done again: one unit or one goal event
  // too many in the four-worker test. Forgetting in the calls' order cannot prevent it.
  if (!(await delivered)) {
    // An event that adds to no count (only sightings, each counted once by its marker) is no
    // redelivery to report: as on one key per field, where it is not checked.
    const adds = e.exposure !== null || e.customExposures.length > 0 || metricUnits.length > 0 || e.partialRejections.length > 0
    if (!adds) return outcomeOf(e, sightings, metricUnits)
    await ctx.store.bump(ctx.keys.day(day), [DAY.redelivered], dayTtl(ctx, day, nowMs))
    return 'duplicate'
  }
  await countParts(c, e, sightings, metricUnits, day, nowMs, delivered)
  // Settled after the answer: a failure here leaves the marker open, which a retry waits out.
  const settling = ctx.store.advance(marker, field, SETTLED, DELIVERY_TTL_S).then(() => retire(ctx, scope), noop)
  ctx.settling.add(settling)
  void settling.then(() => ctx.settling.delete(settling))
  return outcomeOf(e, sightings, metricUnits)
}

/** Waits for an open delivery marker to settle; false when it stays open (its attempt died). */
export async function settles(ctx: IngestContext, marker: string, field: string): Promise<boolean> {
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
export function retire(ctx: IngestContext, scope: EventScope): void {
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

export const FIRST = Promise.resolve(true)

/**
 * An event on a store of one key per field (plugin-server's cache), or with no id: its delivery
 * check runs beside the rest, not before: only event counts (an exposure's, a partial rejection's)
 * wait for it. Everything else is counted once by its own marker whatever the delivery: sightings
 * and units by their markers, a goal event by its id among the unit's pending events. A crash
 * midway can leave part of such an event counted and the rest lost to its retry.
 */
export async function countEvent(ctx: IngestContext, e: ReadEvent, id: string | null, sightings: readonly FlagSighting[], metricUnits: readonly string[], nowMs: number): Promise<IngestOutcome> {
  const day = dayNumber(e.timestampMs)
  const adds = e.exposure !== null || e.customExposures.length > 0 || metricUnits.length > 0 || e.partialRejections.length > 0
  const delivered = adds && id !== null ? firstDelivery(ctx, e, id, day, nowMs) : FIRST
  await Promise.all([delivered, countParts(ctx, e, sightings, metricUnits, day, nowMs, delivered)])
  if (!(await delivered)) return 'duplicate'
  return outcomeOf(e, sightings, metricUnits)
}

export function outcomeOf(e: ReadEvent, sightings: readonly FlagSighting[], metricUnits: readonly string[]): IngestOutcome {
  return e.exposure || e.customExposures.length > 0 || sightings.length > 0 || metricUnits.length > 0 ? 'counted' : 'rejected'
}

/**
 * The parts of one event. They do not wait for each other: each is written so that any interleaving
 * (as between workers) gives the same totals, and issuing them together lets the cache client
 * pipeline them into fewer round trips. Event counts wait for `delivered`.
 */
export async function countParts(ctx: IngestContext, e: ReadEvent, sightings: readonly FlagSighting[], metricUnits: readonly string[], day: number, nowMs: number, delivered: Promise<boolean>): Promise<void> {
  await Promise.all([
    e.exposure ? countExposure(ctx, e, e.exposure, day, nowMs, delivered) : null,
    ...e.customExposures.map((x) => countExposure(ctx, e, x, day, nowMs, delivered)),
    sightings.length > 0 ? countSightings(ctx, sightings, day, nowMs) : null,
    ...metricUnits.map((unit) => countMetrics(ctx, e, unit, nowMs)),
    metricUnits.length > 0 ? countSurfaceReached(ctx, e, nowMs) : null,
    e.partialRejections.length > 0 ? delivered.then((first) => (first ? Promise.all(e.partialRejections.map((reason) => countRejection(ctx, day, reason, nowMs))) : null)) : null,
  ])
}

export async function firstDelivery(ctx: IngestContext, e: ReadEvent, id: string, day: number, nowMs: number): Promise<boolean> {
  const [n] = await ctx.store.bump(ctx.keys.deliveries(day, e.personUnit), [shortId(id)], DELIVERY_TTL_S)
  if (n === 1) return true
  await ctx.store.bump(ctx.keys.day(day), [DAY.redelivered], dayTtl(ctx, day, nowMs))
  return false
}
