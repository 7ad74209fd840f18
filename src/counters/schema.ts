/**
 * The counters' schema: every series and every field the writer (ingest.ts) bumps and the reader
 * (read.ts) reads, named once. A field renamed here is renamed for both; a name spelled apart in
 * one of them would silently read 0. The keys that hold these fields are built by keys.ts.
 *
 * A flag's day (KeyScheme.flagDay) holds:
 * - per series, `<series>:<field>`: the series of one exposure event and value, of one carried
 *   value (a sighting), or of one metric and the value its unit was exposed to;
 * - flag-level fields (FLAG), and the day's unit sample rate (RATE).
 * A project's day (KeyScheme.day) holds the rejections by reason and the redeliveries (DAY).
 */
import { EXPOSURE_KINDS, type ExposureKind, type LibClass, type RejectReason, type SliceDim } from '../events/types.js'
import { enc } from './keys.js'
import { LIBS } from './observation.js'

// `u`: an experiment's custom exposure event (a flag has one experiment, so one custom event).
export const KIND_TOKEN: Record<ExposureKind, string> = { $feature_flag_called: 'c', $experiment_exposure: 'x', custom: 'u' }
export const KIND_BY_TOKEN: ReadonlyMap<string, ExposureKind> = new Map(EXPOSURE_KINDS.map((e) => [KIND_TOKEN[e], e]))

/** The series' types: the first part of a series name, `<type>|...`. */
export const SERIES_TYPE = { exposure: 'e', sighting: 's', metric: 'm' } as const

/** Series: the counters that exist for one flag on one day, named so a reader can enumerate them. */
export const series = {
  exposure: (kind: ExposureKind, token: string) => `${SERIES_TYPE.exposure}|${KIND_TOKEN[kind]}|${token}`,
  sighting: (token: string) => `${SERIES_TYPE.sighting}|${token}`,
  metric: (name: string, token: string) => `${SERIES_TYPE.metric}|${enc(name)}|${token}`,
}

/** The fields of an exposure series (one exposure event, one value). */
export const EXPOSURE = {
  /** exposure events */
  events: 'ev',
  /** units whose first exposure of the flag had this value */
  units: 'units',
  /** units that saw this value and another */
  multi: 'multi',
  bootstrapped: 'boot',
  bootstrapMismatch: 'bootmis',
  bootstrapMismatchUnits: 'bmunits',
  locallyEvaluated: 'local',
  errored: 'err',
  /** `first_seen` experiments: units that saw this value first, and those that moved off it */
  firstSeen: 'fs',
  firstSeenOut: 'fsout',
  /** exposure events, and units, by library class */
  eventsByLib: (lib: LibClass) => `lib:${lib}`,
  unitsByLib: (lib: LibClass) => `ulib:${lib}`,
  /** units whose first exposure to this value came from this slice (`browser`, `Safari`); listed fields only */
  slice: (dim: SliceDim, value: string) => `${SLICE_PREFIX}${dim}:${value}`,
  /** units that saw a second value, by the slice of the exposure that brought it; listed fields only */
  multiSlice: (dim: SliceDim, value: string) => `${MULTI_SLICE_PREFIX}${dim}:${value}`,
  /** exposure events by SDK and minor version (the `sdk` slice: "web 1.130"); listed fields only */
  eventsBySdk: (sdk: string) => `${SDK_PREFIX}${sdk}`,
} as const

/** The prefix of a slice field of an exposure series (EXPOSURE.slice). */
export const SLICE_PREFIX = 'sl:'
/** The prefix of a slice of units that saw a second value (EXPOSURE.multiSlice). */
export const MULTI_SLICE_PREFIX = 'ml:'
/** The prefix of an exposure series' events by SDK (EXPOSURE.eventsBySdk). */
export const SDK_PREFIX = 'sd:'

/** Every field of an exposure series, as a reader lists them. */
export const EXPOSURE_FIELDS: readonly string[] = [
  EXPOSURE.events,
  EXPOSURE.units,
  EXPOSURE.multi,
  EXPOSURE.bootstrapped,
  EXPOSURE.bootstrapMismatch,
  EXPOSURE.bootstrapMismatchUnits,
  EXPOSURE.locallyEvaluated,
  EXPOSURE.errored,
  EXPOSURE.firstSeen,
  EXPOSURE.firstSeenOut,
  ...LIBS.map(EXPOSURE.eventsByLib),
  ...LIBS.map(EXPOSURE.unitsByLib),
]

/** The field of a sighting series: units that carried this value on their events. */
export const SIGHTING = { units: 'units' } as const
export const SIGHTING_FIELDS: readonly string[] = [SIGHTING.units]

/** The fields of a metric series: the metric's events among units exposed to this value. */
export const METRIC = {
  events: 'ev',
  /** events sent before the unit's exposure */
  beforeExposure: 'pre',
  units: 'units',
} as const
export const METRIC_FIELDS: readonly string[] = [METRIC.events, METRIC.beforeExposure, METRIC.units]

/** The fields a series of each type has. */
/** True when a series of this type has this field: a fixed one, or an exposure series' slice. */
export function isSeriesField(type: string, field: string): boolean {
  return fieldsOfSeries(type).includes(field) || (type === SERIES_TYPE.exposure && (field.startsWith(SLICE_PREFIX) || field.startsWith(SDK_PREFIX) || field.startsWith(MULTI_SLICE_PREFIX)))
}

export function fieldsOfSeries(type: string): readonly string[] {
  return type === SERIES_TYPE.exposure ? EXPOSURE_FIELDS : type === SERIES_TYPE.sighting ? SIGHTING_FIELDS : type === SERIES_TYPE.metric ? METRIC_FIELDS : []
}

/** A flag's own fields on a day. */
export const FLAG = {
  /** units that carried the flag (`$feature/<key>`) */
  sightingUnits: 'sunits',
  /** units that carried it and were exposed */
  sightingExposed: 'both',
  /** units that sent the experiment's metric while carrying a value (its surface), and those also exposed */
  reached: 'reach',
  reachedExposed: 'reachx',
  /** exposed units of an exposure event, and those that saw several values, whatever the value */
  units: (kind: ExposureKind) => `units|${KIND_TOKEN[kind]}`,
  multi: (kind: ExposureKind) => `multi|${KIND_TOKEN[kind]}`,
  /** exposed units that saw one value while anonymous and another once identified (`$is_identified`) */
  identityCrossed: (kind: ExposureKind) => `idx|${KIND_TOKEN[kind]}`,
} as const
export const FLAG_FIELDS: readonly string[] = [FLAG.sightingUnits, FLAG.sightingExposed, FLAG.reached, FLAG.reachedExposed, ...EXPOSURE_KINDS.flatMap((k) => [FLAG.units(k), FLAG.multi(k), FLAG.identityCrossed(k)])]

/** The unit sample rate a flag's day was counted at. */
export const RATE = 'rate'

/** A project's day: rejected events by reason, and redeliveries. */
export const DAY = {
  rejected: (reason: RejectReason) => `rej:${reason}`,
  redelivered: 'dup',
} as const
