import { VERDICT_RANK } from '../coverage/compare.js'
import type { FlagReport, Report } from '../coverage/report.js'
import { isHoldoutKey } from '../definitions/definitions.js'
import { BLOCKING } from '../coverage/verdict.js'
import { lookSequentialSrm, type SequentialSrmState } from './sequential-srm.js'

/**
 * Alerts when a running experiment breaks: its verdict gets worse, a blocking check starts
 * failing, its exposures stop (exposure_stall, once per stall), its split fails the sequential sample ratio test, or its readout comes due. One message
 * per change; nothing again while nothing changes (the state says what was last said).
 */
export interface AlertState {
  /** per flag: the verdict and the failing blocking checks last alerted (or first seen) */
  readonly flags: Record<string, { verdict: string; blocking: string[]; srm?: SequentialSrmState & { run: string; alerted: boolean }; remindedOn?: string; stalledSince?: string }>
}

export interface Alert {
  readonly flag: string
  readonly kind: 'verdict_worse' | 'blocking_check' | 'sample_ratio' | 'readout_due' | 'exposure_stall'
  readonly title: string
  readonly detail: string
  readonly fix: string | null
  readonly link: string | null
}

const running = (f: FlagReport) => f.kind === 'experiment' && f.experiment !== null && f.experiment.start_date !== null && (f.experiment.end_date === null || f.experiment.status === 'running')
const REMIND_DAYS = 3

/**
 * The alerts of one review, and the state to keep. The one-shot sample ratio check (PostHog's
 * p < 0.001) is not alerted on: looking every hour would raise its false-alarm rate with each
 * look. The sequential test stands in for it, at the configured rate over the whole run.
 */
export function decideAlerts(
  report: Report,
  prev: AlertState | null,
  opts: { srmAlpha: number; nowMs: number; link: (flag: string) => string | null; deadlines?: ReadonlyMap<string, number> },
): { alerts: Alert[]; state: AlertState } {
  const flags: AlertState['flags'] = {}
  const alerts: Alert[] = []
  const today = new Date(opts.nowMs).toISOString().slice(0, 10)
  for (const f of report.flags) {
    const before = prev?.flags[f.key]
    const blocking = f.checks.filter((c) => c.status === 'fail' && BLOCKING.has(c.id) && c.id !== 'sample_ratio').map((c) => c.id)
    const entry: AlertState['flags'][string] = { verdict: f.verdict, blocking, ...(before?.srm ? { srm: before.srm } : {}), ...(before?.remindedOn ? { remindedOn: before.remindedOn } : {}) }
    flags[f.key] = entry
    if (!running(f)) continue
    const link = opts.link(f.key)
    // The one-shot SRM failing alone does not make the verdict "worse" here (that would be peeking).
    const oneShotSrmOnly = f.checks.filter((c) => c.status === 'fail').every((c) => c.id === 'sample_ratio')
    if (before && (VERDICT_RANK[f.verdict] ?? 0) > (VERDICT_RANK[before.verdict] ?? 0) && !oneShotSrmOnly) {
      const why = f.checks.filter((c) => c.status === 'fail' && c.id !== 'sample_ratio')
      alerts.push({
        flag: f.key,
        kind: 'verdict_worse',
        title: `${f.key}: ${before.verdict.replace(/_/g, ' ')} -> ${f.verdict.replace(/_/g, ' ')}`,
        detail: why.map((c) => `${c.id}: ${c.summary}`).join(' ') || 'The verdict got worse.',
        fix: why.find((c) => c.fix)?.fix ?? null,
        link,
      })
    }
    // Exposures stopped: said once per stall (its first day), whatever the verdict already was.
    const stall = f.checks.find((c) => c.id === 'exposure_stall' && c.status === 'fail')
    // Exposures, or the primary metric among exposed units, silent since a day.
    const exposuresSince = typeof stall?.evidence.stalled_since === 'string' ? stall.evidence.stalled_since : undefined
    const metricSince = typeof stall?.evidence.metric_silent_since === 'string' ? stall.evidence.metric_silent_since : undefined
    const since = exposuresSince ?? (metricSince !== undefined ? `metric:${metricSince}` : undefined)
    if (since !== undefined) entry.stalledSince = since
    if (stall && since !== undefined && before && before.stalledSince !== since) {
      const title = exposuresSince !== undefined ? `${f.key}: no exposure since ${exposuresSince}` : `${f.key}: ${String(stall.evidence.metric)} silent since ${metricSince}`
      alerts.push({ flag: f.key, kind: 'exposure_stall', title, detail: stall.summary, fix: stall.fix, link })
    }
    for (const id of blocking.filter((b) => !(before?.blocking ?? []).includes(b))) {
      if (!before) continue // first sight: the state is set, nothing "started" failing
      const c = f.checks.find((x) => x.id === id)!
      alerts.push({ flag: f.key, kind: 'blocking_check', title: `${f.key}: ${id} started failing`, detail: c.summary, fix: c.fix, link })
    }
    // The sequential sample ratio test over the experiment's run.
    const run = f.experiment!.start_date!
    // Over the arms the one-shot sample_ratio check tests: an experiment's holdout is left out, the
    // other shares scaled to add up to 1, as PostHog's SRM does.
    const arms = f.variants.filter((v) => !isHoldoutKey(v.key))
    const armShare = arms.reduce((a, v) => a + v.expected_share, 0)
    const units = arms.map((v) => v.units)
    const shares = arms.map((v) => v.expected_share / armShare)
    if (units.length >= 2 && armShare > 0 && Math.abs(f.variants.reduce((a, v) => a + v.expected_share, 0) - 1) < 1e-6) {
      const prevSrm = before?.srm && before.srm.run === run ? before.srm : null
      const { state, p } = lookSequentialSrm(prevSrm, units, shares)
      const fire = p < opts.srmAlpha && !(prevSrm?.alerted ?? false)
      entry.srm = { ...state, run, alerted: (prevSrm?.alerted ?? false) || fire }
      if (fire) {
        alerts.push({
          flag: f.key,
          kind: 'sample_ratio',
          title: `${f.key}: sample ratio mismatch`,
          detail: `Units per variant ${arms.map((v) => `${v.key} ${v.units}`).join(', ')} against the planned ${shares.map((s) => `${Math.round(s * 100)}%`).join(' / ')}: the sequential test's p = ${p.toExponential(1)}, below ${opts.srmAlpha}, valid however often it is looked at.`,
          fix: 'Find where assignment or exposure differs between variants (a redirect, a crash, a bot filter, caching) before reading results.',
          link,
        })
      }
    }
    // Readout reminders, once a day, from the deadlines (the readoutDeadlines setting, else the experiment's planned end).
    const end = f.experiment!.end_date ? Date.parse(f.experiment!.end_date) : NaN
    const deadline = opts.deadlines?.get(f.key) ?? (end > opts.nowMs ? end : null)
    const days = deadline === null || deadline === undefined ? null : Math.ceil((deadline - opts.nowMs) / 86_400_000)
    if (days !== null && days >= 0 && days <= REMIND_DAYS && before?.remindedOn !== today) {
      entry.remindedOn = today
      alerts.push({ flag: f.key, kind: 'readout_due', title: `${f.key}: readout due in ${days} days`, detail: `Verdict: ${f.verdict.replace(/_/g, ' ')}.`, fix: f.backfill[0]?.action ?? null, link })
    }
  }
  return { alerts, state: { flags } }
}

/** The message body: Slack's incoming-webhook format, or a generic JSON body. */
export function alertBody(a: Alert, format: 'slack' | 'json', project: string): unknown {
  if (format === 'json') return { project, flag: a.flag, kind: a.kind, title: a.title, detail: a.detail, fix: a.fix, link: a.link }
  // Slack's mrkdwn: &, < and > are its control characters.
  const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
  const lines = [`*${esc(a.title)}*`, esc(a.detail), ...(a.fix ? [`Fix: ${esc(a.fix)}`] : []), ...(a.link ? [`<${a.link}|Open in Experiment Coverage>`] : [])]
  return { text: lines.join('\n') }
}

/**
 * Posts one alert, retried with backoff (1, 2, 4, 8 s) on network errors, 429 and 5xx; never
 * follows a redirect. Run it without awaiting it where counting must not wait.
 */
export async function deliverAlert(url: string, body: unknown, opts: { fetch?: typeof fetch; attempts?: number; baseDelayMs?: number; onFailure?: (message: string) => void } = {}): Promise<boolean> {
  const attempts = opts.attempts ?? 5
  for (let i = 1; i <= attempts; i++) {
    try {
      const res = await (opts.fetch ?? fetch)(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), redirect: 'manual', signal: AbortSignal.timeout(10_000) })
      await res.arrayBuffer().catch(() => {})
      if (res.ok) return true
      if (res.status < 500 && res.status !== 429) {
        opts.onFailure?.(`the alert webhook answered ${res.status}; not retried`)
        return false
      }
    } catch (e) {
      if (i === attempts) opts.onFailure?.(`the alert webhook could not be reached: ${(e as Error).message}`)
    }
    if (i < attempts) await new Promise((r) => setTimeout(r, (opts.baseDelayMs ?? 1000) * 2 ** (i - 1)))
  }
  opts.onFailure?.(`the alert webhook kept failing after ${attempts} attempts`)
  return false
}
