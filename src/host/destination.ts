import { PostHogApiError, type PostHogClient } from '../posthog/client.js'
import { sameSecret } from './secrets.js'
import { STORAGE_KEYS } from '../storage-keys.js'

/**
 * The HTTP Webhook destination that feeds the host (POSTHOG-FACTS §1b): PostHog's own
 * `template-webhook`, created per project through the hog_functions API, filtered to the events the
 * intake counts, signing each request with the intake's Standard Webhooks secret; or, on a PostHog
 * whose template has no `signing_secret` input, carrying that secret as an Authorization header.
 */
export const DEFAULT_DESTINATION_NAME = 'Experiment Coverage'
export const BILLING_NOTE =
  "PostHog bills destinations under its data pipelines add-on: the HTTP Webhook template is not free, and each delivered event counts as one invocation."

/**
 * How PostHog proves to the intake that a delivery is its own: `signature` is the template's
 * `signing_secret` input (Standard Webhooks headers); `bearer` is `Authorization: Bearer <the same
 * secret>` in the `headers` input, for a PostHog that drops `signing_secret`; `both` only while
 * `connect` learns which one this PostHog keeps, so no delivery goes out with neither.
 */
export type DeliveryAuth = 'signature' | 'bearer' | 'both'

export interface DestinationInput {
  readonly name: string
  /** the host's intake URL for this project, as PostHog will reach it */
  readonly url: string
  /** the project's intake secret (`whsec_...`): the signing secret, or the bearer token */
  readonly signingSecret: string
  readonly events: readonly string[]
  readonly filterTestAccounts: boolean
  /** default `signature` */
  readonly auth?: DeliveryAuth
}

/** The body of POST/PATCH /api/projects/:id/hog_functions/. */
export function destinationBody(d: DestinationInput) {
  const auth = d.auth ?? 'signature'
  const headers: Record<string, string> = { 'Content-Type': 'application/json' }
  if (auth !== 'signature') headers.Authorization = `Bearer ${d.signingSecret}`
  return {
    type: 'destination',
    template_id: 'template-webhook',
    name: d.name,
    description: 'Sends flag exposures and the experiments\' metric events to Experiment Coverage, which keeps per-variant coverage counters.',
    enabled: true,
    inputs: {
      url: { value: d.url },
      method: { value: 'POST' },
      body: { value: { event: '{event}', person: '{person}' } },
      headers: { value: headers },
      ...(auth === 'bearer' ? {} : { signing_secret: { value: d.signingSecret } }),
    },
    filters: {
      source: 'events',
      events: d.events.map((id, order) => ({ id, name: id, type: 'events', order })),
      filter_test_accounts: d.filterTestAccounts,
    },
    masking: null,
  }
}

export interface PlannedRequest {
  readonly method: 'POST' | 'PATCH'
  readonly path: string
  readonly body: unknown
}

/** The request as `--dry-run` prints it: the intake's secret is not shown, neither as signing secret nor as bearer. */
export function shownRequest(r: PlannedRequest, base: string): string {
  const body = structuredClone(r.body) as { inputs?: { signing_secret?: { value?: string }; headers?: { value?: Record<string, string> } } }
  if (body.inputs?.signing_secret?.value) body.inputs.signing_secret.value = '(the intake\'s signing secret, not shown)'
  const headers = body.inputs?.headers?.value
  if (headers?.Authorization) headers.Authorization = 'Bearer (the intake\'s secret, not shown)'
  return `${r.method} ${base}${r.path}\n${JSON.stringify(body, null, 2)}\n`
}

interface HogFunctionSummary {
  id: string
  name?: string
  type?: string
  deleted?: boolean
}

/** The destination of that name in the project, if any (the list shows destinations only). */
export async function findDestination(client: PostHogClient, name: string): Promise<HogFunctionSummary | null> {
  const all = (await client.list('hog_functions/?type=destination')) as HogFunctionSummary[]
  return all.find((f) => f.name === name && f.deleted !== true && (f.type ?? 'destination') === 'destination') ?? null
}

/**
 * Creates the destination, or updates the one found by name: running it twice changes nothing more.
 * A new destination asks to be signed. One that this PostHog already authenticates by bearer (it
 * dropped the signing secret before) keeps its Authorization header in the update too, so no
 * delivery goes out with neither while `settleDeliveryAuth` finds out which one PostHog keeps now.
 */
export async function planConnect(client: PostHogClient, d: DestinationInput): Promise<PlannedRequest> {
  const existing = await findDestination(client, d.name)
  if (!existing) return { method: 'POST', path: 'hog_functions/', body: destinationBody({ ...d, auth: 'signature' }) }
  const path = `hog_functions/${encodeURIComponent(existing.id)}/`
  const auth: DeliveryAuth = savedAuth(await client.get(path), d.signingSecret).bearer ? 'both' : 'signature'
  // The type of a hog function cannot change after creation; the rest is replaced.
  return { method: 'PATCH', path, body: destinationBody({ ...d, auth }) }
}

export async function applyConnect(client: PostHogClient, r: PlannedRequest): Promise<{ id: string }> {
  const res = (await client.write(r.method === 'POST' ? 'post' : 'patch', r.path, r.body)) as { id?: unknown }
  return { id: String(res?.id ?? '') }
}

/** What PostHog kept of the destination's proof, as a GET of the hog function shows it. */
export interface SavedAuth {
  /** `signing_secret` is set: PostHog signs every delivery */
  readonly signed: boolean
  /** the `headers` input carries `Authorization: Bearer <the intake's secret>` */
  readonly bearer: boolean
  /** the function's `inputs_schema` (its template's inputs when it was saved) has `signing_secret` */
  readonly templateSigns: boolean
}

/**
 * Reads a hog function as PostHog's API returns it (`HogFunctionSerializer`, posthog/api/hog_function.py):
 * - inputs are validated by walking the function's `inputs_schema`, not the inputs sent
 *   (posthog/cdp/validation.py, `InputsSerializer.run_child_validation` / `validate_inputs`): an input
 *   the template does not define is dropped without an error, and one without a `value` is left out.
 *   A PATCH validates against the function's saved `inputs_schema` (`instance.inputs_schema`), so
 *   an old destination keeps its old list; only without the data pipelines add-on is every save
 *   validated against the template's current list (`HogFunctionSerializer.validate`).
 * - secret inputs are moved to `encrypted_inputs` on save (posthog/models/hog_functions/hog_function.py,
 *   `move_secret_inputs`), and `to_representation` answers each secret input that has a value with
 *   exactly `{"secret": true}`, never the value. So a kept signing secret reads back as
 *   `{"secret": true}`; a dropped one is absent. The marker cannot be an older secret: a value we
 *   send replaces the stored one (only `{"secret": true}` or `{}` sent keeps it).
 * - `headers` is not a secret input in any version of `template-webhook` read (plugin-server/ and
 *   nodejs/src/cdp/templates/_destinations/webhook/webhook.template.ts), so its value reads back in
 *   the clear and the bearer is compared with the secret. Were it masked, it would not count as kept.
 */
export function savedAuth(fn: unknown, secret: string): SavedAuth {
  const f = (fn ?? {}) as { inputs?: Record<string, { value?: unknown; secret?: unknown } | null> | null; inputs_schema?: { key?: unknown }[] | null }
  const inputs = f.inputs ?? {}
  const signing = inputs.signing_secret
  // A PostHog that does not mask the input would show the value itself; then it must be ours.
  const signed = !!signing && (signing.secret === true || (typeof signing.value === 'string' && sameSecret(signing.value, secret)))
  const headers = inputs.headers?.value
  const authorization =
    headers && typeof headers === 'object' && !Array.isArray(headers) ? Object.entries(headers as Record<string, unknown>).find(([k]) => k.toLowerCase() === 'authorization')?.[1] : undefined
  const bearer = typeof authorization === 'string' && sameSecret(authorization, `Bearer ${secret}`)
  const templateSigns = (f.inputs_schema ?? []).some((s) => s?.key === 'signing_secret')
  return { signed, bearer, templateSigns }
}

export interface SettledAuth {
  /** how PostHog now proves its deliveries; `bearer` means it dropped the `signing_secret` input */
  readonly auth: 'signature' | 'bearer'
  /** the inputs_schema the function was saved with has `signing_secret` (so it was dropped for another reason) */
  readonly templateSigns: boolean
  /** the Authorization header an earlier fallback set was removed (PostHog signs now) */
  readonly bearerRemoved: boolean
}

/**
 * Reads the destination back after `connect` saved it (POSTHOG-FACTS §7): a PostHog whose
 * template has no `signing_secret` drops it without a word, its deliveries arrive unsigned, the
 * intake answers 401 and PostHog does not retry a 401. Then the intake's secret goes in the
 * `headers` input as `Authorization: Bearer`, saved with a PATCH and read back again. When PostHog
 * signs and an earlier fallback's header is still there, it is removed: it is readable by anyone
 * who can read the project's destinations. Throws when PostHog keeps neither.
 */
export async function settleDeliveryAuth(client: PostHogClient, id: string, d: DestinationInput): Promise<SettledAuth> {
  const path = `hog_functions/${encodeURIComponent(id)}/`
  const read = async () => savedAuth(await client.get(path), d.signingSecret)
  const first = await read()
  const auth = first.signed ? 'signature' : 'bearer'
  let saved = first
  if (auth === 'signature' ? first.bearer : !first.bearer) {
    await client.write('patch', path, destinationBody({ ...d, auth }))
    saved = await read()
  }
  if (auth === 'bearer' && !saved.bearer) {
    throw new PostHogApiError(
      `PostHog kept neither the destination's signing_secret input nor its Authorization header (read back from ${path}): its deliveries would reach the intake unauthenticated and be refused with 401. Check the destination's inputs in PostHog (Data pipelines), or update PostHog.`,
      null,
      path,
    )
  }
  if (auth === 'signature' && !saved.signed) {
    // PostHog signed at the first read and not after a save of the same inputs: nothing to rely on.
    throw new PostHogApiError(`PostHog dropped the destination's signing_secret input when its Authorization header was removed (read back from ${path}): its deliveries would be refused with 401. Run connect again.`, null, path)
  }
  return { auth, templateSigns: first.templateSigns, bearerRemoved: auth === 'signature' && first.bearer && !saved.bearer }
}

/**
 * Removes the destination. PostHog's hog_functions API forbids DELETE (ForbidDestroyModel):
 * a hog function is removed with PATCH {deleted: true}.
 */
export async function disconnect(client: PostHogClient, name: string): Promise<{ id: string } | null> {
  const existing = await findDestination(client, name)
  if (!existing) return null
  await client.write('patch', `hog_functions/${encodeURIComponent(existing.id)}/`, { deleted: true })
  return { id: existing.id }
}

/** What `connect` set up, kept in the project's storage so the host can keep the filter current. */
export const DESTINATION_KEY = STORAGE_KEYS.destination
export interface StoredDestination {
  readonly id: string | null
  readonly name: string
  readonly events: readonly string[]
  readonly filterTestAccounts: boolean
}

/**
 * A new experiment brings new metric events: the destination must send them too. When the events
 * the intake counts differ from the destination's filter, PATCH the filter (found by name if
 * `connect` did not learn its id). Returns the new stored state, or null when nothing changed.
 */
export async function syncDestinationFilter(client: PostHogClient, stored: StoredDestination, events: readonly string[], filterTestAccounts: boolean): Promise<StoredDestination | null> {
  const same = stored.filterTestAccounts === filterTestAccounts && stored.events.length === events.length && stored.events.every((e, i) => e === events[i])
  if (same) return null
  const id = stored.id ?? (await findDestination(client, stored.name))?.id ?? null
  if (!id) return null
  await client.write('patch', `hog_functions/${encodeURIComponent(id)}/`, {
    filters: { source: 'events', events: events.map((e, order) => ({ id: e, name: e, type: 'events', order })), filter_test_accounts: filterTestAccounts },
  })
  return { ...stored, id, events: [...events], filterTestAccounts }
}
