import { describe, expect, it } from 'vitest'
import { auditJourneys, baseTestExperiment, baseTestFlag, definitionsOf, journeys } from '../support/journeys.js'

const NOW = Date.parse('2024-01-07T12:00:00Z')
const RUN = { start_date: '2024-01-01T00:00:00Z', end_date: '2024-01-07T00:00:00Z' }
const ev = (event: string) => ({ kind: 'EventsNode', event })

describe("the primary_metric check's query shows the goal's events", () => {
  it.each([
    // test_ratio_metric.py test_basic_ratio_metric: the numerator is the goal
    ['a ratio of events: the numerator', { kind: 'ExperimentMetric', metric_type: 'ratio', numerator: ev('purchase'), denominator: ev('$pageview') }, "event IN ('purchase')"],
    // test_ratio_metric.py test_ratio_metric_action_and_event_sources: an action numerator has no event to show
    ['a ratio on an action: none (not the denominator)', { kind: 'ExperimentMetric', metric_type: 'ratio', numerator: { kind: 'ActionsNode', id: 7, name: 'Purchase Action' }, denominator: ev('$pageview') }, null],
  ])('%s', async (_why, metric, expected) => {
    const defs = definitionsOf([baseTestFlag()], [baseTestExperiment({ ...RUN, metrics: [metric] })])
    const events = journeys({ u1: [{ event: '$feature_flag_called', timestamp: '2024-01-02', properties: { $feature_flag: 'test-experiment', $feature_flag_response: 'test' } }] })
    const { report } = await auditJourneys(defs, events, NOW)
    const query = report.flags.find((f) => f.key === 'test-experiment')!.checks.find((c) => c.id === 'primary_metric')!.query
    if (expected === null) expect(query).toBeNull()
    else expect(query).toContain(expected)
  })
})
