import { http, HttpResponse, delay, type HttpHandler } from 'msw'

/**
 * msw handlers shaped like PostHog's API (POSTHOG-FACTS §4): list endpoints page with
 * {count, next, previous, results} and absolute `next` URLs; the experiments list omits metrics
 * and exposure criteria; errors carry {type, code, detail}.
 */
export const HOST = 'https://eu.posthog.test'
export const PROJECT = '4242'
export const KEY = 'phx_test_key'
export const base = `${HOST}/api/projects/${PROJECT}`

export function pageOf(path: string, items: unknown[], url: URL): { count: number; next: string | null; previous: string | null; results: unknown[] } {
  const limit = Number(url.searchParams.get('limit') ?? 100)
  const offset = Number(url.searchParams.get('offset') ?? 0)
  const next = offset + limit < items.length ? `${base}/${path}?limit=${limit}&offset=${offset + limit}` : null
  const previous = offset > 0 ? `${base}/${path}?limit=${limit}&offset=${Math.max(0, offset - limit)}` : null
  return { count: items.length, next, previous, results: items.slice(offset, offset + limit) }
}

export const authError = () =>
  HttpResponse.json({ type: 'authentication_error', code: 'authentication_failed', detail: 'Personal API key is invalid.', attr: null }, { status: 401 })

function authorized(request: Request): boolean {
  return request.headers.get('authorization') === `Bearer ${KEY}`
}

/** The body of `POST /api/projects/:id/query/`. */
export interface QueryRequest {
  query: { kind: string; query: string; filters?: { filterTestAccounts?: boolean } }
  filters?: { filterTestAccounts?: boolean }
  refresh?: string
  name?: string
}

export interface ApiData {
  flags: unknown[]
  experiments: unknown[]
  cohorts: unknown[]
  groupTypes: unknown[]
  /** activity log entries (ActivityLogEntry: {user, activity, scope, item_id, detail, created_at}); served per flag */
  activity?: unknown[]
  /** answers a HogQL query: columns and rows (a PostHogBox answers as PostHog would: see posthog-box/) */
  query?: (hogql: string, request: QueryRequest) => { columns: string[]; results: unknown[][] } | Response | Promise<{ columns: string[]; results: unknown[][] } | Response>
}

/** The endpoints the client uses, serving the given objects. */
export function posthogHandlers(data: ApiData): HttpHandler[] {
  const asyncQueries = new Map<string, { response: Response; polls: number }>()
  let asyncSeq = 0
  const summary = (e: Record<string, unknown>) => {
    const { metrics: _m, metrics_secondary: _s, exposure_criteria: _x, ...rest } = e
    return rest
  }
  const guard = (fn: (request: Request, url: URL, params: Record<string, string>) => Response | Promise<Response>) =>
    async ({ request, params }: { request: Request; params: Record<string, string | readonly string[] | undefined> }) =>
      authorized(request) ? fn(request, new URL(request.url), params as Record<string, string>) : authError()
  return [
    // Another project id: PostHog answers 404 for a project the key cannot see.
    http.all(`${HOST}/api/projects/:project/*`, ({ params }) =>
      params.project === PROJECT ? undefined : HttpResponse.json({ type: 'invalid_request', code: 'not_found', detail: 'Not found.' }, { status: 404 }),
    ),
    http.get(`${base}/feature_flags/`, guard((_r, url) => HttpResponse.json(pageOf('feature_flags/', data.flags, url)))),
    http.get(`${base}/experiments/`, guard((_r, url) => HttpResponse.json(pageOf('experiments/', data.experiments.map((e) => summary(e as Record<string, unknown>)), url)))),
    http.get(
      `${base}/experiments/:id/`,
      guard((_r, _u, params) => {
        const e = data.experiments.find((x) => String((x as { id: number }).id) === params.id)
        return e ? HttpResponse.json(e) : HttpResponse.json({ type: 'invalid_request', code: 'not_found', detail: 'Not found.' }, { status: 404 })
      }),
    ),
    // products/feature_flags/backend/api/feature_flag.py `activity`: page-number pages, newest first,
    // {results, next, previous, total_count} with absolute links (activity_page.py); 404 for a flag not in the project.
    http.get(
      `${base}/feature_flags/:id/activity/`,
      guard((_r, url, params) => {
        if (!data.flags.some((f) => String((f as { id: number }).id) === params.id)) return HttpResponse.json({ type: 'invalid_request', code: 'not_found', detail: 'Not found.' }, { status: 404 })
        const own = (data.activity ?? []).filter((e) => String((e as { item_id: unknown }).item_id) === params.id)
        own.sort((a, b) => Date.parse((b as { created_at: string }).created_at) - Date.parse((a as { created_at: string }).created_at))
        const limit = Number(url.searchParams.get('limit') ?? 10)
        const page = Number(url.searchParams.get('page') ?? 1)
        const link = (p: number) => `${base}/feature_flags/${params.id}/activity/?page=${p}&limit=${limit}`
        return HttpResponse.json({ results: own.slice((page - 1) * limit, page * limit), next: page * limit < own.length ? link(page + 1) : null, previous: page > 1 ? link(page - 1) : null, total_count: own.length })
      }),
    ),
    http.get(`${base}/cohorts/`, guard((_r, url) => HttpResponse.json(pageOf('cohorts/', data.cohorts, url)))),
    http.get(`${base}/groups_types/`, guard(() => HttpResponse.json(data.groupTypes))),
    http.post(
      `${base}/query/`,
      guard(async (request) => {
        const body = (await request.json()) as QueryRequest
        if (body.query.kind !== 'HogQLQuery') return HttpResponse.json({ type: 'validation_error', detail: 'unknown kind' }, { status: 400 })
        const answer = (await data.query?.(body.query.query, body)) ?? { columns: [], results: [] }
        const response = answer instanceof Response ? answer : HttpResponse.json({ types: [], ...answer, hogql: body.query.query, is_cached: false, timings: [] })
        if (body.refresh !== 'force_async') return response
        // posthog/api/query.py: 202 with the query's status; the result is read at GET query/:id/.
        const id = `q${++asyncSeq}`
        asyncQueries.set(id, { response: response.clone(), polls: 0 })
        return HttpResponse.json({ query_status: { id, team_id: Number(PROJECT), complete: false, error: false, error_message: null, results: null } }, { status: 202 })
      }),
    ),
    http.get(
      `${base}/query/:id/`,
      guard(async (_r, _u, params) => {
        const q = asyncQueries.get(params.id as string)
        if (!q) return HttpResponse.json({ type: 'invalid_request', code: 'not_found', detail: 'Query not found.' }, { status: 404 })
        // The first poll finds it still running, as a real query often is.
        if (q.polls++ === 0) return HttpResponse.json({ query_status: { id: params.id, complete: false, error: false, error_message: null, results: null } }, { status: 202 })
        asyncQueries.delete(params.id as string)
        const body = (await q.response.json()) as Record<string, unknown>
        if (q.response.status >= 400) {
          // The worker records the error; retrieve answers 400 with it (posthog/api/query.py).
          return HttpResponse.json({ query_status: { id: params.id, complete: true, error: true, error_message: String(body.detail ?? 'error'), results: null } }, { status: 400 })
        }
        return HttpResponse.json({ query_status: { id: params.id, complete: true, error: false, error_message: null, results: body } })
      }),
    ),
  ]
}

export { delay, http, HttpResponse }
