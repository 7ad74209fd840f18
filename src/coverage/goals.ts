import type { FlagObservation } from '../counters/observation.js'
import { candidateGoalEvents, DEFAULT_GUARDRAIL_EVENTS, guessAreas } from '../definitions/areas.js'
import type { ExperimentDefinition, FlagDefinition } from '../definitions/definitions.js'
import type { MetricRef } from './checks/types.js'

const article = (word: string) => (/^[aeiou]/.test(word) ? 'an' : 'a')

/**
 * A likely primary metric when the experiment documents none: the candidate goal of the flag's
 * area that the exposed units actually send the most (per the counters); failing data, the area's
 * first goal. Returned as an assumption the readout must state.
 */
export function inferPrimaryMetric(flag: FlagDefinition, experiment: ExperimentDefinition | null, obs: FlagObservation | null, metricNameOf: (event: string) => string | null): MetricRef | null {
  const areas = guessAreas(flag, experiment)
  const candidates = areas.length ? areas.flatMap((a) => a.goals) : candidateGoalEvents()
  let best: { event: string; units: number } | null = null
  for (const event of candidates) {
    const name = metricNameOf(event)
    const units = name ? (obs?.metrics.find((m) => m.name === name)?.variants.reduce((n, v) => n + v.units, 0) ?? 0) : 0
    if (units > 0 && (!best || units > best.units)) best = { event, units }
  }
  const area = areas[0]
  if (best) {
    return {
      name: best.event,
      events: [best.event],
      role: 'primary',
      source: 'inferred',
      reason: `${area ? `"${flag.key}" reads as ${article(area.area)} ${area.area} change, and ` : ''}${best.event} is the ${area ? `${area.area} ` : ''}goal its exposed units send most (${best.units} units)`,
    }
  }
  if (!area) return null
  return {
    name: area.goals[0] as string,
    events: [area.goals[0] as string],
    role: 'primary',
    source: 'inferred',
    reason: `"${flag.key}" reads as ${article(area.area)} ${area.area} change; ${area.goals[0]} is the usual goal there, though no exposed unit has sent it yet`,
  }
}

/** Guardrails when the experiment has none: the defaults that exposed units actually send. */
export function inferGuardrails(obs: FlagObservation | null, metricNameOf: (event: string) => string | null): MetricRef[] {
  return DEFAULT_GUARDRAIL_EVENTS.filter((event) => {
    const name = metricNameOf(event)
    return name !== null && (obs?.metrics.find((m) => m.name === name)?.variants.some((v) => v.units > 0) ?? false)
  }).map((event) => ({ name: event, events: [event], role: 'guardrail' as const, source: 'inferred' as const, reason: `exposed units send ${event}, a common guardrail` }))
}
