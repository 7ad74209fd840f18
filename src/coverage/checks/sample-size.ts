import { cleanUnits, count } from '../context.js'
import { defineCheck, result } from './types.js'
import { DAY_MS } from '../../time.js'

// PostHog shows no result for a variant with fewer than 50 exposures (minExposuresPerVariant).
export const sampleSize = defineCheck({
  id: 'sample_size',
  // Without any exposed unit, exposure_present already says what is wrong; a sample size of zero adds nothing.
  appliesTo: (ctx) => (ctx.kind === 'experiment' || ctx.deFactoExperiment) && ctx.running && (ctx.exposure?.units ?? 0) > 0,
  run(ctx) {
    const min = ctx.settings.minExposuresPerVariant
    // The holdout is no arm of the comparison: PostHog's results leave it out (test_excluded_variants.py).
    const planned = ctx.expected.filter((v) => v.role === 'variant' && v.share > 0)
    const units = planned.map((v) => ({ key: v.key, units: cleanUnits(ctx, v.key), share: v.share }))
    const short = units.filter((u) => u.units < min)
    const days = ctx.startMs === null ? null : Math.max(1, (ctx.nowMs - ctx.startMs) / DAY_MS)
    // Days until the slowest variant reaches the minimum, at its rate so far.
    const daysToMin = days === null ? null : Math.max(0, ...short.map((u) => (u.units > 0 ? ((min - u.units) * days) / u.units : Infinity)))
    const daysLeft = ctx.deadlineMs === null ? null : (ctx.deadlineMs - ctx.nowMs) / DAY_MS
    const evidence = {
      minimum_per_variant: min,
      variants: units.map(({ key, units }) => ({ key, units })),
      days_running: days === null ? null : Math.round(days * 10) / 10,
      days_to_minimum: daysToMin === null || !Number.isFinite(daysToMin) ? null : Math.ceil(daysToMin),
      days_to_deadline: daysLeft === null ? null : Math.round(daysLeft * 10) / 10,
      recommended_sample_size: ctx.experiment?.parameters?.recommended_sample_size ?? null,
    }
    if (short.length === 0) return result('pass', `Every variant has at least ${count(min)} units (smallest: ${count(Math.min(...units.map((u) => u.units)))}).`, evidence)
    const late = daysLeft !== null && (daysToMin === null || daysToMin > daysLeft)
    const when = daysToMin !== null && Number.isFinite(daysToMin) ? ` At the current rate that takes about ${Math.ceil(daysToMin)} more days${late ? ', past the readout deadline' : ''}.` : ' No unit has reached the smallest variant yet.'
    return result(
      'fail',
      `${short.map((u) => `"${u.key}" has ${count(u.units)}`).join(', ')} of the ${count(min)} units per variant a result needs.${when}`,
      evidence,
      late ? 'Widen the audience (reach or rollout) or move the readout date.' : 'Wait for more traffic before reading results.',
      late ? [{ category: 'flag_config', action: `Widen the rollout of "${ctx.flag.key}" or move its readout date`, effort: 'low', blocking: false }] : [],
    )
  },
})
