import chisquareCdf from '@stdlib/stats-base-dists-chisquare-cdf'
import { count, findVariant, pct } from '../context.js'
import { exposureFromProperty, sendExposure } from './repairs.js'
import { defineCheck, result } from './types.js'

/**
 * Exposure that depends on the variant. Assignment is random among the units that carry a flag's
 * value (`$feature/<key>` on their events), so each variant's carriers are exposed at the same
 * rate unless the variant itself changes who reaches the exposure: an exposure sent on a page only
 * the treatment leads to, or after the change was shown. Then the exposed units of each variant are
 * different people, and the comparison is biased even with a perfect split. A chi-square test of
 * independence on exposed and never-exposed carriers per variant; a flag read on one page only is
 * exposed alike in every variant and stays quiet.
 */
export const BIAS = {
  /** the test's threshold, PostHog's sample ratio threshold */
  pValue: 0.001,
  /** carriers needed in all, and in each variant, before the rates are compared */
  minCarriers: 200,
  minPerVariant: 30,
  /** the highest exposure rate must exceed the lowest by more than this share of it */
  minRelativeGap: 0.1,
} as const

export const exposureBias = defineCheck({
  id: 'exposure_bias',
  needs: ['observation', 'exposure'],
  appliesTo: (ctx) => (ctx.kind === 'experiment' || ctx.deFactoExperiment) && ctx.kind !== 'boolean_flag' && ctx.expected.filter((v) => v.role === 'variant' && v.share > 0).length >= 2,
  run(ctx) {
    const carried = ctx.observation.sightings.variants
    const rows = ctx.expected
      .filter((v) => v.role === 'variant' && v.share > 0)
      .map((v) => ({ key: v.key, carrying: carried.find((c) => c.value === v.value)?.units ?? 0, exposed: findVariant(ctx.exposure, v.value)?.units ?? 0 }))
    const carrying = rows.reduce((n, r) => n + r.carrying, 0)
    const evidence: Record<string, unknown> = { variants: rows.map((r) => ({ ...r, exposed_share: r.carrying ? r.exposed / r.carrying : null })), thresholds: BIAS }
    if (carrying < BIAS.minCarriers || rows.some((r) => r.carrying < BIAS.minPerVariant)) {
      return result('not_applicable', `Too few units carry the flag's values to compare how each variant is exposed (${count(carrying)}; ${BIAS.minCarriers} in all and ${BIAS.minPerVariant} a variant are needed).`, evidence)
    }
    // Exposed units beyond the carriers: exposures come from where the flag is not attached (a server
    // SDK), so "carrying but not exposed" has no meaning here.
    if (rows.some((r) => r.exposed > r.carrying * 1.05)) {
      return result('not_applicable', 'More units are exposed than carry the flag (exposures come from where $feature/ is not attached, such as a server): the two splits cannot be compared.', evidence)
    }
    const exposedAll = rows.reduce((n, r) => n + r.exposed, 0)
    const rate = exposedAll / carrying
    if (rate === 0 || rate === 1) return result('not_applicable', rate === 0 ? 'No carrying unit was exposed: Exposure gap judges that.' : 'Every carrying unit was exposed.', evidence)
    // Chi-square test of independence on the 2 x k table (exposed, never exposed) by variant.
    let statistic = 0
    for (const r of rows) {
      const e = r.carrying * rate
      const n = r.carrying * (1 - rate)
      statistic += (r.exposed - e) ** 2 / e + (r.carrying - r.exposed - n) ** 2 / n
    }
    const p = 1 - chisquareCdf(statistic, rows.length - 1)
    const rates = rows.map((r) => r.exposed / r.carrying)
    const gap = Math.max(...rates) / Math.max(1e-12, Math.min(...rates)) - 1
    Object.assign(evidence, { p_value: p, chi_square: statistic, relative_gap: gap })
    const listed = [...rows].sort((a, b) => b.exposed / b.carrying - a.exposed / a.carrying).map((r) => `${pct(r.exposed / r.carrying)} of the ${count(r.carrying)} units carrying ${r.key}`).join(', ')
    if (p < BIAS.pValue && gap > BIAS.minRelativeGap) {
      return result(
        'fail',
        `Exposure depends on the variant: ${listed} were exposed (p = ${p.toExponential(1)}). The exposure is sent after the change shows (a page only one variant leads to, or a later step), so each variant's exposed users are different people and the comparison is biased.`,
        evidence,
        `Send the exposure where the flag is read, before the variant changes anything; meanwhile count exposure from the first event carrying $feature/${ctx.flag.key}, which every variant sends alike.`,
        [exposureFromProperty(ctx, false), { ...sendExposure(ctx), blocking: false }],
      )
    }
    return result('pass', `Each variant's carriers are exposed alike: ${listed} (p = ${p < 0.001 ? p.toExponential(1) : p.toFixed(3)}).`, evidence)
  },
})
