import { DAY_MS, dayNumber } from '../time.js'
import type { Definitions, ExperimentDefinition } from './definitions.js'
import type { Settings } from '../settings/settings.js'

/**
 * An experiment's run as PostHog's experiment query runner counts it: exposures and metric events
 * from `start_date` to `end_date` (or now), whatever the lookback window says. Whole seconds, so the
 * live counters and the HogQL backfill (which compares `toDateTime` seconds) agree to the event.
 */
export interface ExperimentRun {
  /** first moment counted */
  readonly startMs: number
  /** last moment counted (inclusive), null while it runs */
  readonly endMs: number | null
}

/** The time a flag's numbers cover, as the report states it. */
export interface FlagWindow {
  readonly fromMs: number
  /** inclusive */
  readonly toMs: number
  /** `experiment`: the experiment's run; `lookback`: the rolling lookback of a flag without one */
  readonly basis: 'experiment' | 'lookback'
  /** the run is longer than `experimentMaxDays`: only its last days are counted */
  readonly truncated: boolean
}

function parseDate(s: string | null | undefined): number | null {
  if (!s) return null
  const ms = Date.parse(s)
  return Number.isFinite(ms) ? ms : null
}

/** The run of a launched experiment; null for a draft (no start date) or a deleted one. */
export function experimentRun(experiment: ExperimentDefinition | null | undefined): ExperimentRun | null {
  if (!experiment || experiment.deleted) return null
  const start = parseDate(experiment.start_date)
  if (start === null) return null
  const end = parseDate(experiment.end_date)
  return { startMs: Math.floor(start / 1000) * 1000, endMs: end === null ? null : Math.floor(end / 1000) * 1000 + 999 }
}

/** Each launched experiment's run by flag key (a deleted experiment never shadows a live one). */
export function experimentRuns(defs: Pick<Definitions, 'experiments'>): Map<string, ExperimentRun> {
  const out = new Map<string, ExperimentRun>()
  for (const e of defs.experiments) {
    const run = experimentRun(e)
    if (run) out.set(e.feature_flag_key, run)
  }
  return out
}

/** How many days of day buckets the counters keep: the longest window any flag may need. */
export function retentionDays(settings: Pick<Settings, 'lookbackDays' | 'experimentMaxDays'>): number {
  return Math.max(settings.lookbackDays, settings.experimentMaxDays)
}

/** True when a moment falls inside the run: what the counters count for an experiment's flag. */
export function inRun(run: ExperimentRun, ms: number): boolean {
  return ms >= run.startMs && (run.endMs === null || ms <= run.endMs)
}

/**
 * The window a flag is judged over: its experiment's run (cut to the last `experimentMaxDays`
 * whole UTC days the counters keep), or the rolling lookback for a flag without an experiment.
 */
export function flagWindow(run: ExperimentRun | null, settings: Pick<Settings, 'lookbackDays' | 'experimentMaxDays'>, nowMs: number): FlagWindow {
  const today = dayNumber(nowMs)
  if (!run) return { fromMs: (today - settings.lookbackDays + 1) * DAY_MS, toMs: nowMs, basis: 'lookback', truncated: false }
  const horizon = (today - settings.experimentMaxDays + 1) * DAY_MS
  const toMs = run.endMs === null ? nowMs : Math.min(run.endMs, nowMs)
  return { fromMs: Math.max(run.startMs, horizon), toMs, basis: 'experiment', truncated: run.startMs < horizon }
}

/** The first and last UTC day of a window whose day buckets hold its events. */
export function windowDays(w: FlagWindow): { first: number; last: number } {
  return { first: dayNumber(w.fromMs), last: dayNumber(w.toMs) }
}
