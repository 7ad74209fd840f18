import { dt, list, lit } from '../hog/literals.js'
import { experimentsByFlag, exposureCriterionOf, ownValues, type Definitions, type ExperimentDefinition, type FlagDefinition } from '../definitions/definitions.js'
import { exposureFilters, surfaceMetrics } from '../definitions/audit-config.js'
import { configuredGoals, type MetricMatcher } from '../settings/settings.js'
import { CLIENT_LIBS, SDK_SLICE_HOGQL, SERVER_LIBS } from '../events/lib-class.js'
import { QUERY_ROW_LIMIT } from './client.js'

/**
 * The backfill's HogQL: aggregated queries (ClickHouse does the work; no raw event is paged) that
 * compute, per flag and value over the lookback window, what the live counters count as events
 * arrive. Many flags per query; each query has an explicit LIMIT. The rules mirror the counters':
 * values outside a flag's variants count as exposure events but not as units; a unit with several
 * values counts in each and once as `$multiple`; goal events count for units exposed to the value.
 */
export type BackfillKind = 'exposures' | 'exposure_days' | 'units' | 'sightings' | 'metrics' | 'reach' | 'group_key_missing' | 'unlisted'

export interface BackfillQuery {
  readonly name: string
  readonly kind: BackfillKind
  readonly hogql: string
  readonly flags: readonly string[]
  /** `person_id`, or the `$group_N` column for group-aggregated flags */
  readonly unitColumn: string
  readonly metrics: readonly MetricMatcher[]
  /** The project's test-account filters apply (`{filters}` in every read of events). */
  readonly filterTestAccounts: boolean
  /** A share of the units: those whose hash modulo `of` is `index` (a query split to fit PostHog's limits). */
  readonly part?: UnitPart
}

/**
 * Units are split by a hash of the unit, never by time: a unit's counts (distinct units, first
 * exposure, metric events after it) need all its events in one query, and the parts of disjoint
 * units add up exactly.
 */
export interface UnitPart {
  readonly index: number
  readonly of: number
}

export interface PlanOptions {
  readonly filterTestAccounts?: boolean
  readonly batchSize?: number
  /** Flags per sightings and reach query (SCAN_FLAGS_PER_QUERY) */
  readonly scanBatchSize?: number
  /** The finest split of one flag's units (MAX_UNIT_PARTS) */
  readonly maxUnitParts?: number
  /** Flags the exposures name that the flag list does not have (unlistedFlagsQuery): counted by their key alone. */
  readonly unlisted?: readonly string[]
}

/** Events with `fromMs <= timestamp < toMs`; both whole seconds, as HogQL's toDateTime reads them. */
export interface TimeRange {
  readonly fromMs: number
  readonly toMs: number
}

/**
 * The lookback range of flags without an experiment, and each experiment's own run (cut at the
 * watermark), so an experiment's numbers cover its whole run as PostHog's experiment page counts it.
 */
export interface BackfillWindow extends TimeRange {
  readonly byFlag?: ReadonlyMap<string, TimeRange>
}

/** The range one flag's events are counted over. */
export function rangeOf(w: BackfillWindow, flag: string): TimeRange {
  return w.byFlag?.get(flag) ?? w
}

/** PostHog answers 240 requests a minute and 10 s of execution per query: batches keep both in bounds. */
export const FLAGS_PER_QUERY = 50
/**
 * Sightings and reach read every event of the window (the flags it carries), not only exposures:
 * measured on 2 million events (npm run bench:clickhouse), 50 flags a query took over a minute on
 * two cores, 6 to 7 flags 5 to 9 s. Ten a query keeps them near PostHog's 10-second limit for a
 * project of that size; larger ones run asynchronously, and a query that still hits a limit is split.
 */
export const SCAN_FLAGS_PER_QUERY = 10


/** The raw JSON of the response, as the reader reads it: `$feature/<key>` stands in on a custom `$experiment_exposure`. */
const RESPONSE = `if(JSONHas(properties, '$feature_flag_response'), JSONExtractRaw(properties, '$feature_flag_response'), if(event = '$experiment_exposure' AND JSONHas(properties, concat('$feature/', properties.$feature_flag)), JSONExtractRaw(properties, concat('$feature/', properties.$feature_flag)), 'null'))`

/** The values a flag counts units for, as raw JSON: its variant keys, or true/false. */
export function countedRawValues(flag: FlagDefinition, experiment: ExperimentDefinition | null = null): string[] {
  return ownValues(flag, experiment).map((v) => JSON.stringify(v))
}

/** What every query of a plan reads besides its flags: exposure criteria filters, each flag's experiment. */
interface PlanContext {
  readonly filters: ReadonlyMap<string, string>
  readonly experiments: ReadonlyMap<string, ExperimentDefinition>
  readonly unlisted: ReadonlySet<string>
  /** flag -> the custom exposure event its experiment counts (exposureCriterionOf) */
  readonly customEvents: ReadonlyMap<string, string>
}

/** A flag's own values (its variants, and an experiment's holdout) count units; others do not. Every value of an unlisted flag counts. */
function validity(flags: readonly FlagDefinition[], ctx: PlanContext): string {
  const cases = flags.flatMap((f) => [`flag = ${lit(f.key)}`, ctx.unlisted.has(f.key) ? '1' : `value IN ${list(countedRawValues(f, ctx.experiments.get(f.key) ?? null))}`])
  return cases.length ? `multiIf(${cases.join(', ')}, 0)` : '0'
}

/** The outer bounds of a batch: every range of its flags lies inside. */
function outerRange(flags: readonly FlagDefinition[], w: BackfillWindow): TimeRange {
  const ranges = flags.map((f) => rangeOf(w, f.key))
  return { fromMs: Math.min(...ranges.map((r) => r.fromMs)), toMs: Math.max(...ranges.map((r) => r.toMs)) }
}

/**
 * A UTC day, as the live counters keep days. PostHog shows `timestamp` in the project's time zone,
 * so a bare `toDate(timestamp)` is the project's local day (posthog/hogql/printer: toTimeZone(
 * events.timestamp, team.timezone)), and a project outside UTC would get other first and last days.
 */
const utcDay = (ts: string) => `toDate(toTimeZone(${ts}, 'UTC'))`

const between = (ts: string, r: TimeRange) => `${ts} >= ${dt(r.fromMs)} AND ${ts} < ${dt(r.toMs)}`

/** Each flag's own range (`flagExpr` names the flag in the row): a multiIf when the batch has experiments. */
function rangeCondition(flags: readonly FlagDefinition[], w: BackfillWindow, flagExpr: string, ts: string): string {
  const own = flags.filter((f) => w.byFlag?.has(f.key))
  if (own.length === 0) return between(ts, w)
  return `multiIf(${own.flatMap((f) => [`${flagExpr} = ${lit(f.key)}`, `(${between(ts, rangeOf(w, f.key))})`]).join(', ')}, (${between(ts, w)}))`
}

/**
 * What every read of events starts with: the project's test-account filters (`{filters}`, which
 * PostHog fills from the request's `filterTestAccounts`: posthog/hogql/filters.py; without the
 * placeholder a query counts internal users) and, in a split query, its share of the units.
 */
function eventsWhere(unitColumn: string, part: UnitPart | undefined): string {
  const share = part && part.of > 1 ? ` AND cityHash64(toString(${unitColumn})) % ${part.of} = ${part.index}` : ''
  return `{filters}${share}`
}

/** Each experiment's exposure criteria filters, by the flag `flagExpr` names: the same HogQL the ingest compiles. */
function criteriaCondition(flags: readonly FlagDefinition[], ctx: PlanContext, flagExpr: string): string {
  const filtered = flags.filter((f) => ctx.filters.has(f.key))
  return filtered.length ? `multiIf(${filtered.flatMap((f) => [`${flagExpr} = ${lit(f.key)}`, `(${ctx.filters.get(f.key)})`]).join(', ')}, 1)` : 'true'
}

function exposureWhere(flags: readonly FlagDefinition[], unitColumn: string, w: BackfillWindow, ctx: PlanContext, part: UnitPart | undefined, missingUnit = false): string {
  const criteria = criteriaCondition(flags, ctx, 'properties.$feature_flag')
  return [
    eventsWhere(unitColumn, part),
    criteria,
    `event IN ('$feature_flag_called', '$experiment_exposure')`,
    between('timestamp', outerRange(flags, w)),
    `properties.$feature_flag IN ${list(flags.map((f) => f.key))}`,
    rangeCondition(flags, w, 'properties.$feature_flag', 'timestamp'),
    unitColumn === 'person_id' ? 'true' : missingUnit ? `${unitColumn} = ''` : `${unitColumn} != ''`,
  ].join(' AND ')
}

/**
 * Exposures of group-aggregated flags that name no group of the flag's type: not counted, and
 * told apart as the reader tells them (`group_key_missing`).
 */
function groupKeyMissingQuery(flags: readonly FlagDefinition[], unit: string, w: BackfillWindow, ctx: PlanContext): string {
  return `SELECT flag, count() AS group_key_missing
FROM ${exposureSource(flags, unit, w, ctx, undefined, true)}
GROUP BY flag
LIMIT ${QUERY_ROW_LIMIT}`
}

/** The most flags outside the flag list an audit reads: a project calling more has bigger problems. */
export const MAX_UNLISTED_FLAGS = 200

/**
 * The flags exposures name that the flag list does not have (deleted, or from another project),
 * over the lookback: the live counters count them, and the report names them.
 */
export function unlistedFlagsQuery(defs: Pick<Definitions, 'flags'>, w: TimeRange): string {
  const listed = defs.flags.filter((f) => !f.deleted).map((f) => f.key)
  return `SELECT properties.$feature_flag AS flag, count() AS exposures
FROM events WHERE {filters} AND event IN ('$feature_flag_called', '$experiment_exposure') AND ${between('timestamp', w)} AND notEmpty(ifNull(properties.$feature_flag, ''))${listed.length ? ` AND properties.$feature_flag NOT IN ${list(listed)}` : ''}
GROUP BY flag
ORDER BY exposures DESC, flag ASC
LIMIT ${MAX_UNLISTED_FLAGS}`
}

/** A flag known only by its key: every value it is called with counts, as the live counters count them. */
function unlistedFlag(key: string): FlagDefinition {
  return { id: -1, key, name: '', active: false, deleted: true, filters: { groups: [], multivariate: null, aggregation_group_type_index: null } } as unknown as FlagDefinition
}

/** posthog-js sends the bootstrapped value beside the server's (null when nothing was bootstrapped); raw JSON keeps types apart. */
const BOOT_MISMATCH = `JSONExtractRaw(properties, '$feature_flag_bootstrapped_response') NOT IN ('', 'null') AND JSONExtractRaw(properties, '$feature_flag_bootstrapped_response') != ${RESPONSE}`

/**
 * A property that is JSON `true`, read from the raw JSON: `properties.x = true` prints as a
 * Nullable(String) compared with 1 where x has no Boolean definition, and ClickHouse refuses it
 * ("There is no supertype for types String, UInt8"; posthog/hogql/transforms/property_types.py).
 * The raw text is the same whatever the definition says, and it is what the reader counts (=== true).
 */
const RAW_TRUE = (name: string) => `JSONExtractRaw(properties, ${lit(name)}) = 'true'`

const LIB = `multiIf(properties.$lib IN ${list([...CLIENT_LIBS])}, 'client', properties.$lib IN ${list([...SERVER_LIBS])}, 'server', 'unknown')`

/**
 * Whether the person was identified when the exposure was sent: `$is_identified` as raw JSON
 * ('true', 'false', or '' when the SDK does not send it), as the counters read it; '' for
 * group-aggregated flags, whose unit is a group.
 */
function identOf(unit: string): string {
  return unit === 'person_id' ? "JSONExtractRaw(properties, '$is_identified')" : "''"
}

/**
 * Every exposure of the batch's flags, one row each: (flag, event, value, lib, bootstrapped,
 * boot_mismatch, local, errored, unit, timestamp). `$feature_flag_called` and `$experiment_exposure`
 * name their flag; an experiment whose exposure criteria name another event (a custom exposure
 * event, `$pageview` say) is exposed by that event, its variant the event's `$feature/<flag key>`
 * and no `$feature_flag` asked for (posthog/hogql_queries/experiments/exposure_query_logic.py,
 * experiment_query_builder.py); those rows are of the event `custom`, as the counters keep them.
 * `missingUnit`: the exposures of group-aggregated flags that name no group, instead.
 */
function exposureSource(flags: readonly FlagDefinition[], unit: string, w: BackfillWindow, ctx: PlanContext, part: UnitPart | undefined, missingUnit = false): string {
  const standard = `SELECT properties.$feature_flag AS flag, event AS event, ${RESPONSE} AS value, ${LIB} AS lib, ${RAW_TRUE('$used_bootstrap_value')} AS bootstrapped, ${BOOT_MISMATCH} AS boot_mismatch, ${RAW_TRUE('locally_evaluated')} AS local, notEmpty(ifNull(toString(properties.$feature_flag_error), '')) AS errored, ${unit} AS unit, timestamp AS timestamp, ${identOf(unit)} AS ident, ${SDK_SLICE_HOGQL} AS sdk
  FROM events WHERE ${exposureWhere(flags, unit, w, ctx, part, missingUnit)}`
  const custom = flags.filter((f) => ctx.customEvents.has(f.key))
  if (custom.length === 0) return `(${standard})`
  const byEvent = new Map<string, string[]>()
  for (const f of custom) byEvent.set(ctx.customEvents.get(f.key)!, [...(byEvent.get(ctx.customEvents.get(f.key)!) ?? []), f.key])
  const flagsOf = `multiIf(${[...byEvent].flatMap(([event, keys]) => [`event = ${lit(event)}`, `[${keys.map(lit).join(', ')}]`]).join(', ')}, [])`
  const criteria = criteriaCondition(custom, ctx, 'flag')
  const unitCondition = unit === 'person_id' ? '' : missingUnit ? ` AND ${unit} = ''` : ` AND ${unit} != ''`
  return `(${standard}
  UNION ALL
  SELECT flag, 'custom' AS event, value, lib, 0 AS bootstrapped, 0 AS boot_mismatch, 0 AS local, 0 AS errored, unit, timestamp, ident, sdk
  FROM (SELECT arrayJoin(${flagsOf}) AS flag, JSONExtractRaw(properties, concat('$feature/', flag)) AS value, ${LIB} AS lib, ${unit} AS unit, timestamp AS timestamp, ${identOf(unit)} AS ident, ${SDK_SLICE_HOGQL} AS sdk, ${criteria} AS passes
    FROM events WHERE ${eventsWhere(unit, part)} AND event IN ${list([...byEvent.keys()])} AND ${between('timestamp', outerRange(custom, w))}${unitCondition})
  WHERE value NOT IN ('', 'null') AND passes AND ${rangeCondition(custom, w, 'flag', 'timestamp')})`
}

function exposuresQuery(flags: readonly FlagDefinition[], unit: string, w: BackfillWindow, ctx: PlanContext, part?: UnitPart): string {
  return `SELECT flag, event, value, lib, count() AS exposures, countIf(bootstrapped) AS bootstrapped, countIf(boot_mismatch) AS bootstrap_mismatch, count(DISTINCT if(boot_mismatch, unit, NULL)) AS bootstrap_mismatch_units, countIf(local) AS locally_evaluated, countIf(errored) AS errored, count(DISTINCT unit) AS units, min(${utcDay('timestamp')}) AS first_day, max(${utcDay('timestamp')}) AS last_day
FROM ${exposureSource(flags, unit, w, ctx, part)}
GROUP BY flag, event, value, lib
LIMIT ${QUERY_ROW_LIMIT}`
}

/** Exposure events per UTC day, library class and SDK with its minor version: when exposures stopped or fell, and which SDKs stopped (exposure_stall). */
function exposureDaysQuery(flags: readonly FlagDefinition[], unit: string, w: BackfillWindow, ctx: PlanContext, part?: UnitPart): string {
  return `SELECT flag, event, ${utcDay('timestamp')} AS day, lib, sdk, count() AS exposures
FROM ${exposureSource(flags, unit, w, ctx, part)}
GROUP BY flag, event, day, lib, sdk
LIMIT ${QUERY_ROW_LIMIT}`
}

function unitsQuery(flags: readonly FlagDefinition[], unit: string, w: BackfillWindow, ctx: PlanContext, part?: UnitPart): string {
  // One row per (flag, event, value) and, under the value '*', one per (flag, event): distinct
  // units and those seen with more than one value.
  // first_seen_units: the units whose earliest exposure had the value (argMin(variant, timestamp)
  // among the flag's own values: PostHog's `first_seen` handling, experiment_query_builder.py).
  // identity_crossed_units: of those, the units exposed to one value while anonymous and another once
  // identified ($is_identified), as the counters count them.
  return `SELECT flag, event, value, count() AS units, countIf(n > 1) AS multiple_units, countIf(crossed) AS identity_crossed_units, countIf(first_value = value) AS first_seen_units
FROM (SELECT flag, event, unit, groupUniqArray(value) AS vals, length(vals) AS n, argMin(value, timestamp) AS first_value,
    groupUniqArrayIf(value, ident = 'false') AS anon_vals, groupUniqArrayIf(value, ident = 'true') AS known_vals,
    notEmpty(anon_vals) AND notEmpty(known_vals) AND NOT (length(anon_vals) = 1 AND length(known_vals) = 1 AND has(known_vals, anon_vals[1])) AS crossed
  FROM ${exposureSource(flags, unit, w, ctx, part)}
  WHERE ${validity(flags, ctx)}
  GROUP BY flag, event, unit)
ARRAY JOIN arrayPushBack(vals, '*') AS value
GROUP BY flag, event, value
LIMIT ${QUERY_ROW_LIMIT}`
}

/**
 * One row per flag of the batch an event carries (`$feature/<key>`): the event's keys are read once
 * (JSONExtractKeys) and only the flags it carries are extracted, instead of every flag of the batch
 * on every event (a whole JSON parse each: 50 a row on a batch of 50 flags).
 */
function carriedFlag(flags: readonly FlagDefinition[]): string {
  return `arrayJoin(arrayMap(k -> substring(k, ${FEATURE_PREFIX.length + 1}, length(k)), arrayFilter(k -> has([${flags.map((f) => lit(`${FEATURE_PREFIX}${f.key}`)).join(', ')}], k), JSONExtractKeys(properties))))`
}

const FEATURE_PREFIX = '$feature/'

function sightingsQuery(flags: readonly FlagDefinition[], unit: string, w: BackfillWindow, ctx: PlanContext, part?: UnitPart): string {
  // Units whose events carry $feature/<key>, per value and (under '*') per flag; and of those,
  // the ones exposed with one of the flag's values by either exposure event. Days are the days a
  // unit first carried each value, as the counters record them.
  return `SELECT flag, value, count() AS units, countIf(exposed) AS units_exposed, min(first_day) AS first_day, max(last_day) AS last_day
FROM (SELECT s.flag AS flag, s.vals AS vals, s.first_day AS first_day, s.last_day AS last_day, notEmpty(x.unit) AS exposed
  FROM (SELECT flag, unit, groupUniqArray(value) AS vals, min(first_seen) AS first_day, max(first_seen) AS last_day
    FROM (SELECT flag, unit, value, min(day) AS first_seen
      FROM (SELECT ${carriedFlag(flags)} AS flag, JSONExtractRaw(properties, concat('$feature/', flag)) AS value, ${unit} AS unit, ${utcDay('timestamp')} AS day, timestamp AS ts
        FROM events WHERE ${eventsWhere(unit, part)} AND ${between('timestamp', outerRange(flags, w))}${unit === 'person_id' ? '' : ` AND ${unit} != ''`})
      WHERE notEmpty(value) AND ${rangeCondition(flags, w, 'flag', 'ts')}
      GROUP BY flag, unit, value)
    GROUP BY flag, unit) AS s
  LEFT JOIN (SELECT DISTINCT flag, unit FROM ${exposureSource(flags, unit, w, ctx, part)} WHERE ${validity(flags, ctx)}) AS x ON x.flag = s.flag AND x.unit = s.unit)
ARRAY JOIN arrayPushBack(vals, '*') AS value
GROUP BY flag, value
LIMIT ${QUERY_ROW_LIMIT}`
}

function metricsQuery(flags: readonly FlagDefinition[], unit: string, w: BackfillWindow, ctx: PlanContext, metrics: readonly MetricMatcher[], part?: UnitPart): string {
  // Each metric event once per matcher it matches (the same HogQL filter the plugin compiles).
  const matched = metrics.map((m) => `if(event = ${lit(m.event)}${m.filter ? ` AND (${m.filter})` : ''}, ${lit(m.name)}, '')`)
  // events_by_day: the metric's events per UTC day, as the counters' day buckets keep them (a silent metric: exposure_stall).
  return `SELECT x.flag AS flag, x.value AS value, m.metric AS metric, count() AS events, count(DISTINCT m.unit) AS units, countIf(m.ts < x.first_ts) AS events_before_exposure, min(${utcDay('m.ts')}) AS first_day, max(${utcDay('m.ts')}) AS last_day, sumMap([${utcDay('m.ts')}], [1]) AS events_by_day
FROM (SELECT flag, value, unit, min(timestamp) AS first_ts
  FROM ${exposureSource(flags, unit, w, ctx, part)}
  WHERE ${validity(flags, ctx)}
  GROUP BY flag, value, unit) AS x
JOIN (SELECT arrayJoin(arrayFilter(name -> notEmpty(name), [${matched.join(', ')}])) AS metric, ${unit} AS unit, timestamp AS ts
  FROM events WHERE ${eventsWhere(unit, part)} AND event IN ${list([...new Set(metrics.map((m) => m.event))])} AND ${between('timestamp', outerRange(flags, w))}) AS m ON m.unit = x.unit
WHERE ${rangeCondition(flags, w, 'x.flag', 'm.ts')}
GROUP BY x.flag, x.value, m.metric
LIMIT ${QUERY_ROW_LIMIT}`
}

/**
 * Units that reached an experiment's surface (carried a value of its flag and sent one of its
 * primary metric events, inside its run), and of those the ones exposed: what the counters' surface
 * join counts. `surface` maps each flag to its matchers.
 */
function reachQuery(flags: readonly FlagDefinition[], unit: string, w: BackfillWindow, ctx: PlanContext, surface: ReadonlyMap<string, readonly MetricMatcher[]>, part?: UnitPart): string {
  const measured = flags.filter((f) => surface.has(f.key))
  const matches = (ms: readonly MetricMatcher[]) => ms.map((m) => `(event = ${lit(m.event)}${m.filter ? ` AND (${m.filter})` : ''})`).join(' OR ')
  const events = [...new Set(measured.flatMap((f) => surface.get(f.key)!.map((m) => m.event)))]
  const groupOnly = unit === 'person_id' ? '' : ` AND ${unit} != ''`
  return `SELECT s.flag AS flag, count() AS units, countIf(notEmpty(x.unit)) AS units_exposed
FROM (SELECT DISTINCT flag, unit
  FROM (SELECT ${carriedFlag(measured)} AS flag, JSONExtractRaw(properties, concat('$feature/', flag)) AS value, ${unit} AS unit, timestamp AS ts
    FROM events WHERE ${eventsWhere(unit, part)} AND ${between('timestamp', outerRange(measured, w))}${groupOnly})
  WHERE value NOT IN ('', 'false', 'null') AND ${rangeCondition(measured, w, 'flag', 'ts')}) AS s
JOIN (SELECT DISTINCT flag, unit
  FROM (SELECT arrayJoin(arrayFilter(name -> notEmpty(name), [${measured.map((f) => `if(${matches(surface.get(f.key)!)}, ${lit(f.key)}, '')`).join(', ')}])) AS flag, ${unit} AS unit, timestamp AS ts
    FROM events WHERE ${eventsWhere(unit, part)} AND event IN ${list(events)} AND ${between('timestamp', outerRange(measured, w))}${groupOnly})
  WHERE ${rangeCondition(measured, w, 'flag', 'ts')}) AS m ON m.flag = s.flag AND m.unit = s.unit
LEFT JOIN (SELECT DISTINCT flag, unit FROM ${exposureSource(measured, unit, w, ctx, part)} WHERE ${validity(measured, ctx)}) AS x ON x.flag = s.flag AND x.unit = s.unit
GROUP BY flag
LIMIT ${QUERY_ROW_LIMIT}`
}

/** The finest split: past this a query that still does not fit is reported, not split further. */
export const MAX_UNIT_PARTS = 64
// Each split of the units divides them in four: a query over 10 s on PostHog's 10-second limit for
// personal API keys fits after one or two splits.
const PART_FACTOR = 4

/**
 * Plans a backfill's queries and splits one that did not fit PostHog's limits (a timeout or the
 * memory limit): a batch of flags into two halves first, then one flag's units into shares.
 */
export interface BackfillPlanner {
  readonly queries: readonly BackfillQuery[]
  split(q: BackfillQuery): BackfillQuery[] | null
}

/**
 * The queries of one backfill: per batch of flags counted by the same unit, exposures, units,
 * sightings and (with goal or guardrail events) metrics. Grows with flags / FLAGS_PER_QUERY.
 */
export function planBackfill(defs: Definitions, metrics: readonly MetricMatcher[], w: BackfillWindow, opts: PlanOptions | number = {}): BackfillQuery[] {
  return [...backfillPlanner(defs, metrics, w, typeof opts === 'number' ? { batchSize: opts } : opts).queries]
}

export function backfillPlanner(defs: Definitions, metrics: readonly MetricMatcher[], w: BackfillWindow, opts: PlanOptions = {}): BackfillPlanner {
  const batchSize = opts.batchSize ?? FLAGS_PER_QUERY
  const scanBatchSize = opts.scanBatchSize ?? SCAN_FLAGS_PER_QUERY
  const filterTestAccounts = opts.filterTestAccounts ?? false
  const listed = new Set(defs.flags.filter((x) => !x.deleted).map((f) => f.key))
  const unlisted = [...new Set(opts.unlisted ?? [])].filter((k) => !listed.has(k))
  const experiments = experimentsByFlag(defs.experiments)
  const customEvents = new Map<string, string>()
  for (const [flag, e] of experiments) {
    const c = exposureCriterionOf(e)
    if (c.kind === 'custom') customEvents.set(flag, c.event)
  }
  const ctx: PlanContext = { filters: exposureFilters(defs), experiments, unlisted: new Set(unlisted), customEvents }
  const byName = new Map(metrics.map((m) => [m.name, m]))
  const surface = new Map<string, MetricMatcher[]>()
  for (const [flag, names] of surfaceMetrics(defs, configuredGoals({ metrics }))) {
    const ms = names.flatMap((n) => byName.get(n) ?? [])
    if (ms.length) surface.set(flag, ms)
  }
  const flagsByKey = new Map([...defs.flags.filter((x) => !x.deleted), ...unlisted.map(unlistedFlag)].map((f) => [f.key, f]))
  const build = (kind: BackfillKind, batch: readonly FlagDefinition[], unit: string, label: string, part?: UnitPart): BackfillQuery => {
    const hogql =
      kind === 'exposures'
        ? exposuresQuery(batch, unit, w, ctx, part)
        : kind === 'exposure_days'
          ? exposureDaysQuery(batch, unit, w, ctx, part)
          : kind === 'units'
          ? unitsQuery(batch, unit, w, ctx, part)
          : kind === 'sightings'
            ? sightingsQuery(batch, unit, w, ctx, part)
            : kind === 'metrics'
              ? metricsQuery(batch, unit, w, ctx, metrics, part)
              : kind === 'group_key_missing'
                ? groupKeyMissingQuery(batch, unit, w, ctx)
                : reachQuery(batch, unit, w, ctx, surface, part)
    const share = part && part.of > 1 ? `, units ${part.index + 1} of ${part.of}` : ''
    return { name: `experiment-coverage ${kind} (${label}${share})`, kind, hogql, flags: batch.map((f) => f.key), unitColumn: unit, metrics, filterTestAccounts, ...(part && part.of > 1 ? { part } : {}) }
  }
  const unitLabel = (unit: string) => (unit === 'person_id' ? 'persons' : unit)
  const byUnit = new Map<string, FlagDefinition[]>()
  for (const f of flagsByKey.values()) {
    const index = f.filters.aggregation_group_type_index
    const unit = index == null ? 'person_id' : `$group_${index}`
    byUnit.set(unit, [...(byUnit.get(unit) ?? []), f])
  }
  const queries: BackfillQuery[] = []
  for (const [unit, flags] of byUnit) {
    const batches = Math.ceil(flags.length / batchSize)
    for (let b = 0; b < batches; b++) {
      const batch = flags.slice(b * batchSize, (b + 1) * batchSize)
      const label = `${unitLabel(unit)}, flags ${b * batchSize + 1}-${b * batchSize + batch.length}`
      queries.push(build('exposures', batch, unit, label), build('exposure_days', batch, unit, label), build('units', batch, unit, label))
      if (metrics.length) queries.push(build('metrics', batch, unit, label))
      if (unit !== 'person_id') queries.push(build('group_key_missing', batch, unit, label))
    }
    // Sightings and reach read every event of the window, not only exposures: fewer flags a query.
    const scanSize = Math.min(batchSize, scanBatchSize)
    for (let b = 0; b < Math.ceil(flags.length / scanSize); b++) {
      const batch = flags.slice(b * scanSize, (b + 1) * scanSize)
      const label = `${unitLabel(unit)}, flags ${b * scanSize + 1}-${b * scanSize + batch.length}`
      queries.push(build('sightings', batch, unit, label))
      if (batch.some((f) => surface.has(f.key))) queries.push(build('reach', batch, unit, label))
    }
  }
  return {
    queries,
    split(q) {
      const batch = q.flags.flatMap((k) => flagsByKey.get(k) ?? [])
      const flagsOf = (fs: readonly FlagDefinition[]) => (q.kind === 'reach' ? fs.filter((f) => surface.has(f.key)) : fs)
      const label = (fs: readonly FlagDefinition[]) => `${unitLabel(q.unitColumn)}, ${fs.length === 1 ? `flag ${fs[0]!.key}` : `${fs.length} flags from ${fs[0]!.key}`}`
      const measured = flagsOf(batch)
      if (measured.length > 1) {
        const half = Math.ceil(measured.length / 2)
        return [measured.slice(0, half), measured.slice(half)].map((fs) => build(q.kind, fs, q.unitColumn, label(fs), q.part))
      }
      const of = (q.part?.of ?? 1) * PART_FACTOR
      if (measured.length === 0 || of > (opts.maxUnitParts ?? MAX_UNIT_PARTS)) return null
      // Shares of a share: hash % of = index + k * (previous of) lies inside hash % (previous of) = index.
      const prior = q.part ?? { index: 0, of: 1 }
      return Array.from({ length: PART_FACTOR }, (_, k) => build(q.kind, measured, q.unitColumn, label(measured), { index: prior.index + k * prior.of, of }))
    },
  }
}
