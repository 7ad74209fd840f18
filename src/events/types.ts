/** The two exposure events PostHog counts; an experiment uses exactly one of them, never both. */
export const EXPOSURE_EVENTS = ['$feature_flag_called', '$experiment_exposure'] as const
export type ExposureEvent = (typeof EXPOSURE_EVENTS)[number]

/**
 * How an exposure is counted: one of the two exposure events, or `custom`, an experiment's own
 * exposure event (its exposure criteria name another event, such as `$pageview`; the variant is that
 * event's `$feature/<flag key>`: exposure_query_logic.py `get_exposure_event_and_property`).
 */
export const EXPOSURE_KINDS = [...EXPOSURE_EVENTS, 'custom'] as const
export type ExposureKind = (typeof EXPOSURE_KINDS)[number]

/**
 * A flag response as the SDK sent it: a variant key (string), `true`/`false` for boolean flags,
 * `null` when the event carries none, a number when an SDK sent one. Values outside the flag's
 * variants are kept as they are: judging them needs the flag definition, which the reader does not have.
 */
export type VariantValue = string | boolean | number | null

/** Which kind of library evaluated the flag: PostHog's health check compares server-side first exposures. */
export type LibClass = 'client' | 'server' | 'unknown'

export interface Exposure {
  /** the exposure event, or `custom`: the experiment's own exposure event (see EXPOSURE_KINDS) */
  readonly event: ExposureKind
  readonly flag: string
  readonly variant: VariantValue
  /** The counting unit: person id, else distinct id; `$group_<index>:<key>` for group-aggregated flags. */
  readonly unit: string
  readonly lib: LibClass
  readonly bootstrapped: boolean
  /**
   * The page was bootstrapped with another value than this exposure's (posthog-js sends
   * `$feature_flag_bootstrapped_response` beside the server's `$feature_flag_response`).
   */
  readonly bootstrapMismatch: boolean
  readonly locallyEvaluated: boolean
  /** `$feature_flag_error` as the SDK sent it (posthog-node 5: `flag_missing`), or null when the evaluation did not fail. */
  readonly error: string | null
  /** Where the exposure came from (SDK and version, app version, browser, OS, device, country): a split is broken down by these. */
  readonly slices?: ExposureSlices
  /**
   * Whether the person was identified when it was sent (`$is_identified`, which posthog-js and the
   * mobile SDKs send): a unit exposed to one value while anonymous and another once identified
   * crossed variants at identify. Null when the SDK does not say, or for group-aggregated flags.
   */
  readonly identified?: boolean | null
}

/**
 * The dimensions a mismatched split is broken down by (issue 22): the SDK with its minor version
 * (`$lib` and `$lib_version`: "web 1.130"), `$app_version` (mobile SDKs), `$browser`, `$os`,
 * `$device_type`, `$geoip_country_code` (set by PostHog's GeoIP transformation at ingestion).
 */
export const SLICE_DIMS = ['sdk', 'app_version', 'browser', 'os', 'device', 'country'] as const
export type SliceDim = (typeof SLICE_DIMS)[number]
export type ExposureSlices = Readonly<Partial<Record<SliceDim, string>>>

/** A `$feature/<flag>` property on an event: the unit carries the flag, whether or not it was exposed. */
export interface FlagSighting {
  readonly flag: string
  readonly variant: VariantValue
  readonly unit: string
}

export interface MetricHit {
  readonly name: string
  readonly kind: 'goal' | 'guardrail' | 'counted'
  /** compiled HogQL filter the event must also match */
  readonly filter?: readonly unknown[]
}

/** What one event means for coverage; produced by `readEvent`, consumed by the counters. */
export interface ReadEvent {
  readonly uuid: string | null
  readonly event: string
  readonly timestampMs: number
  /** person id when present, else distinct id */
  readonly personUnit: string
  readonly groups: ReadonlyMap<string, string>
  readonly exposure: Exposure | null
  /**
   * The event is the custom exposure event of experiments (their exposure criteria name it): one
   * exposure per such flag whose `$feature/<key>` it carries. Several experiments may share one.
   */
  readonly customExposures: readonly Exposure[]
  readonly sightings: readonly FlagSighting[]
  readonly activeFlags: readonly string[]
  readonly metrics: readonly MetricHit[]
  /** Parts of the event that were dropped while the rest was kept, by reason. */
  readonly partialRejections: readonly RejectReason[]
}

/**
 * Why an event (or a part of it) was not counted. Counted per day and readable with the counters,
 * so a bad stream shows up in the report instead of silently shrinking it.
 */
export const REJECT_REASONS = [
  'not_an_object',
  'event_name_invalid',
  'properties_invalid',
  'unit_missing',
  'unit_invalid',
  'uuid_invalid',
  'timestamp_invalid',
  'timestamp_too_old',
  'timestamp_in_future',
  'flag_key_missing',
  'flag_key_not_string',
  'flag_key_invalid',
  'flag_key_unsafe',
  'variant_invalid',
  'group_key_missing',
  'sighting_invalid',
  // a `$groups` entry that cannot name a group (broken unicode, too long, unsafe), or one past the cap
  'group_invalid',
  // a HogQL backfill row whose flag is not a flag key (null, a number): skipped, never a flag "null"
  'backfill_row_invalid',
] as const
export type RejectReason = (typeof REJECT_REASONS)[number]

export type ReadResult = { readonly ok: true; readonly event: ReadEvent } | { readonly ok: false; readonly reason: RejectReason }
