import { describe, expect, it } from 'vitest'
import { auditEvents } from '../../src/audit/offline-audit.js'
import { parseCohorts, parseExperiments, type Definitions } from '../../src/definitions/definitions.js'
import { flagDef } from '../support/context.js'
import { customEvent, flagCalled, NOW } from '../support/events.js'

const experiment = (properties: unknown[]) =>
  parseExperiments('experiments', [
    {
      id: 1,
      name: 'Pro checkout',
      feature_flag_key: 'exp-flag',
      start_date: new Date(NOW - 5 * 86_400_000).toISOString(),
      status: 'running',
      metrics: [{ kind: 'ExperimentMetric', name: 'Pro checkouts', metric_type: 'funnel', series: [{ kind: 'EventsNode', event: 'checkout_completed', properties }] }],
      metrics_secondary: [],
    },
  ])

function defs(properties: unknown[]): Definitions {
  return { flags: [flagDef()], experiments: experiment(properties), cohorts: parseCohorts('c', []), groupTypes: new Map() }
}

const events = [
  flagCalled('exp-flag', 'control', { distinct_id: 'a' }),
  flagCalled('exp-flag', 'test', { distinct_id: 'b' }),
  customEvent('checkout_completed', { distinct_id: 'a', props: { plan: 'pro' } }),
  customEvent('checkout_completed', { distinct_id: 'b', props: { plan: 'free' } }),
  customEvent('checkout_completed', { distinct_id: 'b', props: { plan: 'pro' } }),
]

const primary = async (d: Definitions) => (await auditEvents(d, {}, events, { now: NOW })).report.flags[0]!.checks.find((c) => c.id === 'primary_metric')!

describe("an experiment metric's property filters", () => {
  it('count only the events that match them (compiled from PostHog filters to HogQL and Hog bytecode)', async () => {
    const check = await primary(defs([{ key: 'plan', value: ['pro'], operator: 'exact', type: 'event' }]))
    expect(check.evidence.metrics).toEqual([expect.objectContaining({ units: 2, events: 2, counted: true })])
  })
  it('without filters, count every event of the name', async () => {
    const check = await primary(defs([]))
    expect(check.evidence.metrics).toEqual([expect.objectContaining({ units: 2, events: 3 })])
  })
  it('a filter that cannot run in real time (a cohort) is not counted, and the check says so', async () => {
    const check = await primary(defs([{ key: 'id', value: 3, type: 'cohort' }]))
    expect(check.status).toBe('unknown')
  })
})

describe("an experiment's exposure criteria filters", () => {
  it('count only the exposure events that match them, as PostHog\'s exposure query does', async () => {
    const withCriteria = (properties: unknown[]): Definitions => ({
      ...defs([]),
      experiments: parseExperiments('experiments', [
        {
          id: 1,
          name: 'Pro checkout',
          feature_flag_key: 'exp-flag',
          start_date: new Date(NOW - 5 * 86_400_000).toISOString(),
          status: 'running',
          metrics: [],
          exposure_criteria: { exposure_config: { kind: 'ExperimentEventExposureConfig', event: '$feature_flag_called', properties } },
        },
      ]),
    })
    const traffic = [
      flagCalled('exp-flag', 'control', { distinct_id: 'a' }),
      flagCalled('exp-flag', 'test', { distinct_id: 'b', props: { $lib: 'posthog-node' } }),
      flagCalled('exp-flag', 'test', { distinct_id: 'c' }),
    ]
    const exposures = async (d: Definitions) => (await auditEvents(d, {}, traffic, { now: NOW })).report.flags[0]!.variants.map((v) => [v.key, v.exposures])
    expect(await exposures(withCriteria([]))).toEqual([['control', 1], ['test', 2]])
    expect(await exposures(withCriteria([{ key: '$lib', value: ['web'], operator: 'exact', type: 'event' }]))).toEqual([['control', 1], ['test', 1]])
  })
})
