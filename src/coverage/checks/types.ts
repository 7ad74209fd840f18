import type { ExposureObservation, FlagObservation } from '../../counters/observation.js'
import type { VariantValue } from '../../events/types.js'
import type { CohortDefinition, ExperimentDefinition, FlagDefinition } from '../../definitions/definitions.js'
import type { FlagChange } from '../../definitions/activity.js'
import type { Settings } from '../../settings/settings.js'
import type { MetricOrigin } from '../../definitions/experiment-metrics.js'

export const CHECK_IDS = [
  'flag_state',
  'exposure_present',
  'exposure_stall',
  'exposure_event',
  'variant_values',
  'sample_ratio',
  'multiple_variants',
  'exposure_source',
  'exposure_gap',
  'exposure_bias',
  'primary_metric',
  'guardrails',
  'audience',
  'sample_size',
  'flag_changes',
] as const
export type CheckId = (typeof CHECK_IDS)[number]

export type CheckStatus = 'pass' | 'warn' | 'fail' | 'unknown' | 'not_applicable'
export type FlagKind = 'experiment' | 'multivariate_flag' | 'boolean_flag'
export type BackfillCategory = 'event' | 'property' | 'cohort' | 'dashboard' | 'metric' | 'flag_config'
export type Effort = 'low' | 'medium' | 'high'

/** What a team can do about a finding; the plan orders these across flags. */
export interface Repair {
  readonly category: BackfillCategory
  readonly action: string
  readonly effort: Effort
  /** A blocking repair must happen before any readout; the others improve it. */
  readonly blocking: boolean
}

export interface CheckResult {
  readonly id: CheckId
  readonly status: CheckStatus
  /** One line a marketer can read. */
  readonly summary: string
  /** The numbers behind it. */
  readonly evidence: Readonly<Record<string, unknown>>
  /** What to do, or null when nothing needs doing. */
  readonly fix: string | null
  readonly repairs: readonly Repair[]
  /**
   * The check whose finding explains this one (a switched-off flag explains exposures without a
   * value), or null. Such a finding brings no repairs: its cause's repairs are the ones to make.
   * Set by the registry from checks/causes.ts, never by a check itself.
   */
  readonly follows_from: CheckId | null
}

export interface ExpectedVariant {
  /** variant key as text: a multivariate key, or "true"/"false" for a boolean flag */
  readonly key: string
  /** the response value PostHog sends for it */
  readonly value: VariantValue
  /** planned share of units, 0..1 */
  readonly share: number
  /**
   * A variant of the flag, or the experiment's holdout (`holdout-<id>`): its users get the flag's
   * value and are counted, but they are no arm of the comparison (PostHog leaves them out of SRM).
   */
  readonly role: 'variant' | 'holdout'
}

export interface MetricRef {
  readonly name: string
  /** the event(s) it counts: funnel steps or a mean's source; the last is the goal */
  readonly events: readonly string[]
  readonly role: 'primary' | 'guardrail'
  /** documented on the experiment, configured in the plugin settings, or inferred by this report */
  readonly source: 'experiment' | 'settings' | 'inferred'
  /** why it was inferred (for assumptions) */
  readonly reason?: string
  /**
   * The counted matcher's name for the goal step (an event, or an event with its property filter);
   * null when the goal cannot be counted: its filter cannot run live, or it is no event (see `uncounted`).
   */
  readonly matcher?: string | null
  /** The goal step as PostHog names it: its event, or the action or table it reads. */
  readonly goal?: string
  /** The metric's steps this audit cannot count (`action 12 (Purchase)`, `data warehouse table charges`, `all events`). */
  readonly uncounted?: readonly string[]
  /** Where the experiment documents it; PostHog computes no result from a legacy `filters` goal. */
  readonly origin?: MetricOrigin
}

/**
 * A metric the experiment documents that reads nothing this audit can count (only actions, data
 * warehouse tables or every event): named in the report, never taken for a missing metric.
 */
export interface UncountedMetric {
  readonly name: string
  readonly role: 'primary' | 'guardrail'
  /** what it reads, as the steps name it */
  readonly reads: readonly string[]
  readonly origin: MetricOrigin
}

/** Every input of the checks, gathered once; each check is a pure function of it. */
export interface CheckContext {
  readonly flag: FlagDefinition
  readonly experiment: ExperimentDefinition | null
  readonly kind: FlagKind
  /** A flag without an experiment that splits traffic (several variants, or a partial rollout). */
  readonly deFactoExperiment: boolean
  readonly expected: readonly ExpectedVariant[]
  /** The exposure event that counts for this flag (the experiment's exposure config). */
  readonly exposureEvent: string
  readonly observation: FlagObservation | null
  /** Counters of the counted exposure event, if it is one the counters keep. */
  readonly exposure: ExposureObservation | null
  /** Counters of the other exposure event (to catch double counting or the wrong event). */
  readonly otherExposure: ExposureObservation | null
  readonly metrics: readonly MetricRef[]
  /** The experiment's metrics that read nothing this audit can count (not in `metrics`). */
  readonly uncountedMetrics: readonly UncountedMetric[]
  readonly cohorts: ReadonlyMap<number, CohortDefinition>
  readonly settings: Settings
  readonly nowMs: number
  /** experiment start, or the flag's creation */
  readonly startMs: number | null
  /** experiment end date or a per-flag deadline; null when none */
  readonly deadlineMs: number | null
  /** the experiment is running (started, not ended, not archived), or the flag is active */
  readonly running: boolean
  /** The flag's changes from PostHog's activity log, oldest first; null when its history was not read. */
  readonly changes: readonly FlagChange[] | null
}

export interface Check {
  readonly id: CheckId
  /** The context's inputs it reads, which must be there; without one the registry skips it (`not_applicable`). */
  readonly needs: readonly CheckInput[]
  /** Which kinds it judges; the others get `not_applicable`. */
  readonly appliesTo: (ctx: CheckContext) => boolean
  readonly run: (ctx: CheckContext) => CheckOutcome
}

/** The context's inputs that can be missing: a flag with no counters, no exposures, no experiment. */
export type CheckInput = 'observation' | 'exposure' | 'otherExposure' | 'experiment'

/** A context whose inputs `I` are there. */
export type ContextWith<I extends CheckInput> = CheckContext & { readonly [K in I]: NonNullable<CheckContext[K]> }

/** The inputs of `needs` the context lacks. */
export function missingInputs(ctx: CheckContext, needs: readonly CheckInput[]): CheckInput[] {
  return needs.filter((k) => ctx[k] === null || ctx[k] === undefined)
}

/**
 * A check that declares its inputs, as PostHog's experiment health registry declares the data each
 * check requires: `appliesTo` and `run` get a context in which those inputs are there, so the check
 * reads them without a non-null assertion. Called directly without them, `appliesTo` is false and
 * `run` throws, naming what is missing.
 */
export function defineCheck<I extends CheckInput = never>(spec: {
  readonly id: CheckId
  readonly needs?: readonly I[]
  readonly appliesTo: (ctx: ContextWith<I>) => boolean
  readonly run: (ctx: ContextWith<I>) => CheckOutcome
}): Check {
  const needs = spec.needs ?? []
  const has = (ctx: CheckContext): ctx is ContextWith<I> => missingInputs(ctx, needs).length === 0
  return {
    id: spec.id,
    needs,
    appliesTo: (ctx) => has(ctx) && spec.appliesTo(ctx),
    run: (ctx) => {
      if (!has(ctx)) throw new Error(`${spec.id} needs ${missingInputs(ctx, needs).join(', ')}`)
      return spec.run(ctx)
    },
  }
}

/** What a check's `run` returns: a result, before the registry adds its id and links its cause. */
export type CheckOutcome = Omit<CheckResult, 'id' | 'follows_from'>

export function result(
  status: CheckStatus,
  summary: string,
  evidence: Record<string, unknown> = {},
  fix: string | null = null,
  repairs: Repair[] = [],
): CheckOutcome {
  return { status, summary, evidence, fix, repairs }
}
