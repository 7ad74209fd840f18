import { count } from './context.js'
import { checkLabel, repairCategoryLabel, VERDICT_LABELS } from './labels.js'
import { mdCode, mdText } from './markdown.js'
import type { Report } from './report.js'
import { BLOCKING_ORDER } from './verdict.js'


function inDays(days: number): string {
  const d = Math.max(0, Math.round(days))
  return d === 0 ? 'readout due today' : `readout in ${d} day${d === 1 ? '' : 's'}`
}

// The readout is read in a minute, but a flag left out of it reads as not trustworthy: every flag is
// listed under its verdict; only the repairs (the plan has them all) and the assumptions are cut.
const MAX_ITEMS = 5

const name = (f: Report['flags'][number]) => (f.experiment ? `**${mdText(f.experiment.name)}** (${mdCode(f.key)})` : mdCode(f.key))

/** How many flags the report judges: "1 experiment", "1 flag", "12 flags and experiments". */
function entries(report: Report): string {
  if (report.summary.flags !== 1) return `${report.summary.flags} flags and experiments`
  return report.flags[0]?.kind === 'experiment' ? '1 experiment' : '1 flag'
}

/** A short Markdown decision summary: what can be trusted now, what to repair first and why, what was assumed. */
export function writeReadout(report: Report): string {
  const s = report.summary
  const lines: string[] = []
  lines.push(`# Experiment coverage: ${report.window.from} to ${report.window.to}`)
  lines.push('')
  lines.push(
    // Each verdict by its label (labels.ts), as the tables and the UI name it.
    `${entries(report)}: **${VERDICT_LABELS.trustworthy.label}: ${s.trustworthy}**, ${VERDICT_LABELS.needs_backfill.label}: ${s.needs_backfill}, ${VERDICT_LABELS.blocked.label}: ${s.blocked}, ${VERDICT_LABELS.insufficient_data.label}: ${s.insufficient_data}, ${VERDICT_LABELS.inactive.label}: ${s.inactive}.`,
  )
  const trusted = report.flags.filter((f) => f.verdict === 'trustworthy')
  lines.push('', '## Trustworthy now')
  if (trusted.length === 0) lines.push('Nothing yet: every active flag has a gap below.')
  for (const f of trusted) {
    const units = f.variants.reduce((n, v) => n + v.units, 0)
    lines.push(`- ${name(f)}: ${count(units)} units, score ${f.score}.`)
  }

  const blocked = report.flags.filter((f) => f.verdict === 'blocked')
  if (blocked.length) {
    lines.push('', '## Blocked: do not read these out')
    for (const f of blocked) {
      const fails = f.checks.filter((c) => c.status === 'fail')
      const why = BLOCKING_ORDER.map((id) => fails.find((c) => c.id === id)).find(Boolean) ?? fails[0]
      lines.push(`- ${name(f)}: ${mdText(why?.summary ?? 'a blocking check failed.')}`)
    }
  }

  const repair = report.flags.filter((f) => f.verdict === 'needs_backfill')
  if (repair.length) {
    lines.push('', `## ${VERDICT_LABELS.needs_backfill.label} before a readout`)
    for (const f of repair) {
      // the finding that is its own cause first: one that follows from another restates it
      const fired = f.checks.filter((c) => c.status === 'fail').sort((a, b) => Number(a.follows_from !== null) - Number(b.follows_from !== null))
      lines.push(`- ${name(f)}: ${fired.map((c) => checkLabel(c.id)).join(', ')}. ${mdText(fired[0]?.summary ?? '')}`)
    }
  }

  const waiting = report.flags.filter((f) => f.verdict === 'insufficient_data')
  if (waiting.length) {
    lines.push('', `## ${VERDICT_LABELS.insufficient_data.label}`)
    for (const f of waiting) {
      const why = f.checks.find((c) => c.status === 'fail') ?? f.checks.find((c) => c.status === 'unknown')
      lines.push(`- ${name(f)}: ${mdText(why?.summary ?? VERDICT_LABELS.insufficient_data.description)}`)
    }
  }

  const idle = report.flags.filter((f) => f.verdict === 'inactive')
  if (idle.length) {
    lines.push('', `## ${VERDICT_LABELS.inactive.label}`, idle.map((f) => name(f)).join(', ') + '.')
  }

  lines.push('', '## Repair first')
  if (report.plan.length === 0) lines.push('Nothing to repair.')
  report.plan.slice(0, MAX_ITEMS).forEach((item, i) => {
    const deadline = item.days_to_deadline !== null ? `, ${inDays(item.days_to_deadline)}` : ''
    lines.push(`${i + 1}. ${mdCode(item.flag)}: ${mdText(item.action)} (${repairCategoryLabel(item.category)}, ${item.effort} effort${deadline}). Why: ${mdText(item.reason)}`)
  })
  if (report.plan.length > MAX_ITEMS) lines.push(`\n${report.plan.length - MAX_ITEMS} more repairs are in the plan.`)

  const assumptions = report.flags.flatMap((f) => f.assumptions.map((a) => `${mdCode(f.key)}: ${mdText(a)}`))
  if (assumptions.length) {
    lines.push('', '## Assumptions')
    for (const a of assumptions.slice(0, MAX_ITEMS * 2)) lines.push(`- ${a}`)
    if (assumptions.length > MAX_ITEMS * 2) lines.push(`- and ${assumptions.length - MAX_ITEMS * 2} more.`)
  }
  return `${lines.join('\n')}\n`
}
