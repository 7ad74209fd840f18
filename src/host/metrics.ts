import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'

/** The host's Prometheus metrics (served at /metrics), one registry per host so tests can run several. */
export function createMetrics(opts: { defaults?: boolean } = {}) {
  const registry = new Registry()
  if (opts.defaults ?? true) collectDefaultMetrics({ register: registry, prefix: 'coverage_process_' })
  const registers = [registry]
  return {
    registry,
    events: new Counter({ name: 'coverage_events_total', help: 'Events through the intake, by outcome (counted, ignored, duplicate, rejected, failed, error, not_set_up)', labelNames: ['project', 'outcome'], registers }),
    rejected: new Counter({ name: 'coverage_events_rejected_total', help: 'Events (or parts of events) the plugin could not count, by reason (unit_missing, timestamp_invalid, ...)', labelNames: ['project', 'reason'], registers }),
    refused: new Counter({ name: 'coverage_intake_refused_total', help: 'Intake requests refused, by reason', labelNames: ['reason'], registers }),
    authFailures: new Counter({ name: 'coverage_auth_failures_total', help: 'Failed authentications, by check (api_token, intake)', labelNames: ['check'], registers }),
    authThrottled: new Counter({ name: 'coverage_auth_throttled_total', help: 'Requests answered 429 unchecked, from a client that failed authentication too often, by check', labelNames: ['check'], registers }),
    intakeBodies: new Gauge({ name: 'coverage_intake_bodies', help: 'Intake bodies being read now, and requests waiting for a slot to read theirs', labelNames: ['state'], registers }),
    responses: new Counter({ name: 'coverage_http_responses_total', help: 'HTTP answers by route and status', labelNames: ['route', 'status'], registers }),
    intakeSeconds: new Histogram({
      name: 'coverage_intake_seconds',
      help: 'Intake latency, from the request to the answer',
      buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    }),
    schedulerRuns: new Counter({ name: 'coverage_scheduler_runs_total', help: 'Scheduled plugin tasks this process ran, by task and result', labelNames: ['task', 'result'], registers }),
    schedulerSeconds: new Histogram({ name: 'coverage_scheduler_seconds', help: 'Scheduled task duration', labelNames: ['task'], buckets: [0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30], registers }),
    backfillQueries: new Gauge({ name: 'coverage_backfill_queries', help: 'HogQL backfill queries of the running job, planned and done', labelNames: ['project', 'state'], registers }),
    alerts: new Counter({ name: 'coverage_alerts_total', help: 'Alerts sent to the webhook, by kind', labelNames: ['project', 'kind'], registers }),
    gapEvents: new Counter({ name: 'coverage_gap_fill_events_total', help: 'Events read back from HogQL to fill outage gaps, by outcome', labelNames: ['project', 'outcome'], registers }),
  }
}

export type HostMetrics = ReturnType<typeof createMetrics>
