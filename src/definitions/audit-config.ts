import { propertyFiltersToHogQL, UnsupportedFilterError } from '../hog/property-filters.js'
import { exposureCriterionOf, metricSteps, type MetricDefinition, type MetricStep, type Definitions } from './definitions.js'
import { experimentMetrics } from './experiment-metrics.js'
import { DEFAULT_GUARDRAIL_EVENTS, candidateGoalEvents } from './areas.js'
import type { CountedEvent } from '../settings/settings.js'

/**
 * The matcher a metric step is counted by: the event alone, or the event with its property
 * filters as HogQL. Null when a filter cannot run in real time (a cohort), or when the step is no
 * event (an action, a data warehouse table, every event): the step is then not counted, and the
 * checks say so instead of counting the wrong events.
 */
export function stepMatcher(step: MetricStep): CountedEvent | null {
  if (step.event === null) return null
  if (step.properties.length === 0) return step.event
  try {
    const filter = propertyFiltersToHogQL(step.properties)
    return { name: `${step.event} where ${filter}`, event: step.event, filter }
  } catch (e) {
    if (e instanceof UnsupportedFilterError) return null
    throw e
  }
}

/**
 * Each experiment's exposure criteria filters as HogQL, by flag key: only exposure events matching
 * them count, as PostHog's exposure query applies them. Filters that cannot run in real time are
 * left out (the exposures are then counted unfiltered).
 */
export function exposureFilters(defs: Definitions): Map<string, string> {
  const out = new Map<string, string>()
  for (const e of defs.experiments) {
    const props = (e.exposure_criteria?.exposure_config?.properties ?? []).filter((p) => p.key !== undefined) as Parameters<typeof propertyFiltersToHogQL>[0]
    if (props.length === 0) continue
    try {
      out.set(e.feature_flag_key, propertyFiltersToHogQL(props))
    } catch (err) {
      if (!(err instanceof UnsupportedFilterError)) throw err
    }
  }
  return out
}

/**
 * The experiments' custom exposure events (exposureCriterionOf): per event, the flags whose
 * experiment counts its exposures there. Several experiments may share one event (`$pageview`).
 */
export function customExposureEvents(defs: Pick<Definitions, 'experiments'>): Map<string, string[]> {
  const out = new Map<string, string[]>()
  for (const e of defs.experiments) {
    if (e.deleted) continue
    const c = exposureCriterionOf(e)
    if (c.kind !== 'custom') continue
    const flags = out.get(c.event) ?? []
    if (!flags.includes(e.feature_flag_key)) flags.push(e.feature_flag_key)
    out.set(c.event, flags)
  }
  return out
}

export function metricMatchers(m: MetricDefinition): (CountedEvent | null)[] {
  return metricSteps(m).map(stepMatcher)
}

/**
 * The plugin settings for an audit (offline or online): the user's config file (thresholds), plus every event
 * the checks may need counted: experiments' metrics, the goals the inference may pick, guardrails.
 */
export function auditConfig(base: Record<string, unknown>, defs: Definitions): { config: Record<string, string>; counted: CountedEvent[] } {
  const config: Record<string, string> = {}
  for (const [k, v] of Object.entries(base)) config[k] = typeof v === 'string' ? v : JSON.stringify(v)
  const counted = new Map<string, CountedEvent>()
  const add = (c: CountedEvent | null) => c !== null && counted.set(typeof c === 'string' ? c : c.name, c)
  for (const e of defs.experiments) {
    for (const m of experimentMetrics(e)) metricMatchers(m.definition).forEach(add)
  }
  candidateGoalEvents().forEach(add)
  DEFAULT_GUARDRAIL_EVENTS.forEach(add)
  return { config, counted: [...counted.values()] }
}

/**
 * Per experiment flag, the matchers of its primary metrics' goal steps (the names the settings'
 * metrics carry; inline, shared or legacy metrics alike: experimentMetrics): a unit that sends one
 * while carrying a value of the flag has reached what the experiment measures. A goal that cannot
 * be counted (a filter that cannot run live, an action, a data warehouse table) is left out. An
 * experiment that documents no primary metric is measured at the configured goals (`goalEvents`).
 */
export function surfaceMetrics(defs: Pick<Definitions, 'experiments'>, configuredGoals: readonly string[] = []): Map<string, string[]> {
  const out = new Map<string, string[]>()
  for (const e of defs.experiments) {
    if (e.deleted) continue
    const primary = experimentMetrics(e).filter((m) => m.role === 'primary')
    const names = primary.flatMap((m) => {
      const goal = metricMatchers(m.definition).at(-1)
      return goal === undefined || goal === null ? [] : [typeof goal === 'string' ? goal : goal.name]
    })
    if (primary.length === 0) names.push(...configuredGoals)
    if (names.length) out.set(e.feature_flag_key, names)
  }
  return out
}
