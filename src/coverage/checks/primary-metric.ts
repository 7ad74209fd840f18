import { metricObservation } from '../metric-data.js'
import type { Check } from './types.js'
import { result } from './types.js'

export const primaryMetric: Check = {
  id: 'primary_metric',
  appliesTo: (ctx) => ctx.kind === 'experiment' || ctx.deFactoExperiment,
  run(ctx) {
    const documented = ctx.metrics.filter((m) => m.role === 'primary' && m.source !== 'inferred')
    const inferred = ctx.metrics.find((m) => m.role === 'primary' && m.source === 'inferred')
    const exposedUnits = ctx.exposure?.units ?? 0
    if (documented.length === 0) {
      if (ctx.kind !== 'experiment') {
        return result('not_applicable', 'No goal is configured for this flag; add goal events in the settings to compare its variants.')
      }
      const guess = inferred ? ` The likely goal is ${inferred.name} (${inferred.reason}).` : ''
      // PostHog checks only launched experiments (health/checks/no_metric.py returns no finding while
      // `not ctx.is_launched`): a draft has exposed nobody yet, so the metric can still be added
      // before launch; a warning, not a blocker.
      if (!ctx.experiment?.start_date) {
        return result('warn', `The experiment has not launched and documents no primary metric yet.${guess}`, { inferred: inferred?.name ?? null, launched: false }, 'Add the primary metric before launch, so results can be read from the first exposure.', [
          { category: 'metric', action: `Add a primary metric to "${ctx.experiment?.name ?? ctx.flag.key}" before launch${inferred ? ` (likely ${inferred.name})` : ''}`, effort: 'low', blocking: false },
        ])
      }
      return result('fail', `The experiment documents no primary metric, so no result can be read.${guess}`, { inferred: inferred?.name ?? null }, 'Add the primary metric to the experiment before the readout.', [
        { category: 'metric', action: `Add a primary metric to "${ctx.experiment?.name ?? ctx.flag.key}"${inferred ? ` (likely ${inferred.name})` : ''}`, effort: 'low', blocking: true },
      ])
    }
    const rows = documented.map((m) => {
      const data = metricObservation(ctx, m)
      return { name: m.name, event: m.events.at(-1), counted: data !== null, units: data?.variants.reduce((n, v) => n + v.units, 0) ?? 0, events: data?.variants.reduce((n, v) => n + v.events, 0) ?? 0 }
    })
    const evidence = { metrics: rows, exposed_units: exposedUnits }
    const notCounted = rows.filter((r) => !r.counted)
    if (notCounted.length === rows.length) {
      return result('unknown', `The live counters do not count ${rows.map((r) => r.event).join(', ')}.`, evidence, 'Add the metric events to the goal events setting, or run the audit, which counts experiment metrics by itself.')
    }
    // Too few exposures to expect a conversion yet: PostHog's own minimum per variant.
    const dead = rows.filter((r) => r.counted && r.units === 0)
    if (dead.length && exposedUnits >= ctx.settings.minExposuresPerVariant) {
      return result(
        'fail',
        `No exposed unit sent ${dead.map((r) => r.event).join(', ')} (${exposedUnits} units exposed): the metric cannot move.`,
        evidence,
        'Check the event name against what the app sends (a renamed event, another platform, a server event without the person).',
        [{ category: 'metric', action: `Point the primary metric of "${ctx.experiment?.name ?? ctx.flag.key}" at an event exposed users send`, effort: 'low', blocking: true }],
      )
    }
    if (dead.length && exposedUnits === 0) return result('unknown', 'No unit has been exposed yet, so the metric cannot be judged.', evidence)
    if (dead.length) return result('warn', `No exposed unit has sent ${dead.map((r) => r.event).join(', ')} yet.`, evidence)
    return result('pass', rows.map((r) => `${r.name}: ${r.units} exposed units converted`).join('; '), evidence)
  },
}
