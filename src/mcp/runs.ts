/**
 * Reports kept as files (`audit --format json`) and a list of runs, newest first: what changed
 * since the previous run and which gaps recur (src/coverage/compare.ts).
 */
import { readFileSync } from 'node:fs'
import { compareReports, recurringGaps, type Changes, type RecurringGap } from '../coverage/compare.js'
import { reportSchema, type Report } from '../coverage/report-schema.js'
import { SourceError, type History } from './source.js'

/** Runs looked at for recurring gaps, as the host's history route looks at them. */
export const RECURRING_RUNS = 12

export interface ReportFile {
  readonly report: Report
  /** what `audit --compare` put beside the report, when it did */
  readonly embedded: { readonly changes: Changes; readonly recurringGaps: readonly RecurringGap[] } | null
}

/** A report as `audit --format json` writes it (with or without `--compare`'s additions), checked against the report schema. */
export function parseReport(where: string, value: unknown): ReportFile {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new SourceError(`${where}: not a report of this tool (audit --format json writes one)`)
  const { changes, recurring_gaps: gaps, ...rest } = value as Record<string, unknown>
  const parsed = reportSchema.safeParse(rest)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]
    const at = issue ? issue.path.map(String).join('.') : ''
    throw new SourceError(`${where}: not a report of this version (schema_version 2, as audit --format json writes it): ${at ? `${at}: ` : ''}${issue?.message ?? 'unreadable'}`)
  }
  const embedded = changes && typeof changes === 'object' ? { changes: changes as Changes, recurringGaps: Array.isArray(gaps) ? (gaps as RecurringGap[]) : [] } : null
  return { report: parsed.data, embedded }
}

export function readReportFile(file: string): ReportFile {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (e) {
    throw new SourceError(`${file}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`)
  }
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (e) {
    throw new SourceError(`${file}: not valid JSON (${(e as Error).message})`)
  }
  return parseReport(file, value)
}

/** Runs newest first, each generated_at once. */
export function orderRuns(runs: readonly Report[]): Report[] {
  const seen = new Set<string>()
  return [...runs]
    .sort((a, b) => Date.parse(b.generated_at) - Date.parse(a.generated_at))
    .filter((r) => (seen.has(r.generated_at) ? false : (seen.add(r.generated_at), true)))
}

/**
 * The changes from an earlier run to the newest (the run generated at `since`, or the newest one
 * at or before it; by default the one before the newest), and the gaps recurring over the runs.
 */
export function historyOf(runsNewestFirst: readonly Report[], since?: string): History {
  const runs = orderRuns(runsNewestFirst)
  const current = runs[0]
  if (!current) return { runs: [], changes: null, recurringGaps: [], note: 'No report yet.' }
  let prev: Report | undefined
  if (since !== undefined) {
    const at = Date.parse(since)
    prev = runs.slice(1).find((r) => r.generated_at === since) ?? runs.slice(1).find((r) => Date.parse(r.generated_at) <= at)
  } else prev = runs[1]
  const gaps = recurringGaps(runs.slice(0, RECURRING_RUNS))
  const known = runs.map((r) => r.generated_at)
  if (!prev) {
    const note =
      runs.length < 2
        ? 'Only one run is known, so nothing can be compared yet: run the audit again later (run_audit), or start the server with --previous FILE (an earlier audit --format json).'
        : `No run at or before ${since}; the runs known are ${known.join(', ')}.`
    return { runs: known, changes: null, recurringGaps: gaps, note }
  }
  return { runs: known, changes: compareReports(prev, current), recurringGaps: gaps, note: null }
}
