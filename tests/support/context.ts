import type { CheckContext } from '../../src/coverage/checks/types.js'
import { buildContext } from '../../src/coverage/context.js'
import type { CohortDefinition, ExperimentDefinition, FlagDefinition } from '../../src/definitions/definitions.js'
import { parseExperiments, parseFlags } from '../../src/definitions/definitions.js'
import { parseSettings } from '../../src/settings/settings.js'
import type { ExposureObservation, FlagObservation, VariantExposure } from '../../src/counters/observation.js'
import type { VariantValue } from '../../src/events/types.js'
import type { FlagChange } from '../../src/definitions/activity.js'

export const NOW = Date.UTC(2026, 10, 20, 12)
const DAY = 86_400_000

/** A flag as the API returns it; multivariate with control/test 50/50 unless told otherwise. */
export function flagDef(over: Partial<Record<string, unknown>> & { variants?: [string, number][] | null; rollout?: number } = {}): FlagDefinition {
  const { variants = [['control', 50], ['test', 50]], rollout = 100, ...rest } = over
  return parseFlags('test', [
    {
      id: 1,
      key: 'exp-flag',
      name: 'Checkout: one page',
      active: true,
      deleted: false,
      created_at: new Date(NOW - 20 * DAY).toISOString(),
      filters: {
        groups: [{ properties: [], rollout_percentage: rollout, variant: null }],
        multivariate: variants ? { variants: variants.map(([key, pct]) => ({ key, rollout_percentage: pct })) } : null,
        aggregation_group_type_index: null,
      },
      ...rest,
    },
  ])[0]!
}

export function experimentDef(over: Partial<Record<string, unknown>> = {}): ExperimentDefinition {
  return parseExperiments('test', [
    {
      id: 7,
      name: 'Checkout: one page',
      feature_flag_key: 'exp-flag',
      start_date: new Date(NOW - 10 * DAY).toISOString(),
      end_date: null,
      status: 'running',
      metrics: [{ kind: 'ExperimentMetric', name: 'Checkout', metric_type: 'funnel', series: [{ kind: 'EventsNode', event: 'checkout_completed' }] }],
      metrics_secondary: [{ kind: 'ExperimentMetric', name: 'Errors', metric_type: 'mean', source: { kind: 'EventsNode', event: '$exception' } }],
      exposure_criteria: { filterTestAccounts: true, exposure_config: { kind: 'ExperimentEventExposureConfig', event: '$feature_flag_called', properties: [] } },
      ...over,
    },
  ])[0]!
}

export interface VariantSpec {
  value: VariantValue
  exposures?: number
  units: number
  multi?: number
  server?: number
  errored?: number
  bootstrapMismatchUnits?: number
}

export function exposureObs(variants: VariantSpec[], event: ExposureObservation['event'] = '$feature_flag_called', multipleVariantUnits?: number): ExposureObservation {
  const vs: VariantExposure[] = variants.map((v) => ({
    value: v.value,
    exposures: v.exposures ?? v.units * 2,
    units: v.units,
    multipleVariantUnits: v.multi ?? 0,
    exposuresByLib: { client: (v.exposures ?? v.units * 2) - (v.server ?? 0), server: v.server ?? 0, unknown: 0 },
    unitsByLib: { client: v.units - (v.server ?? 0), server: v.server ?? 0, unknown: 0 },
    bootstrapped: 0,
    bootstrapMismatch: v.bootstrapMismatchUnits ?? 0,
    bootstrapMismatchUnits: v.bootstrapMismatchUnits ?? 0,
    locallyEvaluated: 0,
    errored: v.errored ?? 0,
  }))
  return {
    event,
    exposures: vs.reduce((n, v) => n + v.exposures, 0),
    units: vs.reduce((n, v) => n + v.units, 0) - (multipleVariantUnits ?? Math.max(0, ...vs.map((v) => v.multipleVariantUnits))),
    multipleVariantUnits: multipleVariantUnits ?? Math.max(0, ...vs.map((v) => v.multipleVariantUnits)),
    variants: vs,
  }
}

export function observation(over: Partial<FlagObservation> = {}): FlagObservation {
  return {
    flag: 'exp-flag',
    source: 'live',
    firstDay: '2026-11-10',
    lastDay: '2026-11-20',
    sampleRate: 1,
    estimated: false,
    exposure: { $feature_flag_called: exposureObs([{ value: 'control', units: 500 }, { value: 'test', units: 500 }]) },
    sightings: { units: 2000, unitsExposed: 1000, variants: [{ value: 'control', units: 1000 }, { value: 'test', units: 1000 }], reached: 0, reachedExposed: 0 },
    metrics: [
      { name: 'checkout_completed', variants: [{ value: 'control', events: 120, units: 100, eventsBeforeExposure: 5 }, { value: 'test', events: 140, units: 115, eventsBeforeExposure: 6 }] },
      { name: '$exception', variants: [{ value: 'control', events: 12, units: 10, eventsBeforeExposure: 0 }, { value: 'test', events: 11, units: 9, eventsBeforeExposure: 0 }] },
    ],
    unlistedSeries: 0,
    ...over,
  }
}

/** A context as the report builds it, from API-shaped definitions and counters. */
export function context(
  opts: {
    flag?: FlagDefinition
    experiment?: ExperimentDefinition | null
    observation?: FlagObservation | null
    config?: Record<string, unknown>
    cohorts?: CohortDefinition[]
    now?: number
    changes?: readonly FlagChange[] | null
  } = {},
): CheckContext {
  const settings = parseSettings(opts.config ?? {}, { countedEvents: ['checkout_completed', '$exception', 'subscription_upgraded', 'project_created'] })
  return buildContext({
    flag: opts.flag ?? flagDef(),
    experiment: opts.experiment === undefined ? experimentDef() : opts.experiment,
    observation: opts.observation === undefined ? observation() : opts.observation,
    cohorts: new Map((opts.cohorts ?? []).map((c) => [c.id, c])),
    settings,
    nowMs: opts.now ?? NOW,
    changes: opts.changes ?? null,
  })
}
