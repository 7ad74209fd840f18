import type { PostHogClient } from '../posthog/client.js'

/**
 * The HTTP Webhook destination that feeds the host (POSTHOG-FACTS §1b): PostHog's own
 * `template-webhook`, created per project through the hog_functions API, filtered to the events the
 * intake counts, signing each request with the intake's Standard Webhooks secret.
 */
export const DEFAULT_DESTINATION_NAME = 'Experiment Coverage'
export const BILLING_NOTE =
  "PostHog bills destinations under its data pipelines add-on: the HTTP Webhook template is not free, and each delivered event counts as one invocation."

export interface DestinationInput {
  readonly name: string
  /** the host's intake URL for this project, as PostHog will reach it */
  readonly url: string
  readonly signingSecret: string
  readonly events: readonly string[]
  readonly filterTestAccounts: boolean
}

/** The body of POST/PATCH /api/projects/:id/hog_functions/. */
export function destinationBody(d: DestinationInput) {
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
      headers: { value: { 'Content-Type': 'application/json' } },
      signing_secret: { value: d.signingSecret },
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

/** The request as `--dry-run` prints it: the signing secret is not shown. */
export function shownRequest(r: PlannedRequest, base: string): string {
  const body = structuredClone(r.body) as { inputs?: { signing_secret?: { value?: string } } }
  if (body.inputs?.signing_secret?.value) body.inputs.signing_secret.value = '(the intake\'s signing secret, not shown)'
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

/** Creates the destination, or updates the one found by name: running it twice changes nothing more. */
export async function planConnect(client: PostHogClient, d: DestinationInput): Promise<PlannedRequest> {
  const existing = await findDestination(client, d.name)
  const body = destinationBody(d)
  if (!existing) return { method: 'POST', path: 'hog_functions/', body }
  // The type of a hog function cannot change after creation; the rest is replaced.
  return { method: 'PATCH', path: `hog_functions/${encodeURIComponent(existing.id)}/`, body }
}

export async function applyConnect(client: PostHogClient, r: PlannedRequest): Promise<{ id: string }> {
  const res = (await client.write(r.method === 'POST' ? 'post' : 'patch', r.path, r.body)) as { id?: unknown }
  return { id: String(res?.id ?? '') }
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
export const DESTINATION_KEY = 'coverage/destination'
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
