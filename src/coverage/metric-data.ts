import type { MetricObservation } from '../counters/observation.js'
import type { CheckContext, MetricRef } from './checks/types.js'

/** The counters of a metric's goal event (its last step), if the plugin counts that event. */
export function metricObservation(ctx: CheckContext, m: MetricRef): MetricObservation | null {
  const goal = m.events.at(-1)
  const matcher = ctx.settings.metrics.find((x) => x.event === goal)
  if (!matcher) return null
  return ctx.observation?.metrics.find((x) => x.name === matcher.name) ?? { name: matcher.name, variants: [] }
}
