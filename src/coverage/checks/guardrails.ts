import { metricObservation } from '../metric-data.js'
import { defineCheck, result } from './types.js'

// PostHog has no first-class guardrails: an experiment's secondary metrics play that role.
export const guardrails = defineCheck({
  id: 'guardrails',
  appliesTo: (ctx) => ctx.kind === 'experiment',
  run(ctx) {
    const documented = ctx.metrics.filter((m) => m.role === 'guardrail' && m.source === 'experiment')
    const inferred = ctx.metrics.filter((m) => m.role === 'guardrail' && m.source === 'inferred')
    // Secondary metrics on actions or data warehouse tables are documented guardrails this audit cannot count.
    const uncountable = ctx.uncountedMetrics.filter((m) => m.role === 'guardrail')
    if (documented.length === 0 && uncountable.length > 0) {
      return result(
        'unknown',
        `The guardrails read what this audit cannot count: ${uncountable.map((m) => `"${m.name}" (${m.reads.join(' and ')})`).join('; ')}.`,
        { guardrails: uncountable.map((m) => m.name), not_countable: uncountable.map((m) => ({ name: m.name, reads: m.reads })) },
        "PostHog computes them from its own data: judge them on the experiment's page.",
      )
    }
    if (documented.length === 0) {
      if (inferred.length) {
        return result(
          'warn',
          `No guardrail (secondary) metric is documented; this report watches ${inferred.map((m) => m.name).join(', ')} instead.`,
          { inferred: inferred.map((m) => m.name) },
          'Add guardrails as secondary metrics so the decision weighs harm as well as gain.',
          [{ category: 'metric', action: `Add guardrails (e.g. ${inferred.map((m) => m.name).join(', ')}) to "${ctx.experiment?.name ?? ctx.flag.key}"`, effort: 'low', blocking: false }],
        )
      }
      return result('fail', 'No guardrail metric is documented, and exposed users send no common guardrail event.', {}, 'Add at least one guardrail (errors, refunds, support tickets) as a secondary metric.', [
        { category: 'metric', action: `Add a guardrail metric to "${ctx.experiment?.name ?? ctx.flag.key}"`, effort: 'low', blocking: true },
      ])
    }
    const silent = documented.filter((m) => {
      const data = metricObservation(ctx, m)
      return data !== null && data.variants.every((v) => v.units === 0)
    })
    const evidence = {
      guardrails: documented.map((m) => m.name),
      without_data: silent.map((m) => m.name),
      ...(uncountable.length ? { not_countable: uncountable.map((m) => ({ name: m.name, reads: m.reads })) } : {}),
    }
    if (silent.length === documented.length && (ctx.exposure?.units ?? 0) >= ctx.settings.minExposuresPerVariant) {
      return result('warn', `No exposed unit has sent any guardrail event (${silent.map((m) => m.events.at(-1)).join(', ')}).`, evidence, 'Check the guardrail event names.')
    }
    return result('pass', `Guardrails: ${documented.map((m) => m.name).join(', ')}.`, evidence)
  },
})
