/**
 * Sightings and the surface: units carrying a flag's value on their events (`$feature/<key>`),
 * those of them exposed, and the units that reached an experiment's metric, exposed or not.
 */
import { groupUnit } from '../events/read-event.js'
import type { Exposure, FlagSighting, ReadEvent } from '../events/types.js'
import { inUnitSample, shortId } from './hash.js'
import { variantToken } from './keys.js'
import { FLAG, series, SIGHTING } from './schema.js'
import { dayNumber } from '../time.js'
import type { Step } from './store.js'
import { bumpFlag, bumpSeries, inFlagWindow, type IngestContext, unitTtl } from './ingest-context.js'
import { memoAdd, memoDrop } from './ingest-memo.js'

/**
 * An event's sightings, each inside its flag's window (the caller keeps the others out, and out of
 * the memo). Idempotent per (unit, value): a redelivery or a repeat changes nothing. The
 * sightings of one unit (an event carries every flag's value as `$feature/<key>`) are one call on
 * the unit's group of every flag, not one call per flag.
 */
export async function countSightings(ctx: IngestContext, sightings: readonly FlagSighting[], day: number, nowMs: number): Promise<void> {
  // By unit and TTL: one key per field gives each field its flag's TTL, as one call per flag did.
  const calls = new Map<string, FlagSighting[]>()
  for (const s of sightings) {
    const k = `${s.unit}\u0000${unitTtl(ctx, s.flag)}`
    const list = calls.get(k)
    if (list === undefined) calls.set(k, [s])
    else list.push(s)
  }
  await Promise.all([...calls.values()].map((list) => countUnitSightings(ctx, list, day, nowMs)))
}

/**
 * A first sighting's marker while its counts are not yet all written, on the exactly-once path:
 * counted by an event still counting, or by one a failure cut off. Others' calls add to it and stay
 * below 1, so they neither count it again nor let the memo skip it, and the event's retry (here or in
 * another worker) still counts it: its tagged call answers "first" again. Once counted it is CONFIRMED.
 */
const PENDING = -1_000_000_000_000
const CONFIRMED = 2

/**
 * Sightings of one unit with one TTL, in one call: each sighting's steps, then each one's counts.
 * Exactly once (tagged calls), the first sighting's marker says pending until its counts are
 * written, and the memo learns only confirmed sightings: a unit's sighting learned from another
 * event's call could otherwise make a failed event's retry skip counts its first attempt never wrote.
 */
async function countUnitSightings(ctx: IngestContext, list: readonly FlagSighting[], day: number, nowMs: number): Promise<void> {
  const first = list[0] as FlagSighting
  const steps: Step[] = []
  const parts = list.map((s) => {
    const at = steps.length
    const token = variantToken(s.variant)
    const surface = s.variant !== false && s.variant !== null && ctx.surfaceFlags.has(s.flag)
    const f = flagOfUnit(ctx, s.flag)
    steps.push(
      { field: `${f}|s:${token}` }, // this value carried
      { field: `${f}|s`, if: at }, // any value carried
      { field: `${f}|both`, if: at + 1 }, // see countExposure
      ...(surface ? [{ field: `${f}|sv`, if: at }, ...surfaceSteps(f, at + 3)] : []), // a value that shows the experiment
    )
    return { s, field: `${f}|s:${token}`, token, surface, at }
  })
  const group = ctx.keys.unitFlags(first.unit)
  const ttl = unitTtl(ctx, first.flag)
  if (ctx.tagged) for (const p of parts) steps.push({ field: p.field, if: p.at, set: PENDING })
  const r = await ctx.store.steps(group, steps, ttl)
  await Promise.all(
    parts.map(({ s, token, surface, at }) => {
      const flagCounters: string[] = []
      if (r[at + 1] === 1) flagCounters.push(FLAG.sightingUnits)
      if (r[at + 2] === 2) flagCounters.push(FLAG.sightingExposed)
      if (surface) flagCounters.push(...surfaceCounters(r, at + 4))
      return Promise.all([
        // Units per value carried, whatever order the values arrive in (a unit may carry two).
        r[at] === 1 ? bumpSeries(ctx, day, s.flag, series.sighting(token), [SIGHTING.units], nowMs) : null,
        flagCounters.length > 0 ? bumpFlag(ctx, day, s.flag, flagCounters, nowMs) : null,
      ])
    }),
  )
  // Claimed before counting: a claim on a sighting another event is still counting (or failed to
  // count) is taken back, so a later event of the unit asks again.
  if (!ctx.tagged) {
    for (const p of parts) if ((r[p.at] as number) < 1) memoDrop(ctx, p.s)
    return
  }
  const mine = parts.filter((p) => r[p.at] === 1)
  if (mine.length > 0) await ctx.store.steps(group, mine.map((p) => ({ field: p.field, set: CONFIRMED })), ttl)
  // Counted exactly once, the memo learns them now (elsewhere they were claimed before counting);
  // not those another event is still counting (or failed to count): its retry must find them.
  for (const p of parts) if ((r[p.at] as number) >= 1) memoAdd(ctx, p.s, nowMs)
}

/**
 * A flag (and its experiment's run) as the prefix of its fields in a unit's group of every flag:
 * a short id, so the group stays compact in Redis (fields of at most 64 bytes) however long the key.
 */
export function flagOfUnit(ctx: IngestContext, flag: string): string {
  const run = ctx.runOf(flag)
  return shortId(`${flag}\u0000${run?.startMs ?? ''}`)
}

/**
 * The unit is exposed to the flag for the first time: it meets the other sides in the unit's group
 * of every flag, `both` (carried and exposed) and the experiment's surface (see surfaceSteps).
 */
export async function exposedOnUnit(ctx: IngestContext, x: Exposure, surface: boolean, day: number, nowMs: number): Promise<void> {
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

/**
 * The experiment's surface, per unit: it carried a value of the flag, sent one of the experiment's
 * primary metric events, and was exposed. Each of the three sides adds to `r3` the first time it
 * becomes true, and the first two to `r2` as well: `r2` then reaches 2 (carried and sent: the unit
 * reached the surface) and `r3` reaches 3 (and exposed) exactly once, whatever order workers see the
 * sides in. The fields are the flag's (`f`) in the unit's group of every flag; these are the two
 * steps for a side that is not the exposure, on the step at `gate`.
 */
export function surfaceSteps(f: string, gate: number): Step[] {
  return [
    { field: `${f}|r2`, if: gate },
    { field: `${f}|r3`, if: gate },
  ]
}

/** The flag counters that surfaceSteps' results (from index `at`) make due. */
export function surfaceCounters(r: readonly number[], at: number): string[] {
  const out: string[] = []
  if (r[at] === 2) out.push(FLAG.reached)
  if (r[at + 1] === 3) out.push(FLAG.reachedExposed)
  return out
}

/** A primary metric event of an experiment: its unit reached the experiment's surface, exposed or not. */
export async function countSurfaceReached(ctx: IngestContext, e: ReadEvent, nowMs: number): Promise<void> {
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
