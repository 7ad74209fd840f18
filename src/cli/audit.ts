import { readFileSync, writeFileSync } from 'node:fs'
import { parseActivity, type ActivityLog } from '../definitions/activity.js'
import {
  DefinitionsError,
  parseCohorts,
  parseExperiments,
  parseFlags,
  parseGroupTypes,
  type Definitions,
} from '../definitions/definitions.js'
import type { Report } from '../coverage/report.js'
import { changesMarkdown, compareReports, recurringGaps } from '../coverage/compare.js'
import { PostHogApiError, PostHogClient, type RequestInfo } from '../posthog/client.js'
import { auditOnline } from '../audit/online-audit.js'
import { auditEvents } from '../audit/offline-audit.js'
import { ExitError } from './errors.js'
import { forTerminal } from './terminal.js'
import { formatReport, type Format } from './formats.js'
import { Progress } from './progress.js'
import { readNdjson, type NdjsonLine } from './read-ndjson.js'

export interface AuditOptions {
  readonly events?: string
  readonly flags?: string
  readonly experiments?: string
  readonly cohorts?: string
  readonly groupTypes?: string
  readonly config?: string
  readonly now?: string
  readonly format: Format
  readonly out?: string
  readonly failOn?: 'blocked' | 'needs_backfill'
  /** longest event line read, in characters (MAX_LINE_CHARS by default); longer ones are skipped */
  readonly maxLine?: number
  /** an earlier run's report JSON: say what changed since */
  readonly compare?: string
  /** the flags' activity log as PostHog's API answers it (flag_changes); online, read from PostHog instead */
  readonly activity?: string
}

/** Reads a JSON file, naming the file and the line of a syntax error. */
export function readJsonFile(file: string): unknown {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (e) {
    throw new ExitError(`${file}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, 2)
  }
  try {
    return JSON.parse(text)
  } catch (e) {
    const message = (e as Error).message
    const pos = /position (\d+)/.exec(message)
    const line = pos ? text.slice(0, Number(pos[1])).split('\n').length : null
    throw new ExitError(`${file}${line ? `:${line}` : ''}: not valid JSON (${message})`, 2)
  }
}

function loadDefinitions(opts: AuditOptions & { flags: string }): Definitions {
  try {
    return {
      flags: parseFlags(opts.flags, readJsonFile(opts.flags), (m) => process.stderr.write(`${forTerminal(m)}\n`)),
      experiments: opts.experiments ? parseExperiments(opts.experiments, readJsonFile(opts.experiments)) : [],
      cohorts: opts.cohorts ? parseCohorts(opts.cohorts, readJsonFile(opts.cohorts)) : [],
      groupTypes: opts.groupTypes ? parseGroupTypes(opts.groupTypes, readJsonFile(opts.groupTypes)) : new Map(),
    }
  } catch (e) {
    if (e instanceof DefinitionsError) throw new ExitError(e.message, 2)
    throw e
  }
}

function loadActivity(file: string): ActivityLog {
  try {
    return parseActivity(file, readJsonFile(file))
  } catch (e) {
    if (e instanceof DefinitionsError) throw new ExitError(e.message, 2)
    throw e
  }
}

async function* values(lines: AsyncIterable<NdjsonLine>): AsyncGenerator<unknown> {
  for await (const line of lines) yield line.value
}

/** The online audit from the environment: POSTHOG_HOST, POSTHOG_PROJECT_ID, POSTHOG_PERSONAL_API_KEY. */
export async function runOnlineAudit(userConfig: Record<string, unknown>, nowMs: number, say: (m: string) => void, activity: ActivityLog | null = null): Promise<Report> {
  const host = process.env.POSTHOG_HOST ?? 'https://us.posthog.com'
  const projectId = process.env.POSTHOG_PROJECT_ID
  const key = process.env.POSTHOG_PERSONAL_API_KEY
  if (!projectId || !key) {
    throw new ExitError('give --events and --flags for an offline audit, or set POSTHOG_PROJECT_ID and POSTHOG_PERSONAL_API_KEY (and POSTHOG_HOST, default https://us.posthog.com) for an online one', 2)
  }
  const requests: RequestInfo[] = []
  const client = new PostHogClient({
    host,
    projectId,
    personalApiKey: key,
    onRequest: (r) => requests.push(r),
    onWait: (w) => say(`audit: PostHog asks to wait ${w.seconds} s before retrying ${w.path} (${w.status}); waiting`),
    onQueryWait: (w) => say(`audit: query "${w.name}" still running on PostHog after ${w.seconds} s`),
  })
  const progress = new Progress('audit: HogQL queries done')
  const t0 = performance.now()
  try {
    const { report, runs, definitions } = await auditOnline(client, userConfig, {
      nowMs,
      activity,
      onStage: (m) => say(`audit: ${m}`),
      onQuery: (_run, done, total) => progress.tick(done, total),
    })
    const queryMs = runs.reduce((n, r) => n + r.ms, 0)
    const slowest = [...runs].sort((a, b) => b.ms - a.ms).slice(0, 3)
    progress.done(
      `audit: ${definitions.flags.length} flags, ${definitions.experiments.length} experiments; ${runs.length} HogQL queries (${(queryMs / 1000).toFixed(1)} s in all, slowest: ${slowest.map((r) => `${r.query.kind} ${(r.ms / 1000).toFixed(1)} s`).join(', ')}); ${requests.length} HTTP requests in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
    )
    return report
  } catch (e) {
    if (e instanceof PostHogApiError || e instanceof DefinitionsError) throw new ExitError(e.message, 2)
    throw e
  }
}

function earlierReport(file: string): Report {
  const prev = readJsonFile(file) as Partial<Report>
  if (typeof prev !== 'object' || prev === null || !Array.isArray(prev.flags) || typeof prev.generated_at !== 'string') {
    throw new ExitError(`${file}: not a report of this tool (audit --format json writes one): it needs generated_at and flags`, 2)
  }
  return prev as Report
}

/** `experiment-coverage audit` offline: events through the plugin's own onEvent, then the report. */
export async function runAudit(opts: AuditOptions): Promise<{ report: Report; exitCode: number }> {
  const fixedNow = opts.now ? Date.parse(opts.now) : undefined
  if (opts.now && !Number.isFinite(fixedNow)) throw new ExitError(`--now: "${opts.now}" is not a date`, 2)
  const userConfig = opts.config ? readJsonFile(opts.config) : {}
  if (typeof userConfig !== 'object' || userConfig === null || Array.isArray(userConfig)) throw new ExitError(`${opts.config}: expected a JSON object of plugin settings`, 2)
  const warn = (message: string) => process.stderr.write(`${forTerminal(message)}\n`)
  // The earlier report is read before the audit: a wrong file is said at once, not after minutes of events or queries.
  const prev = opts.compare ? earlierReport(opts.compare) : null
  const activity = opts.activity ? loadActivity(opts.activity) : null
  let report: Report
  if (opts.events || opts.flags) {
    if (!opts.events || !opts.flags) throw new ExitError('an offline audit needs both --events and --flags (and, for experiments, --experiments)', 2)
    const defs = loadDefinitions({ ...opts, flags: opts.flags })
    const progress = new Progress(`audit: reading ${opts.events}`)
    const lines = readNdjson(opts.events, (read, size) => progress.tick(read, size), (lineNo, reason) => warn(`${opts.events}:${lineNo}: skipped, ${reason}`), {
      maxLineChars: opts.maxLine,
      onEmpty: () => warn(`${opts.events}: the file has no line at all; the report has no observations`),
    })
    const run = await auditEvents(defs, userConfig as Record<string, unknown>, values(lines), { now: fixedNow, activity })
    progress.done(`audit: ${run.events.toLocaleString('en-US')} events through the plugin in ${run.seconds.toFixed(1)} s; ${defs.flags.length} flags, ${defs.experiments.length} experiments`)
    report = run.report
  } else {
    report = await runOnlineAudit(userConfig as Record<string, unknown>, fixedNow ?? Date.now(), warn, activity)
  }

  let text = formatReport(report, opts.format)
  if (prev) {
    const changes = compareReports(prev, report)
    const gaps = recurringGaps([report, prev])
    if (opts.format === 'json') text = `${JSON.stringify({ ...report, changes, recurring_gaps: gaps }, null, 2)}\n`
    else if (opts.format === 'table' || opts.format === 'markdown') text += `\n${changesMarkdown(changes, gaps)}`
    else warn(changesMarkdown(changes, gaps).trimEnd())
  }
  if (opts.out) writeFileSync(opts.out, text)
  // The table is for terminals; any other format is data, kept as it is unless it goes to one.
  else process.stdout.write(opts.format === 'table' || process.stdout.isTTY ? forTerminal(text) : text)

  const failing = opts.failOn === 'blocked' ? ['blocked'] : opts.failOn === 'needs_backfill' ? ['blocked', 'needs_backfill'] : []
  const hits = report.flags.filter((f) => failing.includes(f.verdict))
  if (hits.length) warn(`audit: --fail-on ${opts.failOn}: ${hits.length} flags (${hits.slice(0, 5).map((f) => f.key).join(', ')}${hits.length > 5 ? ', ...' : ''})`)
  return { report, exitCode: hits.length ? 1 : 0 }
}
