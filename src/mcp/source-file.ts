/**
 * Reports from a file `audit --format json` wrote. The file is read again when it changes, so a
 * team that re-runs the audit into the same file gets the new report without restarting; the
 * server itself cannot run an audit (it has no events and no credentials).
 */
import { readFileSync, statSync } from 'node:fs'
import { DefinitionsError, parseFlags } from '../definitions/definitions.js'
import type { Report } from '../coverage/report.js'
import { historyOf, readReportFile, type ReportFile } from './runs.js'
import { SourceError, type History, type ProjectInfo, type ReportSource, type RunOutcome } from './source.js'

export interface FileSourceOptions {
  /** the report, as `audit --format json` writes it */
  readonly report: string
  /** earlier reports of the same project, for what changed and the recurring gaps */
  readonly previous?: readonly string[]
  /** PostHog's flag list (GET /api/projects/:id/feature_flags/), for the flags' tags */
  readonly flags?: string
}

export function fileSource(opts: FileSourceOptions): ReportSource {
  let kept: { mtimeMs: number; size: number; file: ReportFile } | null = null
  const load = (): ReportFile => {
    let stat: { mtimeMs: number; size: number }
    try {
      stat = statSync(opts.report)
    } catch (e) {
      throw new SourceError(`${opts.report}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`)
    }
    if (!kept || kept.mtimeMs !== stat.mtimeMs || kept.size !== stat.size) kept = { mtimeMs: stat.mtimeMs, size: stat.size, file: readReportFile(opts.report) }
    return kept.file
  }
  const previous = (opts.previous ?? []).map((f) => readReportFile(f).report)
  let tagMap: Map<string, string[]> | null = null
  if (opts.flags) {
    let value: unknown
    try {
      value = JSON.parse(readFileSync(opts.flags, 'utf8'))
    } catch (e) {
      throw new SourceError(`${opts.flags}: cannot read the flags (${(e as Error).message})`)
    }
    try {
      tagMap = new Map(parseFlags(opts.flags, value).map((f) => [f.key, [...(f.tags ?? [])]]))
    } catch (e) {
      if (e instanceof DefinitionsError) throw new SourceError(e.message)
      throw e
    }
  }
  const reportOf = (project: string | undefined): Report => {
    const { report } = load()
    if (project !== undefined && project !== report.project) throw new SourceError(`this server reads one project's report, ${JSON.stringify(report.project)}; there is no project ${JSON.stringify(project)}`)
    return report
  }

  return {
    info: () => ({ kind: 'report_file', where: opts.report, refresh: 'none' }),
    async projects(): Promise<ProjectInfo[]> {
      const { report } = load()
      return [{ id: report.project, name: report.project }]
    },
    resolve: async (project) => reportOf(project).project,
    report: async (project) => reportOf(project),
    tags: async (project) => (reportOf(project), tagMap),
    async history(project, since): Promise<History> {
      const { report, embedded } = load()
      reportOf(project)
      // The comparison `audit --compare` wrote beside the report, when no earlier file was given here.
      if (previous.length === 0 && embedded && since === undefined) return { runs: [report.generated_at, embedded.changes.since], changes: embedded.changes, recurringGaps: embedded.recurringGaps, note: 'As audit --compare wrote it beside the report.' }
      return historyOf([report, ...previous], since)
    },
    async run(project): Promise<RunOutcome> {
      const before = kept?.file.report.generated_at
      const report = reportOf(project)
      const changed = before !== undefined && before !== report.generated_at
      return {
        report,
        mode: 'none',
        inputsApplied: false,
        note: `This server reads a report file (${opts.report}) and cannot re-run the audit: it has neither the events nor PostHog credentials. ${changed ? 'The file has changed since it was last read: this is its new report.' : 'This is the report the file holds.'} For a fresh one, run \`experiment-coverage audit --format json --out ${opts.report}\` (with --config for deadlines and the lookback) and call run_audit again, or start the server on a PostHog project (POSTHOG_PROJECT_ID, POSTHOG_PERSONAL_API_KEY) or a host (--host).`,
      }
    },
    secrets: () => [],
  }
}
