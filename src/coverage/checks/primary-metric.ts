import { count } from '../context.js'
import { metricObservation } from '../metric-data.js'
import { defineCheck, type MetricRef, result } from './types.js'

/** True when a metric's goal reads what no event counter can (an action, a data warehouse table, every event). */
const goalIsNoEvent = (m: MetricRef) => m.goal !== undefined && (m.uncounted?.includes(m.goal) ?? false)

/** Why a documented metric is not counted here: its goal is no event, its filter cannot run live, or no counter has it. */
function notCountedBecause(m: MetricRef): string {
  if (goalIsNoEvent(m)) return `its goal reads ${m.goal}, which this audit cannot count`
  if (m.matcher === null) return 'its filter cannot run on live events (a cohort)'
  return `the counters do not count ${m.goal ?? m.events.at(-1)}`
}

export const primaryMetric = defineCheck({
  id: 'primary_metric',
  appliesTo: (ctx) => ctx.kind === 'experiment' || ctx.deFactoExperiment,
  run(ctx) {
    const documented = ctx.metrics.filter((m) => m.role === 'primary' && m.source !== 'inferred')
    // Metrics that read only actions, data warehouse tables or every event: documented, not missing.
    const uncountable = ctx.uncountedMetrics.filter((m) => m.role === 'primary')
    const inferred = ctx.metrics.find((m) => m.role === 'primary' && m.source === 'inferred')
    const exposedUnits = ctx.exposure?.units ?? 0
    if (documented.length === 0 && uncountable.length === 0) {
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
      return {
        name: m.name,
        event: m.goal ?? m.events.at(-1),
        counted: data !== null,
        units: data?.variants.reduce((n, v) => n + v.units, 0) ?? 0,
        events: data?.variants.reduce((n, v) => n + v.events, 0) ?? 0,
        ...(data === null ? { not_counted: notCountedBecause(m) } : {}),
        ...(m.uncounted?.length ? { steps_not_counted: m.uncounted } : {}),
      }
    })
    const unread = [
      ...uncountable.map((m) => ({ name: m.name, why: `it reads ${m.reads.join(' and ')}, which this audit cannot count` })),
      ...rows.flatMap((r) => (r.not_counted ? [{ name: r.name, why: r.not_counted }] : [])),
    ]
    const evidence = { metrics: rows, exposed_units: exposedUnits, ...(uncountable.length ? { not_countable: uncountable.map((m) => ({ name: m.name, reads: m.reads })) } : {}) }
    const unreadText = unread.map((u) => `"${u.name}" (${u.why})`).join('; ')
    if (rows.every((r) => !r.counted)) {
      const onlySources = documented.every(goalIsNoEvent)
      return result(
        'unknown',
        `The primary metric is not counted here: ${unreadText}.`,
        evidence,
        onlySources
          ? "PostHog computes these from its own data: judge them on the experiment's page, or add an event-based primary metric this audit can follow."
          : 'Add the metric events to the goal events setting, or run the audit, which counts experiment metrics by itself.',
      )
    }
    const aside = unread.length ? ` Not counted here: ${unreadText}.` : ''
    // Too few exposures to expect a conversion yet: PostHog's own minimum per variant.
    const dead = rows.filter((r) => r.counted && r.units === 0)
    if (dead.length && exposedUnits >= ctx.settings.minExposuresPerVariant) {
      return result(
        'fail',
        `No exposed unit sent ${dead.map((r) => r.event).join(', ')} (${count(exposedUnits)} units exposed): the metric cannot move.`,
        evidence,
        'Check the event name against what the app sends (a renamed event, another platform, a server event without the person).',
        [{ category: 'metric', action: `Point the primary metric of "${ctx.experiment?.name ?? ctx.flag.key}" at an event exposed users send`, effort: 'low', blocking: true }],
      )
    }
    if (dead.length && exposedUnits === 0) return result('unknown', `No unit has been exposed yet, so the metric cannot be judged.${aside}`, evidence)
    if (dead.length) return result('warn', `No exposed unit has sent ${dead.map((r) => r.event).join(', ')} yet.${aside}`, evidence)
    const converted = rows.filter((r) => r.counted).map((r) => `${r.name}: ${count(r.units)} exposed units converted`).join('; ')
    // PostHog computes no result from a legacy experiment's `filters` goal (health/checks/no_metric.py:
    // "no engine reads it"): counted here, it still needs to become a metric for a readout.
    if ([...documented, ...uncountable].every((m) => m.origin === 'legacy_filters')) {
      return result('warn', `${converted}. The goal is only in the experiment's legacy filters, from which PostHog no longer computes results.${aside}`, evidence, 'Add it to the experiment as a primary metric.', [
        { category: 'metric', action: `Re-add the legacy goal of "${ctx.experiment?.name ?? ctx.flag.key}" as a primary metric`, effort: 'low', blocking: false },
      ])
    }
    return result('pass', `${converted}.${aside}`, evidence)
  },
})
