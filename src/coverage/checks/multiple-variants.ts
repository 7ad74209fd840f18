import { count, pct } from '../context.js'
import { sliceWords, multipleBySlice } from '../slices.js'
import { type CheckContext, type CheckOutcome, defineCheck, result } from './types.js'

// GrowthBook and Statsig call more than 1% of units with several variants unhealthy; PostHog warns
// above 10% (multipleVariantShare). Between the two, it is worth a look.
const NOTICE_SHARE = 0.01
// PostHog's bias_risk check (health/checks/bias_risk.py, A1): above 0.1% of users in `$multiple`,
// an uneven split with `exclude` handling drops them more often from the smaller variant.
const BIAS_RISK_SHARE = 0.001
// Units crossing at identify worth naming (one or two can be a shared device).
const MIN_CROSSED = 3

/** PostHog's even split (variant_distribution.py): 100 // n each, the remainder to the first ones. */
export function isEvenSplit(percentages: readonly number[]): boolean {
  const n = percentages.length
  if (n === 0) return true
  const base = Math.floor(100 / n)
  return percentages.every((p, i) => p === base + (i < 100 - base * n ? 1 : 0))
}

/**
 * The likely cause of units seeing several variants, from the flag's `ensure_experience_continuity`
 * (PostHog keeps the anonymous id's variant after identify only with it on: FeatureFlagHashKeyOverride).
 */
function continuityCause(ctx: CheckContext): string {
  const crossed = ctx.exposure?.identityCrossedUnits ?? 0
  const several = ctx.exposure?.multipleVariantUnits ?? 0
  if (crossed > 0) {
    const share = several > 0 ? ` (${pct(crossed / several)} of those with several)` : ''
    const seen = `${crossed === 1 ? '1 unit' : `${count(crossed)} units`}${share} saw one variant while anonymous and another once identified.`
    if (ctx.flag.ensure_experience_continuity === true) {
      return `${seen} Experience continuity is on, so the likely cause is a flag bootstrapped or evaluated with another distinct id than the browser's anonymous one (a server rendering with the user id, a bootstrap of the wrong id), or identify called with an id that already has another variant. Bootstrap with the same anonymous id posthog-js uses, and evaluate the flag server-side with that id until login.`
    }
    return `${seen} Experience continuity is off, so the flag is evaluated for the anonymous id before identify and again for the identified id after it. Turn on "persist flag across authentication" (experience continuity), or read the flag only after identify.`
  }
  // Counted, and none crossed at identify: the cause is elsewhere; a bootstrap that differs from
  // /flags shows in the exposures themselves (posthog-js sends the bootstrapped value beside them).
  const booted = (ctx.exposure?.variants ?? []).reduce((n, v) => n + v.bootstrapMismatchUnits, 0)
  if (ctx.exposure?.identityCrossedUnits === 0 && several > 0) {
    if (booted > 0) return `None of them crossed at identify; ${booted === 1 ? '1 unit was' : `${count(booted)} units were`} first shown a bootstrapped variant that /flags then changed (see Exposure source): bootstrap the page with the variant /flags gives for the same distinct id, or read the flag only after /flags answers.`
    return `None of them crossed at identify (anonymous and identified exposures agree), so look for a page bootstrapped with another distinct id or a stale variant, a server evaluating the flag with another id than the browser, cleared storage, or several devices.`
  }
  if (ctx.flag.ensure_experience_continuity === true) {
    return 'The flag keeps users in their variant across login (experience continuity is on), so look for a page bootstrapped with another distinct id, a server evaluating the flag with the user id while the browser used the anonymous one, cleared storage, or several devices.'
  }
  return 'The flag has experience continuity off: posthog-js evaluates it for the anonymous id and again for the identified id after identify, which can give another variant. Turn on "persist flag across authentication" (experience continuity), or evaluate the flag only after identify; then look for cleared storage or several devices.'
}

export const multipleVariants = defineCheck({
  id: 'multiple_variants',
  needs: ['exposure'],
  appliesTo: (ctx) => ctx.exposure.units > 0 && ctx.expected.length >= 2,
  run(ctx) {
    const r = judge(ctx)
    if (r.status !== 'warn' && r.status !== 'fail') return r
    // Where they cross: the slices over-represented among the units in several variants.
    const b = multipleBySlice(ctx)
    if (!b) return r
    const rows = b.over.map((s) => ({ dimension: s.dim, value: s.value, multiple_variant_units: s.multiple, units: s.units, share_of_multiple: s.multipleShare, share_of_units: s.unitShare, p_value: s.p }))
    const evidence = { ...r.evidence, slices: { counted: true, tested: b.tested, threshold_p_value: b.alpha, over_represented: rows } }
    const top = b.over[0]
    if (!top) return { ...r, evidence }
    const where = `${sliceWords(top)} holds ${pct(top.multipleShare)} of them (${count(top.multiple)} units) but ${pct(top.unitShare)} of all units (p ${top.p < 1e-16 ? '< 1e-16' : `= ${top.p.toExponential(1)}`})`
    return { ...r, evidence, summary: `${r.summary} ${where.charAt(0).toUpperCase()}${where.slice(1)}.`, fix: `Look at ${sliceWords(top)} first. ${r.fix ?? ''}`.trim() }
  },
})

function judge(ctx: CheckContext & { exposure: NonNullable<CheckContext['exposure']> }): CheckOutcome {
  const exp = ctx.exposure
  const share = exp.multipleVariantUnits / exp.units
  const handling = ctx.experiment?.exposure_criteria?.multiple_variant_handling ?? 'exclude'
  // `multiple_variant_share`, not `share`: exposure_gap has a share of its own (one name, one number)
  const evidence: Record<string, unknown> = { units: exp.units, multiple_variant_units: exp.multipleVariantUnits, multiple_variant_share: share, handling, experience_continuity: ctx.flag.ensure_experience_continuity === true }
  // Where the source counted it (`$is_identified` on the exposures, fields that can be listed).
  if (exp.identityCrossedUnits !== undefined) evidence.identity_crossed_units = exp.identityCrossedUnits
  // With `first_seen` PostHog shows no `$multiple` and raises no warning (analysis_health.py
  // `evaluate_bias_risk` answers None): every unit stays in the variant it saw first. Their metrics
  // still mix both experiences, so a high share is worth a look, not a block.
  if (handling === 'first_seen' && share > ctx.settings.multipleVariantShare) {
    return result(
      'warn',
      `${pct(share)} of units saw more than one variant; with First seen handling PostHog counts each in the variant it saw first, so their metrics mix both experiences.`,
      evidence,
      continuityCause(ctx),
      [{ category: 'flag_config', action: `Keep users of "${ctx.flag.key}" in one variant (experience continuity or a stable bucketing id)`, effort: 'medium', blocking: false }],
    )
  }
  if (share > ctx.settings.multipleVariantShare) {
    return result(
      'fail',
      `${pct(share)} of units saw more than one variant; PostHog drops them into $multiple, which biases the comparison.`,
      evidence,
      continuityCause(ctx),
      [{ category: 'flag_config', action: `Keep users of "${ctx.flag.key}" in one variant (experience continuity or a stable bucketing id)`, effort: 'medium', blocking: true }],
    )
  }
  const percentages = (ctx.flag.filters.multivariate?.variants ?? []).map((v) => v.rollout_percentage)
  if (ctx.kind === 'experiment' && ctx.running && handling === 'exclude' && !isEvenSplit(percentages) && share > BIAS_RISK_SHARE) {
    return result(
      'warn',
      `${pct(share)} of units saw more than one variant, on an uneven split (${percentages.join('/')}) with the Exclude handling: they are dropped more often from the smaller variant, so its metrics can be biased.`,
      { ...evidence, split: percentages },
      'Use an even split and control exposure with the overall rollout, or switch the handling to First seen (as PostHog advises).',
      [{ category: 'flag_config', action: `Even out the split of "${ctx.flag.key}" (control exposure with the rollout) or use First seen handling`, effort: 'low', blocking: false }],
    )
  }
  if (share > NOTICE_SHARE) return result('warn', `${pct(share)} of units saw more than one variant.`, evidence, continuityCause(ctx))
  // Fewer, but crossing at identify: a setup that re-buckets every user who signs up during the run.
  const crossed = exp.identityCrossedUnits ?? 0
  if (crossed >= MIN_CROSSED && crossed / exp.units > BIAS_RISK_SHARE) {
    return result('warn', `${count(crossed)} units (${pct(crossed / exp.units)}) saw one variant while anonymous and another once identified.`, evidence, continuityCause(ctx))
  }
  return result('pass', exp.multipleVariantUnits ? `${count(exp.multipleVariantUnits)} units (${pct(share)}) saw more than one variant.` : 'No unit saw more than one variant.', evidence)
}
