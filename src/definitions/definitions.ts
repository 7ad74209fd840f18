import { z } from 'zod'
import type { ExposureEvent, VariantValue } from '../events/types.js'

/**
 * PostHog's flag, experiment and cohort objects as the checks need them, validated at the boundary.
 * Fields PostHog adds are ignored; a missing field the checks need is an error that names it.
 */

const propertyFilter = z.looseObject({
  key: z.union([z.string(), z.number()]).optional(),
  type: z.string().optional(),
  value: z.unknown().optional(),
  operator: z.string().nullish(),
})

// PostHog keeps rollouts between 0 and 100 and makes a flag's variants add up to 100.
const percentage = z.number().min(0, 'a rollout percentage cannot be negative').max(100, 'a rollout percentage cannot be over 100')
const releaseGroup = z.looseObject({
  properties: z.array(propertyFilter).nullish().transform((v) => v ?? []),
  rollout_percentage: percentage.nullish(),
  variant: z.string().nullish(),
})

const flagSchema = z.looseObject({
  id: z.number(),
  key: z.string().min(1),
  name: z.string().nullish(),
  active: z.boolean(),
  deleted: z.boolean().optional().default(false),
  archived: z.boolean().optional(),
  ensure_experience_continuity: z.boolean().nullish(),
  tags: z.array(z.string()).nullish(),
  experiment_set: z.array(z.number()).nullish(),
  filters: z.looseObject({
    groups: z.array(releaseGroup).nullish().transform((v) => v ?? []),
    multivariate: z
      .looseObject({
        variants: z
          .array(z.looseObject({ key: z.string(), name: z.string().nullish(), rollout_percentage: percentage }))
          .refine((vs) => vs.length === 0 || Math.abs(vs.reduce((n, v) => n + v.rollout_percentage, 0) - 100) < 0.01, {
            message: 'the variants\' rollout percentages must add up to 100',
          }),
      })
      .nullish(),
    aggregation_group_type_index: z.number().nullish(),
    // The holdout PostHog writes onto an experiment's flag: `holdout_groups` (the holdout's own
    // filters, each with `variant: "holdout-<id>"`) in older versions, `holdout` in newer ones.
    holdout_groups: z.array(releaseGroup).nullish(),
    holdout: z.looseObject({ id: z.number(), exclusion_percentage: percentage.nullish() }).nullish(),
  }),
  created_at: z.string().nullish(),
  updated_at: z.string().nullish(),
})

// A metric's source node: EventsNode (`event`; null reads every event), ActionsNode (`id`),
// ExperimentDataWarehouseNode (`table_name`), or ExperimentExposureNode (a retention metric that
// starts at the exposure) (frontend/src/queries/schema/schema-general.ts).
const eventsNode = z.looseObject({
  kind: z.string().optional(),
  event: z.string().nullish(),
  name: z.string().nullish(),
  id: z.unknown().optional(),
  table_name: z.string().nullish(),
  properties: z.array(propertyFilter).nullish(),
})

const metricSchema = z.looseObject({
  kind: z.string().optional(),
  uuid: z.string().nullish(),
  name: z.string().nullish(),
  metric_type: z.string().nullish(),
  series: z.array(eventsNode).nullish(),
  source: eventsNode.nullish(),
  // ExperimentRatioMetric
  numerator: eventsNode.nullish(),
  denominator: eventsNode.nullish(),
  // ExperimentRetentionMetric
  start_event: eventsNode.nullish(),
  completion_event: eventsNode.nullish(),
  // legacy ExperimentTrendsQuery / ExperimentFunnelsQuery metrics
  count_query: z.looseObject({ series: z.array(eventsNode).nullish() }).nullish(),
  funnels_query: z.looseObject({ series: z.array(eventsNode).nullish() }).nullish(),
  query: z.unknown().optional(),
  filters: z.unknown().optional(),
})

/** A metric as PostHog stores it, or null for a value that is not one (a shared metric's `query`, say). */
export function readMetric(value: unknown): MetricDefinition | null {
  const parsed = metricSchema.safeParse(value)
  return parsed.success ? parsed.data : null
}

// A shared metric linked to the experiment (ExperimentToSavedMetricSerializer,
// ee/clickhouse/views/experiment_saved_metrics.py): its `query` (an ExperimentMetric, or a legacy
// trends/funnels query), `name`, and `metadata.type` ('primary' | 'secondary').
const savedMetricSchema = z.looseObject({
  id: z.number().nullish(),
  name: z.string().nullish(),
  metadata: z.looseObject({ type: z.string().nullish() }).nullish(),
  query: z.unknown().optional(),
})

// A legacy experiment's goal, before ExperimentMetric: an insight's `filters` with `events` (an
// event's `id` is its name) and `actions` (`id` is the action's), in funnel `order`
// (ee/clickhouse/views/experiments.py `_calculate_experiment_results`). Legacy `secondary_metrics`
// held `{name, filters}` the same way.
const legacyEntity = z.looseObject({
  id: z.union([z.string(), z.number()]).nullish(),
  name: z.string().nullish(),
  order: z.number().nullish(),
  properties: z.unknown().optional(),
})
const legacyFilters = z.looseObject({
  insight: z.string().nullish(),
  events: z.array(legacyEntity).nullish(),
  actions: z.array(legacyEntity).nullish(),
})

const experimentSchema = z.looseObject({
  id: z.number(),
  name: z.string(),
  description: z.string().nullish(),
  feature_flag_key: z.string().min(1),
  start_date: z.string().nullish(),
  end_date: z.string().nullish(),
  archived: z.boolean().optional().default(false),
  deleted: z.boolean().optional().default(false),
  status: z.string().nullish(),
  type: z.string().nullish(),
  parameters: z
    .looseObject({
      feature_flag_variants: z.array(z.looseObject({ key: z.string(), rollout_percentage: z.number().nullish() })).nullish(),
      recommended_sample_size: z.number().nullish(),
      minimum_detectable_effect: z.number().nullish(),
    })
    .nullish(),
  metrics: z.array(metricSchema).nullish(),
  metrics_secondary: z.array(metricSchema).nullish(),
  saved_metrics: z.array(savedMetricSchema).nullish(),
  filters: legacyFilters.nullish(),
  secondary_metrics: z.array(z.looseObject({ name: z.string().nullish(), filters: legacyFilters.nullish() })).nullish(),
  exposure_criteria: z
    .looseObject({
      filterTestAccounts: z.boolean().nullish(),
      // ExperimentEventExposureConfig `{event, properties}`, or an ActionsNode `{id}` (an action as the exposure)
      exposure_config: z
        .looseObject({ kind: z.string().optional(), event: z.string().nullish(), id: z.unknown().optional(), name: z.string().nullish(), properties: z.array(propertyFilter).nullish() })
        .nullish(),
      multiple_variant_handling: z.enum(['exclude', 'first_seen']).nullish(),
    })
    .nullish(),
  // ExperimentHoldoutSerializer: `filters` are release conditions; the first one's rollout_percentage
  // is the share of users held out, served the value `holdout-<id>` (products/experiments/backend/api).
  holdout: z
    .looseObject({ id: z.number().optional(), filters: z.array(z.looseObject({ rollout_percentage: percentage.nullish(), variant: z.string().nullish() })).nullish() })
    .nullish(),
  exposure_cohort: z.number().nullish(),
  conclusion: z.string().nullish(),
})

const cohortSchema = z.looseObject({
  id: z.number(),
  name: z.string().nullish(),
  is_static: z.boolean(),
  deleted: z.boolean().optional().default(false),
  count: z.number().nullish(),
})

const groupTypeSchema = z.looseObject({ group_type: z.string(), group_type_index: z.number() })

export type FlagDefinition = z.infer<typeof flagSchema>
export type ExperimentDefinition = z.infer<typeof experimentSchema>
export type CohortDefinition = z.infer<typeof cohortSchema>
export type MetricDefinition = z.infer<typeof metricSchema>

export interface Definitions {
  readonly flags: FlagDefinition[]
  readonly experiments: ExperimentDefinition[]
  readonly cohorts: CohortDefinition[]
  /** group_type_index -> group type name */
  readonly groupTypes: ReadonlyMap<number, string>
}

/** A definitions file that is not what PostHog returns; names the file, the entry and the field. */
export class DefinitionsError extends Error {
  constructor(readonly source: string, readonly problems: string[]) {
    super(`${source}: ${problems.length === 1 ? problems[0] : `\n- ${problems.slice(0, 20).join('\n- ')}${problems.length > 20 ? `\n- ... and ${problems.length - 20} more` : ''}`}`)
    this.name = 'DefinitionsError'
  }
}

/** Accepts a list response `{results: [...]}` (any page) or a plain array. */
function listOf(source: string, value: unknown): { items: unknown[]; path: string } {
  if (Array.isArray(value)) return { items: value, path: '' }
  if (value && typeof value === 'object' && Array.isArray((value as { results?: unknown }).results)) {
    return { items: (value as { results: unknown[] }).results, path: 'results' }
  }
  throw new DefinitionsError(source, ['expected a list: a JSON array, or an API list response {"results": [...]}'])
}

function parseList<T>(source: string, value: unknown, schema: z.ZodType<T>, what: string): T[] {
  const { items, path } = listOf(source, value)
  const out: T[] = []
  const problems: string[] = []
  items.forEach((item, i) => {
    const parsed = schema.safeParse(item)
    if (parsed.success) {
      out.push(parsed.data)
      return
    }
    const label = (item as { key?: unknown; name?: unknown } | null)?.key ?? (item as { name?: unknown } | null)?.name
    for (const issue of parsed.error.issues.slice(0, 3)) {
      const field = [path ? `${path}[${i}]` : `[${i}]`, ...issue.path.map(String)].join('.')
      problems.push(`${what} ${typeof label === 'string' ? `"${label}" ` : ''}at ${field}: ${issue.message}`)
    }
  })
  if (problems.length) throw new DefinitionsError(source, problems)
  return out
}

/**
 * The flags, one per key, as PostHog resolves them: a deleted flag never shadows a live one with
 * the same key (PostHog keeps deleted flags, and a new flag may reuse the key); between two of the
 * same kind the newer (higher id) stays. What is dropped is said through `onDropped`.
 */
export function parseFlags(source: string, value: unknown, onDropped?: (message: string) => void): FlagDefinition[] {
  const byKey = new Map<string, FlagDefinition>()
  for (const flag of parseList(source, value, flagSchema, 'flag')) {
    const kept = byKey.get(flag.key)
    if (!kept) {
      byKey.set(flag.key, flag)
      continue
    }
    const better = kept.deleted !== flag.deleted ? (kept.deleted ? flag : kept) : flag.id > kept.id ? flag : kept
    const dropped = better === flag ? kept : flag
    byKey.set(flag.key, better)
    onDropped?.(`${source}: two flags have the key "${flag.key}"; kept id ${better.id}${better.deleted ? ' (deleted)' : ''}, dropped id ${dropped.id}${dropped.deleted ? ' (deleted)' : ''}`)
  }
  return [...byKey.values()]
}
export function parseExperiments(source: string, value: unknown): ExperimentDefinition[] {
  return parseList(source, value, experimentSchema, 'experiment')
}
export function parseCohorts(source: string, value: unknown): CohortDefinition[] {
  return parseList(source, value, cohortSchema, 'cohort')
}
export function parseGroupTypes(source: string, value: unknown): Map<number, string> {
  return new Map(parseList(source, value, groupTypeSchema, 'group type').map((g) => [g.group_type_index, g.group_type]))
}

/** A property filter on a metric step, as PostHog stores it. */
export interface StepFilter {
  readonly key: string | number
  readonly value?: unknown
  readonly operator?: string | null
  readonly type?: string
}

/** Where a metric step's data comes from; only events are counted by this audit. */
export type StepSource = 'event' | 'action' | 'data_warehouse' | 'all_events'

/** One step of a metric: the event counted (null for a step this audit cannot count) and its filters. */
export interface MetricStep {
  readonly event: string | null
  readonly properties: readonly StepFilter[]
  readonly source: StepSource
  /** The step as a reader names it: the event, `action 12 (Purchase)`, `data warehouse table charges`, `all events`. */
  readonly label: string
}

type SourceNode = NonNullable<MetricDefinition['source']>

// The start of a retention metric that starts at the exposure itself: counted as the exposure.
// PostHog names the node ExperimentExposureNode (its first name was ExperimentExposureMetricSource).
const EXPOSURE_NODES = new Set(['ExperimentExposureNode', 'ExperimentExposureMetricSource'])

/**
 * A source node as a step (base_query_utils.py `event_or_action_to_filter`: an EventsNode without
 * an event matches every event; an ActionsNode matches its action; a data warehouse node reads a
 * table), or null for the exposure itself.
 */
function stepOf(node: SourceNode): MetricStep | null {
  if (node.kind && EXPOSURE_NODES.has(node.kind)) return null
  const named = node.name ? ` (${node.name})` : ''
  if (node.kind === 'ActionsNode') return { event: null, properties: [], source: 'action', label: `action ${String(node.id ?? '?')}${named}` }
  if (node.kind === 'ExperimentDataWarehouseNode' || node.kind === 'DataWarehouseNode') {
    return { event: null, properties: [], source: 'data_warehouse', label: `data warehouse table ${node.table_name ?? String(node.id ?? '?')}` }
  }
  if (typeof node.event === 'string' && node.event.length > 0) {
    return { event: node.event, properties: (node.properties ?? []).filter((p) => p.key !== undefined) as StepFilter[], source: 'event', label: node.event }
  }
  return { event: null, properties: [], source: 'all_events', label: 'all events' }
}

/**
 * A metric's source nodes, goal last: a funnel's steps, a mean's source, a ratio's denominator then
 * numerator (the numerator is what it measures), a retention metric's start then completion event,
 * a legacy trends metric's count series, a legacy funnels metric's steps. The fields PostHog reads
 * (metric_resolution.py `metric_dict_reads_data_warehouse`: source, series, numerator, denominator,
 * start_event, completion_event).
 */
function sourceNodes(m: MetricDefinition): (SourceNode | null | undefined)[] {
  if (m.kind === 'ExperimentTrendsQuery') return m.count_query?.series ?? []
  if (m.kind === 'ExperimentFunnelsQuery') return m.funnels_query?.series ?? []
  if (m.metric_type === 'ratio') return [m.denominator, m.numerator]
  if (m.metric_type === 'retention') return [m.start_event, m.completion_event]
  if (m.series || m.source) return m.series ?? [m.source]
  // a metric wrapped in `query` (as a shared metric stores it)
  const inner = m.query === undefined ? null : readMetric(m.query)
  return inner ? sourceNodes(inner) : []
}

/** Each step of a metric, goal last (see sourceNodes), with the steps this audit cannot count. */
export function metricSteps(m: MetricDefinition): MetricStep[] {
  return sourceNodes(m).flatMap((n) => (n ? (stepOf(n) ?? []) : []))
}

/** The events a metric counts (its steps that are events), goal last. */
export function metricEvents(m: MetricDefinition): string[] {
  return metricSteps(m).flatMap((s) => (s.event === null ? [] : [s.event]))
}

/**
 * What an experiment counts as an exposure, as PostHog resolves it (products/experiments/backend/
 * hogql_queries/exposure_query_logic.py `get_exposure_event_and_property`): an ActionsNode config is
 * an action (`$feature/<key>` carries the variant); a config naming another event than the two
 * exposure events is a custom exposure event (`$feature/<key>` carries the variant, no
 * `$feature_flag` filter); `$experiment_exposure` named is that event; anything else is
 * `$feature_flag_called` (the variant on `$feature_flag_response`, `$feature_flag` = the key).
 */
export type ExposureCriterion =
  | { readonly kind: ExposureEvent; readonly event: ExposureEvent }
  | { readonly kind: 'custom'; readonly event: string }
  | { readonly kind: 'action'; readonly event: null; readonly label: string }

export function exposureCriterionOf(e: ExperimentDefinition | null): ExposureCriterion {
  const config = e?.exposure_criteria?.exposure_config
  if (config?.kind === 'ActionsNode') return { kind: 'action', event: null, label: `action ${String(config.id ?? '?')}${config.name ? ` (${config.name})` : ''}` }
  const event = config?.event
  if (event === '$experiment_exposure') return { kind: event, event }
  if (event && event !== '$feature_flag_called') return { kind: 'custom', event }
  return { kind: '$feature_flag_called', event: '$feature_flag_called' }
}

/** The exposure event an experiment counts (exposureCriterionOf), or its action as `action <id> (<name>)`. */
export function exposureEventOf(e: ExperimentDefinition | null): ExposureEvent | string {
  const c = exposureCriterionOf(e)
  return c.event ?? c.label
}

/** An experiment's holdout: the value PostHog serves the users it holds out, and their share of the flag's users. */
export interface Holdout {
  /** `holdout-<id>`, the flag's response for a held-out user */
  readonly key: string
  /** 0..1 */
  readonly share: number
}

/** PostHog names a holdout's value `holdout-<id>` (ExperimentHoldoutSerializer._get_filters_with_holdout_id). */
export const holdoutKey = (id: number): string => `holdout-${id}`
export const isHoldoutKey = (key: string): boolean => /^holdout-\d+$/.test(key)

/**
 * The holdout of a flag's experiment: the experiment's own (PostHog's SRM reads its first filter's
 * rollout_percentage, else 0: experiment_exposures_query_runner.py `_calculate_srm`), else the one
 * PostHog wrote onto the flag. Null without a holdout.
 */
export function holdoutOf(flag: FlagDefinition, experiment: ExperimentDefinition | null = null): Holdout | null {
  const own = experiment?.holdout
  if (own?.id != null) return { key: holdoutKey(own.id), share: (own.filters?.[0]?.rollout_percentage ?? 0) / 100 }
  const onFlag = flag.filters.holdout
  if (onFlag) return { key: holdoutKey(onFlag.id), share: (onFlag.exclusion_percentage ?? 0) / 100 }
  const group = flag.filters.holdout_groups?.find((g) => g.variant)
  if (group?.variant) return { key: group.variant, share: (group.rollout_percentage ?? 0) / 100 }
  return null
}

/**
 * The values a flag serves, as its exposures carry them: its variant keys (true/false for a boolean
 * flag), and its experiment's holdout value. Units are counted for these values only, as PostHog's
 * exposure filter drops the others.
 */
export function ownValues(flag: FlagDefinition, experiment: ExperimentDefinition | null = null): VariantValue[] {
  const variants = flag.filters.multivariate?.variants ?? []
  const values: VariantValue[] = variants.length ? variants.map((v) => v.key) : [true, false]
  const holdout = holdoutOf(flag, experiment)
  return holdout ? [...values, holdout.key] : values
}

/** Each flag's experiment, as the report pairs them: deleted experiments left out. */
export function experimentsByFlag(experiments: readonly ExperimentDefinition[]): Map<string, ExperimentDefinition> {
  return new Map(experiments.filter((e) => !e.deleted).map((e) => [e.feature_flag_key, e] as const))
}
