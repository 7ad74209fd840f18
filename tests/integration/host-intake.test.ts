import { readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { auditEvents } from '../../src/audit/offline-audit.js'
import type { Report } from '../../src/coverage/report.js'
import { createApp } from '../../src/host/app.js'
import { Host, SECRET_MASK } from '../../src/host/host.js'
import type { DemoSpec } from '../../src/host/project.js'
import { definitionsOf, simulate } from '../../src/sim/simulation.js'
import { asBody, postSigned, silent, testHost, variantNumbers } from '../support/host.js'

const END = Date.UTC(2026, 10, 20, 12)
const spec: DemoSpec = { seed: 5, flags: 20, users: 400, days: 4, endMs: END }
const sim = simulate({ ...spec, defects: 'mix', redeliveryShare: 0.01 })
const events = [...sim.events]
const KEY = 'phx_a_personal_key_that_must_never_leave'

let t: Awaited<ReturnType<typeof testHost>>
let secret: string

beforeAll(async () => {
  t = await testHost({ clock: () => END })
  const row = await t.host.addProject({ id: 'demo', demo: spec })
  secret = t.host.ingestSecret(row)
})
afterAll(() => t.close())

describe('the intake, as PostHog\'s HTTP Webhook destination feeds it', () => {
  it('counts signed events exactly as the offline audit counts the same events, redeliveries once', async () => {
    const outcomes: Record<string, number> = {}
    for (const e of events) {
      const res = await postSigned(t.app, 'demo', secret, asBody(e), `msg_${e.uuid}`)
      expect(res.status, await res.clone().text()).toBe(200)
      for (const [k, n] of Object.entries(((await res.json()) as { outcomes: Record<string, number> }).outcomes)) outcomes[k] = (outcomes[k] ?? 0) + n
    }
    expect(outcomes.duplicate).toBeGreaterThan(0) // the simulation redelivers 1% with the same uuid
    const report = (await (await t.app.request('/api/projects/demo/report')).json()) as Report
    const offline = await auditEvents(definitionsOf(sim.project), {}, events, { now: END })
    expect(variantNumbers(report)).toEqual(variantNumbers(offline.report))
    expect(report.flags.length).toBe(20)
  })

  it('a signed event without a uuid: a retry (the same webhook-id) is a redelivery, another delivery (a new id) counts again', async () => {
    const exposure = events.find((e) => e.event === '$feature_flag_called' && typeof e.properties.$feature_flag_response === 'string')!
    const flag = String(exposure.properties.$feature_flag)
    const variant = String(exposure.properties.$feature_flag_response)
    const exposures = async () => {
      const report = (await (await t.app.request('/api/projects/demo/report?fresh=1')).json()) as Report
      return report.flags.find((f) => f.key === flag)!.variants.find((v) => v.key === variant)!.exposures
    }
    const body = asBody(exposure)
    delete (body.event as { uuid?: string }).uuid
    const post = async (id: string) => ((await (await postSigned(t.app, 'demo', secret, body, id)).json()) as { outcomes: Record<string, number> }).outcomes
    const before = await exposures()
    expect(await post('msg_no_uuid_1')).toEqual({ counted: 1 })
    expect(await post('msg_no_uuid_1')).toEqual({ duplicate: 1 }) // PostHog's retry of that delivery
    expect(await post('msg_no_uuid_2')).toEqual({ counted: 1 }) // a new delivery of an event like it
    expect(await exposures()).toBe(before + 2)
  })

  it('refuses a missing or wrong signature with 401, and takes the secret as a bearer token', async () => {
    const body = JSON.stringify(asBody(events[0]!))
    expect((await t.app.request('/ingest/demo', { method: 'POST', body, headers: { 'content-type': 'application/json' } })).status).toBe(401)
    const forged = await postSigned(t.app, 'demo', `whsec_${Buffer.alloc(32, 7).toString('base64')}`, body)
    expect(forged.status).toBe(401)
    expect(((await forged.json()) as { error: string }).error).toMatch(/signature/)
    // A body changed after signing does not verify either.
    const signed = await postSigned(t.app, 'demo', secret, body, 'msg_x')
    expect(signed.status).toBe(200)
    expect((await t.app.request('/ingest/demo', { method: 'POST', body, headers: { authorization: 'Bearer nope' } })).status).toBe(401)
    expect((await t.app.request('/ingest/demo', { method: 'POST', body, headers: { authorization: `Bearer ${secret}` } })).status).toBe(200)
  })

  it('answers 413 over the body limit, and 400 with the reason for malformed JSON or a body of the wrong shape', async () => {
    const small = createApp(t.host, { maxBodyBytes: 1000 })
    const big = JSON.stringify({ event: { event: '$pageview', properties: { blob: 'x'.repeat(5000) } } })
    expect((await postSigned(small, 'demo', secret, big)).status).toBe(413)
    const broken = await postSigned(t.app, 'demo', secret, '{"event": {"event": "$pageview"')
    expect(broken.status).toBe(400)
    expect(((await broken.json()) as { error: string }).error).toMatch(/not JSON/)
    for (const [bad, where] of [
      ['{"foo": 1}', /body/],
      ['[]', /empty list/],
      ['{"event": {"event": 5}}', /body\.event\.event/],
      ['[{"event": {"event": "$pageview"}}, 7]', /body\[1\]/],
      ['"just a string"', /webhook destination/i],
    ] as const) {
      const res = await postSigned(t.app, 'demo', secret, bad)
      expect(res.status, bad).toBe(400)
      expect(((await res.json()) as { error: string }).error, bad).toMatch(where)
    }
    // Well-shaped but not countable: answered 200 (PostHog must not retry it) and counted by reason.
    const noUnit = await postSigned(t.app, 'demo', secret, { event: { uuid: '0190-aaaa', event: '$feature_flag_called', properties: { $feature_flag: 'x', $feature_flag_response: 'test' }, timestamp: new Date(END - 1000).toISOString() }, person: null })
    expect(noUnit.status).toBe(200)
    expect(((await noUnit.json()) as { outcomes: Record<string, number> }).outcomes).toEqual({ rejected: 1 })
    const metrics = await (await t.app.request('/metrics')).text()
    expect(metrics).toMatch(/coverage_events_rejected_total\{project="demo",reason="unit_missing"\} 1/)
    expect(metrics).toMatch(/coverage_intake_refused_total\{reason="too_large"\} 1/)
    expect(metrics).toMatch(/coverage_http_responses_total\{route="\/ingest\/:project",status="401"\} \d+/)
  })

  it('takes arrays of events, and answers 404 for an unknown project and 403 while a project is disabled', async () => {
    const res = await postSigned(t.app, 'demo', secret, events.slice(0, 3).map(asBody))
    expect(res.status).toBe(200)
    expect((await postSigned(t.app, 'nope', secret, asBody(events[0]!))).status).toBe(404)
    expect((await t.app.request('/api/projects/demo/disable', { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } })).status).toBe(200)
    expect((await postSigned(t.app, 'demo', secret, asBody(events[0]!))).status).toBe(403)
    const listed = (await (await t.app.request('/api/projects')).json()) as { projects: { id: string; status: string }[] }
    expect(listed.projects.find((p) => p.id === 'demo')?.status).toBe('disabled')
    expect((await t.app.request('/api/projects/demo/enable', { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } })).status).toBe(200)
    expect((await postSigned(t.app, 'demo', secret, asBody(events[0]!))).status).toBe(200)
  })
})

describe('the JSON API', () => {
  it("gives one flag's report entry with its live counters", async () => {
    const key = sim.project.flags[0]!.key
    const res = await t.app.request(`/api/projects/demo/flags/${encodeURIComponent(key)}`)
    expect(res.status).toBe(200)
    const body = (await res.json()) as { flag: { key: string; checks: unknown[] }; live: { flag: string; exposure: Record<string, unknown> } }
    expect(body.flag.key).toBe(key)
    expect(body.flag.checks.length).toBeGreaterThan(5)
    expect(body.live.flag).toBe(key)
    expect(Object.keys(body.live.exposure).length).toBeGreaterThan(0)
    expect((await t.app.request('/api/projects/demo/flags/no-such-flag')).status).toBe(404)
  })

  it('validates settings with the plugin\'s own code, naming each bad field, and masks secrets as PostHog does', async () => {
    const bad = await t.app.request('/api/projects/demo/settings', { method: 'PUT', body: JSON.stringify({ srmPValue: '2', lookbackDays: 'soon', nonsense: 1 }), headers: { 'content-type': 'application/json' } })
    expect(bad.status).toBe(400)
    const problems = ((await bad.json()) as { problems: { key: string; message: string }[] }).problems
    expect(problems.map((p) => p.key).sort()).toEqual(['nonsense'])
    const bad2 = await t.app.request('/api/projects/demo/settings', { method: 'PUT', body: JSON.stringify({ srmPValue: '2', lookbackDays: 'soon' }), headers: { 'content-type': 'application/json' } })
    const problems2 = ((await bad2.json()) as { problems: { key: string; message: string }[] }).problems
    expect(problems2.map((p) => p.key).sort()).toEqual(['lookbackDays', 'srmPValue'])
    expect(problems2.find((p) => p.key === 'srmPValue')!.message).toMatch(/less than 1/)
    const badFilter = await t.app.request('/api/projects/demo/settings', { method: 'PUT', body: JSON.stringify({ goalEvents: [{ event: 'purchase', filter: 'properties.plan = = 1' }] }), headers: { 'content-type': 'application/json' } })
    expect(badFilter.status).toBe(400)

    const good = await t.app.request('/api/projects/demo/settings', { method: 'PUT', body: JSON.stringify({ srmPValue: '0.01', posthogPersonalApiKey: KEY }), headers: { 'content-type': 'application/json' } })
    const goodText = await good.text()
    expect(good.status, goodText).toBe(200)
    expect(goodText).not.toContain(KEY)
    const read = (await (await t.app.request('/api/projects/demo/settings')).json()) as { settings: Record<string, string>; schema: unknown[] }
    expect(read.settings.srmPValue).toBe('0.01')
    expect(read.settings.posthogPersonalApiKey).toBe(SECRET_MASK)
    expect(read.schema.length).toBeGreaterThan(10)
    // The form sends the mask back unchanged: the secret stays.
    await t.app.request('/api/projects/demo/settings', { method: 'PUT', body: JSON.stringify({ posthogPersonalApiKey: SECRET_MASK, srmPValue: '0.001' }), headers: { 'content-type': 'application/json' } })
    expect(t.host.runtime('demo')!.project.config.posthogPersonalApiKey).toBe(KEY)
    // Secrets at rest: neither the API key nor the signing secret is in the database file.
    const file = readFileSync(join(t.dataDir, 'coverage.sqlite')).toString('latin1') + readFileSync(join(t.dataDir, 'coverage.sqlite-wal')).toString('latin1')
    expect(file).not.toContain(KEY)
    expect(file).not.toContain(secret.slice(6, 30))
    expect(statSync(join(t.dataDir, 'secret.key')).mode & 0o777).toBe(0o600)
    // Back to no key, so the demo never calls PostHog.
    await t.app.request('/api/projects/demo/settings', { method: 'PUT', body: JSON.stringify({ posthogPersonalApiKey: '' }), headers: { 'content-type': 'application/json' } })
  })

  it.each([
    ['a cross-site text/plain POST (no preflight)', { origin: 'https://attacker.example', 'content-type': 'text/plain' }, 403],
    ['a cross-site JSON POST', { origin: 'https://attacker.example', 'content-type': 'application/json' }, 403],
    ['a form from another site, without Origin', { 'sec-fetch-site': 'cross-site', 'content-type': 'application/x-www-form-urlencoded' }, 403],
    ['text/plain from this host\'s own page', { origin: 'http://localhost', 'content-type': 'text/plain' }, 415],
    ['JSON from this host\'s own page', { origin: 'http://localhost', 'content-type': 'application/json' }, 200],
    ['JSON from the CLI (no Origin)', { 'content-type': 'application/json' }, 200],
  ])('refuses state changes from other sites (CSRF): %s', async (_why, headers, status) => {
    const res = await t.app.request('http://localhost/api/projects/demo/disable', { method: 'POST', body: '{}', headers: { host: 'localhost', ...headers } })
    expect(res.status).toBe(status)
    expect(res.headers.get('x-content-type-options')).toBe('nosniff')
    expect(t.host.knownProject('demo')!.enabled).toBe(status !== 200)
    await t.app.request('/api/projects/demo/enable', { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } })
  })

  it.each([
    ['attacker.example:8787', 421],
    ['attacker.example', 421],
    ['127.0.0.1.attacker.example:8787', 421],
    ['127.0.0.1:8787', 200],
    ['localhost:8787', 200],
    ['LOCALHOST', 200],
    ['[::1]:8787', 200],
  ])('answers only the names it serves (DNS rebinding): Host %s gets %i', async (hostHeader, status) => {
    const app = createApp(t.host, { allowedHosts: ['127.0.0.1', 'localhost', '::1'] })
    const res = await app.request('http://127.0.0.1:8787/api/projects', { headers: { host: hostHeader } })
    expect(res.status).toBe(status)
    if (status === 421) expect(await res.text()).not.toContain('demo')
  })

  it.each([
    // A settings change (a token holder, or a page that reached the API) may not send the stored key to another host.
    ['another host: the stored key is dropped', { posthogHost: 'http://127.0.0.1:9922' }, ''],
    ['the same origin written otherwise: the key stays', { posthogHost: 'https://eu.posthog.com/' }, KEY],
    ['another host with a new key in the same change: the new key', { posthogHost: 'https://us.posthog.com', posthogPersonalApiKey: 'phx_new_key_for_us' }, 'phx_new_key_for_us'],
    ['the mask sent back with another host: the key is dropped', { posthogHost: 'http://attacker.test', posthogPersonalApiKey: SECRET_MASK }, ''],
  ])('binds the personal API key to its PostHog: %s', async (_why, change, key) => {
    const put = (body: unknown) => t.app.request('/api/projects/demo/settings', { method: 'PUT', body: JSON.stringify(body), headers: { 'content-type': 'application/json' } })
    expect((await put({ posthogHost: 'https://eu.posthog.com', posthogPersonalApiKey: KEY })).status).toBe(200)
    expect((await put(change)).status).toBe(200)
    expect(t.host.runtime('demo')!.project.config.posthogPersonalApiKey ?? '').toBe(key)
    await put({ posthogHost: '', posthogPersonalApiKey: '' })
  })

  it('never returns a secret, and needs the token when one is set', async () => {
    for (const path of ['/api/projects', '/api/projects/demo', '/api/projects/demo/settings', '/api/projects/demo/report', '/metrics']) {
      const text = await (await t.app.request(path)).text()
      expect(text, path).not.toContain(secret.slice(6))
      expect(text, path).not.toContain(KEY)
    }
    const locked = createApp(t.host, { apiToken: 'tok_123456789' })
    expect((await locked.request('/api/projects')).status).toBe(401)
    expect((await locked.request('/metrics')).status).toBe(401)
    expect((await locked.request('/api/projects', { headers: { authorization: 'Bearer tok_123456789' } })).status).toBe(200)
    expect((await locked.request('/healthz')).status).toBe(200)
    // No CORS by default: a browser on another origin cannot read the API.
    expect((await t.app.request('/api/projects', { headers: { origin: 'https://evil.example' } })).headers.get('access-control-allow-origin')).toBeNull()
    // --cors-origin: only the named PostHog may call it from a browser.
    const withCors = createApp(t.host, { corsOrigins: ['https://posthog.example.com'] })
    const preflight = await withCors.request('/api/projects', { method: 'OPTIONS', headers: { origin: 'https://posthog.example.com', 'access-control-request-method': 'GET' } })
    expect(preflight.headers.get('access-control-allow-origin')).toBe('https://posthog.example.com')
    expect((await withCors.request('/api/projects', { headers: { origin: 'https://evil.example' } })).headers.get('access-control-allow-origin')).toBeNull()
  })
})

describe('several host processes on one store', () => {
  it('pick up a project disabled, enabled or changed through another one within a scheduler round', async () => {
    const other = await Host.open({ dataDir: t.dataDir, logger: silent, processMetrics: false, clock: () => END })
    await other.start({ scheduler: false })
    const otherApp = createApp(other)
    expect((await postSigned(otherApp, 'demo', secret, asBody(events[0]!))).status).toBe(200)
    await t.app.request('/api/projects/demo/disable', { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } })
    await other.tick()
    expect((await postSigned(otherApp, 'demo', secret, asBody(events[0]!))).status).toBe(403)
    await t.app.request('/api/projects/demo/enable', { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } })
    await t.app.request('/api/projects/demo/settings', { method: 'PUT', body: JSON.stringify({ lookbackDays: '14' }), headers: { 'content-type': 'application/json' } })
    await other.tick()
    expect((await postSigned(otherApp, 'demo', secret, asBody(events[0]!))).status).toBe(200)
    expect(other.runtime('demo')!.state!.settings.lookbackDays).toBe(14)
    await other.stop()
  })
})

describe('when the storage is unavailable', () => {
  it('the host is not ready and the intake answers 503 with Retry-After, so PostHog retries', async () => {
    const u = await testHost({ clock: () => END })
    const row = await u.host.addProject({ id: 'demo', demo: spec })
    const s = u.host.ingestSecret(row)
    expect((await postSigned(u.app, 'demo', s, asBody(events[0]!))).status).toBe(200)
    expect((await u.app.request('/readyz')).status).toBe(200)
    await u.host.store.close() // the database is gone
    await u.host.tick()
    const ready = await u.app.request('/readyz')
    expect(ready.status).toBe(503)
    expect(((await ready.json()) as { reasons: string[] }).reasons.join()).toMatch(/storage is unavailable/)
    const res = await postSigned(u.app, 'demo', s, asBody(events[1]!))
    expect(res.status).toBe(503)
    expect(res.headers.get('retry-after')).toBe('5')
    await u.close()
  })
})
