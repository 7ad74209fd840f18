import type { Report } from '../coverage/report.js'
import { plainText } from './annotations.js'

/**
 * What publishing writes into the PostHog project (POSTHOG-FACTS §1c), planned from a report and
 * the flags as PostHog has them now. Pure: the writer sends it, `--dry-run` prints it.
 */

/** The coverage tag of a verdict: `coverage:blocked`, `coverage:needs-backfill`, ... */
export function coverageTag(prefix: string, verdict: string): string {
  return `${prefix}${verdict.replace(/_/g, '-')}`
}

export interface TagRequest {
  readonly action: 'add' | 'remove'
  readonly tag: string
  readonly ids: readonly number[]
}

/** PostHog's bulk_update_tags takes at most 500 ids a request. */
export const TAG_IDS_PER_REQUEST = 500

/**
 * The tag changes: each reviewed flag gets the tag of its verdict, and loses any other tag with the
 * prefix. Tags without the prefix are never touched. A flag already tagged right gets no request.
 */
export function planTags(report: Pick<Report, 'flags'>, flags: readonly { id: number; key: string; tags?: readonly string[] | null; deleted?: boolean }[], prefix: string): TagRequest[] {
  const byKey = new Map(flags.filter((f) => !f.deleted).map((f) => [f.key, f]))
  const add = new Map<string, number[]>()
  const remove = new Map<string, number[]>()
  for (const r of report.flags) {
    const f = byKey.get(r.key)
    if (!f) continue
    const want = coverageTag(prefix, r.verdict)
    const have = (f.tags ?? []).filter((t) => t.startsWith(prefix))
    for (const t of have) if (t !== want) remove.set(t, [...(remove.get(t) ?? []), f.id])
    if (!have.includes(want)) add.set(want, [...(add.get(want) ?? []), f.id])
  }
  const out: TagRequest[] = []
  const chunks = (action: 'add' | 'remove', m: Map<string, number[]>) => {
    for (const [tag, ids] of [...m].sort(([a], [b]) => a.localeCompare(b))) {
      const sorted = [...ids].sort((a, b) => a - b)
      for (let i = 0; i < sorted.length; i += TAG_IDS_PER_REQUEST) out.push({ action, tag, ids: sorted.slice(i, i + TAG_IDS_PER_REQUEST) })
    }
  }
  // Removals first: a flag is never seen with two coverage tags for longer than the publish takes.
  chunks('remove', remove)
  chunks('add', add)
  return out
}

export const NOTEBOOK_TITLE = 'Experiment coverage'

type Node = Record<string, unknown>
// Text from the report (flag keys, names, findings) goes in as text nodes, never as Markdown or
// markup: ProseMirror shows it literally. Control characters are replaced (PostgreSQL's JSONB,
// where PostHog keeps a notebook, refuses \u0000), and an empty text node, which ProseMirror
// rejects, is never written.
const text = (t: string): Node => ({ type: 'text', text: plainText(t) })
const paragraph = (t: string): Node => ({ type: 'paragraph', content: t ? [text(t)] : [] })
const heading = (level: number, t: string): Node => ({ type: 'heading', attrs: { level }, content: t ? [text(t)] : [] })
const table = (rows: readonly (readonly string[])[]): Node => ({
  type: 'table',
  content: rows.map((cells, i) => ({ type: 'tableRow', content: cells.map((c) => ({ type: i === 0 ? 'tableHeader' : 'tableCell', content: [paragraph(c)] })) })),
})
const hogql = (query: string): Node => ({ type: 'ph-query', attrs: { query: { kind: 'DataTableNode', source: { kind: 'HogQLQuery', query } } } })

/**
 * A finding's split by slice (sample_ratio, multiple_variants): the slices that do not match the
 * plan with their units per variant and p-value, the one that explains the mismatch first, then
 * the breakdown's own HogQL query. Nothing when the finding has no breakdown.
 */
function sliceNodes(evidence: Record<string, unknown>): Node[] {
  const slices = evidence.slices
  if (typeof slices !== 'object' || slices === null) return []
  const s = slices as { mismatched?: unknown; explained_by?: unknown; query?: unknown }
  type Row = { dimension?: unknown; value?: unknown; units?: unknown; units_per_variant?: unknown; p_value?: unknown; first_bad_day?: unknown }
  const explains = typeof s.explained_by === 'object' && s.explained_by !== null ? (s.explained_by as Row) : null
  const rows = [...(explains ? [explains] : []), ...(Array.isArray(s.mismatched) ? (s.mismatched as Row[]) : []).filter((r) => !explains || r.dimension !== explains.dimension || r.value !== explains.value)]
  const variants = [...new Set(rows.flatMap((r) => (typeof r.units_per_variant === 'object' && r.units_per_variant !== null ? Object.keys(r.units_per_variant) : [])))]
  const out: Node[] = []
  if (rows.length) {
    const dated = rows.some((r) => typeof r.first_bad_day === 'string')
    const cell = (v: unknown) => (typeof v === 'number' ? String(v) : typeof v === 'string' ? v : '-')
    out.push(
      table([
        ['Slice', 'Units', ...variants, 'p-value', ...(dated ? ['Wrong from'] : []), 'Explains the mismatch'],
        ...rows.map((r) => [
          `${cell(r.dimension)} ${cell(r.value)}`,
          cell(r.units),
          ...variants.map((v) => cell((r.units_per_variant as Record<string, unknown> | undefined)?.[v])),
          typeof r.p_value === 'number' ? r.p_value.toExponential(1) : '-',
          ...(dated ? [cell(r.first_bad_day)] : []),
          r === explains ? 'yes' : '',
        ]),
      ]),
    )
  }
  if (typeof s.query === 'string' && s.query) {
    out.push(paragraph('The split by slice, as PostHog counts it:'))
    out.push(hogql(s.query))
  }
  return out
}

/**
 * The notebook: the readout, the coverage table, and each flag that needs repair as PostHog's own
 * flag and experiment nodes with its findings' HogQL queries (and the host's page for the flag in
 * an embed when the host has a public address). No timestamp inside, so an unchanged report
 * gives an unchanged notebook.
 */
export function notebookContent(report: Report, flags: readonly { id: number; key: string }[], hostUrl: string, project: string): { content: Node; text: string } {
  const ids = new Map(flags.map((f) => [f.key, f.id]))
  const nodes: Node[] = [heading(1, NOTEBOOK_TITLE)]
  nodes.push(paragraph(`Written by Experiment Coverage from its review of ${report.summary.flags} flags. Verdicts: ${Object.entries(report.summary).filter(([k]) => k !== 'flags').map(([k, n]) => `${k.replace(/_/g, ' ')} ${n}`).join(', ')}.`))
  nodes.push(heading(2, 'Readout'))
  for (const line of report.readout.split('\n').filter((l) => l.trim() !== '')) nodes.push(paragraph(line.replace(/^#+\s*/, '')))
  nodes.push(heading(2, 'Coverage table'))
  const rows = report.flags.map((f) => [f.key, f.verdict.replace(/_/g, ' '), String(f.score), f.checks.filter((c) => c.status === 'fail').map((c) => c.id).join(', ') || '-'])
  nodes.push(table([['Flag', 'Verdict', 'Score', 'Failing checks'], ...rows]))
  const repair = report.flags.filter((f) => f.verdict === 'blocked' || f.verdict === 'needs_backfill')
  if (repair.length) nodes.push(heading(2, 'Flags that need repair'))
  for (const f of repair) {
    nodes.push(heading(3, `${f.key}: ${f.verdict.replace(/_/g, ' ')}`))
    const id = ids.get(f.key)
    if (id !== undefined) nodes.push({ type: 'ph-feature-flag', attrs: { id } })
    if (f.experiment) nodes.push({ type: 'ph-experiment', attrs: { id: f.experiment.id } })
    for (const c of f.checks.filter((x) => x.status === 'fail' || x.status === 'warn')) {
      nodes.push(paragraph(`${c.id} (${c.status}): ${c.summary}${c.fix ? ` Fix: ${c.fix}` : ''}`))
      if (c.query) nodes.push(hogql(c.query))
      nodes.push(...sliceNodes(c.evidence))
    }
    if (/^https:\/\//.test(hostUrl)) nodes.push({ type: 'ph-embed', attrs: { src: `${hostUrl.replace(/\/+$/, '')}/?project=${encodeURIComponent(project)}&view=flag&flag=${encodeURIComponent(f.key)}`, title: `Coverage of ${f.key}` } })
  }
  const plain = [NOTEBOOK_TITLE, ...report.readout.split('\n').map(plainText), ...rows.map((r) => r.map(plainText).join(' | '))].join('\n')
  return { content: { type: 'doc', content: nodes }, text: plain }
}

export const CHECKED_EVENT = 'experiment coverage checked'

/** One event per flag per run, for teams to chart coverage in their own dashboards. */
export function coverageEvents(report: Report, project: string): { event: string; distinct_id: string; timestamp: string; properties: Record<string, unknown> }[] {
  return report.flags.map((f) => ({
    event: CHECKED_EVENT,
    distinct_id: `experiment-coverage:${project}`,
    timestamp: report.generated_at,
    properties: {
      flag: f.key,
      verdict: f.verdict,
      score: f.score,
      kind: f.kind,
      experiment_id: f.experiment?.id ?? null,
      failing_checks: f.checks.filter((c) => c.status === 'fail').map((c) => c.id),
      warning_checks: f.checks.filter((c) => c.status === 'warn').map((c) => c.id),
      // Not a person: PostHog keeps no person profile for these events.
      $process_person_profile: false,
    },
  }))
}

/** PostHog Cloud's ingestion address for capture: us.posthog.com -> us.i.posthog.com; a self-hosted PostHog takes events on its own. */
export function ingestionHost(host: string): string {
  const u = new URL(host)
  const m = /^(us|eu)\.posthog\.com$/.exec(u.hostname)
  if (m) u.hostname = `${m[1]}.i.posthog.com`
  else if (u.hostname === 'app.posthog.com') u.hostname = 'us.i.posthog.com'
  return u.origin
}
