/**
 * Tracking defects the simulator can inject, one by one, each with the check that should catch it
 * (the check ids of DESIGN.md) and the parameter that sets its size.
 */
export const DEFECT_IDS = [
  'missing_exposure_payload_only',
  'missing_exposure_server',
  'exposure_after_goal',
  'unknown_variant',
  'miscased_variant',
  'false_response',
  'sample_ratio_mismatch',
  'crossover',
  'no_primary_metric',
  'no_guardrail',
  'metric_unreachable',
  'flag_off_running',
  'forced_variant',
  'dynamic_cohort_exposure',
  'double_exposure_event',
  'server_side_exposure',
  'underpowered',
  'payload_only_share',
  'payload_only_server',
  'bootstrap_stale',
  'exposure_stopped',
  'identify_rebucket',
  'split_changed',
  'slice_exposure_loss',
  'metric_stopped',
] as const
/** Defects outside the default `mix` (each is asked for by name, or by a scenario). */
export const OPT_IN_DEFECTS: readonly DefectId[] = ['payload_only_share', 'payload_only_server', 'bootstrap_stale', 'exposure_stopped', 'identify_rebucket', 'split_changed', 'slice_exposure_loss', 'metric_stopped']
export type DefectId = (typeof DEFECT_IDS)[number]

export type CheckId =
  | 'exposure_present'
  | 'exposure_event'
  | 'variant_values'
  | 'sample_ratio'
  | 'multiple_variants'
  | 'exposure_source'
  | 'exposure_gap'
  | 'primary_metric'
  | 'guardrails'
  | 'audience'
  | 'sample_size'
  | 'flag_state'
  | 'exposure_stall'
  | 'exposure_bias'
  | 'flag_changes'

export interface DefectSpec {
  readonly id: DefectId
  /** What it means for a team, in one line. */
  readonly description: string
  /** The checks that should fire on it. */
  readonly checks: readonly CheckId[]
  /** Needs an experiment (metrics, exposure criteria) rather than any flag. */
  readonly needsExperiment: boolean
  /** Needs a multivariate flag (string variants). */
  readonly needsVariants: boolean
  /** Default size, when the defect has one (a share of users or exposures). */
  readonly defaultParam: number | null
  /** The verdict a flag with only this defect should get. */
  readonly verdict: 'needs_backfill' | 'blocked' | 'insufficient_data' | 'trustworthy'
}

const spec = (
  id: DefectId,
  description: string,
  checks: CheckId[],
  needsExperiment: boolean,
  needsVariants: boolean,
  defaultParam: number | null = null,
): DefectSpec => ({ id, description, checks, needsExperiment, needsVariants, defaultParam, verdict: VERDICTS[id] })

// What a team can do about each: repair the data or its analysis (needs_backfill), wait for fixed
// assignment and new data (blocked), wait for traffic (insufficient_data). A missing guardrail is a
// warning: the readout names the guardrails it watched instead.
const VERDICTS: Record<DefectId, DefectSpec['verdict']> = {
  missing_exposure_payload_only: 'needs_backfill',
  missing_exposure_server: 'needs_backfill',
  exposure_after_goal: 'needs_backfill',
  unknown_variant: 'needs_backfill',
  miscased_variant: 'needs_backfill',
  false_response: 'needs_backfill',
  // Its users carry the variant; only their exposure is lost. The split of carriers is as planned, so
  // exposure_bias explains the mismatch, and counting exposure from $feature/ repairs the analysis.
  sample_ratio_mismatch: 'needs_backfill',
  crossover: 'blocked',
  no_primary_metric: 'needs_backfill',
  no_guardrail: 'trustworthy',
  metric_unreachable: 'needs_backfill',
  flag_off_running: 'blocked',
  forced_variant: 'blocked',
  dynamic_cohort_exposure: 'needs_backfill',
  double_exposure_event: 'needs_backfill',
  server_side_exposure: 'needs_backfill',
  underpowered: 'insufficient_data',
  payload_only_share: 'needs_backfill',
  payload_only_server: 'needs_backfill',
  // Users who read the flag before /flags answered saw two variants; the rest are counted right, and
  // the analysis can leave the others out.
  bootstrap_stale: 'needs_backfill',
  // Units exposed before the stop are counted right; the stall is repaired in the app.
  exposure_stopped: 'needs_backfill',
  // Only users who sign up during the run cross (a few percent of units): worth a warning, and the
  // analysis leaves them out as $multiple.
  identify_rebucket: 'trustworthy',
  // Users assigned before the change were re-bucketed: results are clean only from the change.
  // The mismatch follows from the change; moving the experiment's start to it is the repair.
  split_changed: 'needs_backfill',
  // As sample_ratio_mismatch, in one slice: the carriers split as planned, exposure_bias explains it.
  slice_exposure_loss: 'needs_backfill',
  // Exposed units until the stop are measured; the event is restored in the app.
  metric_stopped: 'needs_backfill',
}

export const DEFECTS: ReadonlyMap<DefectId, DefectSpec> = new Map(
  [
    spec('missing_exposure_payload_only', 'the code reads only the flag payload, so no exposure event is ever sent', ['exposure_present', 'exposure_gap'], false, false),
    spec('missing_exposure_server', 'the server evaluates the flag in bulk without sending exposure events', ['exposure_present', 'exposure_gap'], false, false),
    spec('exposure_after_goal', 'the exposure event is sent only after the goal event, so conversions precede exposure', ['exposure_event'], true, true),
    spec('unknown_variant', 'some clients send a stale variant key that the flag no longer has', ['variant_values'], false, true, 0.05),
    spec('miscased_variant', 'some clients send the variant key with different casing', ['variant_values'], false, true, 0.05),
    spec('false_response', 'some exposures carry `false` or an empty value instead of a variant', ['variant_values'], false, true, 0.08),
    spec('sample_ratio_mismatch', "a share of one variant's exposures is lost (its users carry the variant; their exposure never arrives), skewing the split of exposed users", ['sample_ratio', 'exposure_bias'], true, true, 0.25),
    spec('crossover', 'users are re-bucketed on later visits (no experience continuity) and see more than one variant', ['multiple_variants'], false, true, 0.9),
    spec('no_primary_metric', 'the experiment documents no metric', ['primary_metric'], true, true),
    spec('no_guardrail', 'the experiment has no guardrail (secondary) metric', ['guardrails'], true, true),
    spec('metric_unreachable', "the primary metric's event is never sent by exposed users", ['primary_metric'], true, true),
    spec('flag_off_running', 'the experiment is running but its flag was switched off', ['flag_state'], true, true),
    spec('forced_variant', 'a release condition pins enterprise users to one variant', ['flag_state'], true, true),
    spec('dynamic_cohort_exposure', 'the flag targets a dynamic cohort, so the audience shifts during the experiment', ['audience'], true, true),
    spec('double_exposure_event', 'both $feature_flag_called and $experiment_exposure arrive for every exposure', ['exposure_event'], true, true),
    spec('server_side_exposure', 'the server also evaluates the flag on every request, exposing users who never see the change', ['exposure_source'], false, true, 0.6),
    spec('payload_only_share', 'on the web, most users get the variant through getFeatureFlagPayload (no exposure event) yet convert', ['exposure_gap'], true, false, 0.8),
    spec('payload_only_server', 'the server reads most users\' variant as a payload (no exposure event); their requests carry the flag, and they convert', ['exposure_gap'], true, false, 0.8),
    spec('bootstrap_stale', 'the server bootstraps the page with a stale variant that /flags then corrects, so those users are exposed to two variants', ['exposure_source', 'multiple_variants'], true, true, 0.3),
    spec('exposure_stopped', 'a release removed the flag call from the web app for the last part of the run (the size: its share): exposures stop while the experiment runs', ['exposure_stall'], true, true, 0.35),
    spec('identify_rebucket', 'the web app reads the flag before identify and again after it, with experience continuity off: users who sign up are re-bucketed by their new id (the size: the share of users affected)', ['multiple_variants'], false, true, 0.9),
    spec('split_changed', "someone changed the experiment's split while it ran (the size: the share of the run before the change), re-bucketing users; the change is in the flag's activity log", ['flag_changes'], true, true, 0.5),
    spec('slice_exposure_loss', "an outdated posthog-js on Safari loses most of one variant's exposures (the size: the share lost in that slice); the users still carry the variant", ['sample_ratio', 'exposure_bias'], true, true, 0.9),
    spec('metric_stopped', "a release stopped sending the experiment's primary metric event for the last part of the run (the size: its share) while exposures go on", ['exposure_stall'], true, true, 0.35),
    spec('underpowered', 'the experiment is rolled out to so few users that no variant gets enough exposures', ['sample_size'], true, true, 0.04),
  ].map((d) => [d.id, d]),
)

export interface DefectRequest {
  readonly id: DefectId
  readonly param: number | null
  /** A flag key to put it on; otherwise the first eligible flag without a defect. */
  readonly flag: string | null
}

/**
 * Parses `--defects`: `mix` (every defect once), `none`, or a comma list of `id`, `id:param`,
 * `id@flag-key` or `id@flag-key:param`. Throws with the offending entry named.
 */
export function parseDefectList(text: string): DefectRequest[] | 'mix' {
  const trimmed = text.trim()
  if (trimmed === '' || trimmed === 'none') return []
  if (trimmed === 'mix') return 'mix'
  return trimmed.split(',').map((entry) => {
    const m = /^([a-z_]+)(?:@([^:]+))?(?::([0-9.]+))?$/.exec(entry.trim())
    const id = m?.[1] as DefectId | undefined
    if (!m || !id || !DEFECTS.has(id)) {
      throw new Error(`unknown defect "${entry.trim()}"; known: ${DEFECT_IDS.join(', ')} (optionally id@flag-key and id:size)`)
    }
    const param = m[3] === undefined ? DEFECTS.get(id)!.defaultParam : Number(m[3])
    if (param !== null && !(param > 0 && param < 1)) throw new Error(`defect "${entry.trim()}": the size must be a share between 0 and 1`)
    return { id, param, flag: m[2] ?? null }
  })
}
