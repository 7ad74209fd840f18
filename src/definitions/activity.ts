/**
 * A flag's history from PostHog's activity log: what changed, when, and who changed it.
 *
 * PostHog answers `GET /api/projects/:id/feature_flags/:flag_id/activity/` (one flag) and
 * `GET /api/projects/:id/feature_flags/activity/` (every flag) with pages
 * `{results, next, previous, total_count}` (posthog/models/activity_logging/activity_page.py). Each
 * entry is `{user: {first_name, email}, activity, scope: "FeatureFlag", item_id, detail: {changes:
 * [{type, action, field, before, after}], name: <flag key>}, created_at}`
 * (activity_logging/serializers.py). A flag's `filters` change is one change whose `before` and
 * `after` are the whole filters object: the split and the conditions are compared here.
 */
import { z } from 'zod'
import { DefinitionsError } from './definitions.js'

/** One change to one field of a flag. */
export interface FlagChange {
  /** the flag's id as the log gives it (`item_id`) */
  readonly flagId: string
  /** the flag's key (`detail.name`), where the entry names it */
  readonly flagKey: string | null
  readonly atMs: number
  /** who made it: an email, a first name, "System", or "someone" when the log says nothing */
  readonly author: string
  readonly field: string
  readonly before: unknown
  readonly after: unknown
}

/** Every flag change read, oldest first, and how many entries were read in all. */
export interface ActivityLog {
  readonly changes: readonly FlagChange[]
  readonly entries: number
}

const change = z.looseObject({ action: z.string().nullish(), field: z.string().nullish(), before: z.unknown().optional(), after: z.unknown().optional() })
const entry = z.looseObject({
  user: z.looseObject({ first_name: z.string().nullish(), email: z.string().nullish() }).nullish(),
  activity: z.string(),
  scope: z.string(),
  item_id: z.union([z.string(), z.number()]).nullish(),
  detail: z.looseObject({ changes: z.array(change).nullish(), name: z.string().nullish() }).nullish(),
  created_at: z.string().refine((s) => Number.isFinite(Date.parse(s)), { message: 'not a date' }),
})
const page = z.looseObject({ results: z.array(z.unknown()) })

/**
 * Reads an activity log as PostHog serves it: one page, a list of pages, or a list of entries (the
 * pages' results joined). Entries of other scopes are skipped; a malformed entry is named by its
 * place and field, and nothing is read from a file that has one.
 */
export function parseActivity(source: string, value: unknown): ActivityLog {
  const entries: { at: string; value: unknown }[] = []
  const pageOf = (v: unknown, at: string) => {
    const p = page.safeParse(v)
    if (!p.success) throw new DefinitionsError(source, [`${at ? `${at.replace(/\.$/, '')}: ` : ''}expected an activity page {results, next, ...} or a list of its entries`])
    p.data.results.forEach((e, i) => entries.push({ at: `${at}results[${i}]`, value: e }))
  }
  if (Array.isArray(value)) {
    value.forEach((v, i) => {
      if (typeof v === 'object' && v !== null && 'results' in v) pageOf(v, `[${i}].`)
      else entries.push({ at: `[${i}]`, value: v })
    })
  } else pageOf(value, '')

  const problems: string[] = []
  const changes: FlagChange[] = []
  for (const { at, value: raw } of entries) {
    const e = entry.safeParse(raw)
    if (!e.success) {
      const issue = e.error.issues[0]
      problems.push(`${at}${issue?.path.length ? `.${issue.path.join('.')}` : ''}: ${issue?.message ?? 'not an activity entry'}`)
      continue
    }
    if (e.data.scope !== 'FeatureFlag' || e.data.item_id == null) continue
    const author = e.data.user?.email || e.data.user?.first_name || 'someone'
    for (const c of e.data.detail?.changes ?? []) {
      if (!c.field) continue
      changes.push({ flagId: String(e.data.item_id), flagKey: e.data.detail?.name ?? null, atMs: Date.parse(e.data.created_at), author, field: c.field, before: c.before ?? null, after: c.after ?? null })
    }
  }
  if (problems.length > 0) throw new DefinitionsError(source, problems)
  changes.sort((a, b) => a.atMs - b.atMs)
  return { changes, entries: entries.length }
}

/** One flag's changes, oldest first, by its id (a deleted flag's key can come back on another flag). */
export function changesOfFlag(log: ActivityLog, flag: { readonly id: number }): FlagChange[] {
  const id = String(flag.id)
  return log.changes.filter((c) => c.flagId === id)
}

/** What a change did, in words, and whether it moves users between variants or in and out of the flag. */
export interface ChangeMeaning {
  readonly what: 'split' | 'rollout' | 'conditions' | 'unit' | 'continuity' | 'switched' | 'configuration'
  readonly words: string
  /**
   * Users assigned before it and after it are not assigned alike: a new split, fewer users rolled
   * in, other conditions, another unit. Results mixing both sides are not clean.
   */
  readonly reassigns: boolean
}

type Filters = { groups?: unknown; multivariate?: unknown; aggregation_group_type_index?: unknown }
type Group = { properties?: unknown; rollout_percentage?: unknown; variant?: unknown }

function variantsOf(filters: Filters): Map<string, number> {
  const vs = (filters.multivariate as { variants?: { key?: unknown; rollout_percentage?: unknown }[] } | null | undefined)?.variants ?? []
  return new Map(vs.filter((v) => typeof v.key === 'string').map((v) => [v.key as string, Number(v.rollout_percentage ?? 0)]))
}

function groupsOf(filters: Filters): Group[] {
  return Array.isArray(filters.groups) ? (filters.groups as Group[]) : []
}

const splitWords = (m: Map<string, number>) => (m.size ? [...m].map(([k, p]) => `${k} ${p}%`).join(' / ') : 'no variants')
const rolloutOf = (g: Group | undefined) => (g?.rollout_percentage === null || g?.rollout_percentage === undefined ? 100 : Number(g.rollout_percentage))

/** The meanings of one change (a `filters` change may hold several: a new split and new conditions). */
export function meaningsOf(c: FlagChange): ChangeMeaning[] {
  if (c.field === 'active') return [{ what: 'switched', words: c.after === false ? 'switched off' : 'switched on', reassigns: false }]
  if (c.field === 'ensure_experience_continuity') {
    return [{ what: 'continuity', words: `experience continuity ${c.after === true ? 'turned on' : 'turned off'}: users who log in from then on ${c.after === true ? 'keep' : 'may lose'} the variant they had anonymously`, reassigns: false }]
  }
  if (c.field !== 'filters') return []
  if (typeof c.before !== 'object' || c.before === null || typeof c.after !== 'object' || c.after === null) {
    return [{ what: 'configuration', words: 'the release configuration changed (the log does not show how)', reassigns: true }]
  }
  const before = c.before as Filters
  const after = c.after as Filters
  const out: ChangeMeaning[] = []
  const vb = variantsOf(before)
  const va = variantsOf(after)
  if (splitWords(vb) !== splitWords(va)) out.push({ what: 'split', words: `split ${splitWords(vb)} → ${splitWords(va)}`, reassigns: true })
  if ((before.aggregation_group_type_index ?? null) !== (after.aggregation_group_type_index ?? null)) {
    out.push({ what: 'unit', words: `unit of assignment changed (group type ${String(before.aggregation_group_type_index ?? 'persons')} → ${String(after.aggregation_group_type_index ?? 'persons')})`, reassigns: true })
  }
  const gb = groupsOf(before)
  const ga = groupsOf(after)
  const conditions = (gs: Group[]) => JSON.stringify(gs.map((g) => [g.properties ?? [], g.variant ?? null]))
  if (conditions(gb) !== conditions(ga)) {
    out.push({ what: 'conditions', words: `release conditions changed (${gb.length} → ${ga.length} condition sets)`, reassigns: true })
  } else {
    gb.forEach((g, i) => {
      const from = rolloutOf(g)
      const to = rolloutOf(ga[i])
      if (from === to) return
      const which = gb.length > 1 ? ` in condition set ${i + 1}` : ''
      // Raising it only adds users (those in keep their place: the hash decides); lowering it drops some.
      out.push(
        to > from
          ? { what: 'rollout', words: `rollout ${from}% → ${to}%${which}: more users join; those already in keep their variant`, reassigns: false }
          : { what: 'rollout', words: `rollout ${from}% → ${to}%${which}: users already in lose the flag`, reassigns: true },
      )
    })
  }
  return out
}
