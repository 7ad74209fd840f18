import type { Report } from '../coverage/report.js'
import { PostHogApiError, type PostHogClient } from '../posthog/client.js'
import { ANNOTATION_MARK, planAnnotations, type AnnotationRow } from './annotations.js'
import { NOTEBOOK_TITLE, coverageEvents, ingestionHost, notebookContent, planTags, type TagRequest } from './plan.js'

/**
 * Publishing a report into the PostHog project: the coverage tags (bulk_update_tags, add and
 * remove only, so no tag it did not write is touched and no flag version is bumped), the
 * notebook (created once, then updated in place with its version), and the events (capture, with
 * the project token only). `dryRun` reads what it must and writes nothing.
 */
export interface PlannedWrite {
  readonly what: string
  readonly method: 'POST' | 'PATCH'
  readonly url: string
  readonly body: unknown
}

export interface PublishResult {
  readonly writes: PlannedWrite[]
  readonly tags: { readonly added: number; readonly removed: number; readonly requests: number }
  readonly notebook: { readonly action: 'created' | 'updated' | 'unchanged'; readonly short_id: string | null }
  readonly events: number
  /**
   * The dated findings as annotations: how many were created, updated (moved or reworded), removed
   * (repaired) or left as they were; `skipped` says why none could be written (a missing scope).
   */
  readonly annotations: { readonly created: number; readonly updated: number; readonly removed: number; readonly unchanged: number; readonly skipped: string | null }
  readonly dryRun: boolean
}

export interface PublishOptions {
  readonly client: PostHogClient
  readonly posthogHost: string
  readonly project: string
  readonly tagPrefix: string
  /** the host's public address, for the notebook's embeds ('' for none) */
  readonly hostUrl: string
  readonly dryRun: boolean
  /** capture goes through this (tests); never the personal API key */
  readonly fetch?: typeof fetch
}

interface FlagRow {
  id: number
  key: string
  tags?: string[] | null
  deleted?: boolean
}
interface NotebookRow {
  short_id: string
  title?: string | null
  version?: number
  content?: unknown
  deleted?: boolean
}

/** A PostHog refusal, said with what to do about it. */
function explain(e: unknown, what: string, scope: string): never {
  if (e instanceof PostHogApiError && e.status === 403) throw new PostHogApiError(`${e.message} Publishing ${what} needs the ${scope} scope on the personal API key.`, 403, e.path, e.detail)
  throw e
}

export async function publishReport(report: Report, opts: PublishOptions): Promise<PublishResult> {
  const { client } = opts
  const writes: PlannedWrite[] = []
  const send = async (w: PlannedWrite, path: string, scope: string) => {
    writes.push(w)
    if (opts.dryRun) return null
    return client.write(w.method === 'POST' ? 'post' : 'patch', path, w.body).catch((e) => explain(e, w.what, scope))
  }

  // Tags beside each flag.
  const flags = (await client.listFlags()) as FlagRow[]
  const tagRequests: TagRequest[] = planTags(report, flags, opts.tagPrefix)
  for (const r of tagRequests) {
    await send({ what: `${r.action} the tag ${r.tag} on ${r.ids.length} flags`, method: 'POST', url: `${client.base}feature_flags/bulk_update_tags/`, body: { ids: r.ids, action: r.action, tags: [r.tag] } }, 'feature_flags/bulk_update_tags/', 'feature_flag:write')
  }

  // The notebook, updated in place.
  const { content, text } = notebookContent(report, flags, opts.hostUrl, opts.project)
  const existing = ((await client.list('notebooks/')) as NotebookRow[]).find((n) => n.title === NOTEBOOK_TITLE && n.deleted !== true) ?? null
  let notebook: PublishResult['notebook']
  if (!existing) {
    const created = (await send({ what: 'create the notebook', method: 'POST', url: `${client.base}notebooks/`, body: { title: NOTEBOOK_TITLE, content, text_content: text } }, 'notebooks/', 'notebook:write')) as { short_id?: string } | null
    notebook = { action: 'created', short_id: created?.short_id ?? null }
  } else {
    notebook = { action: 'unchanged', short_id: existing.short_id }
    for (let attempt = 1; attempt <= 2; attempt++) {
      // The list omits content: read the notebook for its content and current version.
      const current = await client.get<NotebookRow>(`notebooks/${encodeURIComponent(existing.short_id)}/`)
      if (JSON.stringify(current.content) === JSON.stringify(content)) break
      try {
        await send({ what: 'update the notebook', method: 'PATCH', url: `${client.base}notebooks/${existing.short_id}/`, body: { content, text_content: text, version: current.version } }, `notebooks/${encodeURIComponent(existing.short_id)}/`, 'notebook:write')
        notebook = { action: 'updated', short_id: existing.short_id }
        break
      } catch (e) {
        // Someone edited it meanwhile: read it again and retry once.
        if (e instanceof PostHogApiError && e.status === 409 && attempt === 1) {
          writes.pop()
          continue
        }
        if (e instanceof PostHogApiError && e.status === 409) throw new PostHogApiError(`${e.message} The notebook "${NOTEBOOK_TITLE}" changed twice while it was being written; publish again.`, 409, e.path, e.detail)
        throw e
      }
    }
  }

  // Events, with the project token (capture takes no personal key).
  const { api_token: token } = await client.get<{ api_token?: string }>('')
  const events = coverageEvents(report, opts.project)
  if (events.length > 0) {
    const url = `${ingestionHost(opts.posthogHost)}/batch/`
    const body = { api_key: token ?? '', batch: events }
    writes.push({ what: `capture ${events.length} "experiment coverage checked" events`, method: 'POST', url, body: { ...body, api_key: '(the project token)' } })
    if (!opts.dryRun) {
      if (!token) throw new PostHogApiError('PostHog did not give the project token (api_token) needed to capture events.', null, '')
      const res = await (opts.fetch ?? fetch)(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), redirect: 'manual' })
      if (!res.ok) throw new PostHogApiError(`PostHog's capture at ${url} answered ${res.status}.`, res.status, '/batch/')
    }
  }
  // Annotations last: without their scope, everything above is written all the same.
  const annotations = await publishAnnotations(report, client, writes, opts.dryRun)
  return {
    writes,
    annotations,
    tags: { added: tagRequests.filter((r) => r.action === 'add').reduce((n, r) => n + r.ids.length, 0), removed: tagRequests.filter((r) => r.action === 'remove').reduce((n, r) => n + r.ids.length, 0), requests: tagRequests.length },
    notebook,
    events: events.length,
    dryRun: opts.dryRun,
  }
}

/** Why annotations were left out: the scope the key lacks, in words. */
function missingScope(e: unknown, scope: string): string | null {
  if (!(e instanceof PostHogApiError) || e.status !== 403) return null
  return `annotations not written: the personal API key lacks the ${scope} scope (PostHog answered 403); the tags, the notebook and the events do not need it.`
}

/**
 * The dated findings as annotations on the project's charts: created once, updated in place when a
 * finding moves or is reworded, soft-deleted (PATCH deleted: true; PostHog answers DELETE with 405)
 * when repaired. Only our own annotations are read as ours (annotations.ts: ourMark).
 */
async function publishAnnotations(report: Report, client: PostHogClient, writes: PlannedWrite[], dryRun: boolean): Promise<PublishResult['annotations']> {
  const counts = { created: 0, updated: 0, removed: 0, unchanged: 0 }
  let existing: AnnotationRow[]
  try {
    // Project-scoped ones whose content has our mark; ourMark checks each again (search is a substring match).
    existing = (await client.list(`annotations/?scope=project&search=${encodeURIComponent(ANNOTATION_MARK)}`)) as AnnotationRow[]
  } catch (e) {
    const skipped = missingScope(e, 'annotation:read')
    if (skipped) return { ...counts, skipped }
    throw e
  }
  const plan = planAnnotations(report, existing)
  counts.unchanged = plan.unchanged
  const path = (id: number) => `annotations/${encodeURIComponent(String(id))}/`
  const write = async (w: PlannedWrite, p: string): Promise<unknown> => {
    writes.push(w)
    return dryRun ? null : client.write(w.method === 'POST' ? 'post' : 'patch', p, w.body)
  }
  try {
    for (const a of plan.create) {
      const body = { content: a.content, date_marker: a.date_marker, scope: 'project', creation_type: 'GIT' }
      const created = (await write({ what: `annotate ${a.date_marker.slice(0, 10)} (${a.kind})`, method: 'POST', url: `${client.base}annotations/`, body }, 'annotations/')) as AnnotationRow | null
      if (created && created.creation_type !== 'GIT' && typeof created.id === 'number') {
        // A PostHog that does not keep creation_type (older versions made it read-only) cannot tell
        // ours from the team's: take back the one just written and write none.
        await client.write('patch', path(created.id), { deleted: true })
        return { ...counts, skipped: 'annotations not written: this PostHog does not keep creation_type "GIT", so ours could not be told from the team\'s.' }
      }
      counts.created++
    }
    for (const u of plan.update) {
      await write({ what: `move or reword the annotation of ${u.planned.date_marker.slice(0, 10)} (${u.planned.kind})`, method: 'PATCH', url: `${client.base}${path(u.id)}`, body: u.body }, path(u.id)).catch(gone)
      counts.updated++
    }
    for (const r of plan.remove) {
      await write({ what: 'remove an annotation whose finding was repaired', method: 'PATCH', url: `${client.base}${path(r.id)}`, body: { deleted: true } }, path(r.id)).catch(gone)
      counts.removed++
    }
  } catch (e) {
    const skipped = missingScope(e, 'annotation:write')
    if (skipped) {
      writes.pop()
      return { ...counts, skipped }
    }
    throw e
  }
  return { ...counts, skipped: null }
}

/** An annotation removed in PostHog meanwhile (or hidden with its deleted insight): nothing left to change. */
function gone(e: unknown): null {
  if (e instanceof PostHogApiError && e.status === 404) return null
  throw e
}
