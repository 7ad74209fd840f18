import { auditConfig } from '../definitions/audit-config.js'
import type { Definitions } from '../definitions/definitions.js'
import { fetchDefinitions } from '../posthog/definitions.js'
import { buildReport, type Report, type ReportInput } from '../coverage/report.js'
import { parseSettings } from '../settings/settings.js'
import { backfillWindow, findUnlistedFlags, observationsFromBackfill, runBackfill, type BackfillRun } from '../posthog/backfill.js'
import { backfillPlanner } from '../posthog/backfill-queries.js'
import type { PostHogClient } from '../posthog/client.js'
import { experimentRuns } from '../definitions/windows.js'
import { fetchExperimentActivity } from '../posthog/activity.js'
import { askSlices, slicesToAsk } from '../posthog/slices.js'
import { exposureCriterionOf } from '../definitions/definitions.js'
import type { ActivityLog } from '../definitions/activity.js'

export interface OnlineAuditResult {
  readonly report: Report
  readonly definitions: Definitions
  readonly runs: readonly BackfillRun[]
}

/**
 * The online audit: definitions from the API, the lookback window's observations from the HogQL
 * backfill (ClickHouse aggregates; no raw event is paged), then the same report as offline.
 */
export async function auditOnline(
  client: PostHogClient,
  userConfig: Record<string, unknown>,
  opts: { nowMs: number; activity?: ActivityLog | null; onStage?: (message: string) => void; onQuery?: (run: BackfillRun, done: number, total: number) => void },
): Promise<OnlineAuditResult> {
  opts.onStage?.('fetching flags, experiments, cohorts and group types')
  const definitions = await fetchDefinitions(client, opts.onStage)
  const { config, counted } = auditConfig(userConfig, definitions)
  const settings = parseSettings(config, { countedEvents: counted })
  const window = backfillWindow(opts.nowMs, settings, null, experimentRuns(definitions))
  // Flags the exposures name that the flag list does not have: the report names them, as the live counters do.
  const unlisted = await findUnlistedFlags(client, definitions, window, settings.filterTestAccounts)
  const planner = backfillPlanner(definitions, settings.metrics, window, { filterTestAccounts: settings.filterTestAccounts, unlisted })
  const plan = planner.queries
  opts.onStage?.(`running ${plan.length} HogQL queries for ${definitions.flags.length} flags${settings.filterTestAccounts ? ', test accounts left out' : ''}`)
  const runs = await runBackfill(client, plan, {
    split: (q) => planner.split(q),
    onDone: (run, done, total) => opts.onQuery?.(run, done, total),
    onSplit: (q, parts) => opts.onStage?.(`"${q.name}" did not fit PostHog's query limits: split into ${parts} queries`),
  })
  const observations = observationsFromBackfill(definitions, runs, client.options.projectId, window, settings.lookbackDays)
  const activity = opts.activity ?? (await fetchExperimentActivity(client, definitions, opts.onStage))
  const report = await reportWithSlices(client, { definitions, observations, settings, nowMs: opts.nowMs, activity }, opts.onStage)
  return { report, definitions, runs }
}

/**
 * The report of backfilled observations, with the splits by slice asked of PostHog on demand: for
 * the flags whose split is mismatched or whose units cross variants (the backfill counts no slices).
 */
export async function reportWithSlices(client: Pick<PostHogClient, 'query'>, input: ReportInput, onStage?: (message: string) => void): Promise<Report> {
  const report = buildReport(input)
  const ask = slicesToAsk(report)
  if (ask.length === 0) return report
  onStage?.(`breaking ${ask.length} splits down by slice (mismatched, or with units in several variants)`)
  const eventOf = (flag: string) => {
    const k = exposureCriterionOf(input.definitions.experiments.find((e) => e.feature_flag_key === flag) ?? null).kind
    return k === 'action' ? null : k
  }
  return (await askSlices(client, report, input.observations, eventOf, onStage)) ? buildReport(input) : report
}
