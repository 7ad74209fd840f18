import type { ExposureKind, LibClass, RejectReason, VariantValue } from '../events/types.js'

/**
 * What the counters know about one flag over the lookback window: the data model the checks read.
 * A check never knows where a number came from; `source` says it (live counters or a backfill).
 */
export interface LibCounts {
  client: number
  server: number
  unknown: number
}

export interface VariantExposure {
  /** The response as sent: a variant key, true/false, null when the event had none. */
  readonly value: VariantValue
  exposures: number
  /** Distinct units whose exposures included this value. */
  units: number
  /** Of those units, how many also saw another value (PostHog's `$multiple`). */
  multipleVariantUnits: number
  /**
   * Units whose earliest exposure had this value: the variant PostHog's `first_seen` handling puts
   * them in (a unit counts in one value only). Counted for `first_seen` experiments; absent where
   * the source did not count it.
   */
  firstSeenUnits?: number
  /** Exposure events by the kind of library that sent them. */
  exposuresByLib: LibCounts
  /**
   * Units with at least one exposure to this value from each kind of library. PostHog's health
   * check reads the library of each unit's first exposure; "first" depends on arrival order across
   * workers, so the counters keep this exact superset instead (a unit exposed by both counts in both).
   */
  unitsByLib: LibCounts
  bootstrapped: number
  /** Exposure events whose page was bootstrapped with another value, and their distinct units. */
  bootstrapMismatch: number
  bootstrapMismatchUnits: number
  locallyEvaluated: number
  errored: number
  /**
   * Units by the slice of their first exposure to this value (`browser:Safari`, `sdk:web 1.130`:
   * SLICE_DIMS); absent where the source did not count them (one cache key per field).
   */
  slices?: Record<string, number>
}

export interface ExposureObservation {
  /** the exposure event counted, or `custom`: the experiment's own exposure event */
  readonly event: ExposureKind
  exposures: number
  /** Distinct units (each counted once, whatever it saw). */
  units: number
  /** Distinct units that saw more than one value. */
  multipleVariantUnits: number
  /**
   * Of those, the units that saw one value while anonymous and another once identified
   * (`$is_identified` on their exposures): the flag was evaluated for the anonymous id and again
   * after identify. Absent where the source did not count it.
   */
  identityCrossedUnits?: number
  variants: VariantExposure[]
  /** Exposure events per UTC day (YYYY-MM-DD): the live counters' day buckets, or the backfill's days. */
  byDay?: Record<string, number>
  /** The same by the kind of library that sent them: which libraries stopped (exposure_stall). */
  byDayByLib?: Record<string, LibCounts>
  /**
   * The first UTC day each slice (`browser:Safari`) had a unit's first exposure, where the source
   * counted slices: a mismatch in that slice is no older (the date an annotation marks).
   */
  sliceFirstDay?: Record<string, string>
  /** Units that saw a second value, by the slice (`browser:Safari`) of the exposure that brought it, where counted. */
  multipleSlices?: Record<string, number>
  /** The same by SDK and minor version ("web 1.130"), where the source counted it: which SDK stopped. */
  byDayBySdk?: Record<string, Record<string, number>>
}

export interface SightingObservation {
  /** Distinct units whose events carried `$feature/<flag>`. */
  units: number
  /** Of those, units that also sent an exposure event (of either kind). */
  unitsExposed: number
  /** Units per value carried; a unit that carried two values counts in both. */
  variants: { readonly value: VariantValue; units: number }[]
  /**
   * Units that reached the experiment's surface: they carried a value of the flag (not `false`)
   * and sent one of the experiment's primary metric events inside its run. Counted only for flags
   * whose experiment documents a metric; 0 elsewhere.
   */
  reached: number
  /** Of those, the units that were exposed: the rest did what the experiment measures and are missing from it. */
  reachedExposed: number
}

export interface MetricObservation {
  readonly name: string
  /**
   * Events and distinct units of units exposed to each value in the window (a unit that saw two
   * values counts in both), and how many of the events came before the unit's exposure, which
   * PostHog's experiment query would not count.
   */
  variants: { readonly value: VariantValue; events: number; units: number; eventsBeforeExposure: number }[]
  /** Its events from exposed units per UTC day, every value together: the live counters' day buckets; absent from the backfill. */
  byDay?: Record<string, number>
}

export interface FlagObservation {
  readonly flag: string
  /** live counters, or the HogQL backfill */
  readonly source: 'live' | 'backfill'
  firstDay: string
  lastDay: string
  /** Lowest unit sample rate in force over the window; unit counts are scaled by it. */
  sampleRate: number
  /** True when unit counts are estimates (a sample rate below 1 was in force). */
  estimated: boolean
  exposure: Partial<Record<ExposureKind, ExposureObservation>>
  sightings: SightingObservation
  metrics: MetricObservation[]
  /** Series not listed because a flag exceeded the per-day cap (e.g. thousands of junk values). */
  unlistedSeries: number
}

export interface Observations {
  readonly schema: 'experiment-coverage/observations@1'
  readonly project: string
  readonly generatedAt: string
  readonly window: { readonly from: string; readonly to: string; readonly days: number }
  flags: FlagObservation[]
  rejections: Partial<Record<RejectReason, number>>
  duplicates: number
  /** Flags not listed because a day exceeded the flag cap. */
  unlistedFlags: number
}

export const LIBS: readonly LibClass[] = ['client', 'server', 'unknown']

/**
 * Fills in what observations stored by an earlier version do not have (the bootstrap mismatch and
 * surface counts): none counted. Storage outlives upgrades; a missing number must not become NaN.
 */
export function withCurrentFields(f: FlagObservation): FlagObservation {
  f.sightings.reached ??= 0
  f.sightings.reachedExposed ??= 0
  for (const exp of Object.values(f.exposure)) {
    for (const v of exp?.variants ?? []) {
      v.bootstrapMismatch ??= 0
      v.bootstrapMismatchUnits ??= 0
    }
  }
  return f
}

/** An observation with nothing counted yet: the one builder the counters, the backfill and the merge share. */
export function emptyFlagObservation(flag: string, source: FlagObservation['source'], firstDay: string, lastDay: string): FlagObservation {
  return {
    flag,
    source,
    firstDay,
    lastDay,
    sampleRate: 1,
    estimated: false,
    exposure: {},
    sightings: { units: 0, unitsExposed: 0, variants: [], reached: 0, reachedExposed: 0 },
    metrics: [],
    unlistedSeries: 0,
  }
}
