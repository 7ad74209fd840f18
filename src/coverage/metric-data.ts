import type { MetricObservation } from '../counters/observation.js'
import type { CheckContext, MetricRef } from './checks/types.js'

/** The counters of a metric's goal event (its last step), if the plugin counts that event. */
export function metricObservation(ctx: CheckContext, m: MetricRef): MetricObservation | null {
  if (m.matcher === null) return null // a filter that cannot be counted live
  const goal = m.events.at(-1)
  const matcher = m.matcher ? ctx.settings.metrics.find((x) => x.name === m.matcher) : ctx.settings.metrics.find((x) => x.event === goal && !x.filter)
  if (!matcher) return null
  return ctx.observation?.metrics.find((x) => x.name === matcher.name) ?? { name: matcher.name, variants: [] }
}
