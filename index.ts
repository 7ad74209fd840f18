/**
 * The PostHog plugin: a thin adapter from plugin-server's calls to `src/`. The standalone host
 * calls these very exports, so a plugin-server and the host count the same way.
 */
import type { Meta, PluginEvent, PluginInput, ProcessedPluginEvent } from '@posthog/plugin-scaffold'
import type { ContractCache } from './src/counters/cache.js'
import { ensureWatermark } from './src/posthog/backfill-job.js'
import { forgetSettled, type IngestVia } from './src/counters/ingest.js'
import {
  OBSERVATIONS_STORAGE_KEY,
  canBackfill,
  createPluginState,
  observeWithBackfill,
  handleEvent,
  lookForDefinitions,
  type EventOutcome,
  refreshDefinitions,
  type PluginHooks,
  type PluginState,
} from './src/plugin/state.js'
import { minuteLine, snapshotTally, type EventTally } from './src/plugin/minute-line.js'

// plugin-server's VM has no queueMicrotask (a Node and browser global, not JavaScript's), and the
// API client's request queue (p-queue) calls it: a promise job does the same.
if (typeof globalThis.queueMicrotask !== 'function') {
  globalThis.queueMicrotask = (task: () => void) => void Promise.resolve().then(task)
}

export interface CoverageInput extends PluginInput {
  config: Record<string, string>
  global: { state?: PluginState; hooks?: PluginHooks }
}
type CoverageMeta = Meta<CoverageInput>

function stateOf(meta: CoverageMeta): PluginState {
  if (!meta.global.state) throw new Error('experiment-coverage: setupPlugin has not run')
  return meta.global.state
}

export async function setupPlugin(meta: CoverageMeta): Promise<void> {
  // A SettingsError names each bad field; plugin-server shows it where the plugin fails to start.
  const state = await createPluginState(meta.config, meta.cache as ContractCache, meta.global.hooks)
  // With PostHog credentials, live counters count from the backfill watermark on, and count what
  // the project's experiments define (fetched now, refreshed from runEveryMinute).
  if (canBackfill(state)) {
    state.split.watermark = await ensureWatermark(meta.storage, state.ingest.now())
    await refreshDefinitions(state, meta.storage, { fetch: true })
  }
  meta.global.state = state
}

/**
 * Counts one event. plugin-server ignores what onEvent returns; the host answers the webhook with
 * it (2xx only once the counters hold the event, 503 when the cache failed). `via` is the host's:
 * plugin-server passes the event and meta only.
 */
export function onEvent(event: ProcessedPluginEvent | PluginEvent, meta: CoverageMeta, via: IngestVia = {}): Promise<EventOutcome | 'not_set_up'> {
  const state = meta.global.state
  if (!state) return Promise.resolve('not_set_up') // setup failed: PostHog already shows why; counting nothing is the honest result
  // At most once a minute there are stored definitions to look for; between, no promise to wait on.
  // Storage unavailable: keep counting with the definitions this worker has.
  let look: Promise<void> | undefined
  try {
    look = lookForDefinitions(state, meta.storage)
  } catch {
    look = undefined
  }
  if (look) return look.then(
    () => handleEvent(state, event, via),
    () => handleEvent(state, event, via),
  )
  return handleEvent(state, event, via)
}

export async function runEveryMinute(meta: CoverageMeta): Promise<void> {
  const state = stateOf(meta)
  await refreshDefinitions(state, meta.storage, { fetch: true })
  const observations = await observeWithBackfill(state, meta.cache as ContractCache, meta.storage, meta.config)
  await meta.storage.set(OBSERVATIONS_STORAGE_KEY, observations)
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

export async function teardownPlugin(meta: CoverageMeta): Promise<void> {
  if (meta.global.state) await forgetSettled(meta.global.state.ingest)
  meta.global.state?.ingest.memo.clear()
  delete meta.global.state
}
