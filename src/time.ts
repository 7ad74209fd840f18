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
