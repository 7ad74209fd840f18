/**
 * Reports from a PostHog project: the online audit (src/audit/online-audit.ts), run when a report
 * is first asked for and again on `run_audit`. The runs of this session are the history; earlier
 * reports can be given as files.
 */
import { auditOnline } from '../audit/online-audit.js'
import { DefinitionsError } from '../definitions/definitions.js'
import { SettingsError } from '../settings/settings.js'
import type { Report } from '../coverage/report.js'
import { PostHogApiError, PostHogClient } from '../posthog/client.js'
import { historyOf, orderRuns, RECURRING_RUNS, readReportFile } from './runs.js'
import { SourceError, type OnProgress, type ReportSource, type RunInputs, type RunOutcome } from './source.js'

export interface OnlineSourceOptions {
  readonly host: string
  readonly projectId: string
  readonly personalApiKey: string
  /** plugin settings (thresholds, goal and guardrail events), as `audit --config` reads them */
  readonly config?: Record<string, unknown>
  readonly previous?: readonly string[]
  /** the audit's moment (tests); default the clock */
  readonly now?: () => number
  /** the client's fetch (tests) */
  readonly fetch?: typeof fetch
}

export function onlineSource(opts: OnlineSourceOptions): ReportSource {
  const runs: Report[] = (opts.previous ?? []).map((f) => readReportFile(f).report)
  const tags = new Map<string, string[]>()
  let latest: Report | null = null
  let running: Promise<RunOutcome> | null = null
  let lastInputs: RunInputs = {}

  const audit = async (inputs: RunInputs, onProgress: OnProgress): Promise<RunOutcome> => {
    // One audit at a time. A run asked for during another (run_audit while the first tool's audit
    // runs) waits for it, then runs with its own lookback, deadlines and progress: joining the
    // running one would answer its report as if the inputs had been applied.
    while (running) await running.catch(() => undefined)
    const run = (async () => {
      let step = 0
      const say = (message: string) => onProgress(++step, undefined, message)
      const client = new PostHogClient({
        host: opts.host,
        projectId: opts.projectId,
        personalApiKey: opts.personalApiKey,
        ...(opts.fetch ? { fetch: opts.fetch } : {}),
        onWait: (w) => say(`PostHog asks to wait ${w.seconds} s before retrying ${w.path} (${w.status})`),
        onQueryWait: (w) => say(`query "${w.name}" still running on PostHog after ${w.seconds} s`),
      })
      const config: Record<string, unknown> = { ...opts.config }
      if (inputs.lookbackDays !== undefined) config.lookbackDays = inputs.lookbackDays
      if (inputs.deadlines !== undefined) config.readoutDeadlines = { ...readDeadlines(opts.config?.readoutDeadlines), ...inputs.deadlines }
      try {
        const result = await auditOnline(client, config, {
          nowMs: (opts.now ?? Date.now)(),
          onStage: say,
          onQuery: (_run, done, total) => say(`HogQL queries: ${done} of ${total} done`),
        })
        latest = result.report
        runs.unshift(result.report)
        runs.splice(0, runs.length, ...orderRuns(runs).slice(0, RECURRING_RUNS * 2))
        tags.clear()
        for (const f of result.definitions.flags) tags.set(f.key, [...(f.tags ?? [])])
        lastInputs = inputs
        return { report: result.report, mode: 'audit' as const, inputsApplied: true, note: `Audited PostHog project ${opts.projectId} now: ${result.definitions.flags.length} flags, ${result.runs.length} HogQL queries.` }
      } catch (e) {
        if (e instanceof PostHogApiError || e instanceof DefinitionsError) throw new SourceError(`the online audit failed: ${e.message}`)
        if (e instanceof SettingsError) throw new SourceError(`the settings are not valid: ${e.problems.map((p) => `${p.key}: ${p.message}`).join('; ')}`)
        throw e
      }
    })()
    running = run
    try {
      return await run
    } finally {
      if (running === run) running = null
    }
  }
  const current = async (project: string | undefined): Promise<Report> => {
    if (project !== undefined && project !== opts.projectId) throw new SourceError(`this server audits one PostHog project, ${JSON.stringify(opts.projectId)}; there is no project ${JSON.stringify(project)} here`)
    // A tool that needs the first report while an audit runs waits for that audit's.
    return latest ?? (await (running ?? audit(lastInputs, () => {}))).report
  }

  return {
    info: () => ({ kind: 'posthog', where: `${opts.host} project ${opts.projectId}`, refresh: 'audit' }),
    projects: async () => [{ id: opts.projectId, name: `PostHog project ${opts.projectId}` }],
    async resolve(project) {
      if (project !== undefined && project !== opts.projectId) await current(project)
      return opts.projectId
    },
    report: current,
    held: () => latest,
    async tags(project) {
      await current(project)
      return tags
    },
    async history(project, since) {
      await current(project)
      return historyOf(runs, since)
    },
    async run(project, inputs, onProgress) {
      if (project !== undefined && project !== opts.projectId) await current(project)
      return audit(inputs, onProgress)
    },
    secrets: () => [opts.personalApiKey],
  }
}

function readDeadlines(v: unknown): Record<string, string> {
  if (typeof v === 'string' && v.trim()) {
    try {
      return readDeadlines(JSON.parse(v))
    } catch {
      return {}
    }
  }
  return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, string>) : {}
}
