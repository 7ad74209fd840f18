import { showValue } from '../show-value.js'
import { count, pct } from '../context.js'
import { defineCheck, result } from './types.js'

export type OutsideKind = 'miscased' | 'unknown' | 'empty' | 'outside_rollout'

export const variantValues = defineCheck({
  id: 'variant_values',
  needs: ['exposure'],
  appliesTo: (ctx) => ctx.exposure.exposures > 0,
  run(ctx) {
    const exp = ctx.exposure
    const keys = new Map(ctx.expected.map((v) => [v.key.toLowerCase(), v.key]))
    const multivariate = ctx.kind !== 'boolean_flag' && (ctx.flag.filters.multivariate?.variants.length ?? 0) > 0
    // `false` for users outside a partial rollout or a targeted condition is how PostHog says
    // "not in the experiment": expected, and dropped by PostHog's exposure filter.
    const partial = ctx.flag.filters.groups.some((g) => !g.variant && ((g.rollout_percentage ?? 100) < 100 || g.properties.length > 0))
    const outside: { value: string; kind: OutsideKind; exposures: number }[] = []
    for (const v of exp.variants) {
      // The flag's own values: its variant keys (true/false on a boolean flag), and its experiment's
      // holdout value `holdout-<id>`, which PostHog serves the users it holds out.
      const valid = ctx.expected.some((e) => e.value === v.value)
      if (valid) continue
      let kind: OutsideKind = 'unknown'
      if (typeof v.value === 'string' && keys.has(v.value.toLowerCase())) kind = 'miscased'
      else if (v.value === false && multivariate && partial) kind = 'outside_rollout'
      else if (v.value === null || v.value === false || v.value === '') kind = 'empty'
      outside.push({ value: showValue(v.value), kind, exposures: v.exposures })
    }
    const bad = outside.filter((o) => o.kind !== 'outside_rollout')
    const badExposures = bad.reduce((n, o) => n + o.exposures, 0)
    const share = badExposures / exp.exposures
    const evidence = {
      exposures: exp.exposures,
      outside_exposures: badExposures,
      outside_share: share,
      // what the values outside the flag's own are: mis-cased keys, unknown ones, empty (no value at all)
      kinds: [...new Set(bad.map((o) => o.kind))],
      values: outside.sort((a, b) => b.exposures - a.exposures).slice(0, 10),
    }
    if (bad.length === 0) {
      const note = outside.length ? ' (false for users outside the rollout is expected)' : ''
      return result('pass', `Every exposure carries one of the flag's values${note}.`, evidence)
    }
    const kinds = [...new Set(bad.map((o) => o.kind))]
    const describe = bad.slice(0, 3).map((o) => `"${o.value}" (${count(o.exposures)})`).join(', ')
    const summary = `${pct(share)} of exposures carry values the flag does not have: ${describe}. PostHog drops them silently.`
    const repairs = [
      ...(kinds.includes('miscased') || kinds.includes('unknown')
        ? [{ category: 'property' as const, action: `Map ${describe} of "${ctx.flag.key}" onto the right variant in the analysis (or exclude them)`, effort: 'low' as const, blocking: share > ctx.settings.unknownVariantShare }]
        : []),
      { category: 'event' as const, action: `Find the client sending ${describe} for "${ctx.flag.key}" (a hard-coded key, an old app version, or a read before flags load)`, effort: 'medium' as const, blocking: false },
    ]
    // Above the configured share (1% by default) the readout loses a visible part of its sample.
    const status = share > ctx.settings.unknownVariantShare ? 'fail' : 'warn'
    return result(status, summary, evidence, 'Fix the client that sends them; until then map or exclude them explicitly.', repairs)
  },
})
