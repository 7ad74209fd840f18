import { createHash } from 'node:crypto'
import type { FlagReport, Report } from '../coverage/report.js'

/**
 * The dated findings as PostHog annotations, the date markers PostHog draws on every chart of the
 * project: a stall's start, each change to the flag while its experiment ran, the first day a slice
 * of the split went wrong. Pure: the writer sends the plan, `--dry-run` prints it.
 *
 * PostHog's API (products/annotations/backend/api/annotation.py, read late 2026): `POST
 * annotations/` takes `content` (at most 8,192 characters), `date_marker` (ISO 8601), `scope`
 * (`project` shows it on every chart of this project; `organization` would spread it to the other
 * projects) and `creation_type` (`USR`, or `GIT` for notes written by a program). DELETE answers 405
 * (ForbidDestroyModel): an annotation is removed by `PATCH {deleted: true}`, which hides it from the
 * list. The list orders by `-date_marker`, pages with limit/offset (`{count, next, previous,
 * results}`), and filters by `scope` and by `search` over the content.
 *
 * Ours are recognised as tags are, by a mark nobody else writes, and more: an annotation is ours
 * only when it was written as a program's note (`creation_type: GIT`, which PostHog's own UI never
 * sets) *and* its content ends with our mark. A team member's annotation, even one with the very
 * same text, is never read as ours, so never changed or removed.
 */

/** The word that marks our annotations; the list is searched for it. */
export const ANNOTATION_MARK = 'experiment-coverage'

export type FindingKind = 'stall' | 'metric' | 'change' | 'slice'
const KINDS: readonly FindingKind[] = ['stall', 'metric', 'change', 'slice']

// PostHog's Annotation.content is a CharField(max_length=8192).
const MAX_CONTENT = 8192
// A flag key is quoted whole up to this length; past it, cut (a chart's tooltip is one line).
const MAX_KEY = 120
// A slice breakdown names at most this many dated slices besides the one that explains it.
const MAX_SLICES = 3

/** One annotation we want in PostHog, with the mark that finds it again on the next run. */
export interface PlannedAnnotation {
  /** `<kind>/<flag hash>/<finding hash>`: stable while the finding is the same one */
  readonly mark: string
  readonly kind: FindingKind
  readonly flag: string
  readonly content: string
  /** ISO 8601, UTC */
  readonly date_marker: string
}

/** An annotation as PostHog lists it (the fields read here). */
export interface AnnotationRow {
  readonly id: number
  readonly content?: string | null
  readonly date_marker?: string | null
  readonly creation_type?: string | null
  readonly scope?: string | null
  readonly deleted?: boolean | null
}

const hash8 = (s: string) => createHash('sha256').update(s).digest('hex').slice(0, 8)

/** Text from the report made safe for one line of plain text: no control characters, no lone surrogates. */
export function plainText(s: string): string {
  return s.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]+/g, ' ').replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, '\ufffd')
}

/** A flag key (or any name from the data) quoted: its quotes and backslashes escaped, cut when long. */
export function quoted(s: string): string {
  const clean = plainText(s)
  return JSON.stringify(clean.length > MAX_KEY ? `${clean.slice(0, MAX_KEY)}…` : clean)
}

const markOf = (kind: FindingKind, flag: string, finding: string) => `${kind}/${hash8(flag)}/${hash8(`${flag}\u0000${finding}`)}`
const MARK_AT_END = new RegExp(` · ${ANNOTATION_MARK}/((${KINDS.join('|')})/([0-9a-f]{8})/[0-9a-f]{8})$`)

/** The content PostHog shows: the finding in words, then our mark. */
function contentOf(words: string, mark: string): string {
  const tail = ` · ${ANNOTATION_MARK}/${mark}`
  const body = plainText(words)
  return (body.length + tail.length > MAX_CONTENT ? `${body.slice(0, MAX_CONTENT - tail.length - 1)}…` : body) + tail
}

/** The mark of an annotation we wrote, or null for anyone else's (however alike its text). */
export function ourMark(a: AnnotationRow): { mark: string; kind: FindingKind; flagHash: string } | null {
  if (a.creation_type !== 'GIT' || a.deleted === true || a.scope !== 'project' || typeof a.content !== 'string') return null
  const m = MARK_AT_END.exec(a.content)
  return m ? { mark: m[1] as string, kind: m[2] as FindingKind, flagHash: m[3] as string } : null
}

const isDay = (v: unknown): v is string => typeof v === 'string' && /^\d{4}-\d{2}-\d{2}$/.test(v)
const isTime = (v: unknown): v is string => typeof v === 'string' && Number.isFinite(Date.parse(v))
const dayStart = (day: string) => `${day}T00:00:00Z`
const iso = (t: string) => new Date(Date.parse(t)).toISOString()
const record = (v: unknown): Record<string, unknown> | null => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : null)

/** What one flag's report says: the annotations it wants, the kinds it judged, and marks to leave as they are. */
interface FlagPlan {
  readonly wanted: PlannedAnnotation[]
  /** kinds whose findings this report judged: ours of such a kind that are no longer wanted are removed */
  readonly judged: Set<FindingKind>
  /** findings still there but without a date this time: their annotation stays as it is */
  readonly keep: Set<string>
}

const LIB_WORDS: Record<string, string> = { client: 'client-side SDKs', server: 'server-side SDKs', unknown: 'senders without $lib' }

function planFlag(f: FlagReport): FlagPlan {
  const wanted: PlannedAnnotation[] = []
  const judged = new Set<FindingKind>()
  const keep = new Set<string>()
  const key = quoted(f.key)
  const experiment = f.experiment ? ` (experiment ${quoted(f.experiment.name)})` : ''
  const want = (kind: FindingKind, finding: string, date: string, words: string) => {
    const mark = markOf(kind, f.key, finding)
    wanted.push({ mark, kind, flag: f.key, content: contentOf(words, mark), date_marker: iso(date) })
  }
  const check = (id: string) => f.checks.find((c) => c.id === id)
  const judgedCheck = (c: { status: string } | undefined) => c !== undefined && (c.status === 'pass' || c.status === 'warn' || c.status === 'fail')

  // A stall's start, or a fall far below the trailing level; the primary metric gone silent.
  const stall = check('exposure_stall')
  if (judgedCheck(stall)) {
    judged.add('stall')
    judged.add('metric')
    const e = stall!.evidence
    const libs = Array.isArray(e.stopped_libraries) ? (e.stopped_libraries as unknown[]).filter((l): l is string => typeof l === 'string').map((l) => LIB_WORDS[l] ?? plainText(l)) : []
    const from = libs.length ? ` from ${libs.join(' and ')}` : ''
    if (stall!.status === 'fail' && isDay(e.stalled_since)) {
      want('stall', 'exposures', dayStart(e.stalled_since), `Exposures of ${key} stopped: none${from} since ${e.stalled_since}, while the experiment runs${experiment}. Units reaching it since are not in its results.`)
    } else if (stall!.status === 'warn' && isDay(e.fell_on)) {
      want('stall', 'exposures', dayStart(e.fell_on), `Exposures of ${key} fell below a fifth of their level from ${e.fell_on}${libs.length ? `: the ${libs.join(' and ')} stopped sending them` : ''}${experiment}.`)
    }
    if (stall!.status === 'fail' && isDay(e.metric_silent_since)) {
      const metric = typeof e.metric === 'string' ? ` ${quoted(e.metric)}` : ''
      want('metric', 'primary', dayStart(e.metric_silent_since), `The primary metric${metric} of ${key} went silent among exposed users from ${e.metric_silent_since}, while exposures go on${experiment}.`)
    }
  }

  // Each change to the flag while the experiment ran, with its author and what it did.
  const changes = check('flag_changes')
  if (judgedCheck(changes) && changes!.evidence.history_read === true) {
    judged.add('change')
    const cleanFrom = isTime(changes!.evidence.clean_from) ? Date.parse(changes!.evidence.clean_from) : null
    for (const raw of Array.isArray(changes!.evidence.changes_during_run) ? (changes!.evidence.changes_during_run as unknown[]) : []) {
      const c = record(raw)
      if (!c || !isTime(c.at)) continue
      const author = typeof c.author === 'string' ? plainText(c.author) : 'someone'
      const what = typeof c.summary === 'string' ? plainText(c.summary) : 'changed'
      const clean = cleanFrom !== null && Date.parse(c.at) === cleanFrom ? ' Results are clean from here: set the experiment to start at this change.' : c.reassigns === true ? ' It moved users: results mixing both sides are not clean.' : ''
      want('change', `${iso(c.at)} ${typeof c.field === 'string' ? c.field : ''}`, c.at, `${key} changed while its experiment ran${experiment}, by ${author}: ${what}.${clean}`)
    }
  }

  // The first day a slice of the split went wrong, where the breakdown knows it.
  for (const id of ['sample_ratio', 'multiple_variants']) {
    const c = check(id)
    if (!judgedCheck(c)) continue
    judged.add('slice')
    const slices = record(c!.evidence.slices)
    if (!slices || c!.status === 'pass') continue
    const rows = [record(slices.explained_by), ...(Array.isArray(slices.mismatched) ? (slices.mismatched as unknown[]).map(record) : [])].filter((r): r is Record<string, unknown> => r !== null && typeof r.dimension === 'string' && typeof r.value === 'string')
    const seen = new Set<string>()
    let dated = 0
    for (const r of rows) {
      const finding = `${id} ${r.dimension as string}:${r.value as string}`
      if (seen.has(finding)) continue
      seen.add(finding)
      const explains = r === record(slices.explained_by)
      if (!isDay(r.first_bad_day) || (!explains && dated >= MAX_SLICES)) {
        keep.add(markOf('slice', f.key, finding))
        continue
      }
      if (!explains) dated++
      const what = id === 'sample_ratio' ? 'split' : 'share of users with several variants'
      want('slice', finding, dayStart(r.first_bad_day), `The ${what} of ${key} is off in ${plainText(r.dimension as string)} ${quoted(r.value as string)}, whose units arrive from ${r.first_bad_day}${explains ? ': this slice explains the mismatch, the rest split as planned' : ''}${experiment}.`)
    }
  }
  return { wanted, judged, keep }
}

/** Every annotation a report wants, by mark (a mark once: the first finding wins). */
export function findingAnnotations(report: Pick<Report, 'flags'>): PlannedAnnotation[] {
  const byMark = new Map<string, PlannedAnnotation>()
  for (const f of report.flags) for (const a of planFlag(f).wanted) if (!byMark.has(a.mark)) byMark.set(a.mark, a)
  return [...byMark.values()]
}

export interface AnnotationPlan {
  readonly create: PlannedAnnotation[]
  readonly update: { readonly id: number; readonly planned: PlannedAnnotation; readonly body: { content?: string; date_marker?: string } }[]
  /** ours whose finding was repaired (or a second copy of one): soft-deleted */
  readonly remove: { readonly id: number; readonly content: string }[]
  /** ours left as they are: still right, or not judged by this report */
  readonly unchanged: number
}

/**
 * What to write, given the annotations PostHog has: ours of a wanted finding are updated when their
 * text or date differ, others of ours are removed when the report judged their kind for their flag
 * and the finding is gone. Anyone else's annotation is not in the plan at all.
 */
export function planAnnotations(report: Pick<Report, 'flags'>, existing: readonly AnnotationRow[]): AnnotationPlan {
  const plans = new Map<string, FlagPlan>()
  for (const f of report.flags) plans.set(hash8(f.key), planFlag(f))
  const wanted = new Map<string, PlannedAnnotation>()
  for (const p of plans.values()) for (const a of p.wanted) if (!wanted.has(a.mark)) wanted.set(a.mark, a)
  const create: PlannedAnnotation[] = []
  const update: AnnotationPlan['update'] = []
  const remove: AnnotationPlan['remove'] = []
  let unchanged = 0
  const found = new Set<string>()
  // Oldest first, so a duplicate (a run cut short between create and list) loses the newer copy.
  for (const a of [...existing].sort((x, y) => x.id - y.id)) {
    const ours = ourMark(a)
    if (!ours) continue
    const planned = wanted.get(ours.mark)
    if (planned && !found.has(ours.mark)) {
      found.add(ours.mark)
      const body: { content?: string; date_marker?: string } = {}
      if (a.content !== planned.content) body.content = planned.content
      if (!a.date_marker || Date.parse(a.date_marker) !== Date.parse(planned.date_marker)) body.date_marker = planned.date_marker
      if (Object.keys(body).length) update.push({ id: a.id, planned, body })
      else unchanged++
      continue
    }
    const plan = plans.get(ours.flagHash)
    const repaired = planned !== undefined || (plan !== undefined && plan.judged.has(ours.kind) && !plan.keep.has(ours.mark))
    if (repaired) remove.push({ id: a.id, content: a.content as string })
    // Not judged this time (its check unread, or its flag not in the report): left as it is.
    else unchanged++
  }
  for (const [mark, a] of wanted) if (!found.has(mark)) create.push(a)
  create.sort((a, b) => a.date_marker.localeCompare(b.date_marker) || a.mark.localeCompare(b.mark))
  return { create, update, remove, unchanged }
}
