import { http, HttpResponse, type HttpHandler } from 'msw'
import { HOST, base, pageOf } from './posthog-api.js'

/**
 * PostHog's write side as publishing uses it, shaped like PostHog's answers: the flag list (with
 * tags), bulk_update_tags (500 ids at most, add / remove / set), notebooks (the list omits content;
 * an update must send the current version or gets 409), annotations (below), the project (its
 * api_token), and capture.
 */

/** A user as PostHog's UserBasicSerializer gives it (an annotation's created_by). */
export interface AnnotationUser {
  id: number
  uuid: string
  distinct_id: string
  first_name: string
  last_name: string
  email: string
  is_email_verified: boolean
  hedgehog_config: null
  role_at_organization: null
}

/** An annotation as PostHog keeps it (products/annotations/backend/models/annotation.py). */
export interface StoredAnnotation {
  id: number
  content: string | null
  date_marker: string | null
  creation_type: 'USR' | 'GIT'
  scope: 'dashboard_item' | 'dashboard' | 'project' | 'organization' | 'recording'
  deleted: boolean
  created_by: AnnotationUser | null
  created_at: string
  updated_at: string
  /** another project of the organization (only organization-scoped ones show here) */
  team?: 'other'
}

export const KEY_USER: AnnotationUser = { id: 7, uuid: '0192-key-owner', distinct_id: 'key-owner', first_name: 'Key', last_name: 'Owner', email: 'owner@example.com', is_email_verified: true, hedgehog_config: null, role_at_organization: null }
export const TEAMMATE: AnnotationUser = { ...KEY_USER, id: 8, uuid: '0192-teammate', distinct_id: 'teammate', first_name: 'Tess', email: 'tess@example.com' }

/** DRF prints a UTC datetime as ISO 8601 with `Z`, microseconds only when there are some. */
export function drfDate(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, (_m, f: string) => (f === '000' ? 'Z' : `.${f}000Z`))
}

/** AnnotationSerializer's fields, in its order. */
function serialized(a: StoredAnnotation) {
  return {
    id: a.id,
    content: a.content,
    date_marker: a.date_marker,
    creation_type: a.creation_type,
    dashboard_item: null,
    dashboard_id: null,
    dashboard_name: null,
    insight_short_id: null,
    insight_name: null,
    insight_derived_name: null,
    created_by: a.created_by,
    created_at: a.created_at,
    updated_at: a.updated_at,
    deleted: a.deleted,
    scope: a.scope,
    emoji: null,
    hidden_in_user_interface: null,
  }
}

/** DRF's SearchFilter: the term split on whitespace and commas, every part found in `content`, case-insensitively. */
function searched(content: string | null, search: string): boolean {
  const terms = search.replace(/[\s,]+/g, ' ').trim().split(' ').filter(Boolean)
  return terms.every((t) => (content ?? '').toLowerCase().includes(t.toLowerCase()))
}

const permissionDenied = (scope: string) => HttpResponse.json({ type: 'authentication_error', code: 'permission_denied', detail: `API key missing required scope '${scope}'`, attr: null }, { status: 403 })
const notFound = () => HttpResponse.json({ type: 'invalid_request', code: 'not_found', detail: 'Not found.', attr: null }, { status: 404 })
export interface PublishSide {
  flags: { id: number; key: string; tags: string[]; deleted: boolean }[]
  notebooks: { short_id: string; title: string; version: number; content: unknown; text_content: string }[]
  writes: { path: string; body: Record<string, unknown>; auth: string | null }[]
  captured: { body: Record<string, unknown>; auth: string | null }[]
  /** the next notebook PATCH finds the notebook edited meanwhile */
  editBeforePatch: boolean
  /** PostHog's annotations (none when left out) */
  annotations?: StoredAnnotation[]
  /** the personal API key's annotation scopes: `write` (the default; it reads too), `read`, or none */
  annotationScope?: 'write' | 'read' | 'none'
  /** a PostHog whose serializer still has creation_type read-only (every annotation is USR) */
  annotationCreationTypeReadOnly?: boolean
}

export const PROJECT_TOKEN = 'phc_project_token_public'

export function publishHandlers(side: PublishSide): HttpHandler[] {
  return [
    http.get(`${base}/feature_flags/`, ({ request }) => HttpResponse.json(pageOf('feature_flags/', side.flags, new URL(request.url)))),
    http.post(`${base}/feature_flags/bulk_update_tags/`, async ({ request }) => {
      const body = (await request.json()) as { ids: number[]; action: string; tags: string[] }
      side.writes.push({ path: 'bulk_update_tags', body, auth: request.headers.get('authorization') })
      if (body.ids.length > 500) return HttpResponse.json({ type: 'validation_error', detail: 'Cannot update more than 500 flags at once.' }, { status: 400 })
      if (!['add', 'remove', 'set'].includes(body.action)) return HttpResponse.json({ type: 'validation_error', detail: 'bad action' }, { status: 400 })
      for (const f of side.flags.filter((x) => body.ids.includes(x.id))) {
        if (body.action === 'add') f.tags = [...new Set([...f.tags, ...body.tags])]
        else if (body.action === 'remove') f.tags = f.tags.filter((t) => !body.tags.includes(t))
        else f.tags = [...body.tags]
      }
      return HttpResponse.json({ updated: body.ids.map((id) => ({ id, tags: side.flags.find((f) => f.id === id)?.tags })), skipped: [] })
    }),
    http.get(`${base}/notebooks/`, ({ request }) => HttpResponse.json(pageOf('notebooks/', side.notebooks.map(({ content: _c, ...rest }) => rest), new URL(request.url)))),
    http.get(`${base}/notebooks/:id/`, ({ params }) => {
      const n = side.notebooks.find((x) => x.short_id === params.id)
      return n ? HttpResponse.json(n) : HttpResponse.json({ detail: 'Not found.' }, { status: 404 })
    }),
    http.post(`${base}/notebooks/`, async ({ request }) => {
      const body = (await request.json()) as { title: string; content: unknown; text_content: string }
      side.writes.push({ path: 'notebooks POST', body: body as never, auth: request.headers.get('authorization') })
      const n = { short_id: `nb${side.notebooks.length + 1}`, title: body.title, version: 0, content: body.content, text_content: body.text_content }
      side.notebooks.push(n)
      return HttpResponse.json(n, { status: 201 })
    }),
    http.patch(`${base}/notebooks/:id/`, async ({ request, params }) => {
      const body = (await request.json()) as { content: unknown; version: number; text_content: string }
      side.writes.push({ path: 'notebooks PATCH', body: body as never, auth: request.headers.get('authorization') })
      const n = side.notebooks.find((x) => x.short_id === params.id)!
      if (side.editBeforePatch) {
        side.editBeforePatch = false
        n.version++ // someone edited it in PostHog meanwhile
      }
      if (body.version !== n.version) return HttpResponse.json({ type: 'server_error', code: 'conflict', detail: 'Someone else edited the notebook.' }, { status: 409 })
      Object.assign(n, { content: body.content, text_content: body.text_content, version: n.version + 1 })
      return HttpResponse.json(n)
    }),
    ...annotationHandlers(side),
    http.get(`${base}/`, () => HttpResponse.json({ id: 1, name: 'Shop', api_token: PROJECT_TOKEN })),
    http.post(`${HOST}/batch/`, async ({ request }) => {
      side.captured.push({ body: (await request.json()) as Record<string, unknown>, auth: request.headers.get('authorization') })
      return HttpResponse.json({ status: 1 })
    }),
  ]
}

/**
 * PostHog's annotations API (products/annotations/backend/api/annotation.py): the list hides
 * deleted ones, orders by -date_marker, filters by `scope` and `search` (content) and shows the
 * organization's organization-scoped annotations of other projects; it pages with limit and offset
 * (default 1000), its `next` keeping the other parameters. POST fills created_by with the key's
 * user, creation_type USR unless GIT is sent; `recording` scope is refused. PATCH is partial
 * (read-only fields ignored) and reaches deleted ones too; DELETE answers 405 (ForbidDestroyModel).
 * Scope `annotation:read` for reads, `annotation:write` for writes.
 */
function annotationHandlers(side: PublishSide): HttpHandler[] {
  const store = () => (side.annotations ??= [])
  const visible = (a: StoredAnnotation) => a.team !== 'other' || a.scope === 'organization'
  const canRead = () => (side.annotationScope ?? 'write') !== 'none'
  const canWrite = () => (side.annotationScope ?? 'write') === 'write'
  const now = () => drfDate(Date.now())
  return [
    http.get(`${base}/annotations/`, ({ request }) => {
      if (!canRead()) return permissionDenied('annotation:read')
      const url = new URL(request.url)
      const q = url.searchParams
      let rows = store().filter((a) => !a.deleted && visible(a))
      const scope = q.get('scope')
      if (scope) {
        const s = scope === 'insight' ? 'dashboard_item' : scope
        if (!['dashboard_item', 'dashboard', 'project', 'organization', 'recording'].includes(s)) return HttpResponse.json({ type: 'validation_error', code: 'invalid_input', detail: `Invalid scope: ${scope}`, attr: null }, { status: 400 })
        rows = rows.filter((a) => a.scope === s)
      }
      const search = q.get('search')
      if (search) rows = rows.filter((a) => searched(a.content, search))
      rows.sort((a, b) => (b.date_marker ? Date.parse(b.date_marker) : -Infinity) - (a.date_marker ? Date.parse(a.date_marker) : -Infinity))
      const limit = Number(q.get('limit') ?? 1000)
      const offset = Number(q.get('offset') ?? 0)
      const link = (o: number) => {
        const u = new URL(url)
        u.searchParams.set('limit', String(limit))
        if (o > 0) u.searchParams.set('offset', String(o))
        else u.searchParams.delete('offset')
        return u.href
      }
      return HttpResponse.json({ count: rows.length, next: offset + limit < rows.length ? link(offset + limit) : null, previous: offset > 0 ? link(Math.max(0, offset - limit)) : null, results: rows.slice(offset, offset + limit).map(serialized) })
    }),
    http.get(`${base}/annotations/:id/`, ({ params }) => {
      if (!canRead()) return permissionDenied('annotation:read')
      const a = store().find((x) => String(x.id) === params.id && !x.deleted && visible(x))
      return a ? HttpResponse.json(serialized(a)) : notFound()
    }),
    http.post(`${base}/annotations/`, async ({ request }) => {
      const body = (await request.json()) as Record<string, unknown>
      side.writes.push({ path: 'annotations POST', body, auth: request.headers.get('authorization') })
      if (!canWrite()) return permissionDenied('annotation:write')
      if (body.scope === 'recording') return HttpResponse.json({ type: 'validation_error', code: 'invalid_input', detail: 'Recording scope is deprecated', attr: null }, { status: 400 })
      if (typeof body.content === 'string' && body.content.length > 8192) return HttpResponse.json({ type: 'validation_error', code: 'max_length', detail: 'Ensure this field has no more than 8192 characters.', attr: 'content' }, { status: 400 })
      const at = typeof body.date_marker === 'string' ? Date.parse(body.date_marker) : NaN
      const a: StoredAnnotation = {
        id: Math.max(100, ...store().map((x) => x.id)) + 1,
        content: typeof body.content === 'string' ? body.content : null,
        date_marker: Number.isFinite(at) ? drfDate(at) : null,
        creation_type: body.creation_type === 'GIT' && !side.annotationCreationTypeReadOnly ? 'GIT' : 'USR',
        scope: (body.scope as StoredAnnotation['scope']) ?? 'dashboard_item',
        deleted: body.deleted === true,
        created_by: KEY_USER,
        created_at: now(),
        updated_at: now(),
      }
      store().push(a)
      return HttpResponse.json(serialized(a), { status: 201 })
    }),
    http.patch(`${base}/annotations/:id/`, async ({ request, params }) => {
      const body = (await request.json()) as Record<string, unknown>
      side.writes.push({ path: `annotations PATCH ${params.id}`, body, auth: request.headers.get('authorization') })
      if (!canWrite()) return permissionDenied('annotation:write')
      // partial_update reaches deleted ones (that is how one is restored)
      const a = store().find((x) => String(x.id) === params.id && visible(x))
      if (!a) return notFound()
      if (typeof body.content === 'string' || body.content === null) a.content = body.content as string | null
      if (typeof body.date_marker === 'string') a.date_marker = drfDate(Date.parse(body.date_marker))
      if (typeof body.deleted === 'boolean') a.deleted = body.deleted
      if (typeof body.scope === 'string') a.scope = body.scope as StoredAnnotation['scope']
      if ((body.creation_type === 'GIT' || body.creation_type === 'USR') && !side.annotationCreationTypeReadOnly) a.creation_type = body.creation_type
      a.updated_at = now()
      return HttpResponse.json(serialized(a))
    }),
    http.delete(`${base}/annotations/:id/`, ({ request, params }) => {
      side.writes.push({ path: `annotations DELETE ${params.id}`, body: {}, auth: request.headers.get('authorization') })
      return new HttpResponse(null, { status: 405 })
    }),
  ]
}
