/**
 * What `explain_check` says of each check: the rule, its thresholds (a setting a team can change,
 * or a constant of the check), and where the rule comes from, as docs/checks.md describes them.
 * The values in force come from the report's `thresholds`; these are the defaults and the meaning.
 */
import type { CheckId } from '../coverage/checks/types.js'

export interface ThresholdRef {
  /** a setting's key (plugin.json), or the check's constant */
  readonly name: string
  /** true: a plugin setting (thresholds in the report carry its value in force); false: fixed in the check */
  readonly setting: boolean
  readonly default: number
  readonly means: string
}

export interface CheckRef {
  readonly rule: string
  readonly thresholds: readonly ThresholdRef[]
  /** how PostHog's own experiment health checks compare, and where the rule comes from */
  readonly source: string
}

const setting = (name: string, def: number, means: string): ThresholdRef => ({ name, setting: true, default: def, means })
const fixed = (name: string, def: number, means: string): ThresholdRef => ({ name, setting: false, default: def, means })

export const CHECK_REFERENCE: Readonly<Record<CheckId, CheckRef>> = {
  exposure_present: {
    rule: 'Fails when no exposure has arrived noExposureHours after launch; names a payload-only read when units carry the flag without any exposure.',
    thresholds: [setting('noExposureHours', 24, 'hours after launch without any exposure')],
    source: "PostHog's zero_exposures.py health check: the same 24 hours (PostHog warns; this check fails).",
  },
  exposure_stall: {
    rule: 'Fails when a running experiment has had no exposure for 48 hours after some arrived (naming the first silent day and the libraries that sent before); warns when the last two complete days average below a fifth of the seven days before them (those having averaged at least 20 a day). While exposures arrive, fails when the primary metric goes silent among exposed units for 48 hours (after 5 events a day).',
    thresholds: [
      fixed('STALL.hours', 48, 'hours without exposure after some arrived'),
      fixed('STALL.dropShare', 0.2, 'share of the trailing level below which a fall warns'),
      fixed('STALL.minTrailingPerDay', 20, 'exposures a day the trailing week must have averaged'),
      fixed('STALL.minMetricPerDay', 5, 'primary metric events a day before its silence counts'),
    ],
    source: "PostHog's experiments scout (signals-scout-experiments): zero exposures for 48 h after a healthy baseline is a stall. PostHog's health checks have no stall check.",
  },
  exposure_event: {
    rule: "Fails when the experiment counts an exposure event that does not arrive (a custom exposure event counts when it carries $feature/<key>), when a manual $experiment_exposure doubles $feature_flag_called, or when most goal events come before the unit's exposure.",
    thresholds: [fixed('BEFORE_EXPOSURE_SHARE', 0.5, 'share of goal events sent before exposure')],
    source: 'No PostHog check.',
  },
  variant_values: {
    rule: "Fails when more than unknownVariantShare of exposures carry values outside the flag's own (mis-cased, stale, empty or missing): PostHog drops them silently. `false` outside a partial rollout is expected; an experiment's holdout value is one of the flag's own.",
    thresholds: [setting('unknownVariantShare', 0.01, 'share of exposures with values outside the variants')],
    source: "No PostHog check: PostHog's exposure query drops these values without a word.",
  },
  sample_ratio: {
    rule: 'Fails (blocks) when a chi-square goodness-of-fit test of units per variant against the planned split gives p < srmPValue, from srmMinExposures units, $multiple units and the holdout left out. A mismatch is broken down by slice (SDK and version, app version, browser, OS, device, country; 30 units a slice, Bonferroni) and the smallest slice whose removal leaves a split that looks like the plan (p >= 0.01) is named. Warns when the whole split matches but one slice does not. A mismatch that follows from a change of split mid-run (flag_changes) or from exposure that depends on the variant (exposure_bias) says so and does not block.',
    thresholds: [setting('srmPValue', 0.001, 'p-value below which the split mismatches'), setting('srmMinExposures', 100, 'units before the test runs'), fixed('slice minimum', 30, 'units a slice needs to be tested'), fixed('REST_MATCHES_P', 0.01, 'p-value the rest of the units must reach for a slice to explain a mismatch'), fixed('WHOLE_SHARE', 0.99, 'share of the units above which a slice is the whole split and is not tested')],
    source: "PostHog's srm.py and _calculate_srm: the same p < 0.001 from 100 units; PostHog warns, this check blocks.",
  },
  multiple_variants: {
    rule: 'Fails (blocks) when more than multipleVariantShare of units saw several variants; warns above 1%, and above 0.1% on an uneven split with Exclude handling. Counts the units that saw one variant while anonymous and another once identified ($is_identified) and warns from 3 of them above 0.1% of units. The fix names the likely cause from the flag\'s experience continuity.',
    thresholds: [setting('multipleVariantShare', 0.1, 'share of units in several variants that fails'), fixed('NOTICE_SHARE', 0.01, 'share that warns'), fixed('BIAS_RISK_SHARE', 0.001, 'share that warns on an uneven split with exclude, and share of units crossing at identify that warns'), fixed('MIN_CROSSED', 3, 'units crossing at identify before it warns')],
    source: "PostHog's bias_risk.py (A1): above 0.1% on an uneven split with exclude; PostHog has no 10% failure (stricter here).",
  },
  exposure_source: {
    rule: 'Fails when over serverSideShare of units are also exposed by a server SDK (from 100 exposures), or over 1% of units were bootstrapped with another variant than /flags gave; warns on evaluation errors.',
    thresholds: [setting('serverSideShare', 0.1, 'share of units exposed by a server SDK'), fixed('MIN_EXPOSURES', 100, 'exposures before the share is judged'), fixed('BOOTSTRAP_MISMATCH_SHARE', 0.01, 'share of units with a bootstrap that differs'), fixed('ERROR_SHARE', 0.01, 'share of evaluations with errors that warns')],
    source: 'No PostHog health check (users ask for exposures by source, PostHog issue #92754).',
  },
  exposure_gap: {
    rule: "Fails when over surfaceGapShare of the units that sent the experiment's primary metric event while carrying a value of the flag were never exposed; without a metric to mark the surface (or under 20 such units), when over exposureGapShare of the units carrying a value were never exposed. Names payloads when the flag defines them.",
    thresholds: [setting('surfaceGapShare', 0.5, 'share of units reaching the goal unexposed'), setting('exposureGapShare', 0.9, 'share of units carrying a value unexposed'), fixed('MIN_REACHED', 20, 'units reaching the goal before the first rule applies')],
    source: 'No PostHog check.',
  },
  exposure_bias: {
    rule: "Fails when a chi-square test of independence on exposed and never-exposed carriers ($feature/<key>) per variant gives p < 0.001 and the highest exposure rate exceeds the lowest by more than 10%: the exposure is sent downstream of the change.",
    thresholds: [fixed('BIAS.pValue', 0.001, 'p-value of the independence test'), fixed('BIAS.minCarriers', 200, 'carriers in all'), fixed('BIAS.minPerVariant', 30, 'carriers a variant'), fixed('BIAS.minRelativeGap', 0.1, 'relative gap between exposure rates')],
    source: 'No PostHog check.',
  },
  primary_metric: {
    rule: 'Fails when a launched experiment documents no primary metric (the likely one is named and inferred as an assumption; a draft only warns), or when no exposed unit sends the metric event.',
    thresholds: [],
    source: "PostHog's no_metric.py warns only with no primary and no secondary metric, once launched: stricter here.",
  },
  guardrails: {
    rule: 'Warns when an experiment has no secondary metrics (naming the guardrails exposed users send); fails when there are none to watch.',
    thresholds: [],
    source: 'No PostHog check.',
  },
  audience: {
    rule: 'Fails on a dynamic cohort in the release conditions; warns on unfiltered test accounts or a missing cohort.',
    thresholds: [],
    source: 'No PostHog health check (its experiment page warns on dynamic cohorts).',
  },
  sample_size: {
    rule: 'Fails (not enough data) while a variant has fewer than minExposuresPerVariant units; says when it will get there and whether that is after the deadline.',
    thresholds: [setting('minExposuresPerVariant', 50, 'units each variant needs')],
    source: 'PostHog shows no result below 50 exposures a variant.',
  },
  flag_state: {
    rule: 'Fails (blocks) when a running experiment\'s flag is off, at 0%, has one variant at 100%, or a reachable release condition pins a variant; warns when the flag still splits after the experiment ended or before a draft launched.',
    thresholds: [],
    source: "PostHog's flag_state.py (A5) and forced_variant.py (A7): the same states, warnings there; running ones block here.",
  },
  flag_changes: {
    rule: "Fails when the flag's activity log has a change after the experiment started that moves users (a new split, other conditions, a lowered rollout, another unit of assignment) and says from when results are clean; warns on changes that move no one already assigned. Not applicable without the history.",
    thresholds: [],
    source: "PostHog's activity log (feature_flags/:id/activity/); the scout (signals-scout-experiments) reports mid-run filters edits the same way. PostHog's experiment page does not say from when results are clean.",
  },
}

/** The check's module: src/coverage/checks/<id in kebab-case>.ts. */
export function checkSourceFile(id: CheckId): string {
  return `src/coverage/checks/${id.replace(/_/g, '-')}.ts`
}
