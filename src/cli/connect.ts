import pino from 'pino'
import { parseSettings } from '../settings/settings.js'
import { BILLING_NOTE, DEFAULT_DESTINATION_NAME, applyConnect, disconnect, findDestination, planConnect, settleDeliveryAuth, shownRequest, type DestinationInput, type SettledAuth } from '../host/destination.js'
import { SECRET_KEYS } from '../host/host.js'
import { DESTINATION_KEY, type StoredDestination } from '../host/destination.js'
import { pluginStorage } from '../host/store.js'
import { intakeEvents } from '../host/project.js'
import { hooksFromDefinitions } from '../plugin/definition-hooks.js'
import { configuredGoals } from '../settings/settings.js'
import { PostHogApiError, PostHogClient } from '../posthog/client.js'
import { fetchDefinitions } from '../posthog/definitions.js'
import { ExitError } from './errors.js'
import { checkSigningSecret, openHost, type HostCliOptions } from './serve.js'
import { forTerminal } from './terminal.js'

export interface ConnectOptions extends HostCliOptions {
  /** the address PostHog reaches the host at (COVERAGE_PUBLIC_URL) */
  readonly url?: string
  readonly name: string
  readonly secret?: string
  readonly dryRun: boolean
}

const say = (m: string) => process.stderr.write(`${forTerminal(m)}\n`)

function credentials(): { host: string; projectId: string; key: string } {
  const projectId = process.env.POSTHOG_PROJECT_ID
  const key = process.env.POSTHOG_PERSONAL_API_KEY
  if (!projectId || !key) throw new ExitError('set POSTHOG_PROJECT_ID and POSTHOG_PERSONAL_API_KEY (a key with hog_function:write, and read access to flags, experiments and cohorts), and POSTHOG_HOST (default https://us.posthog.com)', 2)
  return { host: process.env.POSTHOG_HOST ?? 'https://us.posthog.com', projectId, key }
}

function explain(e: unknown): never {
  if (e instanceof PostHogApiError && e.status === 403) throw new ExitError(`${e.message} Creating a destination needs the hog_function:write scope on the personal API key.`, 1)
  if (e instanceof PostHogApiError) throw new ExitError(e.message, 1)
  throw e
}

/** What the read-back found, in words; never the secret. */
function authNotes(s: SettledAuth): string[] {
  if (s.auth === 'signature') return s.bearerRemoved ? ["PostHog now keeps the destination's signing_secret input: its Authorization header (the earlier fallback) is removed, and the requests are signed again"] : []
  const why = s.templateSigns ? 'PostHog did not keep it' : "this PostHog's HTTP Webhook template has no such input (an older or self-hosted PostHog)"
  return [
    `PostHog dropped the destination's signing_secret input without an error when it was saved: ${why}. Unsigned, every delivery would be refused with 401, and PostHog does not retry a 401.`,
    "instead the intake's secret is now the destination's Authorization header (Bearer), saved and read back from PostHog: the requests are authenticated by that bearer header, not signed.",
    // An update is validated against the input list the function was saved with (posthog/api/hog_function.py), so only a new destination picks up a newer template.
    "the headers input is not a secret input in PostHog: anyone who can read this project's destinations there can read that header. Once this PostHog's template has signing_secret, run disconnect and then connect to create the destination afresh, signed.",
  ]
}

/**
 * `experiment-coverage connect`: creates (or updates, found by name) the HTTP Webhook destination
 * that feeds this host's intake for the project, filtered to the events the intake counts. The
 * project is added to the host's store when it is not there yet, so `serve` counts it.
 */
export async function runConnect(opts: ConnectOptions): Promise<void> {
  const { host: posthogHost, projectId, key } = credentials()
  const url = (opts.url ?? process.env.COVERAGE_PUBLIC_URL)?.replace(/\/+$/, '')
  if (!url || !/^https?:\/\//.test(url)) throw new ExitError('give --url (or COVERAGE_PUBLIC_URL): the http(s) address PostHog reaches this host at, e.g. https://coverage.example.com', 2)
  if (/^https?:\/\/(localhost|127\.|\[::1\])/.test(url)) say(`connect: ${url} is this machine's loopback address; PostHog Cloud cannot reach it (fine for a self-hosted PostHog on this machine)`)
  if (opts.secret) checkSigningSecret(opts.secret)
  const host = await openHost(opts, { logger: pino({ level: 'warn' }, pino.destination(2)) })
  try {
    const config: Record<string, string> = { posthogProjectId: projectId, posthogPersonalApiKey: key, posthogHost }
    const row = await host.addProject({ id: projectId, config, ingestSecret: opts.secret, start: false })
    const client = new PostHogClient({ host: posthogHost, projectId, personalApiKey: key })
    // The destination sends what the plugin counts: exposures, the experiments' metric events, the configured goals and guardrails.
    const defs = await fetchDefinitions(client).catch(explain)
    // The stored settings (thresholds, goals), with the credentials in the clear from the environment.
    const merged = { ...Object.fromEntries(Object.entries(row.config).filter(([k]) => !SECRET_KEYS.has(k))), ...config }
    const hooks = await hooksFromDefinitions(defs, configuredGoals(parseSettings(merged)))
    const settings = parseSettings(merged, { countedEvents: hooks.countedEvents })
    const events = intakeEvents(settings, defs)
    const destination: DestinationInput = {
      name: opts.name,
      url: `${url}/ingest/${encodeURIComponent(projectId)}`,
      signingSecret: host.ingestSecret(row),
      events,
      filterTestAccounts: settings.filterTestAccounts,
    }
    const request = await planConnect(client, destination).catch(explain)
    say(`connect: ${request.method === 'POST' ? 'creating' : 'updating'} the destination "${opts.name}" in project ${projectId}: ${events.length} events (${events.slice(0, 6).join(', ')}${events.length > 6 ? ', ...' : ''}), test accounts ${settings.filterTestAccounts ? 'left out' : 'kept'}`)
    say(`connect: ${BILLING_NOTE}`)
    if (opts.dryRun) {
      process.stdout.write(shownRequest(request, client.base))
      say('connect: --dry-run: nothing was sent')
      return
    }
    const saved = await applyConnect(client, request).catch(explain)
    const id = saved.id || ((await findDestination(client, opts.name).catch(explain))?.id ?? '')
    if (!id) throw new ExitError(`PostHog answered the ${request.method} of the destination without its id, and no destination named "${opts.name}" is listed: check the project's destinations in PostHog`, 1)
    // The host keeps the destination's filter in step with the experiments (see DESTINATION_KEY).
    await pluginStorage(host.store, projectId).set(DESTINATION_KEY, { id, name: opts.name, events, filterTestAccounts: settings.filterTestAccounts } satisfies StoredDestination)
    // The destination as PostHog saved it: a PostHog without signing_secret drops it silently.
    const settled = await settleDeliveryAuth(client, id, destination).catch(explain)
    for (const line of authNotes(settled)) say(`connect: ${line}`)
    say(`connect: done (hog function ${id}); PostHog now posts those events to ${url}/ingest/${projectId}, ${settled.auth === 'signature' ? "signed with the intake's secret" : "with the intake's secret as a bearer token (not signed)"}`)
  } finally {
    await host.stop()
  }
}

export async function runDisconnect(opts: { name: string; dryRun: boolean }): Promise<void> {
  const { host, projectId, key } = credentials()
  const client = new PostHogClient({ host, projectId, personalApiKey: key })
  if (opts.dryRun) {
    say(`disconnect: --dry-run: would PATCH ${client.base}hog_functions/<id>/ {"deleted": true} for the destination named "${opts.name}"`)
    return
  }
  const removed = await disconnect(client, opts.name).catch(explain)
  say(removed ? `disconnect: removed the destination "${opts.name}" (hog function ${removed.id})` : `disconnect: project ${projectId} has no destination named "${opts.name}"`)
}

export { DEFAULT_DESTINATION_NAME }
