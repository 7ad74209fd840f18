/**
 * Where the MCP server's reports come from: a report file, a PostHog project through the online
 * audit, or a host (over its API from the stdio server, in process for the host's own `/mcp`). The
 * tools ask a source for the current report, the runs before it and a fresh run; they never know
 * which source answers.
 */
import type { Changes, RecurringGap } from '../coverage/compare.js'
import type { Report } from '../coverage/report.js'

export type SourceKind = 'report_file' | 'posthog' | 'host'

/** How `run_audit` renews the report: a new online audit, a fresh read of the host's counters, or not at all. */
export type RefreshMode = 'audit' | 'reread' | 'none'

export interface SourceInfo {
  readonly kind: SourceKind
  /** where, without any secret: the file, PostHog's address and project, the host's URL */
  readonly where: string
  readonly refresh: RefreshMode
}

export interface ProjectInfo {
  readonly id: string
  readonly name: string
}

/** A fresh run's inputs (step 1 of the review): the lookback, and readout deadlines per flag key. */
export interface RunInputs {
  readonly lookbackDays?: number
  readonly deadlines?: Readonly<Record<string, string>>
}

/** Progress of a fresh run, as MCP's progress notifications carry it. */
export type OnProgress = (progress: number, total: number | undefined, message: string) => void

export interface RunOutcome {
  readonly report: Report
  readonly mode: RefreshMode
  /** whether the lookback and deadlines given were used */
  readonly inputsApplied: boolean
  readonly note: string
}

/** What changed between two runs, and the gaps that recur (src/coverage/compare.ts). */
export interface History {
  /** generated_at of each run looked at, newest first */
  readonly runs: readonly string[]
  readonly changes: Changes | null
  readonly recurringGaps: readonly RecurringGap[]
  readonly note: string | null
}

export interface ReportSource {
  info(): SourceInfo
  projects(): Promise<ProjectInfo[]>
  /** The project's id as this source names it (the default one when not given); a report's own `project` may differ. */
  resolve(project?: string): Promise<string>
  /** The current report of a project (the default one when not given). */
  report(project?: string): Promise<Report>
  /** The report held now, without making one (an online source that has not audited yet holds none); absent where report() is cheap. */
  held?(project: string): Report | null
  /** Each flag's tags, where the source knows them (a report file alone does not). */
  tags(project?: string): Promise<ReadonlyMap<string, readonly string[]> | null>
  /** The changes since an earlier run (the previous one, or the one generated at `since`). */
  history(project: string | undefined, since?: string): Promise<History>
  /** A fresh report: audited again, read again, or said why not. */
  run(project: string | undefined, inputs: RunInputs, onProgress: OnProgress): Promise<RunOutcome>
  /** Secret values the source holds, for the scrubber (read at each answer: a host's projects change). */
  secrets(): readonly string[]
}

/** A source's error a user can act on (a missing report, an unknown project): said as it is, never with a stack. */
export class SourceError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'SourceError'
  }
}
