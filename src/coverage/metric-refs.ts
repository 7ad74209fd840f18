import { metricMatchers } from '../definitions/audit-config.js'
import type { MetricRef, UncountedMetric } from './checks/types.js'
import { metricSteps, type ExperimentDefinition } from '../definitions/definitions.js'
import { experimentMetrics } from '../definitions/experiment-metrics.js'

/**
 * The metrics an experiment documents (inline, shared or legacy: experimentMetrics), as the checks
 * read them: those with an event this audit can count, and those that read only what it cannot
 * (actions, data warehouse tables, every event), named so the report never takes them for missing.
 */
export function documentedMetrics(experiment: ExperimentDefinition): { metrics: MetricRef[]; uncounted: UncountedMetric[] } {
  const metrics: MetricRef[] = []
  const uncounted: UncountedMetric[] = []
  for (const m of experimentMetrics(experiment)) {
    const steps = metricSteps(m.definition)
    const goalStep = steps.at(-1)
    if (!goalStep) continue // a metric without any step: nothing to read
    const role = m.role === 'primary' ? 'primary' : 'guardrail'
    const events = steps.flatMap((s) => (s.event === null ? [] : [s.event]))
    const notEvents = steps.filter((s) => s.event === null).map((s) => s.label)
    const name = m.name ?? goalStep.label
    if (events.length === 0) {
      uncounted.push({ name, role, reads: notEvents, origin: m.origin })
      continue
    }
    const goal = metricMatchers(m.definition).at(-1)
    const matcher = goal === undefined || goal === null ? null : typeof goal === 'string' ? goal : goal.name
    metrics.push({ name, events, role, source: 'experiment', matcher, goal: goalStep.label, uncounted: notEvents, origin: m.origin })
  }
  return { metrics, uncounted }
}
