/**
 * What the tools answer, as pure functions of a report: the flag list (filtered and paged), one
 * flag, the plan, the readout (of all flags or some), and the shapes of those answers as zod
 * schemas, which the server declares as each tool's outputSchema.
 */
import { z } from 'zod'
import { CHECK_IDS } from '../coverage/checks/types.js'
import { CHECK_LABELS, VERDICT_LABELS } from '../coverage/labels.js'
import { writeReadout } from '../coverage/readout.js'
import { backfillItemSchema, flagReportSchema, type FlagReport, type Report } from '../coverage/report-schema.js'
import { BLOCKING_ORDER } from '../coverage/verdict.js'
import { DAY_MS } from '../time.js'

export const VERDICTS = ['trustworthy', 'needs_backfill', 'blocked', 'insufficient_data', 'inactive'] as const
export const KINDS = ['experiment', 'multivariate_flag', 'boolean_flag'] as const
export const CATEGORIES = ['event', 'property', 'cohort', 'dashboard', 'metric', 'flag_config'] as const

/** Page sizes (docs/mcp.md): small enough that a project of thousands of flags never floods a context window. */
export const PAGE = {
  flags: { default: 25, max: 100 },
  plan: { default: 25, max: 100 },
  changes: { default: 50, max: 200 },
  readoutChars: { default: 12_000, max: 40_000 },
  /** flags a readout may be asked for by key */
  readoutFlags: 200,
} as const

// ---- cursors ------------------------------------------------------------------------------------

/** An opaque cursor: the offset of the next item, and the report it was cut from. */
export function encodeCursor(offset: number, generatedAt: string): string {
  return Buffer.from(JSON.stringify({ o: offset, g: generatedAt })).toString('base64url')
}

export function decodeCursor(cursor: string | undefined): { offset: number; generatedAt: string | null } {
  if (cursor === undefined || cursor === '') return { offset: 0, generatedAt: null }
  try {
    const v = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as { o?: unknown; g?: unknown }
    if (typeof v.o === 'number' && Number.isSafeInteger(v.o) && v.o >= 0) return { offset: v.o, generatedAt: typeof v.g === 'string' ? v.g : null }
  } catch {
    // said below
  }
  throw new CursorError()
}

export class CursorError extends Error {
  constructor() {
    super('the cursor is not one this server gave: start again without a cursor')
    this.name = 'CursorError'
  }
}

/** A note when a page is read from a newer report than the page before it. */
export function renewedNote(cursorReport: string | null, report: Report): string | null {
  return cursorReport !== null && cursorReport !== report.generated_at ? `The report was renewed (${report.generated_at}) since the page before this one (${cursorReport}): items may have moved between pages.` : null
}

// ---- the flag list ------------------------------------------------------------------------------

const experimentBrief = z.object({ id: z.number(), name: z.string(), status: z.string().nullable(), start_date: z.string().nullable(), end_date: z.string().nullable() }).nullable()
const finding = z.object({ check: z.enum(CHECK_IDS), status: z.enum(['fail', 'warn', 'unknown']), summary: z.string() })

export const flagBriefSchema = z.object({
  key: z.string(),
  name: z.string(),
  kind: z.enum(KINDS),
  verdict: z.enum(VERDICTS),
  verdict_label: z.string(),
  score: z.number(),
  experiment: experimentBrief,
  tags: z.array(z.string()).nullable().describe('null when the source does not know tags (a report file without --flags)'),
  due_in_days: z.number().nullable().describe("days to the readout deadline (the experiment's end date, a configured deadline or the recommended running time); negative: overdue"),
  failing: z.array(z.enum(CHECK_IDS)),
  warnings: z.array(z.enum(CHECK_IDS)),
  top_finding: finding.nullable(),
  repairs: z.number().int(),
  top_priority: z.number().nullable(),
})
export type FlagBrief = z.infer<typeof flagBriefSchema>

export interface FlagFilter {
  readonly verdict?: readonly (typeof VERDICTS)[number][]
  readonly kind?: (typeof KINDS)[number]
  readonly tag?: string
  readonly search?: string
  readonly dueWithinDays?: number
  readonly keys?: readonly string[]
}

/** Days from the report's moment to the flag's readout deadline, or null when it has none. */
export function dueInDays(f: FlagReport, generatedAt: string): number | null {
  // A repair carries the deadline in force (src/coverage/context.ts: a deadline set wins over the
  // experiment's planned end, which wins over the recommended running time); the planned end counts
  // only when no repair says, or a deadline set after it (run_audit's deadlines) would not show.
  const days = f.backfill.map((b) => b.days_to_deadline).filter((d): d is number => d !== null)
  if (days.length) return Math.min(...days)
  const end = f.experiment?.end_date ? Date.parse(f.experiment.end_date) : NaN
  return Number.isFinite(end) ? Math.round(((end - Date.parse(generatedAt)) / DAY_MS) * 10) / 10 : null
}

export function topFinding(f: FlagReport): FlagBrief['top_finding'] {
  const fails = f.checks.filter((c) => c.status === 'fail')
  const pick =
    BLOCKING_ORDER.map((id) => fails.find((c) => c.id === id)).find(Boolean) ??
    fails.find((c) => c.follows_from === null) ??
    fails[0] ??
    f.checks.find((c) => c.status === 'warn') ??
    f.checks.find((c) => c.status === 'unknown')
  return pick ? { check: pick.id, status: pick.status as 'fail' | 'warn' | 'unknown', summary: pick.summary } : null
}

export function briefOf(f: FlagReport, generatedAt: string, tags: ReadonlyMap<string, readonly string[]> | null): FlagBrief {
  return {
    key: f.key,
    name: f.name,
    kind: f.kind,
    verdict: f.verdict,
    verdict_label: VERDICT_LABELS[f.verdict].label,
    score: f.score,
    experiment: f.experiment ? { id: f.experiment.id, name: f.experiment.name, status: f.experiment.status, start_date: f.experiment.start_date, end_date: f.experiment.end_date } : null,
    tags: tags ? [...(tags.get(f.key) ?? [])] : null,
    due_in_days: dueInDays(f, generatedAt),
    failing: f.checks.filter((c) => c.status === 'fail').map((c) => c.id),
    warnings: f.checks.filter((c) => c.status === 'warn').map((c) => c.id),
    top_finding: topFinding(f),
    repairs: f.backfill.length,
    top_priority: f.backfill.length ? Math.max(...f.backfill.map((b) => b.priority)) : null,
  }
}

/** The flags a filter keeps, in the report's order. */
export function filterFlags(report: Report, tags: ReadonlyMap<string, readonly string[]> | null, filter: FlagFilter): FlagReport[] {
  const needle = filter.search?.trim().toLowerCase()
  const keys = filter.keys ? new Set(filter.keys) : null
  return report.flags.filter((f) => {
    if (keys && !keys.has(f.key)) return false
    if (filter.verdict?.length && !filter.verdict.includes(f.verdict)) return false
    if (filter.kind && f.kind !== filter.kind) return false
    if (filter.tag !== undefined && !(tags?.get(f.key) ?? []).some((t) => t.toLowerCase() === filter.tag!.toLowerCase())) return false
    if (needle && ![f.key, f.name, f.experiment?.name ?? ''].some((s) => s.toLowerCase().includes(needle))) return false
    if (filter.dueWithinDays !== undefined) {
      const due = dueInDays(f, report.generated_at)
      if (due === null || due > filter.dueWithinDays) return false
    }
    return true
  })
}

export const flagListSchema = z.object({
  project: z.string(),
  generated_at: z.string(),
  window: z.object({ from: z.string(), to: z.string(), days: z.number() }),
  total_flags: z.number().int(),
  matched: z.number().int(),
  offset: z.number().int(),
  flags: z.array(flagBriefSchema),
  next_cursor: z.string().nullable().describe('pass it as `cursor` for the next page; null on the last page'),
  tags_known: z.boolean(),
  note: z.string().nullable(),
})
export type FlagList = z.infer<typeof flagListSchema>

export function listFlags(report: Report, tags: ReadonlyMap<string, readonly string[]> | null, filter: FlagFilter, page: { limit: number; cursor?: string }): FlagList {
  const { offset, generatedAt } = decodeCursor(page.cursor)
  const matched = filterFlags(report, tags, filter)
  const slice = matched.slice(offset, offset + page.limit)
  const next = offset + slice.length < matched.length ? encodeCursor(offset + slice.length, report.generated_at) : null
  const notes = [renewedNote(generatedAt, report), filter.tag !== undefined && !tags ? 'This source does not know the flags\' tags (a report file: start the server with --flags FILE, PostHog\'s flag list), so no flag matches a tag.' : null].filter(Boolean)
  return {
    project: report.project,
    generated_at: report.generated_at,
    window: report.window,
    total_flags: report.flags.length,
    matched: matched.length,
    offset,
    flags: slice.map((f) => briefOf(f, report.generated_at, tags)),
    next_cursor: next,
    tags_known: tags !== null,
    note: notes.length ? notes.join(' ') : null,
  }
}

// ---- one flag -----------------------------------------------------------------------------------

export const flagCoverageSchema = z.object({
  project: z.string(),
  generated_at: z.string(),
  verdict_label: z.string(),
  check_labels: z.record(z.string(), z.string()),
  observed_shares: z.array(z.object({ key: z.string(), expected_share: z.number(), observed_share: z.number().nullable() })),
  flag: flagReportSchema,
})

export function flagCoverage(report: Report, f: FlagReport): z.infer<typeof flagCoverageSchema> {
  const units = f.variants.reduce((n, v) => n + v.units, 0)
  return {
    project: report.project,
    generated_at: report.generated_at,
    verdict_label: VERDICT_LABELS[f.verdict].label,
    check_labels: Object.fromEntries(f.checks.map((c) => [c.id, CHECK_LABELS[c.id].label])),
    observed_shares: f.variants.map((v) => ({ key: v.key, expected_share: v.expected_share, observed_share: units ? Math.round((v.units / units) * 10_000) / 10_000 : null })),
    flag: f,
  }
}

/** Keys close to the one asked for, for a "no such flag" answer. */
export function nearKeys(report: Report, key: string, n = 5): string[] {
  const k = key.toLowerCase()
  const words = k.split(/[-_./:\s]+/).filter((w) => w.length >= 3)
  return report.flags
    .map((f) => f.key)
    .filter((fk) => fk.toLowerCase().includes(k) || k.includes(fk.toLowerCase()) || words.some((w) => fk.toLowerCase().includes(w)))
    .slice(0, n)
}

// ---- the plan -----------------------------------------------------------------------------------

export const planSchema = z.object({
  project: z.string(),
  generated_at: z.string(),
  total: z.number().int(),
  matched: z.number().int(),
  offset: z.number().int(),
  items: z.array(backfillItemSchema),
  next_cursor: z.string().nullable(),
  note: z.string().nullable(),
})

export function planPage(report: Report, filter: { flags?: readonly string[]; category?: (typeof CATEGORIES)[number]; blockingOnly?: boolean }, page: { limit: number; cursor?: string }): z.infer<typeof planSchema> {
  const { offset, generatedAt } = decodeCursor(page.cursor)
  const keys = filter.flags ? new Set(filter.flags) : null
  const matched = report.plan.filter((i) => (!keys || keys.has(i.flag)) && (!filter.category || i.category === filter.category) && (!filter.blockingOnly || i.blocking))
  const items = matched.slice(offset, offset + page.limit)
  return {
    project: report.project,
    generated_at: report.generated_at,
    total: report.plan.length,
    matched: matched.length,
    offset,
    items,
    next_cursor: offset + items.length < matched.length ? encodeCursor(offset + items.length, report.generated_at) : null,
    note: renewedNote(generatedAt, report),
  }
}

// ---- the readout --------------------------------------------------------------------------------

/** The report cut to some flags: their entries, their repairs, their counts. */
export function reportOf(report: Report, keys: readonly string[]): Report {
  const set = new Set(keys)
  const flags = report.flags.filter((f) => set.has(f.key))
  const summary = { flags: flags.length, trustworthy: 0, needs_backfill: 0, blocked: 0, insufficient_data: 0, inactive: 0 }
  for (const f of flags) summary[f.verdict]++
  const cut = { ...report, flags, summary, plan: report.plan.filter((i) => set.has(i.flag)) }
  return { ...cut, readout: writeReadout(cut) }
}

export const readoutSchema = z.object({
  project: z.string(),
  generated_at: z.string(),
  flags_covered: z.number().int(),
  markdown: z.string().describe('the readout (Markdown) from `offset`; flag names in it are data from the project'),
  offset: z.number().int(),
  total_chars: z.number().int(),
  next_cursor: z.string().nullable(),
  missing_flags: z.array(z.string()),
})

export function readoutPage(report: Report, opts: { flags?: readonly string[]; maxChars: number; cursor?: string }): z.infer<typeof readoutSchema> {
  const { offset } = decodeCursor(opts.cursor)
  const known = new Set(report.flags.map((f) => f.key))
  const missing = (opts.flags ?? []).filter((k) => !known.has(k))
  const source = opts.flags ? reportOf(report, opts.flags) : report
  const text = source.readout
  // Cut at a line's end, so a page never splits a flag's line.
  let end = Math.min(text.length, offset + opts.maxChars)
  if (end < text.length) {
    const nl = text.lastIndexOf('\n', end)
    if (nl > offset) end = nl + 1
  }
  return {
    project: report.project,
    generated_at: report.generated_at,
    flags_covered: source.flags.length,
    markdown: text.slice(offset, end),
    offset,
    total_chars: text.length,
    next_cursor: end < text.length ? encodeCursor(end, report.generated_at) : null,
    missing_flags: missing,
  }
}

// ---- changes ------------------------------------------------------------------------------------

export const changesSchema = z.object({
  since: z.string(),
  newFailures: z.array(z.object({ flag: z.string(), check: z.string(), summary: z.string() })),
  repaired: z.array(z.object({ flag: z.string(), from: z.string() })),
  verdictChanges: z.array(z.object({ flag: z.string(), from: z.string(), to: z.string(), worse: z.boolean() })),
  nowDue: z.array(z.object({ flag: z.string(), days: z.number() })),
  newFlags: z.array(z.string()),
  goneFlags: z.array(z.string()),
})
export const recurringGapSchema = z.object({ area: z.string(), check: z.string(), runs: z.number().int(), flags: z.array(z.string()) })

