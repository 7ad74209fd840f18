/**
 * What a scheduled review does after it keeps the report: alerts for what broke since the last
 * review, the monthly summary, the webhook destination kept in step with what the intake counts,
 * and publishing into the PostHog project. Each takes the parts it needs; ProjectRuntime.review
 * runs them in turn.
 */
import { alertBody, decideAlerts, deliverAlert, type Alert, type AlertState } from '../alerts/alerts.js'
import { changesMarkdown, compareReports, recurringGaps } from '../coverage/compare.js'
import type { Report } from '../coverage/report.js'
import type { Definitions } from '../definitions/definitions.js'
import { canBackfill, clientOf, type PluginState } from '../plugin/state.js'
import { publishReport, type PublishResult } from '../publish/publish.js'
import { STORAGE_KEYS } from '../storage-keys.js'
import { DESTINATION_KEY, syncDestinationFilter, type StoredDestination } from './destination.js'
import type { HostMetrics } from './metrics.js'
import { intakeEvents } from './intake-events.js'
import type { HostStore, pluginStorage } from './store.js'

export const ALERT_STATE_KEY = STORAGE_KEYS.alertState
export const PUBLISHED_KEY = STORAGE_KEYS.published
const SUMMARY_KEY = STORAGE_KEYS.monthlySummary

export interface ReviewParts {
  readonly project: string
  readonly state: PluginState
  readonly storage: ReturnType<typeof pluginStorage>
  readonly store: HostStore
  readonly metrics: HostMetrics
  readonly log: (level: 'info' | 'warn', message: string) => void
  readonly definitions: () => Promise<Definitions>
}

/**
 * Alerts for what broke since the last review go to the webhook, without waiting: a failing
 * receiver never holds the host. What was said is kept, so each change is said once.
 */
export async function sendAlerts(p: ReviewParts, report: Report, now: number): Promise<Alert[]> {
  const s = p.state.settings
  const prev = (await p.storage.get(ALERT_STATE_KEY, null)) as AlertState | null
  const hostUrl = s.coverageHostUrl
  const { alerts, state: next } = decideAlerts(report, prev, {
    srmAlpha: s.srmPValue,
    nowMs: now,
    deadlines: s.readoutDeadlines,
    link: (flag) => (hostUrl ? `${hostUrl}/?project=${encodeURIComponent(p.project)}&view=flag&flag=${encodeURIComponent(flag)}` : null),
  })
  await p.storage.set(ALERT_STATE_KEY, next)
  if (s.alertWebhookUrl) {
    for (const a of alerts) {
      p.metrics.alerts.inc({ project: p.project, kind: a.kind })
      void deliverAlert(s.alertWebhookUrl, alertBody(a, s.alertFormat, p.project), { onFailure: (m) => p.log('warn', `alert "${a.title}": ${m}`) })
    }
  }
  return alerts
}

/**
 * Once a month (at the first review of a new month), the summary goes to the alert webhook: the
 * verdicts, what changed since the month's first run, and the gaps that kept coming back.
 */
export async function monthlySummary(p: ReviewParts, report: Report, now: number): Promise<void> {
  const s = p.state.settings
  const month = new Date(now).toISOString().slice(0, 7)
  const last = (await p.storage.get(SUMMARY_KEY, null)) as { month: string } | null
  await p.storage.set(SUMMARY_KEY, { month })
  if (!last || last.month === month) return
  const runs = (await p.store.reportHistory(p.project, 24 * 31)).map((r) => r.report as Report)
  const monthAgo = runs.at(-1) ?? report
  const changes = compareReports(monthAgo, report)
  const gaps = recurringGaps(runs.slice(0, 24 * 31), 3)
  const counts = Object.entries(report.summary).filter(([k]) => k !== 'flags').map(([k, n]) => `${k.replace(/_/g, ' ')} ${n}`).join(', ')
  const text = `Experiment coverage, ${last.month}: ${report.summary.flags} flags (${counts}).\n\n${changesMarkdown(changes, gaps.slice(0, 10))}`
  const body = s.alertFormat === 'json' ? { project: p.project, kind: 'monthly_summary', month: last.month, summary: report.summary, changes, recurring_gaps: gaps } : { text }
  void deliverAlert(s.alertWebhookUrl, body, { onFailure: (m) => p.log('warn', `monthly summary: ${m}`) })
}

/** Keeps the webhook destination `connect` created sending every event the intake now counts. */
export async function syncDestination(p: ReviewParts): Promise<void> {
  const stored = (await p.storage.get(DESTINATION_KEY, null)) as StoredDestination | null
  if (!stored || !canBackfill(p.state)) return
  const s = p.state.settings
  try {
    const next = await syncDestinationFilter(clientOf(p.state), stored, intakeEvents(s, await p.definitions()), s.filterTestAccounts)
    if (next) {
      await p.storage.set(DESTINATION_KEY, next)
      p.log('info', `the webhook destination now sends ${next.events.length} events (the experiments' metric events changed)`)
    }
  } catch (e) {
    p.log('warn', `could not update the webhook destination's events (it needs hog_function:write): ${(e as Error).message}`)
  }
}

/** With publishing enabled, the results are written into the PostHog project; a failure waits for the next review. */
export async function publishIfEnabled(p: ReviewParts, report: Report, now: number): Promise<PublishResult | null> {
  const s = p.state.settings
  if (!s.publishEnabled || !canBackfill(p.state)) return null
  try {
    const published = await publishReport(report, { client: clientOf(p.state), posthogHost: s.posthogHost, project: s.posthogProjectId, tagPrefix: s.publishTagPrefix, hostUrl: s.coverageHostUrl, dryRun: false })
    await p.storage.set(PUBLISHED_KEY, { at: now, tags: published.tags, notebook: published.notebook, events: published.events, annotations: published.annotations })
    p.log('info', `published: ${published.tags.added} tags added, ${published.tags.removed} removed; notebook ${published.notebook.action}; ${published.events} events; ${published.annotations.skipped ?? `annotations ${published.annotations.created} created, ${published.annotations.updated} updated, ${published.annotations.removed} removed`}`)
    return published
  } catch (e) {
    p.log('warn', `publishing failed, will retry at the next review: ${(e as Error).message}`)
    return null
  }
}
