import type { IgnoreReason, IngestOutcome } from '../counters/ingest.js'

/** What a worker has tallied since it started: each event's outcome, and why ignored ones were. */
export interface EventTally {
  readonly outcomes: Readonly<Record<IngestOutcome | 'failed' | 'error', number>>
  readonly ignoredBy: Readonly<Record<IgnoreReason, number>>
}

export const NO_IGNORED: Readonly<Record<IgnoreReason, number>> = { no_flag_or_metric: 0, seen_or_unsampled: 0, before_watermark: 0, being_filled: 0 }

// In a person's words, in the order the line lists them.
const IGNORED_WHY: Record<IgnoreReason, string> = {
  no_flag_or_metric: 'carry no flag, exposure or metric event',
  seen_or_unsampled: "carry only flags already counted for their unit, or units outside the unit sample",
  before_watermark: 'are older than the backfill watermark, so the HogQL backfill counts them',
  being_filled: 'fall in a period being filled from HogQL, whose replay counts them',
}

export interface MinuteLine {
  /** debug when all is well (quiet at the default level); warn when events were rejected, lost or failed */
  readonly level: 'debug' | 'warn'
  readonly message: string
}

const n = (v: number) => v.toLocaleString('en-US')

/**
 * The minute's summary of one worker: what happened to the events since the last summary, and why
 * the ignored ones were ignored. Ignoring is normal (most events carry nothing to count), so the line
 * is a debug line unless an event was rejected, could not be counted (the cache) or met a fault;
 * the last two have warning lines of their own (runEveryMinute).
 */
export function minuteLine(flagsObserved: number, now: EventTally, before: EventTally): MinuteLine {
  const d = (k: keyof EventTally['outcomes']) => now.outcomes[k] - before.outcomes[k]
  const ignored = d('ignored')
  const why = (Object.keys(IGNORED_WHY) as IgnoreReason[])
    .map((r) => [r, now.ignoredBy[r] - before.ignoredBy[r]] as const)
    .filter(([, v]) => v > 0)
    .map(([r, v]) => `${n(v)} ${IGNORED_WHY[r]}`)
  const wrong = d('rejected') + d('failed') + d('error') > 0
  const parts = [
    `counted ${n(d('counted'))}`,
    `ignored ${n(ignored)}${why.length ? ` (${why.join('; ')})` : ''}`,
    `duplicates ${n(d('duplicate'))}`,
    `rejected ${n(d('rejected'))}${d('rejected') > 0 ? " (malformed: the report's events.rejected counts them by reason)" : ''}`,
  ]
  return { level: wrong ? 'warn' : 'debug', message: `experiment-coverage: ${n(flagsObserved)} flags observed; since the last minute this worker ${parts.join(', ')}` }
}

/** A copy of the tally as it is now, to compare the next minute with. */
export function snapshotTally(t: EventTally): EventTally {
  return { outcomes: { ...t.outcomes }, ignoredBy: { ...t.ignoredBy } }
}
