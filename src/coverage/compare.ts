import { mdText } from './markdown.js'
import type { FlagReport, Report } from './report.js'

/**
 * What changed between two runs of the review, and which gaps keep coming back: the playbook's
 * "run before major readouts and monthly" and "reuse the coverage table to spot recurring gaps".
 */
export interface Changes {
  readonly since: string
  readonly newFailures: { flag: string; check: string; summary: string }[]
  readonly repaired: { flag: string; from: string }[]
  readonly verdictChanges: { flag: string; from: string; to: string; worse: boolean }[]
  readonly nowDue: { flag: string; days: number }[]
  readonly newFlags: string[]
  readonly goneFlags: string[]
}

/** How bad a verdict is, for "worse" and "repaired". */
export const VERDICT_RANK: Record<string, number> = { trustworthy: 0, inactive: 0, insufficient_data: 1, needs_backfill: 2, blocked: 3 }
const DUE_DAYS = 7

const dueIn = (f: FlagReport): number | null => {
  const days = f.backfill.map((b) => b.days_to_deadline).filter((d): d is number => d !== null)
  return days.length ? Math.min(...days) : null
}

export function compareReports(prev: Pick<Report, 'generated_at' | 'flags'>, next: Pick<Report, 'flags'>): Changes {
  const before = new Map(prev.flags.map((f) => [f.key, f]))
  const after = new Map(next.flags.map((f) => [f.key, f]))
  const out: Changes = { since: prev.generated_at, newFailures: [], repaired: [], verdictChanges: [], nowDue: [], newFlags: [], goneFlags: [] }
  for (const f of next.flags) {
    const p = before.get(f.key)
    if (!p) {
      out.newFlags.push(f.key)
      continue
    }
    const failedBefore = new Set(p.checks.filter((c) => c.status === 'fail').map((c) => c.id))
    for (const c of f.checks) if (c.status === 'fail' && !failedBefore.has(c.id)) out.newFailures.push({ flag: f.key, check: c.id, summary: c.summary })
    if (p.verdict !== f.verdict) {
      out.verdictChanges.push({ flag: f.key, from: p.verdict, to: f.verdict, worse: (VERDICT_RANK[f.verdict] ?? 0) > (VERDICT_RANK[p.verdict] ?? 0) })
      if ((VERDICT_RANK[p.verdict] ?? 0) >= 2 && (VERDICT_RANK[f.verdict] ?? 0) < 2) out.repaired.push({ flag: f.key, from: p.verdict })
    }
    const d = dueIn(f)
    const dp = dueIn(p)
    if (d !== null && d <= DUE_DAYS && (dp === null || dp > DUE_DAYS)) out.nowDue.push({ flag: f.key, days: d })
  }
  for (const key of before.keys()) if (!after.has(key)) out.goneFlags.push(key)
  return out
}

/** The product area of a flag: its key's first word (checkout-one-page -> checkout), as teams name flags. */
export function areaOf(flagKey: string): string {
  return /^[^-_./:]+/.exec(flagKey)?.[0] ?? flagKey
}

export interface RecurringGap {
  readonly area: string
  readonly check: string
  /** in how many of the runs looked at the check failed on some flag of the area */
  readonly runs: number
  readonly flags: string[]
}

/** Checks that failed in at least `minRuns` of the runs (newest first), grouped by product area. */
export function recurringGaps(runs: readonly Pick<Report, 'flags'>[], minRuns = 2): RecurringGap[] {
  const seen = new Map<string, { area: string; check: string; runs: number; flags: Set<string> }>()
  for (const r of runs) {
    const thisRun = new Set<string>()
    for (const f of r.flags) {
      for (const c of f.checks.filter((x) => x.status === 'fail')) {
        const id = `${areaOf(f.key)}\u0000${c.id}`
        let g = seen.get(id)
        if (!g) seen.set(id, (g = { area: areaOf(f.key), check: c.id, runs: 0, flags: new Set() }))
        g.flags.add(f.key)
        if (!thisRun.has(id)) g.runs++
        thisRun.add(id)
      }
    }
  }
  return [...seen.values()]
    .filter((g) => g.runs >= minRuns)
    .map((g) => ({ area: g.area, check: g.check, runs: g.runs, flags: [...g.flags].sort() }))
    .sort((a, b) => b.runs - a.runs || b.flags.length - a.flags.length || a.area.localeCompare(b.area) || a.check.localeCompare(b.check))
}

/** The changes as Markdown (the CLI appends it to the table and the Markdown formats). */
export function changesMarkdown(c: Changes, gaps: readonly RecurringGap[] = []): string {
  const e = mdText
  const lines = [`## What changed since ${e(c.since)}`, '']
  const none = c.newFailures.length + c.repaired.length + c.verdictChanges.length + c.nowDue.length + c.newFlags.length + c.goneFlags.length === 0
  if (none) lines.push('Nothing changed.')
  for (const v of c.verdictChanges) lines.push(`- ${e(v.flag)}: ${e(v.from)} -> ${e(v.to)}${v.worse ? ' (worse)' : ''}`)
  for (const f of c.newFailures) lines.push(`- new failure: ${e(f.flag)} ${e(f.check)}: ${e(f.summary)}`)
  for (const r of c.repaired) lines.push(`- repaired: ${e(r.flag)} (was ${e(r.from)})`)
  for (const d of c.nowDue) lines.push(`- readout due in ${d.days} days: ${e(d.flag)}`)
  if (c.newFlags.length) lines.push(`- newly reviewed: ${c.newFlags.map(e).join(', ')}`)
  if (c.goneFlags.length) lines.push(`- no longer reviewed: ${c.goneFlags.map(e).join(', ')}`)
  if (gaps.length) {
    lines.push('', '### Recurring gaps', '')
    for (const g of gaps) lines.push(`- ${e(g.area)}: ${e(g.check)} failed in ${g.runs} runs (${g.flags.map(e).join(', ')})`)
  }
  return `${lines.join('\n')}\n`
}
