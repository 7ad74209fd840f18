import ky, { HTTPError, TimeoutError, type KyInstance } from 'ky'
import PQueue from 'p-queue'
import { z } from 'zod'

/**
 * A typed client for PostHog's REST API (POSTHOG-FACTS §4): flags, experiments (the list, then
 * each one, since the list omits metrics and exposure criteria), cohorts, group types, HogQL
 * queries and hog functions. It keeps to PostHog's limits: 240 requests a minute, 3 concurrent
 * queries; retries 429 and 5xx with backoff, honouring Retry-After; times out.
 */
export interface PostHogClientOptions {
  /** https://us.posthog.com, https://eu.posthog.com, or a self-hosted address */
  readonly host: string
  readonly projectId: string
  readonly personalApiKey: string
  readonly fetch?: typeof fetch
  /** per request, ms (default 30 s) */
  readonly timeoutMs?: number
  /** per HogQL query request, ms (default 60 s: PostHog runs a synchronous query for up to 60 s) */
  readonly queryTimeoutMs?: number
  /** how long an asynchronous query may run before the audit gives up on it, ms (default 10 minutes) */
  readonly queryWaitMs?: number
  /**
   * Run HogQL queries asynchronously (`refresh: "force_async"`, then poll): PostHog gives a query
   * sent with a personal API key 10 seconds when it runs synchronously, and the longer limit of
   * asynchronous queries otherwise (posthog/hogql_queries/hogql_query_runner.py, posthog/hogql/
   * query.py: LimitContext.QUERY_ASYNC). Default: on where timers exist (not in plugin-server's VM).
   */
  readonly asyncQueries?: boolean
  /** called while an asynchronous query runs: its name and the seconds waited so far */
  readonly onQueryWait?: (info: { name: string; seconds: number }) => void
  /** retries after the first attempt (default 4) */
  readonly retries?: number
  /** PostHog allows 240 requests a minute and 3 concurrent queries per project */
  readonly requestsPerMinute?: number
  readonly maxConcurrentQueries?: number
  /**
   * false inside plugin-server's VM, which has no setTimeout: no timeouts, no retry delays, no
   * rate-limit interval (the plugin sends a few queries a minute anyway).
   */
  readonly timers?: boolean
  /** called after each HTTP exchange (including retried ones): the online audit prints a summary */
  readonly onRequest?: (info: RequestInfo) => void
  /** PostHog asked to wait before a retry (Retry-After, within MAX_RETRY_AFTER_MS): how long, and why. */
  readonly onWait?: (info: { path: string; status: number; seconds: number }) => void
}

export interface RequestInfo {
  readonly method: string
  readonly path: string
  readonly status: number | null
  readonly ms: number
  readonly query?: string
}

/** An error PostHog returned, or a request that did not complete; the message says what to do. */
export class PostHogApiError extends Error {
  constructor(
    message: string,
    readonly status: number | null,
    readonly path: string,
    readonly detail: string | null = null,
  ) {
    super(message)
    this.name = 'PostHogApiError'
  }
}

const page = z.looseObject({ next: z.string().nullish(), results: z.array(z.unknown()) })
const queryResponse = z.looseObject({
  results: z.array(z.array(z.unknown())),
  columns: z.array(z.string()).nullish(),
  types: z.array(z.unknown()).nullish(),
  hogql: z.string().nullish(),
})
export type QueryResult = { columns: string[]; rows: unknown[][] }

/** An asynchronous query's status (posthog/schema.py QueryStatus): its result once complete. */
const queryStatus = z.looseObject({
  query_status: z.looseObject({
    id: z.string(),
    complete: z.boolean().nullish(),
    error: z.boolean().nullish(),
    error_message: z.string().nullish(),
    results: z.unknown().nullish(),
  }),
})

/**
 * A query PostHog could not finish within its limits: its time limit (504, "This query hit the
 * N-second time limit"), or its memory limit (513). posthog/exceptions.py, posthog/errors.py.
 * The backfill splits such a query; other errors are not helped by splitting.
 */
export function isQueryTooBig(e: unknown): boolean {
  if (!(e instanceof PostHogApiError)) return false
  if (e.status === 504 || e.status === 512 || e.status === 513) return true
  return /time limit|max(imum)? execution time|TIMEOUT_EXCEEDED|out of memory|memory limit|MEMORY_LIMIT_EXCEEDED|too slow|too long/i.test(`${e.detail ?? ''} ${e.message}`)
}

// PostHog's error details are a sentence; past this a message is no longer read.
const MAX_DETAIL = 300
// PostHog's own webhook retries honour Retry-After up to 5 minutes; an audit waits up to two and
// says so. A longer wait (hours, days) is refused with the reason rather than hanging silently.
export const MAX_RETRY_AFTER_MS = 120_000

/** Raised from the response hook: ky rethrows its TimeoutError subclasses at once, without retrying. */
class RetryAfterTooLong extends TimeoutError {
  constructor(
    request: Request,
    readonly waitMs: number,
    readonly status: number,
  ) {
    super(request)
  }
}

/** Retry-After as seconds or an HTTP date, in ms; null when absent or unreadable. */
function retryAfterMs(value: string | null): number | null {
  if (!value) return null
  const seconds = Number(value)
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000)
  const at = Date.parse(value)
  return Number.isFinite(at) ? Math.max(0, at - Date.now()) : null
}

// The largest answer read: a HogQL result of 50,000 rows of a few columns is a few MB, a page of
// 100 flags well under one. A larger body is not PostHog's, and reading it would only cost memory.
export const MAX_BODY_BYTES = 64 * 1024 * 1024
// The largest page PostHog's list endpoints serve; fewer round trips for big projects.
const PAGE_LIMIT = 100
// PostHog returns at most 50,000 rows for a HogQL query with an explicit LIMIT.
export const QUERY_ROW_LIMIT = 50_000

export class PostHogClient {
  private readonly http: KyInstance
  private readonly requests: PQueue
  private readonly queries: PQueue
  readonly base: string
  /** scheme, host and port the personal API key may be sent to: the configured PostHog, nothing else */
  private readonly origin: string

  constructor(readonly options: PostHogClientOptions) {
    const host = options.host.replace(/\/+$/, '')
    this.base = `${host}/api/projects/${encodeURIComponent(options.projectId)}/`
    this.origin = new URL(this.base).origin
    const timers = options.timers ?? true
    this.requests = timers ? new PQueue({ intervalCap: options.requestsPerMinute ?? 240, interval: 60_000 }) : new PQueue()
    this.queries = new PQueue({ concurrency: options.maxConcurrentQueries ?? 3 })
    this.http = ky.create({
      fetch: options.fetch,
      headers: { Authorization: `Bearer ${options.personalApiKey}`, Accept: 'application/json' },
      timeout: timers ? (options.timeoutMs ?? 30_000) : false,
      // A redirect could carry the Authorization header elsewhere: none is followed, each is reported.
      redirect: 'manual',
      retry: {
        limit: timers ? (options.retries ?? 4) : 0,
        // HogQL queries are reads: retrying the POST is safe.
        methods: ['get', 'post'],
        // 504 is added per request for all but queries (see send): ky concatenates the lists.
        statusCodes: [408, 429, 500, 502, 503],
        afterStatusCodes: [413, 429, 503],
        maxRetryAfter: MAX_RETRY_AFTER_MS,
        backoffLimit: 30_000,
      },
      hooks: {
        afterResponse: [
          (request, _options, response) => {
            this.report(request, response.status)
            if (response.status !== 429 && response.status !== 503) return
            const wait = retryAfterMs(response.headers.get('retry-after'))
            if (wait === null) return
            if (wait > MAX_RETRY_AFTER_MS) throw new RetryAfterTooLong(request, wait, response.status)
            if (timers) this.options.onWait?.({ path: new URL(request.url).pathname, status: response.status, seconds: Math.ceil(wait / 1000) })
          },
        ],
      },
    })
  }

  private started = new WeakMap<Request, number>()
  private report(request: Request, status: number | null): void {
    // Date, not performance: plugin-server's VM has no performance global.
    const t0 = this.started.get(request) ?? Date.now()
    this.options.onRequest?.({ method: request.method, path: new URL(request.url).pathname, status, ms: Date.now() - t0 })
  }

  /**
   * The URL a request may go to: on the configured origin (scheme, host and port), or refused.
   * `next` links come from the server's answers; the personal API key must never follow one away.
   */
  private checkedUrl(url: string, what: string): URL {
    let parsed: URL
    try {
      parsed = new URL(url, this.base)
    } catch {
      throw new PostHogApiError(`${what}: ${JSON.stringify(url.slice(0, 200))} is not a URL; refusing to follow it.`, null, what)
    }
    if (parsed.origin !== this.origin) {
      throw new PostHogApiError(`${what}: the answer points to ${parsed.protocol}//${parsed.host || '(no host)'}, not ${this.origin}; refusing to send the personal API key there.`, null, what)
    }
    return parsed
  }

  /** One request through the rate limit, with PostHog's errors turned into messages that say what to do. */
  private async send<T>(method: 'get' | 'post' | 'patch' | 'delete', url: string, json?: unknown, timeout?: number, opts: { write?: boolean; query?: boolean } = {}): Promise<T> {
    const path = this.checkedUrl(url, 'request').pathname
    const timers = this.options.timers ?? true
    const timeoutMs = timeout ?? this.options.timeoutMs ?? 30_000
    return (await this.requests.add(async () => {
      let response: Response
      const started = Date.now()
      try {
        response = await this.http(url, {
          method,
          json,
          // Only an explicit timeout overrides the client's: `timeout: undefined` would be ky's 10 s.
          ...(timers && timeout !== undefined ? { timeout } : {}),
          // A write is sent once: retrying a POST that PostHog did apply would create a second object.
          ...(opts.write ? { retry: { limit: 0 } } : {}),
          // A query that hit PostHog's time limit (504) would hit it again: it is split, not retried.
          // Other requests retry a gateway timeout too.
          ...(opts.query || opts.write ? {} : { retry: { statusCodes: [504] } }),
          hooks: { beforeRequest: [(request) => void this.started.set(request, Date.now())] },
        })
      } catch (e) {
        throw await this.explain(e, path, timeoutMs)
      }
      // The body too must arrive within the time: a server may send its headers and then trickle.
      const text = await this.readBody(response, path, timers ? Math.max(1, timeoutMs - (Date.now() - started)) : null, timeoutMs)
      if (text === '' && (response.status === 204 || method === 'delete')) return null as T
      try {
        return JSON.parse(text) as T
      } catch {
        const type = response.headers.get('content-type') ?? 'no content type'
        throw new PostHogApiError(`${this.options.host} answered ${path} (${response.status}, ${type}) with something that is not JSON: is POSTHOG_HOST PostHog's address?`, response.status, path)
      }
    })) as T
  }

  /** Reads a body of at most MAX_BODY_BYTES, within `remainingMs` when timers exist. */
  private async readBody(response: Response, path: string, remainingMs: number | null, timeoutMs: number): Promise<string> {
    if (remainingMs === null) {
      // plugin-server's VM: node-fetch's body is a Node stream and there are no timers; its length
      // header is the cap there.
      if (Number(response.headers.get('content-length') ?? 0) > MAX_BODY_BYTES) throw new PostHogApiError(`PostHog's answer to ${path} is over ${MAX_BODY_BYTES / 1024 / 1024} MiB; it was not read.`, response.status, path)
      return response.text()
    }
    const reader = response.body?.getReader()
    if (!reader) return ''
    const chunks: Uint8Array[] = []
    let bytes = 0
    let timer: ReturnType<typeof setTimeout> | undefined
    const deadline =
      remainingMs === null
        ? null
        : new Promise<never>((_, reject) => {
            timer = setTimeout(() => reject(new PostHogApiError(`PostHog did not finish sending ${path} within ${timeoutMs / 1000} s.`, null, path)), remainingMs)
          })
    try {
      for (;;) {
        const next = reader.read()
        const { done, value } = deadline ? await Promise.race([next, deadline]) : await next
        if (done) break
        bytes += value.byteLength
        if (bytes > MAX_BODY_BYTES) throw new PostHogApiError(`PostHog's answer to ${path} is over ${MAX_BODY_BYTES / 1024 / 1024} MiB; it was not read further.`, response.status, path)
        chunks.push(value)
      }
    } catch (e) {
      void reader.cancel().catch(() => {})
      if (e instanceof PostHogApiError) throw e
      throw new PostHogApiError(`Reading PostHog's answer to ${path} failed: ${(e as Error).message}`, response.status, path)
    } finally {
      if (timer) clearTimeout(timer)
    }
    const all = new Uint8Array(bytes)
    let at = 0
    for (const c of chunks) {
      all.set(c, at)
      at += c.byteLength
    }
    // Response decodes UTF-8 wherever fetch exists; plugin-server's VM has no TextDecoder.
    return new Response(all).text()
  }

  private async explain(e: unknown, path: string, timeoutMs: number): Promise<PostHogApiError> {
    const host = this.options.host
    if (e instanceof RetryAfterTooLong) {
      const wait = e.waitMs >= 7_200_000 ? `${(e.waitMs / 3_600_000).toFixed(1)} hours` : `${Math.ceil(e.waitMs / 1000)} s`
      return new PostHogApiError(`PostHog asked to wait ${wait} before retrying ${path} (${e.status}, Retry-After); that is more than the ${MAX_RETRY_AFTER_MS / 1000} s an audit waits. Try again later: the project's rate limit or quota is used up.`, e.status, path)
    }
    if (e instanceof TimeoutError) return new PostHogApiError(`PostHog did not answer ${path} within ${timeoutMs / 1000} s.`, null, path)
    if (e instanceof HTTPError) {
      const status = e.response.status
      if (status >= 300 && status < 400) {
        const location = e.response.headers.get('location')
        let where = 'elsewhere'
        try {
          where = location ? new URL(location, this.base).origin : where
        } catch {
          // an unreadable Location: say only that it redirected
        }
        return new PostHogApiError(`${host} redirected ${path} (${status}) to ${where}; redirects are not followed, so the personal API key stays with ${this.origin}. Set POSTHOG_HOST to the address PostHog answers on.`, status, path)
      }
      let detail: string | null = null
      try {
        const body = (await e.response.clone().json()) as { detail?: unknown; code?: unknown; query_status?: { error_message?: unknown } }
        const words = typeof body.detail === 'string' ? body.detail : typeof body.query_status?.error_message === 'string' ? body.query_status.error_message : typeof body.code === 'string' ? body.code : null
        // The server's own words, on one line and cut: a hostile answer must not fill the screen.
        const line = words?.replace(/\s+/g, ' ').trim() ?? null
        detail = line === null ? null : line.length > MAX_DETAIL ? `${line.slice(0, MAX_DETAIL)}... (${line.length - MAX_DETAIL} more characters)` : line
      } catch {
        detail = null
      }
      const why = detail ? `: ${detail}` : ''
      if (status === 401) return new PostHogApiError(`PostHog rejected the personal API key (401${why}). Check POSTHOG_PERSONAL_API_KEY: it may be expired or revoked.`, status, path, detail)
      if (status === 403) return new PostHogApiError(`The personal API key may not read ${path} (403${why}). Give it read access to feature flags, experiments, cohorts and queries.`, status, path, detail)
      if (status === 404) return new PostHogApiError(`${host} has no ${path} (404${why}). Check POSTHOG_HOST and POSTHOG_PROJECT_ID.`, status, path, detail)
      if (status === 429) return new PostHogApiError(`PostHog kept rate-limiting ${path} (429${why}) after retries.`, status, path, detail)
      return new PostHogApiError(`PostHog answered ${path} with ${status}${why}.`, status, path, detail)
    }
    const message = e instanceof Error ? `${e.message}${(e as { cause?: Error }).cause ? ` (${(e as { cause?: Error }).cause?.message})` : ''}` : String(e)
    return new PostHogApiError(`Could not reach ${host} for ${path}: ${message}`, null, path)
  }

  /** Every result of a list endpoint, following `next` until it is null. */
  async list(path: string): Promise<unknown[]> {
    const out: unknown[] = []
    const visited = new Set<string>()
    let url: string | null = `${this.base}${path}${path.includes('?') ? '&' : '?'}limit=${PAGE_LIMIT}`
    for (let pages = 0; url; pages++) {
      if (pages > 10_000) throw new PostHogApiError(`${path}: pagination did not end`, null, path)
      const body = page.safeParse(await this.send('get', url))
      if (!body.success) throw new PostHogApiError(`${path}: expected a list page {next, results}, got ${JSON.stringify(body.error.issues[0])}`, 200, path)
      out.push(...body.data.results)
      visited.add(url)
      const next: string | null = body.data.next ? this.checkedUrl(body.data.next, `${path} next page`).href : null
      if (next !== null && visited.has(next)) throw new PostHogApiError(`${path}: the next page is one already read (${new URL(next).search || 'no query'}); the pagination loops.`, null, path)
      url = next
    }
    return out
  }

  get<T = unknown>(path: string): Promise<T> {
    return this.send<T>('get', `${this.base}${path}`)
  }

  listFlags(): Promise<unknown[]> {
    return this.list('feature_flags/')
  }

  listCohorts(): Promise<unknown[]> {
    return this.list('cohorts/')
  }

  listGroupTypes(): Promise<unknown[]> {
    // Not paginated: PostHog returns the (at most five) group types as a plain array.
    return this.get<unknown[]>('groups_types/')
  }

  listHogFunctions(): Promise<unknown[]> {
    return this.list('hog_functions/')
  }

  /** The list omits metrics and exposure criteria: fetch each experiment too. */
  async listExperiments(): Promise<unknown[]> {
    const summaries = (await this.list('experiments/')) as { id?: unknown; deleted?: unknown }[]
    const ids = summaries.filter((e) => typeof e.id === 'number' && e.deleted !== true).map((e) => e.id as number)
    return Promise.all(ids.map((id) => this.get(`experiments/${id}/`)))
  }

  /** A write (POST, PATCH or DELETE) to a path of the project, sent once (never retried). */
  write<T = unknown>(method: 'post' | 'patch' | 'delete', path: string, json?: unknown): Promise<T> {
    return this.send<T>(method, `${this.base}${path}`, json, undefined, { write: true })
  }

  /**
   * Runs a HogQL query (at most 3 at once) and returns its columns and rows. `filters` are
   * PostHog's HogQL filters, applied where the query says `{filters}` (e.g. filterTestAccounts).
   * Asynchronous where timers exist: posted with `refresh: "force_async"`, then polled at
   * `GET query/:id/` until complete (posthog/api/query.py); a PostHog that answers at once is read
   * at once.
   */
  async query(hogql: string, name: string, filters?: { filterTestAccounts?: boolean }): Promise<QueryResult> {
    const timers = this.options.timers ?? true
    const useAsync = timers && (this.options.asyncQueries ?? true)
    return (await this.queries.add(async () => {
      const request = { query: { kind: 'HogQLQuery', query: hogql, ...(filters ? { filters } : {}) }, name, ...(useAsync ? { refresh: 'force_async' } : {}) }
      let answer: unknown = await this.send('post', `${this.base}query/`, request, this.options.queryTimeoutMs ?? 60_000, { query: true })
      if (useAsync) answer = await this.awaitQuery(answer, name)
      const body = queryResponse.safeParse(answer)
      if (!body.success) throw new PostHogApiError(`query "${name}": expected {results, columns}, got ${JSON.stringify(body.error.issues[0])}`, 200, 'query/')
      return { columns: body.data.columns ?? [], rows: body.data.results }
    })) as QueryResult
  }

  /** Polls an asynchronous query until it completes; its result, or the error PostHog recorded. */
  private async awaitQuery(first: unknown, name: string): Promise<unknown> {
    let status = queryStatus.safeParse(first)
    if (!status.success) return first // answered at once (a cached result, or a PostHog without async queries)
    const id = status.data.query_status.id
    if (!/^[A-Za-z0-9_-]{1,100}$/.test(id)) throw new PostHogApiError(`query "${name}": PostHog answered with a query id that is not one (${JSON.stringify(id.slice(0, 40))}).`, 202, 'query/')
    const started = Date.now()
    const limitMs = this.options.queryWaitMs ?? 600_000
    for (let attempt = 0; ; attempt++) {
      const s = status.data.query_status
      if (s.error) throw new PostHogApiError(`PostHog could not run query "${name}": ${(s.error_message ?? 'no reason given').replace(/\s+/g, ' ').slice(0, 300)}`, 400, `query/${id}/`, s.error_message ?? null)
      if (s.complete) return s.results
      const waited = Date.now() - started
      if (waited > limitMs) throw new PostHogApiError(`PostHog did not finish query "${name}" within ${Math.round(limitMs / 1000)} s.`, null, `query/${id}/`)
      if (attempt > 0 && attempt % 5 === 0) this.options.onQueryWait?.({ name, seconds: Math.round(waited / 1000) })
      // 0.1 s, 0.2 s, 0.4 s... then every 2 s: short queries come back fast, long ones cost few requests.
      await new Promise((resolve) => setTimeout(resolve, Math.min(2_000, 100 * 2 ** attempt)))
      const next = await this.send('get', `${this.base}query/${id}/`, undefined, undefined, { query: true })
      status = queryStatus.safeParse(next)
      if (!status.success) throw new PostHogApiError(`query "${name}": expected {query_status}, got ${JSON.stringify(status.error.issues[0])}`, 200, `query/${id}/`)
    }
  }
}
