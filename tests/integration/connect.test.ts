import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setupServer } from 'msw/node'
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import { z } from 'zod'
import { runConnect, runDisconnect } from '../../src/cli/connect.js'
import { ExitError } from '../../src/cli/errors.js'
import { Host } from '../../src/host/host.js'
import { HOST, KEY, PROJECT, base, http, HttpResponse, pageOf, posthogHandlers } from '../support/posthog-api.js'
import { silent } from '../support/host.js'
import { simulatedProject } from '../support/sim-project.js'

const p = simulatedProject({ seed: 31, users: 50, days: 7, endMs: Date.UTC(2026, 10, 20) })

// What PostHog's hog_functions API accepts for a destination (posthog/api/hog_function.py,
// POSTHOG-FACTS §1b): the template's inputs, each {value}; filters of events; the type fixed at creation.
const input = z.strictObject({ value: z.unknown(), templating: z.enum(['hog', 'liquid']).optional() })
const destination = z.strictObject({
  type: z.literal('destination'),
  template_id: z.literal('template-webhook'),
  name: z.string().min(1),
  description: z.string(),
  enabled: z.boolean(),
  inputs: z.strictObject({ url: input, method: input, body: input, headers: input, signing_secret: input }),
  filters: z.strictObject({
    source: z.literal('events'),
    events: z.array(z.strictObject({ id: z.string(), name: z.string(), type: z.literal('events'), order: z.number().int() })).min(1),
    filter_test_accounts: z.boolean(),
  }),
  masking: z.null(),
})

type Fn = { id: string; type: string; name: string; deleted?: boolean; body: unknown }
let functions: Fn[] = []
const writes: { method: string; path: string; body: unknown }[] = []
let forbid = false

const server = setupServer(
  http.get(`${base}/hog_functions/`, ({ request }) => {
    if (request.headers.get('authorization') !== `Bearer ${KEY}`) return HttpResponse.json({ detail: 'no' }, { status: 401 })
    const url = new URL(request.url)
    const type = url.searchParams.get('type') ?? 'destination'
    // The list uses the minimal serializer: no inputs.
    return HttpResponse.json(pageOf('hog_functions/', functions.filter((f) => !f.deleted && f.type === type).map(({ id, type: t, name }) => ({ id, type: t, name, enabled: true })), url))
  }),
  http.post(`${base}/hog_functions/`, async ({ request }) => {
    const body = await request.json()
    writes.push({ method: 'POST', path: new URL(request.url).pathname, body })
    if (forbid) return HttpResponse.json({ type: 'authentication_error', code: 'permission_denied', detail: "API key missing required scope 'hog_function:write'" }, { status: 403 })
    const parsed = destination.safeParse(body)
    if (!parsed.success) return HttpResponse.json({ type: 'validation_error', detail: JSON.stringify(parsed.error.issues) }, { status: 400 })
    const fn = { id: `0193-${functions.length + 1}`, type: 'destination', name: parsed.data.name, body }
    functions.push(fn)
    return HttpResponse.json({ id: fn.id, ...(body as object), inputs: { ...parsed.data.inputs, signing_secret: { secret: true } } }, { status: 201 })
  }),
  http.patch(`${base}/hog_functions/:id/`, async ({ request, params }) => {
    const body = (await request.json()) as Record<string, unknown>
    writes.push({ method: 'PATCH', path: new URL(request.url).pathname, body })
    if (forbid) return HttpResponse.json({ type: 'authentication_error', code: 'permission_denied', detail: "API key missing required scope 'hog_function:write'" }, { status: 403 })
    const fn = functions.find((f) => f.id === params.id)
    if (!fn) return HttpResponse.json({ detail: 'Not found.' }, { status: 404 })
    if (body.deleted === true) fn.deleted = true
    else if (Object.keys(body).length === 1 && body.filters) fn.body = { ...(fn.body as object), filters: body.filters } // a partial update of the filter
    else {
      const parsed = destination.safeParse(body)
      if (!parsed.success) return HttpResponse.json({ type: 'validation_error', detail: JSON.stringify(parsed.error.issues) }, { status: 400 })
      fn.body = body
    }
    return HttpResponse.json({ id: fn.id })
  }),
  http.delete(`${base}/hog_functions/:id/`, () => HttpResponse.json({ detail: 'Method "DELETE" not allowed.' }, { status: 405 })),
  ...posthogHandlers(p.api),
)

let dataDir: string
let out: string
let err: string
beforeAll(() => {
  server.listen({ onUnhandledRequest: 'error' })
  Object.assign(process.env, { POSTHOG_HOST: HOST, POSTHOG_PROJECT_ID: PROJECT, POSTHOG_PERSONAL_API_KEY: KEY, COVERAGE_SECRET_KEY: 'd'.repeat(64) })
  dataDir = mkdtempSync(join(tmpdir(), 'coverage-connect-'))
  vi.spyOn(process.stdout, 'write').mockImplementation((s) => ((out += String(s)), true))
  vi.spyOn(process.stderr, 'write').mockImplementation((s) => ((err += String(s)), true))
})
afterEach(() => {
  forbid = false
})
afterAll(() => {
  vi.restoreAllMocks()
  server.close()
  for (const k of ['POSTHOG_HOST', 'POSTHOG_PROJECT_ID', 'POSTHOG_PERSONAL_API_KEY', 'COVERAGE_SECRET_KEY']) delete process.env[k]
  rmSync(dataDir, { recursive: true, force: true })
})

const opts = (extra: Partial<Parameters<typeof runConnect>[0]> = {}) => ({ dataDir, name: 'Experiment Coverage', url: 'https://coverage.example.com', dryRun: false, ...extra })

describe('experiment-coverage connect', () => {
  it('--dry-run prints the destination as the hog_functions API accepts it, sends nothing, shows no secret', async () => {
    out = ''
    err = ''
    await runConnect(opts({ dryRun: true }))
    expect(writes).toHaveLength(0)
    const [line, ...json] = out.split('\n')
    expect(line).toBe(`POST ${base}/hog_functions/`)
    const body = destination.parse(JSON.parse(json.join('\n')))
    expect(body.inputs.url.value).toBe(`https://coverage.example.com/ingest/${PROJECT}`)
    expect(body.inputs.body.value).toEqual({ event: '{event}', person: '{person}' })
    const events = body.filters.events.map((e) => e.id)
    expect(events).toEqual(expect.arrayContaining(['$feature_flag_called', '$experiment_exposure']))
    // The experiments' metric events are sent too.
    const metricEvent = (p.api.experiments as { metrics?: { series?: { event?: string }[]; source?: { event?: string } }[] }[]).flatMap((e) => e.metrics ?? []).map((m) => m.source?.event ?? m.series?.[0]?.event).find(Boolean)
    expect(events).toContain(metricEvent)
    expect(body.filters.filter_test_accounts).toBe(true)
    const host = await Host.open({ dataDir, secretKey: 'd'.repeat(64), logger: silent, processMetrics: false })
    const secret = host.ingestSecret((await host.project(PROJECT))!)
    await host.stop()
    expect(out + err).not.toContain(secret.slice(6))
    expect(out + err).not.toContain(KEY)
    expect(err).toMatch(/data pipelines add-on/)
  })

  it('creates the destination once, then updates it in place (found by name), and disconnect removes it', async () => {
    await runConnect(opts())
    expect(writes.map((w) => w.method)).toEqual(['POST'])
    expect(functions).toHaveLength(1)
    await runConnect(opts())
    expect(writes.map((w) => w.method)).toEqual(['POST', 'PATCH'])
    expect(writes[1]!.path).toBe(`/api/projects/${PROJECT}/hog_functions/${functions[0]!.id}/`)
    expect(functions).toHaveLength(1)
    // The signing secret PostHog signs with is the intake's own, so its signatures verify.
    const host = await Host.open({ dataDir, secretKey: 'd'.repeat(64), logger: silent, processMetrics: false })
    const secret = host.ingestSecret((await host.project(PROJECT))!)
    await host.stop()
    expect((writes[1]!.body as { inputs: { signing_secret: { value: string } } }).inputs.signing_secret.value).toBe(secret)
    await runDisconnect({ name: 'Experiment Coverage', dryRun: false })
    expect(writes.at(-1)).toMatchObject({ method: 'PATCH', body: { deleted: true } })
    expect(functions[0]!.deleted).toBe(true)
  })

  it("the host keeps the destination's events in step with the experiments and the settings", async () => {
    await runConnect(opts())
    const created = functions.filter((f) => !f.deleted).at(-1)!
    const host = await Host.open({ dataDir, secretKey: 'd'.repeat(64), logger: silent, processMetrics: false })
    await host.start({ scheduler: false })
    const before = writes.length
    await host.runtime(PROJECT)!.review()
    expect(writes.length).toBe(before) // nothing changed since connect: no write
    await host.updateSettings(PROJECT, { goalEvents: ['brand_new_goal'] })
    await host.runtime(PROJECT)!.review()
    const patch = writes.at(-1)!
    expect(patch).toMatchObject({ method: 'PATCH', path: `/api/projects/${PROJECT}/hog_functions/${created.id}/` })
    expect((patch.body as { filters: { events: { id: string }[] } }).filters.events.map((e) => e.id)).toContain('brand_new_goal')
    await host.runtime(PROJECT)!.review()
    expect(writes.at(-1)).toBe(patch) // once
    await host.stop()
  })

  it('says which scope is missing when PostHog refuses the write', async () => {
    forbid = true
    const e = await runConnect(opts()).catch((x: unknown) => x)
    expect(e).toBeInstanceOf(ExitError)
    expect((e as Error).message).toMatch(/hog_function:write/)
  })
})
