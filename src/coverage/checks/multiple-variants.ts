import { pct } from '../context.js'
import type { Check } from './types.js'
import { result } from './types.js'

// GrowthBook and Statsig call more than 1% of units with several variants unhealthy; PostHog warns
// above 10% (multipleVariantShare). Between the two, it is worth a look.
const NOTICE_SHARE = 0.01

export const multipleVariants: Check = {
  id: 'multiple_variants',
  appliesTo: (ctx) => (ctx.exposure?.units ?? 0) > 0 && ctx.expected.length >= 2,
  run(ctx) {
    const exp = ctx.exposure!
    const share = exp.multipleVariantUnits / exp.units
    const handling = ctx.experiment?.exposure_criteria?.multiple_variant_handling ?? 'exclude'
    const evidence = { units: exp.units, multiple_variant_units: exp.multipleVariantUnits, share, handling }
    if (share > ctx.settings.multipleVariantShare) {
      return result(
        'fail',
        `${pct(share)} of units saw more than one variant; PostHog ${handling === 'exclude' ? 'drops them' : 'keeps their first variant'}, which biases the comparison.`,
        evidence,
        'Turn on "persist flag across authentication" (experience continuity) or evaluate the flag on a stable id; look for cleared storage or cross-device use.',
        [{ category: 'flag_config', action: `Keep users of "${ctx.flag.key}" in one variant (experience continuity or a stable bucketing id)`, effort: 'medium', blocking: true }],
      )
    }
    if (share > NOTICE_SHARE) return result('warn', `${pct(share)} of units saw more than one variant.`, evidence, 'Check identity merges and cleared storage.')
    return result('pass', exp.multipleVariantUnits ? `${exp.multipleVariantUnits} units (${pct(share)}) saw more than one variant.` : 'No unit saw more than one variant.', evidence)
  },
}
