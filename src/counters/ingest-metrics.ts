/**
 * The metric join: a unit's goal and guardrail events matched with the (flag, value) pairs it was
 * exposed to, in whichever order they arrive, each (event, pair) counted once.
 */
import { groupUnit } from '../events/read-event.js'
import type { ReadEvent } from '../events/types.js'
import { shortId } from './hash.js'
import { enc } from './keys.js'
import { METRIC, series } from './schema.js'
import { dayNumber } from '../time.js'
import { bumpSeriesOf, CAPS, inFlagWindow, type IngestContext, unitIndexTtl, unitTtl } from './ingest-context.js'

/** One (flag, value) the unit was exposed to: goals count for each value the unit saw. */
export interface ExposedPair {
  readonly f: string
  readonly v: string
  /** timestamp of the exposure that listed the pair (the first to arrive) */
  readonly t: number
}
/** As stored in the unit's set: `[flag, value token, timestamp]`, short enough for Redis's compact hashes. */
export type StoredPair = [string, string, number]
export const pairOf = (s: StoredPair): ExposedPair => ({ f: s[0], v: s[1], t: s[2] })

/** A goal or guardrail event waiting for (or already matched with) the unit's exposures. */
export interface PendingMetric {
  /** short id of the metric event (its uuid's) */
  readonly g: string
  readonly t: number
  readonly m: readonly string[]
}
/** As stored in the unit's set, under the event's short id: `[short id, timestamp, ...metric names]`. */
export type StoredPending = [string, number, ...string[]]

/**
 * Counts metric events for exposed (flag, value) pairs exactly once each, whichever side gets there
 * first: the metric event (finding the pair listed) or the exposure (finding the event pending).
 * In an atomic store, of the two joins (each adds its side and reads the other in one step) exactly
 * one sees the other. Otherwise each side writes its own record before reading the other's, so at
 * least one of them sees both, and a claim (one field per event and pair, all of a unit's in one
 * call) makes sure only one counts. Arrival order between workers does not change the totals.
 */
export async function claimMetrics(ctx: IngestContext, unit: string, matches: readonly { p: PendingMetric; pair: ExposedPair }[], nowMs: number): Promise<void> {
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
export async function countMatched(ctx: IngestContext, unit: string, matched: readonly { p: PendingMetric; pair: ExposedPair }[], nowMs: number): Promise<void> {
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
export function pairKey(ctx: IngestContext, pair: ExposedPair): string {
  const run = ctx.runOf(pair.f)
  return `${enc(pair.f)}${run ? `@${run.startMs}` : ''}|${pair.v}`
}

/** Goals and guardrails count for the person and for each group the event belongs to. */
export function metricUnitsOf(e: ReadEvent): string[] {
  const units = [e.personUnit]
  for (const [type, key] of e.groups) units.push(groupUnit(type, key))
  return units
}

export async function countMetrics(ctx: IngestContext, e: ReadEvent, unit: string, nowMs: number): Promise<void> {
  // Without a uuid a redelivery cannot be told apart anyway; this id at least keeps claims per event.
  const id = shortId(e.uuid ?? `${e.event}|${e.timestampMs}|${e.personUnit}`)
  const pending: PendingMetric = { g: id, t: e.timestampMs, m: e.metrics.map((m) => m.name) }
  const stored: StoredPending = [id, pending.t, ...pending.m]
  const { added, other } = await ctx.store.join(ctx.keys.unitSides(unit), 'p', id, stored, unitIndexTtl(ctx), CAPS.pendingPerUnit, 'x', CAPS.pairsPerUnit)
  // In an atomic store, an event already pending was matched when it joined.
  if (!added && ctx.store.atomic) return
  await claimMetrics(ctx, unit, (other.values as StoredPair[]).map((pair) => ({ p: pending, pair: pairOf(pair) })), nowMs)
}
