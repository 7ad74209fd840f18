import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setupServer } from 'msw/node'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest'
import { z } from 'zod'
import { runConnect, runDisconnect } from '../../src/cli/connect.js'
import { ExitError } from '../../src/cli/errors.js'
import { createApp } from '../../src/host/app.js'
import { webhookBody } from '../../src/host/demo-feed.js'
import { Host } from '../../src/host/host.js'
import { HOST, KEY, PROJECT, authError, base, http, HttpResponse, pageOf, posthogHandlers } from '../support/posthog-api.js'
import { postSigned, silent } from '../support/host.js'
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
  inputs: z.strictObject({ url: input, method: input, body: input, headers: input, signing_secret: input.optional() }),
  filters: z.strictObject({
    source: z.literal('events'),
    events: z.array(z.strictObject({ id: z.string(), name: z.string(), type: z.literal('events'), order: z.number().int() })).min(1),
    filter_test_accounts: z.boolean(),
  }),
  masking: z.null(),
})

// `template-webhook`'s inputs_schema (nodejs/src/cdp/templates/_destinations/webhook/webhook.template.ts):
// newer versions have `signing_secret` (a secret input); older and self-hosted ones do not.
type SchemaItem = { key: string; type: 'string' | 'choice' | 'json' | 'dictionary' | 'boolean'; secret: boolean; required: boolean }
const schemaItem = (key: string, type: SchemaItem['type'], extra: Partial<SchemaItem> = {}): SchemaItem => ({ key, type, secret: false, required: false, ...extra })
const SIGNING_TEMPLATE: readonly SchemaItem[] = [
  schemaItem('url', 'string', { required: true }),
  schemaItem('method', 'choice'),
  schemaItem('body', 'json'),
  schemaItem('headers', 'dictionary'),
  schemaItem('signing_secret', 'string', { secret: true }),
  schemaItem('debug', 'boolean'),
]
const UNSIGNED_TEMPLATE = SIGNING_TEMPLATE.filter((s) => s.key !== 'signing_secret')
let template: readonly SchemaItem[] = SIGNING_TEMPLATE

type Input = { value?: unknown; templating?: string; secret?: boolean }
type Fn = {
  id: string
  type: string
  name: string
  description: string
  enabled: boolean
  deleted?: boolean
  inputs_schema: readonly SchemaItem[]
  inputs: Record<string, Input>
  encrypted_inputs: Record<string, Input>
  filters: unknown
  masking: unknown
}
let functions: Fn[] = []
const writes: { method: string; path: string; body: unknown }[] = []
let forbid = false

/**
 * PostHog's input validation (posthog/cdp/validation.py, InputsSerializer.run_child_validation): it
 * walks the schema, not the inputs sent, so an input the schema lacks is dropped without an error;
 * an input without a value is left out; a secret input sent as {"secret": true} or left out keeps
 * the stored one. Secret inputs are stored apart (HogFunction.move_secret_inputs).
 */
function validateInputs(schema: readonly SchemaItem[], sent: Record<string, Input>, encrypted: Record<string, Input>) {
  const inputs: Record<string, Input> = {}
  const encryptedInputs: Record<string, Input> = {}
  const errors: Record<string, string> = {}
  for (const s of schema) {
    let value: Input = sent[s.key] ?? {}
    if (s.secret && (value.secret === true || Object.keys(value).length === 0)) value = encrypted[s.key] ?? {}
    if (s.required && (value.value === undefined || value.value === null || value.value === '')) errors[s.key] = 'This field is required.'
    if (!('value' in value)) continue
    const v = value.value
    if (v && s.type === 'string' && typeof v !== 'string') errors[s.key] = 'Value must be a string.'
    if (v && s.type === 'dictionary' && (typeof v !== 'object' || Array.isArray(v))) errors[s.key] = 'Value must be a dictionary.'
    if (v && s.type === 'boolean' && typeof v !== 'boolean') errors[s.key] = 'Value must be a boolean.'
    ;(s.secret ? encryptedInputs : inputs)[s.key] = { value: v, ...(value.templating ? { templating: value.templating } : {}) }
  }
  return Object.keys(errors).length ? { errors } : { inputs, encryptedInputs }
}

/** HogFunctionSerializer.to_representation: a secret input that has a value reads back as {"secret": true}. */
function represent(fn: Fn) {
  const inputs: Record<string, Input> = { ...fn.inputs }
  for (const s of fn.inputs_schema) if (s.secret && fn.encrypted_inputs[s.key]?.value) inputs[s.key] = { secret: true }
  const { encrypted_inputs: _e, deleted: _d, ...rest } = fn
  return { ...rest, inputs, template: { id: 'template-webhook', name: 'HTTP Webhook' }, status: { state: 1, tokens: 0, rating: 0 } }
}

const validationError = (detail: unknown) => HttpResponse.json({ type: 'validation_error', code: 'invalid_input', detail: JSON.stringify(detail), attr: null }, { status: 400 })
const scopeError = () => HttpResponse.json({ type: 'authentication_error', code: 'permission_denied', detail: "API key missing required scope 'hog_function:write'" }, { status: 403 })
const notFound = () => HttpResponse.json({ type: 'invalid_request', code: 'not_found', detail: 'Not found.' }, { status: 404 })

const server = setupServer(
  http.get(`${base}/hog_functions/`, ({ request }) => {
    if (request.headers.get('authorization') !== `Bearer ${KEY}`) return HttpResponse.json({ detail: 'no' }, { status: 401 })
    const url = new URL(request.url)
    const type = url.searchParams.get('type') ?? 'destination'
    // The list uses the minimal serializer: no inputs.
    return HttpResponse.json(pageOf('hog_functions/', functions.filter((f) => !f.deleted && f.type === type).map(({ id, type: t, name }) => ({ id, type: t, name, enabled: true })), url))
  }),
  // The full serializer; deleted functions are not found (HogFunctionViewSet.safely_get_queryset).
  http.get(`${base}/hog_functions/:id/`, ({ request, params }) => {
    if (request.headers.get('authorization') !== `Bearer ${KEY}`) return authError()
    const fn = functions.find((f) => f.id === params.id && !f.deleted)
    return fn ? HttpResponse.json(represent(fn)) : notFound()
  }),
  http.post(`${base}/hog_functions/`, async ({ request }) => {
    const body = await request.json()
    writes.push({ method: 'POST', path: new URL(request.url).pathname, body })
    if (forbid) return scopeError()
    const parsed = destination.safeParse(body)
    if (!parsed.success) return validationError(parsed.error.issues)
    // Created from the template: its inputs_schema is the function's from now on.
    const checked = validateInputs(template, parsed.data.inputs, {})
    if ('errors' in checked) return validationError(checked.errors)
    const { inputs: _i, template_id: _t, ...fields } = parsed.data
    const fn: Fn = { id: `0193-${functions.length + 1}`, ...fields, inputs_schema: [...template], inputs: checked.inputs, encrypted_inputs: checked.encryptedInputs }
    functions.push(fn)
    return HttpResponse.json(represent(fn), { status: 201 })
  }),
  http.patch(`${base}/hog_functions/:id/`, async ({ request, params }) => {
    const body = (await request.json()) as Record<string, unknown>
    writes.push({ method: 'PATCH', path: new URL(request.url).pathname, body })
    if (forbid) return scopeError()
    const fn = functions.find((f) => f.id === params.id)
    if (!fn) return notFound()
    if (body.deleted === true) fn.deleted = true
    else if (Object.keys(body).length === 1 && body.filters) fn.filters = body.filters // a partial update of the filter
    else {
      const parsed = destination.safeParse(body)
      if (!parsed.success) return validationError(parsed.error.issues)
      // An update is validated against the function's saved inputs_schema, not the template's.
      const checked = validateInputs(fn.inputs_schema, parsed.data.inputs, fn.encrypted_inputs)
      if ('errors' in checked) return validationError(checked.errors)
      const { inputs: _i, template_id: _t, ...fields } = parsed.data
      Object.assign(fn, fields, { inputs: checked.inputs, encrypted_inputs: checked.encryptedInputs })
    }
    return HttpResponse.json(represent(fn))
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
  template = SIGNING_TEMPLATE
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

/** The project's intake secret, as the host keeps it. */
async function intakeSecret(): Promise<string> {
  const host = await Host.open({ dataDir, secretKey: 'd'.repeat(64), logger: silent, processMetrics: false })
  try {
    return host.ingestSecret((await host.project(PROJECT))!)
  } finally {
    await host.stop()
  }
}

/** The destination as PostHog's API answers a GET of it. */
async function savedDestination() {
  const fn = functions.filter((f) => !f.deleted).at(-1)!
  return (await (await fetch(`${base}/hog_functions/${fn.id}/`, { headers: { authorization: `Bearer ${KEY}` } })).json()) as { inputs: Record<string, { value?: unknown; secret?: boolean }> }
}

/**
 * The host's app, running, and one event as the saved destination delivers it: the template's code
 * calls fetch(inputs.url, {headers: inputs.headers, body: inputs.body, method: inputs.method}), the
 * body {event, person} rendered from the event's globals (nodejs/src/cdp/types.ts).
 */
async function intake() {
  const host = await Host.open({ dataDir, secretKey: 'd'.repeat(64), logger: silent, processMetrics: false })
  await host.start({ scheduler: false })
  const app = createApp(host)
  const exposure = p.events.find((e) => e.event === '$feature_flag_called')!
  const body = JSON.stringify(webhookBody(exposure, HOST, PROJECT))
  const deliver = async (headers: Record<string, string>) => {
    const { inputs } = await savedDestination()
    const path = new URL(String(inputs.url!.value)).pathname
    return app.request(path, { method: String(inputs.method!.value), body, headers })
  }
  return { app, body, deliver, stop: () => host.stop() }
}

describe('connect reads the destination back: a PostHog that drops signing_secret', () => {
  beforeEach(() => {
    functions = []
    writes.length = 0
    out = ''
    err = ''
  })

  it('with signing_secret in the template, the secret reads back as {"secret": true} and deliveries stay signed', async () => {
    await runConnect(opts())
    expect(writes.map((w) => w.method)).toEqual(['POST']) // nothing to fall back from
    const { inputs } = await savedDestination()
    expect(inputs.signing_secret).toEqual({ secret: true })
    expect(inputs.headers!.value).toEqual({ 'Content-Type': 'application/json' })
    expect(err).toMatch(/signed with the intake's secret/)
    expect(err).not.toMatch(/Authorization|dropped/)
    const secret = await intakeSecret()
    const t = await intake()
    try {
      const signed = await postSigned(t.app, PROJECT, secret, t.body)
      expect(signed.status, await signed.clone().text()).toBe(200)
      expect((await t.deliver({ 'Content-Type': 'application/json' })).status).toBe(401)
    } finally {
      await t.stop()
    }
  })

  it('without it (an older or self-hosted PostHog), connect falls back to an Authorization header, says so, and the intake takes exactly that header', async () => {
    template = UNSIGNED_TEMPLATE
    await runConnect(opts())
    const secret = await intakeSecret()
    // Saved, read back, found unsigned, saved again with the bearer and no signing_secret.
    expect(writes.map((w) => w.method)).toEqual(['POST', 'PATCH'])
    const fallback = writes[1]!.body as { inputs: Record<string, { value: unknown }> }
    expect(fallback.inputs.signing_secret).toBeUndefined()
    expect(fallback.inputs.headers!.value).toEqual({ 'Content-Type': 'application/json', Authorization: `Bearer ${secret}` })
    const { inputs } = await savedDestination()
    expect(inputs.signing_secret).toBeUndefined()
    expect(inputs.headers!.value).toEqual({ 'Content-Type': 'application/json', Authorization: `Bearer ${secret}` })
    // What was dropped, what was done instead, and that the requests are no longer signed.
    expect(err).toMatch(/dropped the destination's signing_secret input/)
    expect(err).toMatch(/template has no such input/)
    expect(err).toMatch(/Authorization header \(Bearer\)/)
    expect(err).toMatch(/authenticated by that bearer header, not signed/)
    expect(err).toMatch(/bearer token \(not signed\)/)
    expect(out + err).not.toContain(secret.slice(6))
    const t = await intake()
    try {
      const taken = await t.deliver(inputs.headers!.value as Record<string, string>)
      expect(taken.status, await taken.clone().text()).toBe(200)
      expect((await t.deliver({ 'Content-Type': 'application/json' })).status).toBe(401)
      expect((await t.deliver({ 'Content-Type': 'application/json', Authorization: `Bearer ${secret}x` })).status).toBe(401)
      expect((await t.deliver({ 'Content-Type': 'application/json', Authorization: 'Bearer whsec_' })).status).toBe(401)
    } finally {
      await t.stop()
    }
  })

  it('run again on that PostHog, the update carries the header from the start (no delivery goes out with neither), and --dry-run hides it', async () => {
    template = UNSIGNED_TEMPLATE
    await runConnect(opts())
    writes.length = 0
    await runConnect(opts())
    const secret = await intakeSecret()
    expect(writes.map((w) => w.method)).toEqual(['PATCH'])
    expect((writes[0]!.body as { inputs: { headers: { value: Record<string, string> } } }).inputs.headers.value.Authorization).toBe(`Bearer ${secret}`)
    expect((await savedDestination()).inputs.headers!.value).toMatchObject({ Authorization: `Bearer ${secret}` })
    out = ''
    await runConnect(opts({ dryRun: true }))
    expect(out).toMatch(/"Authorization": "Bearer \(the intake's secret, not shown\)"/)
    expect(out + err).not.toContain(secret.slice(6))
  })

  it("once the function's saved inputs have signing_secret, connect signs again and removes the header", async () => {
    template = UNSIGNED_TEMPLATE
    await runConnect(opts())
    // Without the data pipelines add-on an update is validated against the template's current
    // inputs_schema (posthog/api/hog_function.py, HogFunctionSerializer.validate): here, a newer one.
    functions[0]!.inputs_schema = [...SIGNING_TEMPLATE]
    writes.length = 0
    err = ''
    await runConnect(opts())
    expect(writes.map((w) => w.method)).toEqual(['PATCH', 'PATCH']) // both proofs, then the signature alone
    const { inputs } = await savedDestination()
    expect(inputs.signing_secret).toEqual({ secret: true })
    expect(inputs.headers!.value).toEqual({ 'Content-Type': 'application/json' })
    expect(err).toMatch(/Authorization header \(the earlier fallback\) is removed/)
    expect(err).toMatch(/signed with the intake's secret/)
  })

  it('fails, and says why, when PostHog keeps neither the signing secret nor the header', async () => {
    template = UNSIGNED_TEMPLATE.filter((s) => s.key !== 'headers')
    const e = await runConnect(opts()).catch((x: unknown) => x)
    expect(e).toBeInstanceOf(ExitError)
    expect((e as Error).message).toMatch(/kept neither the destination's signing_secret input nor its Authorization header/)
    expect((e as Error).message + out + err).not.toContain((await intakeSecret()).slice(6))
  })
})
