/**
 * Time in days, as every part counts it: UTC days, numbered from the epoch. Counters are bucketed
 * by the event's own timestamp; windows, reports and the simulator use the same days.
 */
export const DAY_MS = 86_400_000
export const HOUR_MS = 3_600_000

/** The UTC day number of a time. */
export function dayNumber(ms: number): number {
  return Math.floor(ms / DAY_MS)
}

/** A day number as its date, YYYY-MM-DD. */
export function dayLabel(day: number): string {
  return new Date(day * DAY_MS).toISOString().slice(0, 10)
}

/**
 * A long piece of work done in slices: each call resolves at once until `sliceMs` have passed since
 * the event loop's last turn, then after a turn (setImmediate, or setTimeout where there is none:
 * plugin-server's VM). Awaited between the steps of a loop, it lets the host's intake answer while
 * a review reads its counters and judges its flags. The wall clock: the VM has no `performance`.
 */
export function pacer(sliceMs: number): () => Promise<void> {
  let turnAt = Date.now()
  return async () => {
    if (Date.now() - turnAt < sliceMs) return
    await new Promise<void>((r) => (typeof setImmediate === 'function' ? setImmediate(r) : setTimeout(r, 0)))
    turnAt = Date.now()
  }
}
