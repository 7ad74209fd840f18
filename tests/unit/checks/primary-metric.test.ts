import { describe, expect, it } from 'vitest'
import { primaryMetric } from '../../../src/coverage/checks/primary-metric.js'
import { context, experimentDef, observation } from '../../support/context.js'

describe('primary_metric', () => {
  it('passes when exposed units send the goal', () => {
    expect(primaryMetric.run(context()).status).toBe('pass')
  })
  it('fails without a documented metric, and names the likely one with the reason', () => {
    const r = primaryMetric.run(context({ experiment: experimentDef({ metrics: [] }) }))
    expect(r.status).toBe('fail')
    expect(r.summary).toMatch(/likely goal is checkout_completed/)
  })
  it('fails when no exposed unit sends the metric event', () => {
    const none = observation({ metrics: [{ name: 'checkout_completed', variants: [] }] })
    expect(primaryMetric.run(context({ observation: none })).summary).toMatch(/No exposed unit sent checkout_completed/)
  })
  it('cannot judge an event the counters do not count', () => {
    const exp = experimentDef({ metrics: [{ kind: 'ExperimentMetric', name: 'NPS', metric_type: 'mean', source: { kind: 'EventsNode', event: 'survey sent' } }] })
    expect(primaryMetric.run(context({ experiment: exp })).status).toBe('unknown')
  })
})
