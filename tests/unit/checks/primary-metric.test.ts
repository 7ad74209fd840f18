import { describe, expect, it } from 'vitest'
import { primaryMetric } from '../../../src/coverage/checks/primary-metric.js'
import { NOW, context, experimentDef, observation } from '../../support/context.js'

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

// PostHog: products/experiments/backend/health/checks/no_metric.py and its cases in
// products/experiments/backend/health/test/test_no_metric.py (`test_no_metric`).
describe('primary_metric without a metric, by PostHog\'s no_metric rule', () => {
  const NONE = { metrics: [], metrics_secondary: [] }
  it.each([
    // PostHog warns; a launched experiment without a goal has no result to read: we fail (docs/checks.md)
    ['running_without_metrics', 'NO_METRIC (WARNING)', experimentDef(NONE), 'fail', true],
    ['ended_without_metrics', 'NO_METRIC (WARNING)', experimentDef({ ...NONE, status: 'stopped', end_date: new Date(NOW - 86_400_000).toISOString() }), 'fail', true],
    // PostHog checks only launched experiments: a draft has exposed nobody, so a warning to fix before launch
    ['draft_without_metrics', 'none (not launched)', experimentDef({ ...NONE, status: 'draft', start_date: null }), 'warn', false],
    ['draft_without_metrics, secondary metric only', 'none', experimentDef({ metrics: [], status: 'draft', start_date: null }), 'warn', false],
    // PostHog counts a secondary metric as a metric; a guardrail is not a goal here (docs/checks.md)
    ['secondary_metric_only', 'none', experimentDef({ metrics: [] }), 'fail', true],
    ['primary_metric_only', 'none', experimentDef({ metrics_secondary: [] }), 'pass', null],
  ])('%s (PostHog: %s) is %s here', (_case, _posthog, experiment, status, blocking) => {
    const r = primaryMetric.run(context({ experiment }))
    expect(r.status).toBe(status)
    if (blocking !== null) expect(r.repairs).toEqual([expect.objectContaining({ category: 'metric', blocking })])
  })
})
