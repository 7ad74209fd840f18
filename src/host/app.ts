import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { serveStatic } from '@hono/node-server/serve-static'
import { Hono, type Context } from 'hono'
import { bodyLimit } from 'hono/body-limit'
import { cors } from 'hono/cors'
import { requestId } from 'hono/request-id'
import { z } from 'zod'
import pluginJson from '../../plugin.json' with { type: 'json' }
import { ProjectError, type Host } from './host.js'
import { StorageUnavailableError, pluginStorage, type HostStore, type ProjectRow } from './store.js'
import { SecretBoxError } from './secrets.js'
import { PUBLISHED_KEY } from './project.js'
import { AUTH_THROTTLE, FailureThrottle, type ThrottleLimits } from './auth-throttle.js'
import { BODY_SLOTS, BodySlots, readWithin, type SlotLimits } from './body-slots.js'
import { answerOnlyFor, apiToken, authGuard, closeUnlessComplete, sameOriginWrites } from './middleware.js'
import { authorizeBeforeBody, verifySignature } from './intake-auth.js'
import { compareReports, recurringGaps } from '../coverage/compare.js'
import type { Report } from '../coverage/report.js'
import { mcpRoutes } from '../mcp/http.js'
import { inHostSource } from '../mcp/source-in-host.js'

export interface AppOptions {
  /** largest intake body, bytes (PostHog's events are at most about 1 MB) */
  readonly maxBodyBytes?: number
  /** every /api and /metrics request needs `Authorization: Bearer <token>` (required when bound beyond loopback) */
  readonly apiToken?: string
  /** largest number of events in one intake body (an array) */
  readonly maxEventsPerRequest?: number
  /** the built site (dist/site) served at `/`; without it `/` describes the API */
  readonly siteDir?: string
  /**
   * Origins whose pages may call the API (the legacy scene inside a self-hosted PostHog). None by
   * default: no CORS headers, so no other site can read the API from a browser.
   */
  readonly corsOrigins?: readonly string[]
  /**
   * The host names this host answers to (the Host header, without its port): the loopback names
   * when bound to loopback, the bound address, the public URL's host. Any other name is refused, so
   * a page whose own name was made to resolve to this machine (DNS rebinding) cannot use the API as
   * same-origin. Unset: every name (tests that call the app directly).
   */
  readonly allowedHosts?: readonly string[]
  /** failed authentications a client may make before it gets 429 (AUTH_THROTTLE); `now` for tests */
  readonly authThrottle?: Partial<ThrottleLimits> & { readonly now?: () => number }
  /** how many intake bodies are read at once, how many wait, for how long (BODY_SLOTS) */
  readonly bodySlots?: Partial<SlotLimits>
}

// The site runs nothing but its own scripts and talks only to this host; it may be embedded in a
// PostHog notebook (an iframe) whose origin is configured (frame-ancestors, set per app).
const SITE_HEADERS = {
  'content-security-policy': "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
}

export const DEFAULT_MAX_BODY_BYTES = 2 * 1024 * 1024
const MAX_EVENTS = 1000

// The body PostHog's HTTP Webhook destination sends by default: {"event": {...}, "person": {...}}.
// A body templated as "{event}" alone (a bare event object) is taken too. Deeper fields are the
// reader's to judge: an event it cannot count is counted as rejected, by reason.
const bareEvent = z.looseObject({ event: z.string('must be the event name, a string').min(1, 'must not be empty') })
const envelope = z.looseObject({ event: bareEvent, person: z.union([z.looseObject({}), z.null()]).optional() })
const SHAPE_HINT = 'Expected {"event": {"event": "...", ...}, "person": {...}} as PostHog\'s HTTP Webhook destination sends it, one event object, or a list of either'
const item = z.union([envelope, bareEvent], 'must be an object')
const list = z.array(item).min(1, 'an empty list holds no event').max(MAX_EVENTS, `at most ${MAX_EVENTS} events a request`)

/** The deepest problem of a (nested) union, with its whole path: that is where the body went wrong. */
function leaves(issues: readonly z.core.$ZodIssue[], prefix: readonly PropertyKey[] = []): { path: PropertyKey[]; message: string }[] {
  return issues.flatMap((i) => {
    const path = [...prefix, ...i.path]
    if (i.code === 'invalid_union' && i.errors.length) return [...i.errors.flatMap((e) => leaves(e, path)), { path, message: i.message }]
    return [{ path, message: i.message }]
  })
}

function shapeProblem(error: z.ZodError): string {
  const all = leaves(error.issues)
  const deepest = all.reduce((a, b) => (b.path.length > a.path.length ? b : a))
  const at = deepest.path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('')
  return `body${at}: ${deepest.message}. ${SHAPE_HINT}`
}

/** The intake's body: one item, or a list of them. */
function parseBody(value: unknown) {
  return Array.isArray(value) ? list.safeParse(value) : item.safeParse(value)
}

// standardwebhooks' WEBHOOK_TOLERANCE_IN_SECONDS: a signature is good for five minutes either side.
// Paths that belong to a program, not to a person: the API, the intake, health and metrics, the
// site's built files, and PostHog's own capture and API paths (a client whose POSTHOG_HOST is this host).
const PROGRAM_PATHS = /^\/(api|mcp|ingest|healthz|readyz|metrics|assets|e|i|s|batch|capture|decide|flags|track|engage)(\/|$)/

/** Whether the site's page answers an unknown path: only a GET (or HEAD) of a path a person opens. */
export function answersWithPage(method: string, path: string): boolean {
  return (method === 'GET' || method === 'HEAD') && !PROGRAM_PATHS.test(path)
}

export { hostNameOf } from './middleware.js'

/**
 * What the app asks of the host: its projects and their runtimes, the reports it keeps, its health
 * and its metrics. A narrow view of Host, so the routes can be exercised over a stand-in with no
 * storage behind it (tests/unit/app-routes.test.ts).
 */
export type AppHost = Pick<
  Host,
  'addProject' | 'cacheKind' | 'ingestSecret' | 'knownProject' | 'log' | 'maskedConfig' | 'metrics' | 'project' | 'projects' | 'ready' | 'runtime' | 'setEnabled' | 'storeHealthy' | 'updateSettings'
> & {
  readonly store: Pick<HostStore, 'latestReport' | 'reportHistory' | 'storageGet' | 'storageSet' | 'storageDel'>
}

/** The app: maps a Request to a Response (tests call `app.request()` without a socket). */
export function createApp(host: AppHost, opts: AppOptions = {}): Hono {
  const app = new Hono()
  const m = host.metrics
  const maxBody = opts.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES
  const { now: throttleClock, ...throttleLimits } = opts.authThrottle ?? {}
  const guard = authGuard(new FailureThrottle({ ...AUTH_THROTTLE, ...throttleLimits }, throttleClock), m, host.log)

  app.use('*', requestId())
  app.use('*', closeUnlessComplete())
  if (opts.allowedHosts) app.use('*', answerOnlyFor(opts.allowedHosts))
  app.use('*', async (c, next) => {
    await next()
    m.responses.inc({ route: c.req.routePath, status: String(c.res.status) })
  })
  app.onError((e, c) => {
    if (e instanceof ProjectError) return c.json({ error: e.message, problems: e.problems }, e.status)
    // The storage failed a query: 503, so PostHog retries a delivery; /readyz says why.
    if (e instanceof StorageUnavailableError) return c.json({ error: 'the storage is unavailable; see /readyz', request_id: c.get('requestId') }, 503)
    // This process cannot decrypt the project's stored secrets (another key sealed them): 503, so PostHog retries; /readyz says why.
    if (e instanceof SecretBoxError) return c.json({ error: "this host cannot decrypt the project's stored secrets; see /readyz", request_id: c.get('requestId') }, 503, { 'retry-after': '10' })
    host.log.error({ err: e.message, path: c.req.path, requestId: c.get('requestId') }, 'request failed')
    return c.json({ error: 'the host failed on this request; see its log', request_id: c.get('requestId') }, 500)
  })

  // An unknown path says so in JSON, never with the site's page and 200: a client pointed at the
  // wrong address (POSTHOG_HOST set to this host, a typo in a path) learns it at once.
  app.notFound((c) => c.json({ error: `no ${c.req.method} ${c.req.path.slice(0, 200)} on this host; its API starts at /api/projects and its intake is POST /ingest/:project` }, 404))

  app.get('/healthz', (c) => c.json({ ok: true }))
  app.get('/readyz', (c) => {
    const r = host.ready()
    return c.json(r, r.ready ? 200 : 503)
  })
  app.use('/metrics', apiToken(opts.apiToken, guard))
  app.get('/metrics', async (c) => c.text(await m.registry.metrics(), 200, { 'content-type': m.registry.contentType }))

  // ---- intake ---------------------------------------------------------------------------------
  const tooLarge = (c: Context) => {
    m.refused.inc({ reason: 'too_large' })
    return c.json({ error: `the body is over ${maxBody} bytes` }, 413)
  }
  // A body without Content-Length (chunked) is counted as it is read, and refused once past the limit.
  const readLimited = bodyLimit({ maxSize: maxBody, onError: tooLarge })
  const slots = new BodySlots({ ...BODY_SLOTS, ...opts.bodySlots }, (reading, waiting) => {
    m.intakeBodies.set({ state: 'reading' }, reading)
    m.intakeBodies.set({ state: 'waiting' }, waiting)
  })
  m.intakeBodies.set({ state: 'reading' }, 0)
  m.intakeBodies.set({ state: 'waiting' }, 0)
  /** The intake's body, read in a slot within its time; or the answer that refuses it. */
  const readBody = async (c: Context): Promise<string | Response> => {
    const taken = await slots.take()
    if (taken !== 'taken') {
      m.refused.inc({ reason: 'busy' })
      return c.json({ error: 'the host is reading as many bodies as it can; retry' }, 503, { 'retry-after': '1' })
    }
    try {
      // It may have waited while its address used up its failures.
      const blocked = guard.refuseBlocked(c, 'intake')
      if (blocked) {
        m.refused.inc({ reason: 'throttled' })
        return blocked
      }
      let raw = ''
      // With a Content-Length (what PostHog sends), already judged against the limit, the body is
      // read straight from the socket (node-server's direct path); bodyLimit, which builds a web
      // Request and stream to count a body as it comes, only for a chunked body.
      const counted = c.req.header('content-length') === undefined || c.req.header('transfer-encoding') !== undefined
      const read = await readWithin(slots.limits.readMs, async () => (counted ? ((await readLimited(c, async () => void (raw = await c.req.text()))) ?? raw) : c.req.text()))
      if (read === 'late') {
        m.refused.inc({ reason: 'slow_body' })
        return c.json({ error: `the body did not arrive within ${slots.limits.readMs / 1000} s` }, 408)
      }
      return read
    } catch {
      // The client went away while sending it.
      m.refused.inc({ reason: 'cut_off' })
      return c.json({ error: 'the body was cut off' }, 400)
    } finally {
      slots.give()
    }
  }
  const refuseUnauthorized = (c: Context, why: string) => {
    m.refused.inc({ reason: 'unauthorized' })
    guard.failed(c, 'intake')
    return c.json({ error: why }, 401)
  }
  app.post(
    '/ingest/:project',
    // Over the limit by Content-Length: refused before anything is read or checked.
    async (c, next) => {
      const declared = c.req.header('content-length')
      if (declared !== undefined && c.req.header('transfer-encoding') === undefined && Number(declared) > maxBody) return tooLarge(c)
      return next()
    },
    async (c) => {
      const t0 = performance.now()
      try {
        const id = c.req.param('project')
        const blocked = guard.refuseBlocked(c, 'intake')
        if (blocked) {
          m.refused.inc({ reason: 'throttled' })
          return blocked
        }
        let row = host.knownProject(id)
        if (!row) {
          // Perhaps added by another process a moment ago.
          try {
            row = await host.project(id)
          } catch {
            m.refused.inc({ reason: 'unavailable' })
            return c.json({ error: 'storage is unavailable' }, 503, { 'retry-after': '5' })
          }
        }
        if (!row) {
          m.refused.inc({ reason: 'unknown_project' })
          return c.json({ error: `no project ${id} on this host` }, 404)
        }
        // What can be checked without the body is checked first; only then is it read.
        const secret = host.ingestSecret(row)
        const early = authorizeBeforeBody(c, secret)
        if (early !== null && early !== 'needs_body') return refuseUnauthorized(c, early)
        const raw = await readBody(c)
        if (raw instanceof Response) return raw
        const why = early === 'needs_body' ? verifySignature(c, raw, secret) : null
        if (why) return refuseUnauthorized(c, why)
        if (!row.enabled) {
          m.refused.inc({ reason: 'disabled' })
          return c.json({ error: `project ${id} is disabled on this host` }, 403)
        }
        let parsed: unknown
        try {
          parsed = JSON.parse(raw)
        } catch (e) {
          m.refused.inc({ reason: 'malformed' })
          return c.json({ error: `the body is not JSON: ${(e as Error).message}` }, 400)
        }
        const shaped = parseBody(parsed)
        if (!shaped.success) {
          m.refused.inc({ reason: 'shape' })
          return c.json({ error: shapeProblem(shaped.error) }, 400)
        }
        const rt = host.runtime(id)
        if (!rt || !rt.state) {
          m.refused.inc({ reason: 'not_set_up' })
          return c.json({ error: `project ${id} is not counting: ${rt?.setupError ?? 'it is starting'}` }, 503, { 'retry-after': '10' })
        }
        if (!host.storeHealthy) {
          m.refused.inc({ reason: 'unavailable' })
          return c.json({ error: 'storage is unavailable' }, 503, { 'retry-after': '5' })
        }
        // A signed delivery's webhook-id (covered by the signature, the same on PostHog's retries)
        // marks the deliveries of an event that has no uuid.
        const deliveryId = early === 'needs_body' ? c.req.header('webhook-id') : undefined
        const outcomes = await rt.ingest(Array.isArray(shaped.data) ? shaped.data : [shaped.data], deliveryId)
        const tally: Record<string, number> = {}
        for (const o of outcomes) tally[o] = (tally[o] ?? 0) + 1
        if (tally.failed) {
          m.refused.inc({ reason: 'unavailable' })
          return c.json({ error: `the ${host.cacheKind} cache is unavailable; retry`, outcomes: tally }, 503, { 'retry-after': '5' })
        }
        if (tally.error) return c.json({ error: 'the plugin failed on an event; see the host log', outcomes: tally }, 500)
        return c.json({ ok: true, outcomes: tally }, 200)
      } finally {
        m.intakeSeconds.observe((performance.now() - t0) / 1000)
      }
    },
  )

  // ---- the JSON API -----------------------------------------------------------------------------
  const api = new Hono()
  if (opts.corsOrigins?.length) api.use('*', cors({ origin: [...opts.corsOrigins], allowMethods: ['GET', 'PUT', 'POST'], allowHeaders: ['content-type', 'authorization'], maxAge: 600 }))
  api.use('*', apiToken(opts.apiToken, guard))
  api.use('*', async (c, next) => {
    c.header('x-content-type-options', 'nosniff')
    await next()
  })
  api.use('*', sameOriginWrites(opts.corsOrigins ?? []))
  const view = (row: ProjectRow) => {
    const rt = host.runtime(row.id)
    return {
      id: row.id,
      name: row.name,
      enabled: row.enabled,
      demo: row.demo,
      intake_path: `/ingest/${row.id}`,
      status: !row.enabled ? 'disabled' : !rt ? 'stopped' : rt.setupError ? 'settings_invalid' : rt.cacheHealthy ? 'counting' : 'cache_unavailable',
      problems: rt?.problems ?? [],
      gaps: (rt?.gaps ?? []).map((g) => ({ from: new Date(g.fromMs).toISOString(), to: new Date(g.toMs).toISOString(), state: g.state, events_read: g.done, note: g.note })),
      created_at: new Date(row.createdAt).toISOString(),
      updated_at: new Date(row.updatedAt).toISOString(),
    }
  }
  const need = async (id: string): Promise<ProjectRow> => {
    const row = await host.project(id)
    if (!row) throw new ProjectError(`no project ${id} on this host`, 404)
    return row
  }
  const jsonBody = async (c: Context): Promise<Record<string, unknown>> => {
    let v: unknown
    try {
      v = await c.req.json()
    } catch {
      throw new ProjectError('the body is not JSON', 400)
    }
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new ProjectError('the body must be a JSON object', 400)
    return v as Record<string, unknown>
  }

  api.get('/projects', async (c) => c.json({ projects: (await host.projects()).map(view) }))
  api.post('/projects', async (c) => {
    const b = await jsonBody(c)
    if (typeof b.id !== 'string') throw new ProjectError('give the project id', 400, [{ key: 'id', message: 'required' }])
    if (await host.project(b.id)) throw new ProjectError(`project ${b.id} exists; change its settings with PUT /api/projects/${b.id}/settings`, 409)
    const config = (typeof b.settings === 'object' && b.settings !== null ? b.settings : {}) as Record<string, unknown>
    const row = await host.addProject({ id: b.id, name: typeof b.name === 'string' ? b.name : undefined, config })
    return c.json(view(row), 201)
  })
  api.get('/projects/:project', async (c) => {
    const row = await need(c.req.param('project'))
    // What the last publish wrote where (tags, the notebook, events), when publishing is on.
    const published = await pluginStorage(host.store, row.id).get(PUBLISHED_KEY, null)
    return c.json({ ...view(row), published })
  })
  api.get('/projects/:project/report', async (c) => {
    const row = await need(c.req.param('project'))
    const rt = host.runtime(row.id)
    if (!rt?.state) {
      const stored = await host.store.latestReport(row.id)
      if (stored) return c.json(stored.report)
      return c.json({ error: `project ${row.id} is not counting: ${rt?.setupError ?? (row.enabled ? 'it is starting' : 'it is disabled')}` }, 409)
    }
    // ?fresh=1: built now from the counters, not the minute's stored report.
    return c.json((await rt.report({ fresh: c.req.query('fresh') === '1' })).report)
  })
  api.get('/projects/:project/flags', async (c) => {
    const row = await need(c.req.param('project'))
    const rt = host.runtime(row.id)
    if (!rt?.state) return c.json({ error: `project ${row.id} is not counting: ${rt?.setupError ?? (row.enabled ? 'it is starting' : 'it is disabled')}` }, 409)
    const { report } = await rt.report()
    const r = report as { generated_at: string; summary: unknown; readout: string; plan: unknown[] }
    return c.json({ generated_at: r.generated_at, summary: r.summary, posthog: rt.posthogLinks(), flags: await rt.flagList() })
  })
  api.get('/projects/:project/flags/:key', async (c) => {
    const row = await need(c.req.param('project'))
    const rt = host.runtime(row.id)
    if (!rt?.state) return c.json({ error: `project ${row.id} is not counting` }, 409)
    const detail = await rt.flag(c.req.param('key'))
    if (!detail) return c.json({ error: `no flag ${c.req.param('key')} in project ${row.id}` }, 404)
    return c.json({ key: c.req.param('key'), generated_at: new Date(detail.at).toISOString(), posthog: rt.posthogLinks(), flag: detail.report, live: detail.live })
  })
  api.get('/projects/:project/history', async (c) => {
    const row = await need(c.req.param('project'))
    const rt = host.runtime(row.id)
    const limit = Math.min(500, Math.max(1, Number(c.req.query('limit') ?? 48) || 48))
    const runs = (rt ? await rt.history(limit) : await host.store.reportHistory(row.id, limit)).map((r) => r.report as Report)
    return c.json({
      runs: runs.map((r) => ({ generated_at: r.generated_at, summary: r.summary, flags: r.flags.map((f) => ({ key: f.key, verdict: f.verdict, score: f.score, failing: f.checks.filter((x) => x.status === 'fail').map((x) => x.id) })) })),
      changes: runs.length >= 2 ? compareReports(runs[1]!, runs[0]!) : null,
      recurring_gaps: recurringGaps(runs.slice(0, 12)),
    })
  })
  api.get('/projects/:project/settings', async (c) => {
    const row = await need(c.req.param('project'))
    return c.json({ settings: host.maskedConfig(row), schema: pluginJson.config, problems: host.runtime(row.id)?.problems ?? [] })
  })
  api.put('/projects/:project/settings', async (c) => {
    const row = await need(c.req.param('project'))
    const b = await jsonBody(c)
    const change = (typeof b.settings === 'object' && b.settings !== null ? b.settings : b) as Record<string, unknown>
    const next = await host.updateSettings(row.id, change)
    return c.json({ settings: host.maskedConfig(next), schema: pluginJson.config, problems: host.runtime(row.id)?.problems ?? [] })
  })
  for (const [path, enabled] of [['enable', true], ['disable', false]] as const) {
    api.post(`/projects/:project/${path}`, async (c) => {
      const row = await need(c.req.param('project'))
      return c.json(view(await host.setEnabled(row.id, enabled)))
    })
  }
  app.route('/api', api)

  // ---- MCP: the same review as tools an assistant calls (src/mcp/, docs/mcp.md), behind the API token
  const mcpLog = (level: 'info' | 'warn' | 'error', message: string) => host.log[level]({ route: '/mcp' }, message)
  app.route('/mcp', mcpRoutes({ source: inHostSource(host), secrets: [opts.apiToken], corsOrigins: opts.corsOrigins, log: mcpLog }, apiToken(opts.apiToken, guard)))

  const site = opts.siteDir && existsSync(join(opts.siteDir, 'index.html')) ? opts.siteDir : null
  if (site) {
    app.use('*', async (c, next) => {
      await next()
      for (const [k, v] of Object.entries(SITE_HEADERS)) c.res.headers.set(k, v)
      // Framed only by the PostHog origins configured to embed it (--cors-origin); by no one else.
      c.res.headers.set('content-security-policy', `${SITE_HEADERS['content-security-policy']}; frame-ancestors ${opts.corsOrigins?.length ? opts.corsOrigins.join(' ') : "'none'"}`)
    })
    app.use('/*', serveStatic({ root: site }))
    // What no route and no file answered, on an API path or asked with another method than GET, is a 404 in JSON.
    app.all('*', async (c, next) => (answersWithPage(c.req.method, c.req.path) ? next() : c.notFound()))
    // Any other page of the site (a shared link with its query) is the same single page.
    app.get('*', serveStatic({ root: site, path: 'index.html' }))
    return app
  }
  app.get('/', (c) =>
    c.json({
      name: 'Experiment Coverage for PostHog',
      api: '/api/projects',
      intake: 'POST /ingest/:project',
      health: ['/healthz', '/readyz', '/metrics'],
    }),
  )
  return app
}
