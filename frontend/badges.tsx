import type { CheckStatus, Verdict } from './api.js'

/** Verdicts in words, never colour alone. */
export const VERDICT_WORDS: Record<Verdict, string> = {
  trustworthy: 'Trustworthy',
  needs_backfill: 'Needs backfill',
  blocked: 'Blocked',
  insufficient_data: 'Insufficient data',
  inactive: 'Inactive',
}

const STATUS_WORDS: Record<CheckStatus, string> = { pass: 'passes', warn: 'warns', fail: 'fails', unknown: 'unknown', not_applicable: 'not applicable' }
const STATUS_MARK: Record<CheckStatus, string> = { pass: '✓', warn: '!', fail: '✕', unknown: '?', not_applicable: '–' }

export const CHECK_NAMES: Record<string, string> = {
  exposure_present: 'Exposure present',
  exposure_event: 'Exposure event',
  variant_values: 'Variant values',
  sample_ratio: 'Sample ratio',
  multiple_variants: 'Multiple variants',
  exposure_source: 'Exposure source',
  exposure_gap: 'Exposure gap',
  primary_metric: 'Primary metric',
  guardrails: 'Guardrails',
  audience: 'Audience',
  sample_size: 'Sample size',
  flag_state: 'Flag state',
}

export function VerdictBadge({ verdict }: { verdict: Verdict }) {
  return (
    <span class={`badge verdict-${verdict}`} data-verdict={verdict}>
      {VERDICT_WORDS[verdict]}
    </span>
  )
}

export function CheckBadge({ id, status, summary }: { id: string; status: CheckStatus; summary: string }) {
  const name = CHECK_NAMES[id] ?? id
  return (
    <span class={`check status-${status}`} data-check={id} data-status={status} title={`${name} ${STATUS_WORDS[status]}: ${summary}`}>
      <span aria-hidden="true">{STATUS_MARK[status]}</span>
      <span class="sr-only">
        {name} {STATUS_WORDS[status]}
      </span>
    </span>
  )
}

export function StatusWord({ status }: { status: CheckStatus }) {
  return (
    <span class={`status-word status-${status}`} data-status={status}>
      {STATUS_MARK[status]} {STATUS_WORDS[status]}
    </span>
  )
}
