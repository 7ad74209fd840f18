import { mdCode, mdText } from './markdown.js'
import type { Report } from './report.js'

// Failures that block a readout, shown first: the assignment itself is broken.
const BLOCKING_FIRST = ['flag_state', 'sample_ratio', 'multiple_variants']

function inDays(days: number): string {
  const d = Math.max(0, Math.round(days))
  return d === 0 ? 'readout due today' : `readout in ${d} day${d === 1 ? '' : 's'}`
}

// The readout is read in a minute: a few lines per section, the rest is in the table.
const MAX_ITEMS = 5

const name = (f: Report['flags'][number]) => (f.experiment ? `**${mdText(f.experiment.name)}** (${mdCode(f.key)})` : mdCode(f.key))

/** A short Markdown decision summary: what can be trusted now, what to repair first and why, what was assumed. */
export function writeReadout(report: Report): string {
  const s = report.summary
  const lines: string[] = []
  lines.push(`# Experiment coverage: ${report.window.from} to ${report.window.to}`)
  lines.push('')
  lines.push(
    `${s.flags} flags and experiments: **${s.trustworthy} trustworthy**, ${s.needs_backfill} need repair or backfill, ${s.blocked} blocked, ${s.insufficient_data} without enough data yet, ${s.inactive} inactive.`,
  )
  const trusted = report.flags.filter((f) => f.verdict === 'trustworthy')
  lines.push('', '## Trustworthy now')
  if (trusted.length === 0) lines.push('Nothing yet: every active flag has a gap below.')
  for (const f of trusted.slice(0, MAX_ITEMS)) {
    const units = f.variants.reduce((n, v) => n + v.units, 0)
    lines.push(`- ${name(f)}: ${units} units, score ${f.score}.`)
  }
  if (trusted.length > MAX_ITEMS) lines.push(`- and ${trusted.length - MAX_ITEMS} more.`)

  const blocked = report.flags.filter((f) => f.verdict === 'blocked')
  if (blocked.length) {
    lines.push('', '## Blocked: do not read these out')
    for (const f of blocked.slice(0, MAX_ITEMS)) {
      const fails = f.checks.filter((c) => c.status === 'fail')
      const why = BLOCKING_FIRST.map((id) => fails.find((c) => c.id === id)).find(Boolean) ?? fails[0]
      lines.push(`- ${name(f)}: ${mdText(why?.summary ?? 'a blocking check failed.')}`)
    }
    if (blocked.length > MAX_ITEMS) lines.push(`- and ${blocked.length - MAX_ITEMS} more.`)
  }

  const repair = report.flags.filter((f) => f.verdict === 'needs_backfill')
  if (repair.length) {
    lines.push('', '## Needs repair or backfill before a readout')
    for (const f of repair.slice(0, MAX_ITEMS * 2)) {
      const fired = f.checks.filter((c) => c.status === 'fail')
      lines.push(`- ${name(f)}: ${fired.map((c) => c.id).join(', ')}. ${mdText(fired[0]?.summary ?? '')}`)
    }
    if (repair.length > MAX_ITEMS * 2) lines.push(`- and ${repair.length - MAX_ITEMS * 2} more.`)
  }

  lines.push('', '## Repair first')
  if (report.plan.length === 0) lines.push('Nothing to repair.')
  report.plan.slice(0, MAX_ITEMS).forEach((item, i) => {
    const deadline = item.days_to_deadline !== null ? `, ${inDays(item.days_to_deadline)}` : ''
    lines.push(`${i + 1}. ${mdCode(item.flag)}: ${mdText(item.action)} (${item.category}, ${item.effort} effort${deadline}). Why: ${mdText(item.reason)}`)
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
