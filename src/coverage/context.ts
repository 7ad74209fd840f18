import type { ExposureObservation, FlagObservation } from '../counters/observation.js'
import type { ExposureEvent, ExposureKind } from '../events/types.js'
import type { CheckContext, ExpectedVariant, FlagKind, MetricRef } from './checks/types.js'
import { exposureEventOf, holdoutOf, metricEvents, type CohortDefinition, type ExperimentDefinition, type FlagDefinition } from '../definitions/definitions.js'
import { metricMatchers } from '../definitions/audit-config.js'
import { documentedMetrics } from './metric-refs.js'
import { exposureCriterionOf } from '../definitions/definitions.js'
import { inferGuardrails, inferPrimaryMetric } from './goals.js'
import type { Settings } from '../settings/settings.js'
import { DAY_MS } from '../time.js'
import type { FlagChange } from '../definitions/activity.js'

export interface ContextInput {
  readonly flag: FlagDefinition
  readonly experiment: ExperimentDefinition | null
  readonly observation: FlagObservation | null
  readonly cohorts: ReadonlyMap<number, CohortDefinition>
  readonly settings: Settings
  readonly nowMs: number
  /** the flag's changes from PostHog's activity log; null or absent when its history was not read */
  readonly changes?: readonly FlagChange[] | null
}

export function kindOf(flag: FlagDefinition, experiment: ExperimentDefinition | null): FlagKind {
  if (experiment) return 'experiment'
  return (flag.filters.multivariate?.variants.length ?? 0) > 0 ? 'multivariate_flag' : 'boolean_flag'
}

/** The release condition that applies to everyone (no properties), else the widest one. */
function mainRollout(flag: FlagDefinition): number {
  const groups = flag.filters.groups.filter((g) => !g.variant)
  const open = groups.find((g) => g.properties.length === 0)
  const pct = (open ?? groups[0])?.rollout_percentage
  return pct === null || pct === undefined ? 1 : pct / 100
}

/**
 * The split PostHog judges against: the flag's current variant percentages (POSTHOG-FACTS §5), or
 * true/false at the rollout percentage for a boolean flag. An experiment's holdout takes its share
 * of the flag's users first and the variants share the rest, as PostHog serves them
 * (experiment_exposures_query_runner.py `_calculate_srm`: each variant's percentage times
 * (100 - holdout) / 100); the holdout is listed as the value `holdout-<id>` with its own share.
 */
export function expectedVariants(flag: FlagDefinition, experiment: ExperimentDefinition | null = null): ExpectedVariant[] {
  const variants = flag.filters.multivariate?.variants ?? []
  const on = mainRollout(flag)
  const planned: ExpectedVariant[] = variants.length > 0
    ? variants.map((v) => ({ key: v.key, value: v.key, share: v.rollout_percentage / 100, role: 'variant' }))
    : [
        { key: 'true', value: true, share: on, role: 'variant' },
        { key: 'false', value: false, share: 1 - on, role: 'variant' },
      ]
  const holdout = holdoutOf(flag, experiment)
  if (!holdout) return planned
  return [...planned.map((v) => ({ ...v, share: v.share * (1 - holdout.share) })), { key: holdout.key, value: holdout.key, share: holdout.share, role: 'holdout' }]
}

function parseDate(s: string | null | undefined): number | null {
  if (!s) return null
  const ms = Date.parse(s)
  return Number.isFinite(ms) ? ms : null
}

/** Builds the frozen context of one flag: every input of every check, resolved once. */
export function buildContext(input: ContextInput): CheckContext {
  const { flag, experiment, observation, settings, nowMs } = input
  const kind = kindOf(flag, experiment)
  const expected = expectedVariants(flag, experiment)
  const splitting = expected.filter((v) => v.role === 'variant' && v.share > 0 && v.share < 1).length >= 2
  const exposureEvent = exposureEventOf(experiment)
  // The exposures counted: the exposure event's, or the experiment's custom event's; an action is not counted.
  const criterion = exposureCriterionOf(experiment)
  const counted: ExposureKind | null = criterion.kind === 'action' ? null : criterion.kind
  // The other exposure event, arriving instead or as well: `$feature_flag_called` beside a custom event.
  const other: ExposureEvent | null = counted === null ? null : counted === '$feature_flag_called' ? '$experiment_exposure' : '$feature_flag_called'
  const exposure: ExposureObservation | null = counted ? (observation?.exposure[counted] ?? null) : null
  const otherExposure: ExposureObservation | null = other ? (observation?.exposure[other] ?? null) : null

  const metricNameOf = (event: string) => settings.metrics.find((m) => m.event === event)?.name ?? null
  const metrics: MetricRef[] = []
  const documented = experiment ? documentedMetrics(experiment) : null
  const uncountedMetrics = documented?.uncounted ?? []
  if (documented) {
    metrics.push(...documented.metrics)
  } else {
    for (const m of settings.metrics) {
      if (m.kind !== 'counted') metrics.push({ name: m.name, events: [m.event], role: m.kind === 'goal' ? 'primary' : 'guardrail', source: 'settings' })
    }
  }
  if (kind === 'experiment' && !metrics.some((m) => m.role === 'primary') && !uncountedMetrics.some((m) => m.role === 'primary')) {
    const inferred = inferPrimaryMetric(flag, experiment, observation, metricNameOf)
    if (inferred) metrics.push(inferred)
  }
  if (kind === 'experiment' && !metrics.some((m) => m.role === 'guardrail') && !uncountedMetrics.some((m) => m.role === 'guardrail')) metrics.push(...inferGuardrails(observation, metricNameOf))

  const startMs = parseDate(experiment?.start_date) ?? parseDate(flag.created_at)
  const endMs = parseDate(experiment?.end_date)
  const deadlineSetting = settings.readoutDeadlines.get(flag.key) ?? null
  const recommendedDays = (experiment?.parameters as { recommended_running_time?: number | null } | null | undefined)?.recommended_running_time
  let deadlineMs = deadlineSetting ?? (endMs !== null && endMs > nowMs ? endMs : null)
  if (deadlineMs === null && startMs !== null && typeof recommendedDays === 'number') deadlineMs = startMs + recommendedDays * DAY_MS
  const ended = endMs !== null && endMs <= nowMs
  const running = experiment
    ? experiment.status === 'running' || (experiment.status == null && startMs !== null && startMs <= nowMs && !ended && !experiment.archived)
    : flag.active && !flag.deleted

  return {
    flag,
    experiment,
    kind,
    deFactoExperiment: kind !== 'experiment' && splitting,
    expected,
    exposureEvent,
    observation,
    exposure,
    otherExposure,
    metrics,
    uncountedMetrics,
    cohorts: input.cohorts,
    settings,
    nowMs,
    startMs,
    deadlineMs,
    running,
    changes: input.changes ?? null,
  }
}

/**
 * The units PostHog counts in a variant: with the `exclude` handling (the default) those that saw
 * only it, units seen with several values going to `$multiple`; with `first_seen` those whose
 * earliest exposure had it (argMin(variant, timestamp): experiment_query_builder.py
 * `_build_variant_expr_for_mean`), no `$multiple`. A source that did not count first-seen units
 * (an older backfill) falls back to the units that saw only it.
 */
export function cleanUnits(ctx: CheckContext, key: string): number {
  const v = findVariant(ctx.exposure, ctx.expected.find((e) => e.key === key)?.value ?? key)
  if (!v) return 0
  if (ctx.experiment?.exposure_criteria?.multiple_variant_handling === 'first_seen' && v.firstSeenUnits !== undefined) return v.firstSeenUnits
  return Math.max(0, v.units - v.multipleVariantUnits)
}

export function findVariant(exp: ExposureObservation | null, value: unknown) {
  return exp?.variants.find((v) => v.value === value) ?? null
}

/** A count as people write it: with thousands separators (12,345), as the UI and the CLI print counts. */
export function count(n: number): string {
  return Number.isFinite(n) ? n.toLocaleString('en-US') : '-'
}

export function pct(x: number): string {
  if (!Number.isFinite(x)) return '-'
  return `${(x * 100).toFixed(x < 0.1 ? 1 : 0)}%`
}

/**
 * The units whose events carry the flag (`$feature/<key>`), and among them those given a value:
 * a variant, or true. Units carrying only `false` (or nothing) are outside the rollout or its
 * conditions: nothing is shown to them. Every check that names these numbers takes them from here
 * and calls them by the same words (`valueWords`), so one name is one number across the report.
 */
export function carriersOf(ctx: CheckContext): { carrying: number; withValue: number } {
  const s = ctx.observation?.sightings
  if (!s) return { carrying: 0, withValue: 0 }
  const assigned = s.variants.filter((v) => v.value !== false && v.value !== null).reduce((n, v) => n + v.units, 0)
  return { carrying: s.units, withValue: Math.min(s.units, assigned) }
}

/** How the units given a value are named: "assigned a variant" on a multivariate flag, "with the flag on" on a boolean one. */
export function valueWords(ctx: CheckContext): string {
  return (ctx.flag.filters.multivariate?.variants.length ?? 0) > 0 ? 'assigned a variant' : 'with the flag on'
}
