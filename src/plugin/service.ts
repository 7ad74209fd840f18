/**
 * The plugin as a service: set up, count an event, the minute's work, tear down. It takes what it
 * needs as arguments (`PluginParts`): the settings, a cache and a storage keeping plugin-server's
 * contracts, and a place for its state. plugin-server's calls are mapped onto it by the root
 * `index.ts`; the host and the in-process runs (demo, offline audit) call it directly.
 */
import type { ContractCache } from '../counters/cache.js'
import { forgetSettled, type IngestVia } from '../counters/ingest.js'
import { ensureWatermark, type Storage } from '../posthog/backfill-job.js'
import { minuteLine, snapshotTally, type EventTally } from './minute-line.js'
import {
  OBSERVATIONS_STORAGE_KEY,
  canBackfill,
  createPluginState,
  handleEvent,
  lookForDefinitions,
  observeWithBackfill,
  refreshDefinitions,
  type EventOutcome,
  type PluginHooks,
  type PluginState,
} from './state.js'

/** What the plugin works with: plugin-server's `meta` has these, and so does each host runtime. */
export interface PluginParts {
  readonly config: Record<string, string>
  readonly cache: ContractCache
  readonly storage: Storage
  /** the state, kept between calls (plugin-server's `meta.global`), and the caller's hooks */
  readonly global: { state?: PluginState; hooks?: PluginHooks }
}

/** An event the plugin was not set up to count: setup failed, and already said why. */
export type CountOutcome = EventOutcome | 'not_set_up'

export async function setUp(parts: PluginParts): Promise<void> {
  // A SettingsError names each bad field; plugin-server shows it where the plugin fails to start.
  const state = await createPluginState(parts.config, parts.cache, parts.global.hooks)
  // With PostHog credentials, live counters count from the backfill watermark on, and count what
  // the project's experiments define (fetched now, refreshed each minute).
  if (canBackfill(state)) {
    state.backfill.watermark = await ensureWatermark(parts.storage, state.ingest.now())
    await refreshDefinitions(state, parts.storage, { fetch: true })
  }
  parts.global.state = state
}

/**
 * Counts one event. plugin-server ignores the outcome; the host answers the webhook with it (2xx
 * only once the counters hold the event, 503 when the cache failed). `via` is the host's.
 */
export function countEvent(parts: PluginParts, event: unknown, via: IngestVia = {}): Promise<CountOutcome> {
  const state = parts.global.state
  if (!state) return Promise.resolve('not_set_up') // setup failed: PostHog already shows why; counting nothing is the honest result
  // At most once a minute there are stored definitions to look for; between, no promise to wait on.
  // Storage unavailable: keep counting with the definitions this worker has.
  let look: Promise<void> | undefined
  try {
    look = lookForDefinitions(state, parts.storage)
  } catch {
    look = undefined
  }
  // No closure for the common case (nothing to look for): this runs for every event.
  if (!look) return handleEvent(state, event, via)
  const count = () => handleEvent(state, event, via)
  return look.then(count, count)
}

/** The minute's work: definitions refreshed, observations stored for the report, and the minute's line. */
export async function runMinute(parts: PluginParts): Promise<void> {
  const state = stateOf(parts)
  await refreshDefinitions(state, parts.storage, { fetch: true })
  const observations = await observeWithBackfill(state, parts.cache, parts.storage, parts.config)
  await parts.storage.set(OBSERVATIONS_STORAGE_KEY, observations)
  // What changed since the last minute: a failure warns in the minute it happens, not forever after.
  const now: EventTally = { outcomes: state.local, ignoredBy: state.ignoredBy }
  const failed = state.local.failed - state.lastMinute.outcomes.failed
  const error = state.local.error - state.lastMinute.outcomes.error
  if (failed > 0) state.log('warn', `experiment-coverage: ${failed} events could not be counted (cache unavailable)`)
  if (error > 0) state.log('warn', `experiment-coverage: ${error} events could not be counted because of a fault in the plugin (last: ${state.lastError ?? 'unknown'}); please report it`)
  const line = minuteLine(observations.flags.length, now, state.lastMinute)
  state.log(line.level, line.message)
  state.lastMinute = snapshotTally(now)
}

export async function tearDown(parts: PluginParts): Promise<void> {
  const state = parts.global.state
  if (state) {
    await forgetSettled(state.ingest)
    state.ingest.memo.clear()
  }
  delete parts.global.state
}

function stateOf(parts: PluginParts): PluginState {
  if (!parts.global.state) throw new Error('experiment-coverage: setupPlugin has not run')
  return parts.global.state
}
