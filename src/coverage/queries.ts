import { SDK_SLICE_HOGQL } from '../events/lib-class.js'
import { dt, list, lit } from '../hog/literals.js'
import type { CheckContext, CheckId } from './checks/types.js'
import type { FlagWindow } from '../definitions/windows.js'

/**
 * The HogQL query that shows a check's finding in the project itself: who is in `$multiple`, the
 * values outside the variants and who sent them, the units with a metric event but no exposure,
 * exposures by library and bootstrap... Users open it in PostHog's SQL editor and see the rows
 * behind the number. Each covers the flag's window and has an explicit LIMIT; tests parse every
 * one with PostHog's own parser.
 */
// The JSON of the response as sent, so `"test"`, `true` and `null` stay apart, as the counters keep them.
const RESPONSE = `JSONExtractRaw(properties, '$feature_flag_response')`
const LIMIT = 500

interface QueryParts {
  readonly unit: string
  readonly window: string
  readonly exposures: string
  readonly own: string
  /** the raw JSON of the exposed value: the response of a flag call, or `$feature/<key>` on a custom exposure event */
  readonly response: string
  /** a unit's variant: `$multiple` when it saw several (exclude), or the one it saw first (first_seen) */
  readonly variant: string
}

function partsOf(ctx: CheckContext, w: FlagWindow): QueryParts {
  const index = ctx.flag.filters.aggregation_group_type_index
  const unit = index == null ? 'person_id' : `$group_${index}`
  const window = `timestamp >= ${dt(w.fromMs)} AND timestamp <= ${dt(w.toMs)}`
  const groupOnly = unit === 'person_id' ? '' : ` AND ${unit} != ''`
  // A custom exposure event (`$pageview`) carries the variant on `$feature/<key>` and names no flag
  // (exposure_query_logic.py get_exposure_event_and_property).
  const custom = ctx.exposureEvent !== '$feature_flag_called' && ctx.exposureEvent !== '$experiment_exposure' && !ctx.exposureEvent.startsWith('action ')
  const response = custom ? `JSONExtractRaw(properties, ${lit(`$feature/${ctx.flag.key}`)})` : RESPONSE
  const exposures = custom
    ? `event = ${lit(ctx.exposureEvent)} AND ${response} NOT IN ('', 'null') AND ${window}${groupOnly}`
    : `event = ${lit(ctx.exposureEvent)} AND properties.$feature_flag = ${lit(ctx.flag.key)} AND ${window}${groupOnly}`
  const own = `${response} IN ${list(ctx.expected.map((v) => JSON.stringify(v.value)))}`
  // PostHog's first_seen keeps a unit's earliest variant (argMin(variant, timestamp)); exclude makes it `$multiple`.
  const variant = ctx.experiment?.exposure_criteria?.multiple_variant_handling === 'first_seen' ? 'first_value' : "if(length(values) > 1, '$multiple', values[1])"
  return { unit, window, exposures, own, response, variant }
}

/** Per unit: the values it was exposed to (PostHog's `$multiple` when more than one). */
function perUnit(p: QueryParts): string {
  return `SELECT ${p.unit} AS unit, groupUniqArray(${p.response}) AS values, argMin(${p.response}, timestamp) AS first_value, min(timestamp) AS first_exposure, count() AS exposures FROM events WHERE ${p.exposures} AND ${p.own} GROUP BY unit`
}

/**
 * The goal events of a role's metrics: each metric's last step when it is an event. A goal that
 * is no event (a ratio whose numerator is an action) has no rows to show: its last counted event
 * would be the denominator, not the goal.
 */
function metricEventsOf(ctx: CheckContext, role: 'primary' | 'guardrail'): string[] {
  const goals = ctx.metrics.filter((m) => m.role === role && !(m.goal !== undefined && (m.uncounted ?? []).includes(m.goal)))
  return [...new Set(goals.flatMap((m) => m.events.slice(-1)))]
}

type Builder = (ctx: CheckContext, p: QueryParts) => string | null

const BUILDERS: Record<CheckId, Builder> = {
  // Exposures per day and value: when they started, stopped, or changed values.
  exposure_present: (_ctx, p) =>
    `SELECT toDate(timestamp) AS day, ${p.response} AS value, count() AS exposures, count(DISTINCT ${p.unit}) AS units FROM events WHERE ${p.exposures} GROUP BY day, value ORDER BY day, value LIMIT ${LIMIT}`,
  // Exposures per day and library: the day they stopped or fell, and which library stopped sending.
  exposure_stall: (_ctx, p) =>
    `SELECT toDate(timestamp) AS day, properties.$lib AS lib, count() AS exposures, count(DISTINCT ${p.unit}) AS units FROM events WHERE ${p.exposures} GROUP BY day, lib ORDER BY day, lib LIMIT ${LIMIT}`,
  // Both exposure events side by side, and the library that sends each.
  exposure_event: (ctx, p) =>
    `SELECT event, properties.$lib AS lib, count() AS events, count(DISTINCT ${p.unit}) AS units FROM events WHERE event IN ('$feature_flag_called', '$experiment_exposure', ${lit(ctx.exposureEvent)}) AND properties.$feature_flag = ${lit(ctx.flag.key)} AND ${p.window} GROUP BY event, lib ORDER BY events DESC LIMIT ${LIMIT}`,
  // The values outside the flag's variants, who sent them and from which library.
  variant_values: (_ctx, p) =>
    `SELECT ${p.response} AS value, properties.$lib AS lib, properties.$lib_version AS lib_version, count() AS exposures, count(DISTINCT ${p.unit}) AS units, arraySlice(groupUniqArray(distinct_id), 1, 10) AS example_distinct_ids FROM events WHERE ${p.exposures} AND NOT (${p.own}) GROUP BY value, lib, lib_version ORDER BY exposures DESC LIMIT ${LIMIT}`,
  // Units per variant as PostHog's exposure query counts them, `$multiple` apart.
  sample_ratio: (_ctx, p) =>
    `SELECT ${p.variant} AS variant, count() AS units FROM (${perUnit(p)}) GROUP BY variant ORDER BY variant LIMIT ${LIMIT}`,
  // The units in `$multiple`: the values each saw and when it was first exposed.
  multiple_variants: (_ctx, p) => `SELECT unit, values, first_exposure, exposures FROM (${perUnit(p)}) WHERE length(values) > 1 ORDER BY exposures DESC LIMIT ${LIMIT}`,
  // Exposures by library, bootstrap and whether the bootstrapped value differs from the server's.
  exposure_source: (_ctx, p) =>
    `SELECT properties.$lib AS lib, properties.$used_bootstrap_value AS used_bootstrap, JSONExtractRaw(properties, '$feature_flag_bootstrapped_response') NOT IN ('', 'null') AND JSONExtractRaw(properties, '$feature_flag_bootstrapped_response') != ${p.response} AS bootstrap_differs, notEmpty(ifNull(toString(properties.$feature_flag_error), '')) AS errored, count() AS exposures, count(DISTINCT ${p.unit}) AS units FROM events WHERE ${p.exposures} GROUP BY lib, used_bootstrap, bootstrap_differs, errored ORDER BY exposures DESC LIMIT ${LIMIT}`,
  // The units that carried a value of the flag and sent the experiment's metric event (or any
  // event, without a metric), but never sent an exposure: the analysis leaves them out.
  exposure_gap: (ctx, p) => {
    const metrics = metricEventsOf(ctx, 'primary')
    const carried = `JSONExtractRaw(properties, ${lit(`$feature/${ctx.flag.key}`)})`
    const which = metrics.length ? `event IN ${list(metrics)} AND ` : ''
    return `SELECT m.unit AS unit, m.value AS carried_value, m.events AS events, m.first_seen AS first_seen FROM (SELECT ${p.unit} AS unit, any(${carried}) AS value, count() AS events, min(timestamp) AS first_seen FROM events WHERE ${which}${carried} NOT IN ('', 'false', 'null') AND ${p.window} GROUP BY unit) AS m LEFT JOIN (SELECT DISTINCT ${p.unit} AS unit FROM events WHERE ${p.exposures}) AS x ON x.unit = m.unit WHERE empty(x.unit) ORDER BY events DESC LIMIT ${LIMIT}`
  },
  // Per value carried: the units carrying it, and how many of them were exposed (the rates should match).
  exposure_bias: (ctx, p) => {
    const carried = `JSONExtractRaw(properties, ${lit(`$feature/${ctx.flag.key}`)})`
    return `SELECT c.value AS carried_value, count() AS carrying_units, countIf(NOT empty(x.unit)) AS exposed_units FROM (SELECT ${p.unit} AS unit, any(${carried}) AS value FROM events WHERE ${carried} NOT IN ('', 'false', 'null') AND ${p.window} GROUP BY unit) AS c LEFT JOIN (SELECT DISTINCT ${p.unit} AS unit FROM events WHERE ${p.exposures}) AS x ON x.unit = c.unit GROUP BY carried_value ORDER BY carried_value LIMIT ${LIMIT}`
  },
  // The metric events of exposed units per variant, and how many came before the unit's exposure.
  primary_metric: (ctx, p) => metricQuery(metricEventsOf(ctx, 'primary'), p),
  guardrails: (ctx, p) => metricQuery(metricEventsOf(ctx, 'guardrail'), p),
  // New units per week and variant: an audience that shifts shows in who arrives when.
  audience: (_ctx, p) =>
    `SELECT toStartOfWeek(first_exposure) AS week, ${p.variant} AS variant, count() AS new_units FROM (${perUnit(p)}) GROUP BY week, variant ORDER BY week, variant LIMIT ${LIMIT}`,
  // New units per day and variant: how fast each variant fills up.
  sample_size: (_ctx, p) =>
    `SELECT toDate(first_exposure) AS day, ${p.variant} AS variant, count() AS new_units FROM (${perUnit(p)}) GROUP BY day, variant ORDER BY day, variant LIMIT ${LIMIT}`,
  // What the flag returned over time: a switched-off flag or a pinned variant shows in the values.
  // Exposures per day and value: a split or rollout changed mid-run shows as a step in the shares.
  flag_changes: (_ctx, p) =>
    `SELECT toDate(timestamp) AS day, ${p.response} AS value, count() AS exposures, count(DISTINCT ${p.unit}) AS units FROM events WHERE ${p.exposures} GROUP BY day, value ORDER BY day, value LIMIT ${LIMIT}`,
  flag_state: (_ctx, p) =>
    `SELECT toDate(timestamp) AS day, ${p.response} AS value, properties.$feature_flag_reason AS reason, count() AS exposures FROM events WHERE ${p.exposures} GROUP BY day, value, reason ORDER BY day, exposures DESC LIMIT ${LIMIT}`,
}

function metricQuery(events: readonly string[], p: QueryParts): string | null {
  if (events.length === 0) return null
  return `SELECT x.value AS variant, m.event AS event, count() AS events, count(DISTINCT m.unit) AS units, countIf(m.ts < x.first_exposure) AS events_before_exposure FROM (SELECT ${p.unit} AS unit, ${p.response} AS value, min(timestamp) AS first_exposure FROM events WHERE ${p.exposures} AND ${p.own} GROUP BY unit, value) AS x JOIN (SELECT ${p.unit} AS unit, event, timestamp AS ts FROM events WHERE event IN ${list(events)} AND ${p.window}) AS m ON m.unit = x.unit GROUP BY variant, event ORDER BY variant, event LIMIT ${LIMIT}`
}

/**
 * A split by slice, as the counters keep it: each unit's first exposure to each value gives its
 * slice for that value (SDK and minor version, app version, browser, OS, device, country): rows
 * (dimension, value, variant, units, first_day, 0). A unit in several variants counts in each; and
 * in rows (dimension, value, '', 0, first_day, multiple) by the slice of the exposure that brought
 * its second value (the second first-exposure in time): where units cross (multiple_variants).
 */
export function sliceQuery(ctx: CheckContext, w: FlagWindow): string {
  const p = partsOf(ctx, w)
  const first = (expr: string) => `argMin(toString(${expr}), timestamp)`
  const dims = ['sdk', 'app_version', 'browser', 'os', 'device', 'country']
  const perValue = `SELECT ${p.unit} AS unit, ${p.response} AS variant, min(timestamp) AS first_ts, ${first(SDK_SLICE_HOGQL)} AS sdk, ${first('properties.$app_version')} AS app_version, ${first('properties.$browser')} AS browser, ${first('properties.$os')} AS os, ${first('properties.$device_type')} AS device, ${first('properties.$geoip_country_code')} AS country FROM events WHERE ${p.exposures} AND ${p.own} GROUP BY unit, variant`
  // groupArray leaves NULLs out: a slice the event does not carry is '' (no slice), so the arrays stay aligned.
  const second = (d: string) => `arrayElement(arraySort((s, t) -> t, groupArray(ifNull(${d}, '')), groupArray(first_ts)), 2) AS ${d}`
  const perUnit = `SELECT unit, count() AS n, min(first_ts) AS unit_first_ts, ${dims.map(second).join(', ')} FROM (${perValue}) GROUP BY unit HAVING n > 1`
  const slice = `arrayJoin([${dims.map(lit).join(', ')}]) AS dimension, multiIf(${dims.map((d) => `dimension = ${lit(d)}, ${d}`).join(', ')}, '') AS value`
  const firstDay = (ts: string) => `min(toDate(toTimeZone(${ts}, 'UTC'))) AS first_day`
  return `SELECT dimension, value, variant, units, first_day, multiple FROM (SELECT ${slice}, variant, count() AS units, ${firstDay('first_ts')}, 0 AS multiple FROM (${perValue}) GROUP BY dimension, value, variant UNION ALL SELECT ${slice}, '' AS variant, 0 AS units, ${firstDay('unit_first_ts')}, count() AS multiple FROM (${perUnit}) GROUP BY dimension, value) ORDER BY dimension, value, variant LIMIT ${LIMIT * 4}`
}

/** The query behind a check over the flag's window; null where there is nothing to show (no metric to query). */
export function checkQuery(ctx: CheckContext, id: CheckId, w: FlagWindow): string | null {
  return BUILDERS[id](ctx, partsOf(ctx, w))
}

/** A link that opens the query in the project's SQL editor (PostHog's `urls.sqlEditor(query)`). */
export function sqlEditorUrl(host: string, projectId: string, query: string): string | null {
  if (!host || !projectId) return null
  return `${host}/project/${encodeURIComponent(projectId)}/sql?open_query=${encodeURIComponent(query)}`
}
