/**
 * Every key the plugin and the host keep in a project's storage (plugin-server's `meta.storage`,
 * the host's plugin_storage table) and the one they keep in its cache besides the counters, named
 * once. A key renamed here is renamed for the writer and the reader alike.
 */
export const STORAGE_KEYS = {
  /** the observations the minute's run stored, for the report */
  observations: 'coverage/observations',
  /** the project's flags, experiments, cohorts and group types, fetched by one worker for all */
  definitions: 'coverage/definitions',
  /** the backfill's watermark: the live counters count from it on, HogQL before it */
  watermark: 'coverage/watermark',
  /** the counters' layout the stored backfill was read for */
  countersLayout: 'coverage/counters-layout',
  /** the HogQL backfill's observations */
  backfill: 'coverage/backfill',
  /** the HogQL backfill's queries, done and to do */
  backfillJob: 'coverage/backfill-job',
  /** the webhook destination this host created in PostHog */
  destination: 'coverage/destination',
  /** the served demo's simulated project */
  demoSpec: 'coverage/demo-spec',
  /** what the alerts last said, so each change is said once */
  alertState: 'coverage/alert-state',
  /** what was last published into PostHog */
  published: 'coverage/published',
  /** the month of the last monthly summary */
  monthlySummary: 'coverage/monthly-summary',
  /** where the fill of the gap starting then stopped: it resumes after that row */
  gapCursor: (fromMs: number) => `coverage/gap-cursor/${fromMs}`,
} as const

export const CACHE_KEYS = {
  /** the host's heartbeat in the cache: a probe that it answers */
  hostAlive: 'coverage/host-alive',
} as const
