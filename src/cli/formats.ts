import { stringify } from 'csv-stringify/sync'
import Table from 'cli-table3'
import { markdownToHtml, mdCell, mdCode } from '../coverage/markdown.js'
import { checkLabel, verdictLabel } from '../coverage/labels.js'
import type { Report } from '../coverage/report.js'

export type Format = 'table' | 'markdown' | 'json' | 'csv' | 'html'
export const FORMATS: readonly Format[] = ['table', 'markdown', 'json', 'csv', 'html']

const STATUS_MARK: Record<string, string> = { pass: 'ok', warn: 'warn', fail: 'FAIL', unknown: '?', not_applicable: '-' }

function failing(f: Report['flags'][number]): string {
  return f.checks
    .filter((c) => c.status === 'fail' || c.status === 'warn')
    .map((c) => `${c.id}${c.status === 'warn' ? ' (warn)' : ''}${c.follows_from ? ` (follows from ${c.follows_from})` : ''}`)
    .join(', ')
}

function units(f: Report['flags'][number]): string {
  return f.variants.map((v) => `${v.key} ${v.units}`).join(' / ')
}

/** The coverage table for a terminal: one row a flag, worst first. */
export function formatTable(report: Report): string {
  const table = new Table({
    head: ['flag', 'kind', 'verdict', 'score', 'units per variant', 'checks that fired'],
    style: { head: [], border: [] },
    colWidths: [34, 18, 19, 7, 34, 44],
    wordWrap: true,
  })
  // Verdicts by their labels (labels.ts); --format json and csv keep the values.
  for (const f of report.flags) table.push([f.key, f.kind, verdictLabel(f.verdict), f.score, units(f), failing(f) || '-'])
  // A terminal is no HTML renderer: the readout's entities read as the characters they stand for.
  const readout = report.readout.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&')
  return `${table.toString()}\n\n${readout}`
}

export function formatMarkdown(report: Report): string {
  const rows = report.flags.map((f) => `| ${mdCode(f.key).replace(/\|/g, '\\|')} | ${f.kind} | ${mdCell(verdictLabel(f.verdict))} | ${f.score} | ${mdCell(units(f))} | ${mdCell(failing(f) || '-')} |`)
  return `${report.readout}\n## Coverage\n\n| flag | kind | verdict | score | units per variant | checks that fired |\n|---|---|---|---:|---|---|\n${rows.join('\n')}\n`
}

/**
 * One row per flag and check: spreadsheets filter and pivot it. Any cell may come from event data
 * (a flag key only events mention, a variant value): csv-stringify's `escape_formulas` prefixes a
 * cell starting with = + - @ tab or CR with a quote, as OWASP advises, so no spreadsheet runs it,
 * and a lone CR or LF is always quoted.
 */
export function formatCsv(report: Report): string {
  const header = ['flag', 'kind', 'experiment', 'verdict', 'score', 'check', 'status', 'summary', 'fix', 'window_from', 'window_to', 'query', 'query_url']
  const rows = report.flags.flatMap((f) =>
    f.checks.map((c) => [f.key, f.kind, f.experiment?.name ?? '', f.verdict, f.score, c.id, c.status, c.summary, c.fix ?? '', f.window.from, f.window.to, c.query ?? '', c.query_url ?? '']),
  )
  return stringify([header, ...rows], { escape_formulas: true, record_delimiter: 'windows', quoted_match: /[\r\n]/, cast: { number: String, boolean: String } })
}

/** The check's HogQL: a link into the project's SQL editor when known, else the text to copy. */
function queryCell(c: Report['flags'][number]['checks'][number]): string {
  if (c.query_url) return `<a href="${esc(c.query_url)}" target="_blank" rel="noopener">open the query</a>`
  return c.query ? `<details><summary>HogQL</summary><pre>${esc(c.query)}</pre></details>` : ''
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;')

/** A self-contained page: the readout, then each flag with its badge and checks. */
export function formatHtml(report: Report): string {
  const badge = (v: string) => `<span class="badge ${v}">${esc(verdictLabel(v))}</span>`
  // The readout is Markdown: rendered, its lists as lists, every piece of text escaped once.
  const readout = markdownToHtml(report.readout)
  const flags = report.flags
    .map(
      (f) => `<details${f.verdict === 'blocked' || f.verdict === 'needs_backfill' ? ' open' : ''}><summary><code>${esc(f.key)}</code> ${badge(f.verdict)} <small>${esc(f.kind)} · score ${f.score} · ${esc(units(f))}</small></summary>
<p><small>${f.window.basis === 'experiment' ? 'the experiment\'s run' : 'the lookback'}: ${esc(f.window.from.slice(0, 16).replace('T', ' '))} to ${esc(f.window.to.slice(0, 16).replace('T', ' '))} UTC${f.window.truncated ? ' (its last days only)' : ''}</small></p>
<table><tr><th>check</th><th>status</th><th>summary</th><th>fix</th><th>in PostHog</th></tr>
${f.checks.map((c) => `<tr class="${c.status}"><td>${esc(checkLabel(c.id))}${c.follows_from ? `<br><small>follows from ${esc(checkLabel(c.follows_from))}</small>` : ''}</td><td>${STATUS_MARK[c.status]}</td><td>${esc(c.summary)}</td><td>${esc(c.fix ?? '')}</td><td>${queryCell(c)}</td></tr>`).join('\n')}
</table></details>`,
    )
    .join('\n')
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Experiment coverage</title>
<style>
body{font:14px/1.45 system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#1d1f27}
code{background:#f2f2f5;padding:0 .3em;border-radius:3px}
.badge{display:inline-block;padding:.05em .5em;border-radius:1em;font-size:12px;color:#fff}
.trustworthy{background:#2f9e44}.needs_backfill{background:#e67700}.blocked{background:#c92a2a}.insufficient_data{background:#5c7cfa}.inactive{background:#868e96}
table{border-collapse:collapse;width:100%;margin:.5em 0 1em}td,th{border-bottom:1px solid #e9ecef;padding:.3em;text-align:left;vertical-align:top}
tr.fail td:nth-child(2){color:#c92a2a;font-weight:600}tr.warn td:nth-child(2){color:#e67700}
details{margin:.3em 0}summary{cursor:pointer}
</style></head><body>
${readout}
<h2>Flags</h2>
${flags}
</body></html>
`
}

export function formatReport(report: Report, format: Format): string {
  switch (format) {
    case 'json':
      return `${JSON.stringify(report, null, 2)}\n`
    case 'markdown':
      return formatMarkdown(report)
    case 'csv':
      return formatCsv(report)
    case 'html':
      return formatHtml(report)
    default:
      return formatTable(report)
  }
}
