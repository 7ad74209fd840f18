import chi2gof from '@stdlib/stats-chi2gof'
import { cleanUnits, count } from '../context.js'
import { sliceWords, splitBySlice, type SliceBreakdown } from '../slices.js'
import { type CheckContext, defineCheck, result } from './types.js'

/**
 * Chi-square goodness of fit of the units per variant against the flag's rollout percentages,
 * as PostHog computes it: units seen with several variants (`$multiple`), variants planned at 0%
 * and the experiment's holdout left out, the other shares scaled to add up to 1; tested from
 * `srmMinExposures` units on, flagged below `srmPValue` (PostHog: n >= 100, p < 0.001;
 * products/experiments/backend/hogql_queries/experiment_exposures_query_runner.py `_calculate_srm`,
 * whose test_srm_calculation_adjusts_for_holdout pins the holdout left out).
 */
const arms = (ctx: CheckContext) => ctx.expected.filter((v) => v.role === 'variant' && v.share > 0)

export const sampleRatio = defineCheck({
  id: 'sample_ratio',
  appliesTo: (ctx) => (ctx.kind === 'experiment' || ctx.deFactoExperiment) && arms(ctx).length >= 2,
  run(ctx) {
    // A boolean flag only splits randomly when one plain percentage rollout decides it.
    if (ctx.kind === 'boolean_flag' && !(ctx.flag.filters.groups.length === 1 && ctx.flag.filters.groups[0]!.properties.length === 0)) {
      return result('not_applicable', 'The flag targets users by condition, so its true/false split is not random.')
    }
    const planned = arms(ctx)
    const observed = planned.map((v) => cleanUnits(ctx, v.key))
    const total = observed.reduce((a, b) => a + b, 0)
    const shareSum = planned.reduce((a, v) => a + v.share, 0)
    const expectedShares = planned.map((v) => v.share / shareSum)
    const evidence: Record<string, unknown> = {
      variants: planned.map((v, i) => ({ key: v.key, units: observed[i], expected_share: expectedShares[i], observed_share: total ? (observed[i] as number) / total : 0 })),
      total_units: total,
      threshold_p_value: ctx.settings.srmPValue,
    }
    // The holdout's units are counted (variant_values knows its value) but are no arm of the test.
    const holdout = ctx.expected.find((v) => v.role === 'holdout')
    if (holdout) evidence.holdout = { key: holdout.key, units: cleanUnits(ctx, holdout.key), expected_share: holdout.share, tested: false }
    if (total < ctx.settings.srmMinExposures) {
      return result('unknown', `Too few units to test the split yet (${count(total)} of ${count(ctx.settings.srmMinExposures)}).`, evidence)
    }
    if (observed.filter((n) => n > 0).length < 2) {
      return result('fail', 'Only one variant has any units: the split is broken.', evidence, 'Check how the flag is evaluated for each variant.', [
        { category: 'flag_config', action: `Find why only one variant of "${ctx.flag.key}" receives units`, effort: 'high', blocking: true },
      ])
    }
    const test = chi2gof(observed, expectedShares)
    evidence.p_value = test.pValue
    evidence.chi_square = test.statistic
    if (test.pValue < ctx.settings.srmPValue) {
      const worst = planned
        .map((v, i) => ({ key: v.key, diff: (observed[i] as number) / total - (expectedShares[i] as number) }))
        .sort((a, b) => Math.abs(b.diff) - Math.abs(a.diff))[0]!
      // Where it goes wrong: the split by SDK, app version, browser, OS, device and country.
      const slices = splitBySlice(ctx)
      if (slices) evidence.slices = slicesEvidence(slices)
      const shares = (xs: readonly number[]) => xs.map((x, i) => `${Math.round(x * 1000) / 10}% ${slices!.variants[i]}`).join(' / ')
      const where = slices?.explains
        ? ` The mismatch is in ${sliceWords(slices.explains)} (${slices.explains.units} units: ${shares(slices.explains.counts.map((n) => n / slices.explains!.units))}, p = ${slices.explains.p.toExponential(1)}); the rest split ${shares(slices.explains.restShares)} as planned.`
        : slices && slices.mismatched.length > 0
          ? ` The slices furthest from the plan: ${slices.mismatched.slice(0, 3).map((s) => `${sliceWords(s)} (${s.units} units, p = ${s.p.toExponential(1)})`).join(', ')}; no one of them explains it alone.`
          : slices
            ? ` No slice (SDK, app version, browser, OS, device, country) stands out: the cause is spread over them.`
            : ''
      return result(
        'fail',
        `Sample ratio mismatch: "${worst.key}" has ${worst.diff > 0 ? 'more' : 'fewer'} units than planned (p = ${test.pValue.toExponential(1)}). Results cannot be trusted until the cause is found.${where}`,
        evidence,
        slices?.explains
          ? `Look at ${sliceWords(slices.explains)} first: what differs there between variants (a crash, a redirect, an SDK that drops the exposure)? Until it is fixed, leaving its users out of the analysis leaves a split that matches the plan.`
          : 'Look for exposures lost in one variant (a crash, a redirect, a slower page), bots, or a changed rollout; PostHog shows the same warning.',
        [{ category: 'event', action: slices?.explains ? `Find why ${sliceWords(slices.explains)} loses or gains exposures of "${worst.key}" of "${ctx.flag.key}"` : `Find where "${worst.key}" of "${ctx.flag.key}" loses or gains exposures`, effort: 'high', blocking: true }],
      )
    }
    // The whole split can match while one slice is far off (an SDK version that drops one variant's
    // exposures on one browser): each slice is held to the threshold over the number tested, so a
    // healthy flag warns here no more often than the whole split fails.
    const slices = splitBySlice(ctx)
    const worstSlice = slices?.mismatched[0]
    if (slices && worstSlice) {
      evidence.slices = slicesEvidence(slices)
      const split = worstSlice.counts.map((n, i) => `${Math.round((n / worstSlice.units) * 1000) / 10}% ${slices.variants[i]}`).join(' / ')
      return result(
        'warn',
        `The split matches the plan overall (p = ${test.pValue.toFixed(3)}), but not in ${sliceWords(worstSlice)} (${count(worstSlice.units)} units: ${split}, p = ${worstSlice.p.toExponential(1)})${slices.mismatched.length > 1 ? `; ${count(slices.mismatched.length - 1)} more slices are off` : ''}.`,
        evidence,
        `Look at ${sliceWords(worstSlice)}: what differs there between variants (an SDK version that drops the exposure, a crash, a redirect)? Its users' results are biased until it is fixed.`,
        [{ category: 'event', action: `Find why ${sliceWords(worstSlice)} loses or gains exposures of one variant of "${ctx.flag.key}"`, effort: 'medium', blocking: false }],
      )
    }
    return result('pass', `The split matches the plan (p = ${test.pValue.toFixed(3)}).`, evidence)
  },
})

/** The breakdown as evidence: numbers a reader can check, each slice with its units per variant. */
function slicesEvidence(b: SliceBreakdown): Record<string, unknown> {
  // first_bad_day: the slice's first day in the run; what went wrong there can be no older (an annotation marks it).
  const row = (s: { dim: string; value: string; units: number; counts: readonly number[]; p: number; firstDay?: string }) => ({
    dimension: s.dim,
    value: s.value,
    units: s.units,
    units_per_variant: Object.fromEntries(b.variants.map((v, i) => [v, s.counts[i]])),
    p_value: s.p,
    ...(s.firstDay ? { first_bad_day: s.firstDay } : {}),
  })
  return {
    tested: b.tested,
    threshold_p_value: b.alpha,
    mismatched: b.mismatched.map(row),
    explained_by: b.explains ? { ...row(b.explains), rest_shares: Object.fromEntries(b.variants.map((v, i) => [v, b.explains!.restShares[i]])), rest_p_value: b.explains.restP } : null,
  }
}
