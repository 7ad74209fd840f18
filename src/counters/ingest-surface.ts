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
import { memoAdd } from './ingest-memo.js'

/** Sightings are idempotent per (unit, value): a redelivery or a repeat changes nothing. */
export async function countSighting(ctx: IngestContext, s: FlagSighting, ts: number, day: number, nowMs: number): Promise<void> {
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
