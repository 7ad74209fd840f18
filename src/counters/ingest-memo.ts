/**
 * The sightings memo: a unit's values this process already counted, so repeats cost no cache call.
 * The shared cache stays the source of truth: a worker that forgets simply asks again.
 */
import type { FlagSighting, VariantValue } from '../events/types.js'
import { type IngestContext, MEMO_TTL_MS, MEMO_UNITS } from './ingest-context.js'

/** A unit's sightings this process counted: by flag, the values (one, or several). */
export interface UnitMemo {
  until: number
  readonly flags: Map<string, VariantValue | VariantValue[]>
}

export function memoHas(ctx: IngestContext, s: FlagSighting, nowMs: number): boolean {
  const m = ctx.memo.get(s.unit)
  if (m === undefined || m.until <= nowMs) return false
  const seen = m.flags.get(s.flag)
  return seen === s.variant || (Array.isArray(seen) && seen.includes(s.variant))
}

export function memoAdd(ctx: IngestContext, s: FlagSighting, nowMs: number): void {
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

/** Takes a value back out of the memo: its event failed, so its retry must count it. */
export function memoDrop(ctx: IngestContext, s: FlagSighting): void {
  const m = ctx.memo.get(s.unit)
  const seen = m?.flags.get(s.flag)
  if (m === undefined || seen === undefined) return
  if (!Array.isArray(seen)) {
    if (seen === s.variant) m.flags.delete(s.flag)
    return
  }
  const rest = seen.filter((v) => v !== s.variant)
  if (rest.length === 1) m.flags.set(s.flag, rest[0] as VariantValue)
  else m.flags.set(s.flag, rest)
}

/**
 * Claims an event's sightings before they are counted, so events of the same unit that arrive
 * while they are (deliveries in flight together) cost no call for them. The claim is the memo
 * entry; when the event fails, its claims are dropped, and its retry counts them.
 */
export function claimSightings<T>(ctx: IngestContext, sightings: readonly FlagSighting[], nowMs: number, counting: () => Promise<T>): Promise<T> {
  for (const s of sightings) memoAdd(ctx, s, nowMs)
  return counting().then(undefined, (err: unknown) => {
    for (const s of sightings) memoDrop(ctx, s)
    throw err
  })
}
