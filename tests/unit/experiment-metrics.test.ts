/**
 * Every metric an experiment documents is read (issue 18, item 3): inline, shared (`saved_metrics`)
 * and legacy metrics; funnel, mean, ratio and retention metrics; and the metrics this audit cannot
 * count (actions, data warehouse tables) are named as such, never taken for missing. The numbers
 * come from PostHog's own experiment query tests, replayed through the offline audit.
 */
import { describe, expect, it } from 'vitest'
import { surfaceMetrics } from '../../src/definitions/audit-config.js'
import { metricSteps, parseExperiments, readMetric } from '../../src/definitions/definitions.js'
import { experimentMetrics } from '../../src/definitions/experiment-metrics.js'
import { byValue } from '../support/ingest.js'
import { auditJourneys, baseTestExperiment, baseTestFlag, definitionsOf, journeys, type JourneyEvent } from '../support/journeys.js'

const ev = (event: string) => ({ kind: 'EventsNode', event, name: event })

describe('metricSteps: the steps of each metric PostHog stores, goal last', () => {
  // frontend/src/queries/schema/schema-general.ts (ExperimentMeanMetric, ExperimentFunnelMetric,
  // ExperimentRatioMetric, ExperimentRetentionMetric, ExperimentTrendsQuery, ExperimentFunnelsQuery);
  // node kinds as products/experiments/backend/hogql_queries/base_query_utils.py reads them
  // (`event_or_action_to_filter`: an EventsNode without an event matches every event).
  it.each([
    ['mean: its source', { kind: 'ExperimentMetric', metric_type: 'mean', source: ev('purchase') }, ['purchase']],
    ['funnel: its steps in order', { kind: 'ExperimentMetric', metric_type: 'funnel', series: [ev('viewed'), ev('paid')] }, ['viewed', 'paid']],
    // test_ratio_metric.py test_basic_ratio_metric: numerator and denominator are both read
    ['ratio: denominator, then the numerator it measures', { kind: 'ExperimentMetric', metric_type: 'ratio', numerator: ev('purchase'), denominator: ev('pageview') }, ['pageview', 'purchase']],
    // test_retention_metric.py test_basic_retention_calculation: start event, completion event
    ['retention: start, then completion', { kind: 'ExperimentMetric', metric_type: 'retention', start_event: ev('signup'), completion_event: ev('login') }, ['signup', 'login']],
    // experiment_retention_query_builder.py: a start of kind ExperimentExposureNode is the exposure itself
    ['retention from the exposure: only the completion', { kind: 'ExperimentMetric', metric_type: 'retention', start_event: { kind: 'ExperimentExposureNode' }, completion_event: ev('returned') }, ['returned']],
    ['legacy ExperimentTrendsQuery: its count series', { kind: 'ExperimentTrendsQuery', count_query: { kind: 'TrendsQuery', series: [ev('purchase')] } }, ['purchase']],
    ['legacy ExperimentFunnelsQuery: its funnel steps', { kind: 'ExperimentFunnelsQuery', funnels_query: { kind: 'FunnelsQuery', series: [ev('viewed'), ev('paid')] } }, ['viewed', 'paid']],
    // test_ratio_metric.py test_ratio_metric_action_and_event_sources
    ['ratio on an action: the action is a step no event counts', { kind: 'ExperimentMetric', metric_type: 'ratio', numerator: { kind: 'ActionsNode', id: 7, name: 'Purchase Action' }, denominator: ev('pageview') }, ['pageview', 'action 7 (Purchase Action)']],
    // test_data_warehouse_metric.py: a mean over a data warehouse table
    ['mean on a data warehouse table', { kind: 'ExperimentMetric', metric_type: 'mean', source: { kind: 'ExperimentDataWarehouseNode', table_name: 'usage' } }, ['data warehouse table usage']],
    ['mean on every event (an EventsNode without an event)', { kind: 'ExperimentMetric', metric_type: 'mean', source: { kind: 'EventsNode', event: null } }, ['all events']],
  ])('%s', (_why, metric, labels) => {
    expect(metricSteps(readMetric(metric)!).map((s) => s.label)).toEqual(labels)
  })
})

describe('experimentMetrics: where an experiment documents its metrics', () => {
  const purchase = { kind: 'ExperimentMetric', uuid: 'm-1', name: 'Purchases', metric_type: 'mean', source: ev('purchase') }
  const errors = { kind: 'ExperimentMetric', uuid: 'm-2', name: 'Errors', metric_type: 'mean', source: ev('$exception') }
  const read = (over: Record<string, unknown>) =>
    experimentMetrics(parseExperiments('test', [{ id: 1, name: 'e', feature_flag_key: 'f', ...over }])[0]!).map((m) => [m.name, m.role, m.origin, metricSteps(m.definition).at(-1)?.label])
  it.each([
    // products/experiments/backend/metric_resolution.py: inline primary, inline secondary, then shared
    // (test_metric_resolution.py test_resolution_order_is_primary_secondary_saved)
    ['inline primary and secondary, then shared ones', { metrics: [purchase], metrics_secondary: [errors], saved_metrics: [{ id: 3, name: 'Shared revenue', metadata: { type: 'primary' }, query: { ...purchase, name: 'Revenue' } }] }, [
      ['Purchases', 'primary', 'metrics', 'purchase'],
      ['Errors', 'secondary', 'metrics', '$exception'],
      ['Shared revenue', 'primary', 'shared', 'purchase'],
    ]],
    // metric_resolution.py `saved_metric_link_role`: only metadata.type 'secondary' makes a guardrail
    ['a shared link without metadata is primary', { saved_metrics: [{ id: 3, name: 'Shared', query: errors }] }, [['Shared', 'primary', 'shared', '$exception']]],
    ['a shared secondary metric', { saved_metrics: [{ id: 3, name: 'Shared errors', metadata: { type: 'secondary' }, query: errors }] }, [['Shared errors', 'secondary', 'shared', '$exception']]],
    // ee/clickhouse/views/experiments.py: a legacy experiment's goal in `filters`, in funnel order
    ['a legacy goal in filters, when nothing newer documents one', { filters: { insight: 'FUNNELS', events: [{ id: 'paid', order: 1 }, { id: 'viewed', order: 0 }], actions: [] } }, [[null, 'primary', 'legacy_filters', 'paid']]],
    ['legacy filters beside metrics: the metrics win (no double count after a migration)', { metrics: [purchase], filters: { insight: 'TRENDS', events: [{ id: 'purchase', order: 0 }] } }, [['Purchases', 'primary', 'metrics', 'purchase']]],
    ['a legacy secondary metric', { secondary_metrics: [{ name: 'Refunds', filters: { insight: 'TRENDS', events: [{ id: 'refund', order: 0 }] } }] }, [['Refunds', 'secondary', 'legacy_filters', 'refund']]],
    ['a legacy goal on an action', { filters: { insight: 'TRENDS', events: [], actions: [{ id: 12, name: 'Signed up', order: 0 }] } }, [[null, 'primary', 'legacy_filters', 'action 12 (Signed up)']]],
  ])('%s', (_why, over, expected) => {
    expect(read(over)).toEqual(expected)
  })
})

describe('the surface an experiment is measured at: its primary goal, wherever documented', () => {
  const surface = (over: Record<string, unknown>) => surfaceMetrics({ experiments: parseExperiments('test', [{ id: 1, name: 'e', feature_flag_key: 'f', ...over }]) }, ['configured_goal']).get('f') ?? null
  it.each([
    ['a shared primary metric', { saved_metrics: [{ id: 3, name: 'Shared', metadata: { type: 'primary' }, query: { kind: 'ExperimentMetric', metric_type: 'mean', source: ev('purchase') } }] }, ['purchase']],
    ['a ratio: its numerator', { metrics: [{ kind: 'ExperimentMetric', metric_type: 'ratio', numerator: ev('purchase'), denominator: ev('pageview') }] }, ['purchase']],
    ['a retention metric: its completion event', { metrics: [{ kind: 'ExperimentMetric', metric_type: 'retention', start_event: ev('signup'), completion_event: ev('login') }] }, ['login']],
    ['a legacy goal', { filters: { insight: 'FUNNELS', events: [{ id: 'paid', order: 0 }] } }, ['paid']],
    // a goal no event counts: the surface is not measured (exposure_gap falls back to the carriers)
    ['a goal on an action: none (documented, so not the configured goals)', { metrics: [{ kind: 'ExperimentMetric', metric_type: 'mean', source: { kind: 'ActionsNode', id: 7 } }] }, null],
    ['a secondary metric only: the configured goals', { metrics_secondary: [{ kind: 'ExperimentMetric', metric_type: 'mean', source: ev('$exception') }] }, ['configured_goal']],
  ])('%s', (_why, over, expected) => {
    expect(surface(over)).toEqual(expected)
  })
})

// ExperimentQueryRunnerBaseTest (products/experiments/backend/hogql_queries/test/experiment_query_runner/base.py)
const FLAG = 'test-experiment'
const exposure = (variant: string, timestamp: string, extra: Record<string, unknown> = {}): JourneyEvent => ({
  event: '$feature_flag_called',
  timestamp,
  properties: { $feature_flag_response: variant, [`$feature/${FLAG}`]: variant, $feature_flag: FLAG, ...extra },
})
const event = (name: string, variant: string, timestamp: string, properties: Record<string, unknown> = {}): JourneyEvent => ({ event: name, timestamp, properties: { [`$feature/${FLAG}`]: variant, ...properties } })

/** test_ratio_metric.py test_basic_ratio_metric: 10 users a variant; control buys 9 times (6 buyers), test 12 times (8 buyers). */
function basicRatioJourneys() {
  const byPerson: Record<string, JourneyEvent[]> = {}
  for (const [variant, single, double] of [['control', 3, 3], ['test', 4, 4]] as const) {
    for (let i = 0; i < 10; i++) {
      const list = [exposure(variant, '2020-01-02T12:00:00Z')]
      if (i < single) list.push(event('purchase', variant, '2020-01-02T12:01:00Z', { amount: 10 }))
      else if (i < single + double) for (let j = 0; j < 2; j++) list.push(event('purchase', variant, `2020-01-02T12:0${j + 1}:00Z`, { amount: 15 }))
      byPerson[`user_${variant}_${i}`] = list
    }
  }
  return journeys(byPerson)
}

/** test_ratio_metric.py test_ratio_metric_action_and_event_sources: pageviews 2/3/1 in control, 4/2/5 in test. */
function actionRatioJourneys() {
  const byPerson: Record<string, JourneyEvent[]> = {}
  const users: [string, string, number, number][] = [
    ['control_1', 'control', 50, 2], ['control_2', 'control', 0, 3], ['control_3', 'control', 75, 1],
    ['test_1', 'test', 100, 4], ['test_2', 'test', 150, 2], ['test_3', 'test', 0, 5],
  ]
  for (const [user, variant, amount, pageviews] of users) {
    const list = [exposure(variant, '2024-01-02T12:00:00')]
    for (let i = 0; i < pageviews; i++) list.push(event('pageview', variant, `2024-01-02T12:0${i + 1}:00`, { page: `/page${i}` }))
    if (amount > 0) list.push(event('purchase', variant, '2024-01-02T12:05:00', { amount }))
    byPerson[user] = list
  }
  return journeys(byPerson)
}

/** test_retention_metric.py test_basic_retention_calculation: 10 users a variant; 6 / 8 sign up, 4 / 6 of them log in. */
function basicRetentionJourneys() {
  const byPerson: Record<string, JourneyEvent[]> = {}
  for (const [variant, signups, logins] of [['control', 6, 4], ['test', 8, 6]] as const) {
    for (let i = 0; i < 10; i++) {
      const list = [exposure(variant, '2020-01-02T12:00:00Z')]
      if (i < signups) list.push(event('signup', variant, '2020-01-02T12:01:00Z'))
      if (i < logins) list.push(event('login', variant, '2020-01-05T12:00:00Z'))
      byPerson[`user_${variant}_${i}`] = list
    }
  }
  return journeys(byPerson)
}

/** base.py create_standard_test_events: 10 users a variant, 6 (control) and 8 (test) of them purchase once. */
function standardJourneys() {
  const byPerson: Record<string, JourneyEvent[]> = {}
  for (const [variant, purchases] of [['control', 6], ['test', 8]] as const) {
    for (let i = 0; i < 10; i++) {
      const list = [exposure(variant, '2020-01-02T12:00:00Z')]
      if (i < purchases) list.push(event('purchase', variant, '2020-01-02T12:01:00Z', { amount: i < 2 ? 10 : '' }))
      byPerson[`user_${variant}_${i}`] = list
    }
  }
  return journeys(byPerson)
}

const RUN_2020 = { start_date: '2020-01-01T12:00:00Z', end_date: '2020-01-15T12:00:00Z' }
const RUN_2024 = { start_date: '2024-01-01T12:00:00Z', end_date: '2024-01-15T12:00:00Z' }
const purchaseMean = { kind: 'ExperimentMetric', uuid: 'm-p', name: 'Purchases', metric_type: 'mean', source: ev('purchase') }

interface MetricCase {
  readonly name: string
  readonly experiment: Record<string, unknown> & { start_date: string; end_date: string }
  readonly events: () => unknown[]
  readonly now: string
  readonly exposed: Record<string, number>
  /** per counted event, per variant: [events after the unit's exposure, units] */
  readonly metrics: Record<string, Record<string, [number, number]>>
  readonly primary: string
}

describe("PostHog's metric tests through the offline audit: each metric's events per variant", () => {
  // Per variant: [events, units] of each counted event, after the unit's exposure (PostHog counts
  // metric events from the first exposure on), and the exposed units per variant.
  it.each<MetricCase>([
    {
      name: 'ratio, purchase / purchase (test_ratio_metric.py test_basic_ratio_metric: denominator_sum 9 and 12, number_of_samples 10 and 10)',
      experiment: { ...RUN_2020, metrics: [{ kind: 'ExperimentMetric', uuid: 'm-r', name: 'Revenue per purchase', metric_type: 'ratio', numerator: { ...ev('purchase'), math: 'sum', math_property: 'amount' }, denominator: { ...ev('purchase'), math: 'total' } }] },
      events: basicRatioJourneys,
      now: '2020-01-03T00:00:00Z',
      exposed: { control: 10, test: 10 },
      metrics: { purchase: { control: [9, 6], test: [12, 8] } },
      primary: 'pass',
    },
    {
      name: 'ratio, action / pageview (test_ratio_metric.py test_ratio_metric_action_and_event_sources: denominator_sum 6 and 11)',
      experiment: { ...RUN_2024, metrics: [{ kind: 'ExperimentMetric', uuid: 'm-a', name: 'Revenue per pageview', metric_type: 'ratio', numerator: { kind: 'ActionsNode', id: 1, name: 'Purchase Action', math: 'sum', math_property: 'amount' }, denominator: { ...ev('pageview'), math: 'total' } }] },
      events: actionRatioJourneys,
      now: '2024-01-03T00:00:00Z',
      exposed: { control: 3, test: 3 },
      metrics: { pageview: { control: [6, 3], test: [11, 3] } },
      // the numerator (what the ratio measures) is an action: named, not counted, not missing
      primary: 'unknown',
    },
    {
      name: 'retention, signup then login (test_retention_metric.py test_basic_retention_calculation: number_of_samples 6 and 8, sum 4 and 6)',
      experiment: { ...RUN_2020, metrics: [{ kind: 'ExperimentMetric', uuid: 'm-t', name: 'Login retention', metric_type: 'retention', start_event: ev('signup'), completion_event: ev('login'), retention_window_start: 1, retention_window_end: 7, retention_window_unit: 'day', start_handling: 'first_seen' }] },
      events: basicRetentionJourneys,
      now: '2020-01-06T00:00:00Z',
      exposed: { control: 10, test: 10 },
      metrics: { signup: { control: [6, 6], test: [8, 8] }, login: { control: [4, 4], test: [6, 6] } },
      primary: 'pass',
    },
    {
      name: 'a shared primary metric (base.py create_standard_test_events: 6 and 8 buyers)',
      experiment: { ...RUN_2020, saved_metrics: [{ id: 5, name: 'Purchases (shared)', metadata: { type: 'primary' }, query: purchaseMean }] },
      events: standardJourneys,
      now: '2020-01-03T00:00:00Z',
      exposed: { control: 10, test: 10 },
      metrics: { purchase: { control: [6, 6], test: [8, 8] } },
      primary: 'pass',
    },
    {
      name: 'a legacy ExperimentTrendsQuery metric (base.py create_standard_test_events)',
      experiment: { ...RUN_2020, metrics: [{ kind: 'ExperimentTrendsQuery', count_query: { kind: 'TrendsQuery', series: [ev('purchase')] } }] },
      events: standardJourneys,
      now: '2020-01-03T00:00:00Z',
      exposed: { control: 10, test: 10 },
      metrics: { purchase: { control: [6, 6], test: [8, 8] } },
      primary: 'pass',
    },
    {
      // health/checks/no_metric.py: "The deprecated `filters` metric does not count, because no engine reads it"
      name: 'a legacy goal in filters: counted, and flagged because PostHog no longer reads it',
      experiment: { ...RUN_2020, filters: { insight: 'TRENDS', events: [{ id: 'purchase', name: 'purchase', order: 0, type: 'events' }] } },
      events: standardJourneys,
      now: '2020-01-03T00:00:00Z',
      exposed: { control: 10, test: 10 },
      metrics: { purchase: { control: [6, 6], test: [8, 8] } },
      primary: 'warn',
    },
  ])('$name', async ({ experiment, events, now, exposed, metrics, primary }) => {
    const defs = definitionsOf([baseTestFlag()], [baseTestExperiment(experiment)])
    const { report, flag } = await auditJourneys(defs, events(), Date.parse(now))
    const obs = flag(FLAG)!
    const units = byValue(obs.exposure.$feature_flag_called!.variants)
    expect({ control: units.control?.units, test: units.test?.units }).toEqual(exposed)
    for (const [name, perVariant] of Object.entries(metrics)) {
      const m = byValue(obs.metrics.find((x) => x.name === name)!.variants)
      for (const [variant, [events_, units_]] of Object.entries(perVariant)) {
        expect({ events: m[variant]!.events - m[variant]!.eventsBeforeExposure, units: m[variant]!.units }, `${name} ${variant}`).toEqual({ events: events_, units: units_ })
      }
    }
    const check = report.flags.find((f) => f.key === FLAG)!.checks.find((c) => c.id === 'primary_metric')!
    expect(check.status, check.summary).toBe(primary)
  })
})

describe('metrics this audit cannot count are named, never taken for missing', () => {
  // test_data_warehouse_metric.py: a mean over a data warehouse table; test_ratio_metric.py
  // test_ratio_metric_action_and_event_sources: a numerator on an action.
  it.each([
    ['a mean over a data warehouse table', [{ kind: 'ExperimentMetric', uuid: 'd', name: 'Usage', metric_type: 'mean', source: { kind: 'ExperimentDataWarehouseNode', table_name: 'usage', events_join_key: 'properties.$user_id', data_warehouse_join_key: 'userid', timestamp_field: 'ds' } }], /"Usage" \(it reads data warehouse table usage/],
    ['a mean over an action', [{ kind: 'ExperimentMetric', uuid: 'a', name: 'Qualified purchase', metric_type: 'mean', source: { kind: 'ActionsNode', id: 12, name: 'Qualified Purchase' } }], /"Qualified purchase" \(it reads action 12 \(Qualified Purchase\)/],
    ['a ratio whose numerator is an action', [{ kind: 'ExperimentMetric', uuid: 'r', name: 'Revenue per pageview', metric_type: 'ratio', numerator: { kind: 'ActionsNode', id: 1, name: 'Purchase Action' }, denominator: ev('pageview') }], /"Revenue per pageview" \(its goal reads action 1 \(Purchase Action\)/],
  ])('%s: primary_metric is unknown and says why, no inferred goal', async (_why, metrics, summary) => {
    const defs = definitionsOf([baseTestFlag()], [baseTestExperiment({ ...RUN_2020, metrics })])
    const { report } = await auditJourneys(defs, standardJourneys(), Date.parse('2020-01-03T00:00:00Z'))
    const flag = report.flags.find((f) => f.key === FLAG)!
    const check = flag.checks.find((c) => c.id === 'primary_metric')!
    expect(check.status).toBe('unknown')
    expect(check.summary).toMatch(summary)
    expect(flag.assumptions.join(' ')).not.toMatch(/likely|infer/i)
    expect(flag.backfill.some((b) => /Add a primary metric/.test(b.action))).toBe(false)
  })
})
