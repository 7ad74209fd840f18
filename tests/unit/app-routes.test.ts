import pino from 'pino'
import { describe, expect, it } from 'vitest'
import { createApp, type AppHost, type AppOptions } from '../../src/host/app.js'
import { createMetrics } from '../../src/host/metrics.js'
import type { ProjectRow } from '../../src/host/store.js'

/**
 * Issue 21, move 2: the routes ask the host for a narrow view (AppHost), so they run here over a
 * stand-in: no SQLite, no cache, no plugin. What the stand-in cannot do, it throws.
 */
const SECRET = 'whsec_' + Buffer.from('a-signing-secret-of-the-stand-in!').toString('base64')
const row: ProjectRow = { id: 'p1', name: 'Project one', enabled: true, demo: false, config: {}, ingestSecret: 'sealed', createdAt: 0, updatedAt: 0 }
const unused = (name: string) => () => {
  throw new Error(`the stand-in has no ${name}`)
}

function standIn(over: Partial<AppHost> = {}): AppHost {
  return {
    addProject: unused('addProject'),
    cacheKind: 'memory',
    ingestSecret: () => SECRET,
    knownProject: (id) => (id === row.id ? row : null),
    log: pino({ level: 'silent' }),
    maskedConfig: () => ({}),
    metrics: createMetrics({ defaults: false }),
    project: async (id) => (id === row.id ? row : null),
    projects: async () => [row],
    ready: () => ({ ready: true, reasons: [] }),
    runtime: () => null,
    setEnabled: unused('setEnabled'),
    storeHealthy: true,
    updateSettings: unused('updateSettings'),
    store: { latestReport: async () => null, reportHistory: async () => [], storageGet: async () => undefined, storageSet: unused('storageSet'), storageDel: unused('storageDel') },
    ...over,
  } as AppHost
}

const app = (over: Partial<AppHost> = {}, opts: AppOptions = {}) => createApp(standIn(over), opts)

describe('the routes over a stand-in host (no storage behind them)', () => {
  it('health: /healthz answers, /readyz gives the host\'s reasons with 503', async () => {
    expect((await app().request('/healthz')).status).toBe(200)
    const down = await app({ ready: () => ({ ready: false, reasons: ['sqlite storage is unavailable'] }) }).request('/readyz')
    expect(down.status).toBe(503)
    expect(await down.json()).toMatchObject({ ready: false, reasons: ['sqlite storage is unavailable'] })
  })

  it('an unknown API path is a 404 in JSON, never the page', async () => {
    const r = await app().request('/api/nothing-here')
    expect(r.status).toBe(404)
    expect((await r.json()) as { error: string }).toMatchObject({ error: expect.stringMatching(/no GET \/api\/nothing-here/) })
  })

  it('answers only for the names it serves (421), and asks for the API token (401) before listing projects', async () => {
    const named = app({}, { allowedHosts: ['127.0.0.1'], apiToken: 't'.repeat(32) })
    expect((await named.request('http://attacker.example/api/projects')).status).toBe(421)
    expect((await named.request('http://127.0.0.1/api/projects')).status).toBe(401)
    const ok = await named.request('http://127.0.0.1/api/projects', { headers: { authorization: `Bearer ${'t'.repeat(32)}` } })
    expect(ok.status).toBe(200)
    expect(((await ok.json()) as { projects: { id: string }[] }).projects.map((p) => p.id)).toEqual(['p1'])
  })

  it('refuses a change that is not JSON (415) or comes from another site (403), before the host is asked', async () => {
    const a = app()
    expect((await a.request('/api/projects/p1/disable', { method: 'POST', headers: { 'content-type': 'text/plain' }, body: '{}' })).status).toBe(415)
    expect((await a.request('/api/projects/p1/disable', { method: 'POST', headers: { 'content-type': 'application/json', origin: 'https://other.example' }, body: '{}' })).status).toBe(403)
  })

  it('the intake: an unknown project is 404, an unsigned delivery 401, a project being read with no runtime 503', async () => {
    const a = app()
    const event = JSON.stringify({ event: { event: '$pageview', distinct_id: 'u1', properties: {} }, person: null })
    expect((await a.request('/ingest/nope', { method: 'POST', headers: { 'content-type': 'application/json' }, body: event })).status).toBe(404)
    expect((await a.request('/ingest/p1', { method: 'POST', headers: { 'content-type': 'application/json' }, body: event })).status).toBe(401)
    const ok = await a.request('/ingest/p1', { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${SECRET}` }, body: event })
    expect(ok.status).toBe(503) // authorized, but no runtime counts for it in the stand-in: PostHog retries
  })
})
