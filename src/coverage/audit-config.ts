import { metricEvents, type Definitions } from './definitions.js'
import { DEFAULT_GUARDRAIL_EVENTS, candidateGoalEvents } from './goals.js'

/**
 * The plugin settings for an audit (offline or online): the user's config file (thresholds), plus every event
 * the checks may need counted: experiments' metrics, the goals the inference may pick, guardrails.
 */
export function auditConfig(base: Record<string, unknown>, defs: Definitions): { config: Record<string, string>; counted: string[] } {
  const config: Record<string, string> = {}
  for (const [k, v] of Object.entries(base)) config[k] = typeof v === 'string' ? v : JSON.stringify(v)
  const counted = new Set<string>()
  for (const e of defs.experiments) {
    for (const m of [...(e.metrics ?? []), ...(e.metrics_secondary ?? [])]) for (const ev of metricEvents(m)) counted.add(ev)
  }
  for (const ev of candidateGoalEvents()) counted.add(ev)
  for (const ev of DEFAULT_GUARDRAIL_EVENTS) counted.add(ev)
  return { config, counted: [...counted] }
}

