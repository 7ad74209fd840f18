import { setupServer } from 'msw/node'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { PostHogClient, type RequestInfo } from '../../src/posthog/client.js'
import { simulate } from '../../src/sim/simulation.js'
import { HOST, HttpResponse, KEY, PROJECT, base, delay, http, posthogHandlers } from '../support/posthog-api.js'

const sim = simulate({ seed: 5, flags: 250, users: 1, days: 2, endMs: Date.UTC(2026, 10, 20), defects: [] })
const data = {
  flags: sim.project.api.flags,
  experiments: sim.project.api.experiments,
  cohorts: sim.project.api.cohorts,
  groupTypes: sim.project.api.groupTypes,
  query: () => ({ columns: ['n'], results: [[1]] }),
}
const server = setupServer(...posthogHandlers(data))
beforeAll(() => server.listen({ onUnhandledRequest: 'error' }))
afterEach(() => server.resetHandlers())
afterAll(() => server.close())

function client(over: Partial<ConstructorParameters<typeof PostHogClient>[0]> = {}, seen: RequestInfo[] = []) {
  return new PostHogClient({ host: HOST, projectId: PROJECT, personalApiKey: KEY, retries: 3, onRequest: (i) => seen.push(i), ...over })
}

describe('the PostHog client', () => {
  it('follows `next` through every page of flags', async () => {
    const seen: RequestInfo[] = []
    const flags = await client({}, seen).listFlags()
    expect(flags).toHaveLength(250)
    expect(seen.filter((s) => s.path.endsWith('/feature_flags/'))).toHaveLength(3)
  })

  it('fetches each experiment, since the list omits metrics and exposure criteria', async () => {
    const experiments = (await client().listExperiments()) as { metrics?: unknown; exposure_criteria?: unknown }[]
    expect(experiments).toHaveLength(data.experiments.length)
    expect(experiments.every((e) => Array.isArray(e.metrics) && e.exposure_criteria)).toBe(true)
  })

  it('waits as Retry-After says on a 429, then succeeds', async () => {
    let calls = 0
    server.use(
      http.get(`${base}/cohorts/`, () => {
        calls++
        return calls === 1 ? HttpResponse.json({ detail: 'Request was throttled.' }, { status: 429, headers: { 'Retry-After': '1' } }) : undefined
      }),
    )
    const t0 = Date.now()
    expect(await client().listCohorts()).toHaveLength(3)
    expect(Date.now() - t0).toBeGreaterThanOrEqual(950)
    expect(calls).toBe(2)
  })

  it('retries a burst of 500s with backoff', async () => {
    let calls = 0
    server.use(http.get(`${base}/groups_types/`, () => (++calls <= 2 ? HttpResponse.json({ detail: 'A server error occurred.' }, { status: 500 }) : undefined)))
    expect(await client().listGroupTypes()).toEqual(data.groupTypes)
    expect(calls).toBe(3)
  })

  it('gives up after the retries with a message naming the status', async () => {
    server.use(http.get(`${base}/groups_types/`, () => HttpResponse.json({ detail: 'A server error occurred.' }, { status: 502 })))
    await expect(client({ retries: 1 }).listGroupTypes()).rejects.toThrow(/answered .*groups_types\/ with 502: A server error occurred/)
  })

  it('says the key is expired or revoked on a 401, without retrying', async () => {
    let calls = 0
    server.use(http.get(`${base}/feature_flags/`, () => (calls++, HttpResponse.json({ type: 'authentication_error', code: 'authentication_failed', detail: 'Personal API key is invalid.' }, { status: 401 }))))
    await expect(client().listFlags()).rejects.toThrow(/rejected the personal API key \(401: Personal API key is invalid\.\)/)
    expect(calls).toBe(1)
  })

  it('names the missing scope on a 403', async () => {
    server.use(http.get(`${base}/experiments/`, () => HttpResponse.json({ type: 'authentication_error', code: 'permission_denied', detail: "API key missing required scope 'experiment:read'" }, { status: 403 })))
    await expect(client().listExperiments()).rejects.toThrow(/experiment:read/)
  })

  it('points at the host and project id on a 404', async () => {
    await expect(new PostHogClient({ host: HOST, projectId: '999', personalApiKey: KEY, retries: 0 }).listFlags()).rejects.toThrow(
      /has no \/api\/projects\/999\/feature_flags\/ \(404: Not found\.\)\. Check POSTHOG_HOST and POSTHOG_PROJECT_ID/,
    )
  })

  it('times out a query that does not come back', async () => {
    server.use(http.post(`${base}/query/`, async () => (await delay(2_000), HttpResponse.json({ results: [] }))))
    await expect(client({ queryTimeoutMs: 300, retries: 0 }).query('SELECT 1', 'slow')).rejects.toThrow(/did not answer .*query\/ within 0.3 s/)
  })

  it('runs at most three queries at once', async () => {
    let inFlight = 0
    let peak = 0
    server.use(
      http.post(`${base}/query/`, async () => {
        peak = Math.max(peak, ++inFlight)
        await delay(50)
        inFlight--
        return HttpResponse.json({ columns: ['n'], results: [[1]] })
      }),
    )
    const c = client()
    await Promise.all(Array.from({ length: 10 }, (_, i) => c.query('SELECT 1', `q${i}`)))
    expect(peak).toBe(3)
  })

  it('ignores fields PostHog adds, and reports a page that is not a list page', async () => {
    server.use(http.get(`${base}/cohorts/`, () => HttpResponse.json({ rows: [] })))
    await expect(client().listCohorts()).rejects.toThrow(/expected a list page/)
  })
})

describe('the personal API key stays with the configured PostHog', () => {
  const elsewhere: string[] = []
  const evil = (label: string) => http.all(`https://evil.test/*`, ({ request }) => (elsewhere.push(`${label} ${request.headers.get('authorization') ?? ''}`), HttpResponse.json({ results: [], next: null })))
  const page1 = (next: string) => http.get(`${base}/cohorts/`, () => HttpResponse.json({ count: 1, next, previous: null, results: [{ id: 1 }] }))

  it.each([
    ['a next page on another host', 'https://evil.test/api/projects/4242/cohorts/?offset=100', /points to https:\/\/evil\.test, not https:\/\/eu\.posthog\.test; refusing to send the personal API key there/],
    ['a next page on another port of the same host', 'https://eu.posthog.test:8443/api/projects/4242/cohorts/?offset=100', /points to https:\/\/eu\.posthog\.test:8443/],
    ['a next page over plain http', 'http://eu.posthog.test/api/projects/4242/cohorts/?offset=100', /points to http:\/\/eu\.posthog\.test/],
    ['a file: next page', 'file:///etc/passwd', /points to file:\/\/\(no host\)/],
    ['a data: next page', 'data:application/json,{"results":[],"next":null}', /points to data:/],
    ['a next page that is not a URL', 'http://[::1', /is not a URL; refusing to follow it/],
  ])('refuses %s, before any request leaves', async (_why, next, message) => {
    server.use(page1(next), evil('next'))
    await expect(client().listCohorts()).rejects.toThrow(message)
    expect(elsewhere).toEqual([])
  })

  it('follows a relative next page on the same origin', async () => {
    let calls = 0
    server.use(
      http.get(`${base}/cohorts/`, ({ request }) => {
        calls++
        return new URL(request.url).searchParams.get('offset') === '1'
          ? HttpResponse.json({ count: 2, next: null, previous: null, results: [{ id: 2 }] })
          : HttpResponse.json({ count: 2, next: `/api/projects/${PROJECT}/cohorts/?limit=1&offset=1`, previous: null, results: [{ id: 1 }] })
      }),
    )
    expect(await client().listCohorts()).toEqual([{ id: 1 }, { id: 2 }])
    expect(calls).toBe(2)
  })

  it('stops on a next page it has already read', async () => {
    server.use(http.get(`${base}/cohorts/`, ({ request }) => HttpResponse.json({ count: 9, next: request.url, previous: null, results: [{ id: 1 }] })))
    await expect(client().listCohorts()).rejects.toThrow(/the next page is one already read.*the pagination loops/)
  })

  it('does not follow a redirect, to another host or at all, and says where it pointed', async () => {
    server.use(http.get(`${base}/groups_types/`, () => new HttpResponse(null, { status: 302, headers: { Location: 'https://evil.test/steal' } })), evil('redirect'))
    await expect(client().listGroupTypes()).rejects.toThrow(/redirected .*groups_types\/ \(302\) to https:\/\/evil\.test; redirects are not followed/)
    expect(elsewhere).toEqual([])
  })
})

describe('answers that reach the client but are not what PostHog sends', () => {
  it('times out a body that trickles after its headers, within the configured time', async () => {
    server.use(
      http.get(`${base}/groups_types/`, () => {
        const stream = new ReadableStream({
          async start(controller) {
            controller.enqueue(new TextEncoder().encode('['))
            await delay(3_000)
            controller.enqueue(new TextEncoder().encode(']'))
            controller.close()
          },
        })
        return new HttpResponse(stream, { headers: { 'Content-Type': 'application/json' } })
      }),
    )
    await expect(client({ timeoutMs: 400, retries: 0 }).listGroupTypes()).rejects.toThrow(/did not finish sending .*groups_types\/ within 0.4 s/)
  })

  it('stops reading an answer past its size cap instead of holding it all', async () => {
    const mib = new Uint8Array(1024 * 1024).fill(0x20)
    let sent = 0
    server.use(
      http.get(`${base}/groups_types/`, () => {
        const stream = new ReadableStream({
          pull(controller) {
            if (sent++ >= 200) controller.close()
            else controller.enqueue(mib)
          },
        })
        return new HttpResponse(stream, { headers: { 'Content-Type': 'application/json' } })
      }),
    )
    await expect(client({ retries: 0 }).listGroupTypes()).rejects.toThrow(/answer to .*groups_types\/ is over 64 MiB; it was not read further/)
    expect(sent).toBeLessThan(100) // the rest of the 200 MiB was never pulled
  })

  it('keeps the configured timeout for GETs (not the HTTP library\'s own 10 s)', async () => {
    server.use(http.get(`${base}/groups_types/`, async () => (await delay(1_500), HttpResponse.json([]))))
    expect(await client({ timeoutMs: 5_000, retries: 0 }).listGroupTypes()).toEqual([])
    await expect(client({ timeoutMs: 300, retries: 0 }).listGroupTypes()).rejects.toThrow(/within 0.3 s/)
  })

  it('says an answer that is not JSON is not JSON, not that the host was unreachable', async () => {
    server.use(http.get(`${base}/groups_types/`, () => new HttpResponse('<html>login</html>', { headers: { 'Content-Type': 'text/html' } })))
    await expect(client({ retries: 0 }).listGroupTypes()).rejects.toThrow(/answered .*groups_types\/ \(200, text\/html\) with something that is not JSON/)
  })
})

describe('Retry-After', () => {
  it('a wait of days fails at once with the reason, instead of hanging', async () => {
    let calls = 0
    server.use(http.get(`${base}/groups_types/`, () => (calls++, HttpResponse.json({ detail: 'Request was throttled.' }, { status: 429, headers: { 'Retry-After': String(3 * 86_400) } }))))
    await expect(client().listGroupTypes()).rejects.toThrow(/PostHog asked to wait 72\.0 hours before retrying .*groups_types\/ \(429, Retry-After\); that is more than the 120 s an audit waits/)
    expect(calls).toBe(1)
  })
  it('a short wait is said, then waited', async () => {
    let calls = 0
    const waits: { seconds: number; status: number }[] = []
    server.use(http.get(`${base}/groups_types/`, () => (++calls === 1 ? HttpResponse.json({ detail: 'busy' }, { status: 503, headers: { 'Retry-After': '1' } }) : HttpResponse.json([]))))
    expect(await client({ onWait: (w) => waits.push(w) }).listGroupTypes()).toEqual([])
    expect(waits).toEqual([{ path: `/api/projects/${PROJECT}/groups_types/`, status: 503, seconds: 1 }])
    expect(calls).toBe(2)
  })
})
