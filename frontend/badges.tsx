import { CHECK_IDS } from '../src/coverage/checks/types.js'
import { BLOCKING } from '../src/coverage/verdict.js'
import { checkLabel, VERDICT_LABELS } from '../src/coverage/labels.js'
import type { CheckBrief, CheckStatus, Verdict } from './api.js'

/** Verdicts in words, never colour alone: the words every output uses (src/coverage/labels.ts). */
export const VERDICT_WORDS: Record<Verdict, string> = Object.fromEntries(
  Object.entries(VERDICT_LABELS).map(([v, l]) => [v, l.label]),
) as Record<Verdict, string>

const STATUS_WORDS: Record<CheckStatus, string> = { pass: 'passes', warn: 'warns', fail: 'fails', unknown: 'unknown', not_applicable: 'not applicable' }
const STATUS_MARK: Record<CheckStatus, string> = { pass: '✓', warn: '!', fail: '✕', unknown: '?', not_applicable: '–' }

/** Two letters per check, printed under its mark: the same place and letters on every row. */
const CHECK_ABBR: Record<(typeof CHECK_IDS)[number], string> = {
  flag_state: 'FS',
  exposure_present: 'EP',
  exposure_stall: 'XS',
  exposure_event: 'EE',
  variant_values: 'VV',
  sample_ratio: 'SR',
  multiple_variants: 'MV',
  exposure_source: 'ES',
  exposure_gap: 'EG',
  exposure_bias: 'EB',
  primary_metric: 'PM',
  guardrails: 'GR',
  audience: 'AU',
  sample_size: 'SS',
  flag_changes: 'FC',
}
const abbr = (id: string): string => (CHECK_ABBR as Record<string, string | undefined>)[id] ?? '··'

/** The checks in the report's own order: each one's place in a row of marks never moves. */
export const CHECK_ORDER: readonly string[] = CHECK_IDS

const SEVERITY: Record<CheckStatus, number> = { fail: 0, warn: 1, unknown: 2, pass: 3, not_applicable: 4 }

/**
 * The finding behind a verdict, read off the rule that gave it (src/coverage/verdict.ts): a
 * blocking check's failure for "blocked", a repairable failure for "needs backfill", the sample
 * size for "insufficient data". Among several, the one whose repair the plan ranks highest, else
 * the first in the report's order. Nothing is judged here: the verdict is the report's.
 */
export function decidingCheck<C extends CheckBrief>(verdict: Verdict, checks: readonly C[], plan: readonly { check: string; priority: number }[] = []): C | undefined {
  const rank = (c: C) => Math.max(-1, ...plan.filter((b) => b.check === c.id).map((b) => b.priority))
  const pick = (cs: C[]) => cs.sort((a, b) => rank(b) - rank(a) || CHECK_ORDER.indexOf(a.id) - CHECK_ORDER.indexOf(b.id))[0]
  const fails = checks.filter((c) => c.status === 'fail')
  const byStatus = (s: CheckStatus) => checks.filter((c) => c.status === s)
  if (verdict === 'blocked') return pick(fails.filter((c) => BLOCKING.has(c.id as never))) ?? pick(fails)
  if (verdict === 'needs_backfill') return pick(fails.filter((c) => c.id !== 'sample_size')) ?? pick(fails)
  if (verdict === 'insufficient_data') return pick(fails) ?? pick(byStatus('unknown').filter((c) => c.id === 'exposure_present')) ?? pick(byStatus('unknown'))
  return pick(fails) ?? pick(byStatus('warn')) ?? pick(byStatus('unknown'))
}

/** Checks ordered as a reader wants them: failures, warnings, unknowns, then passes. */
export function bySeverity<C extends CheckBrief>(checks: readonly C[]): C[] {
  return [...checks].sort((a, b) => SEVERITY[a.status] - SEVERITY[b.status] || CHECK_ORDER.indexOf(a.id) - CHECK_ORDER.indexOf(b.id))
}

/** A count as people write it, with thousands separators (12,345), as the reports print counts. */
export const countText = (x: number): string => x.toLocaleString('en-US')

/** The first sentence of a summary: enough for a row; the flag's page has the rest. */
export function firstSentence(text: string): string {
  const m = /^(.+?[.!?])(?=\s+[A-Z"“(]|$)/s.exec(text.trim())
  return m ? m[1]! : text
}

/** A check's name, keyed by its id (src/coverage/labels.ts); an id this UI does not know reads as words. */
export function checkName(id: string): string {
  const known = checkLabel(id)
  return known !== id ? known : id.replace(/_/g, ' ').replace(/^./, (c) => c.toUpperCase())
}

/** A verdict in its words; `title` adds what a hover should say (History: since when, what fails). */
export function VerdictBadge({ verdict, title }: { verdict: Verdict; title?: string }) {
  return (
    <span class={`badge verdict-${verdict}`} data-verdict={verdict} title={title}>
      {VERDICT_WORDS[verdict] ?? verdict}
    </span>
  )
}

export function CheckBadge({ id, status, summary }: { id: string; status: CheckStatus; summary: string }) {
  const name = checkName(id)
  return (
    <span class={`check status-${status}`} data-check={id} data-status={status} title={`${name} ${STATUS_WORDS[status]}: ${summary}`}>
      <span aria-hidden="true">{STATUS_MARK[status]}</span>
      <span class="sr-only">
        {name} {STATUS_WORDS[status]}
      </span>
    </span>
  )
}

/**
 * Every check in its fixed place, each mark with its two letters under it; a check the flag does
 * not need keeps its place as a dash.
 */
export function CheckStrip({ checks }: { checks: readonly CheckBrief[] }) {
  return (
    <span class="check-strip">
      {CHECK_ORDER.map((id, i) => {
        const c = checks.find((x) => x.id === id)
        const status = c?.status ?? 'not_applicable'
        return (
          <span key={id} class="check-slot" data-slot={i}>
            <CheckBadge id={id} status={status} summary={c?.summary ?? 'not part of this report'} />
            <span class="check-abbr" aria-hidden="true">
              {abbr(id)}
            </span>
          </span>
        )
      })}
    </span>
  )
}

/** Which mark is which: the letters under each mark, and what each mark means. */
export function CheckLegend() {
  return (
    <details class="check-legend" open>
      <summary>Which check is which mark</summary>
      <p class="small">
        Marks: ✓ passes · ! warns · ✕ fails · ? unknown (not enough data yet) · – not applicable. Each check keeps its place on every row, left to right:
      </p>
      <ol class="small">
        {CHECK_ORDER.map((id) => (
          <li key={id}>
            <b>{abbr(id)}</b> {checkName(id)}
          </li>
        ))}
      </ol>
    </details>
  )
}

export function StatusWord({ status }: { status: CheckStatus }) {
  return (
    <span class={`status-word status-${status}`} data-status={status}>
      {STATUS_MARK[status]} {STATUS_WORDS[status]}
    </span>
  )
}
