import { http, HttpResponse, type HttpHandler } from 'msw'
import { HOST, base, pageOf } from './posthog-api.js'

/**
 * PostHog's write side as publishing uses it, shaped like PostHog's answers: the flag list (with
 * tags), bulk_update_tags (500 ids at most, add / remove / set), notebooks (the list omits content;
 * an update must send the current version or gets 409), the project (its api_token), and capture.
 */
export interface PublishSide {
  flags: { id: number; key: string; tags: string[]; deleted: boolean }[]
  notebooks: { short_id: string; title: string; version: number; content: unknown; text_content: string }[]
  writes: { path: string; body: Record<string, unknown>; auth: string | null }[]
  captured: { body: Record<string, unknown>; auth: string | null }[]
  /** the next notebook PATCH finds the notebook edited meanwhile */
  editBeforePatch: boolean
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
    http.get(`${base}/`, () => HttpResponse.json({ id: 1, name: 'Shop', api_token: PROJECT_TOKEN })),
    http.post(`${HOST}/batch/`, async ({ request }) => {
      side.captured.push({ body: (await request.json()) as Record<string, unknown>, auth: request.headers.get('authorization') })
      return HttpResponse.json({ status: 1 })
    }),
  ]
}
