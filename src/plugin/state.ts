import { configuredGoals, parseSettings, type CountedEvent, type Settings } from '../settings/settings.js'
import { CacheUnavailableError, type ContractCache } from '../counters/cache.js'
import { createIngestContext, IGNORED, ingestEvent, type FillingPeriod, type IgnoreReason, type IngestContext, type IngestOutcome, type IngestVia } from '../counters/ingest.js'
import { NO_IGNORED, type EventTally } from './minute-line.js'
import type { Observations } from '../counters/observation.js'
import type { RejectReason, VariantValue } from '../events/types.js'
import { compileMatcherFilters } from '../hog/matchers.js'
import { mergeObservations } from '../counters/merge.js'
import { BACKFILL_KEY, backfillStep, ensureWatermark, type Storage, type StoredBackfill } from '../posthog/backfill-job.js'
import { PostHogClient } from '../posthog/client.js'
import { readObservations } from '../counters/read.js'
import type { ExperimentRun } from '../definitions/windows.js'
import type { Definitions } from '../definitions/definitions.js'
import { fetchDefinitions } from '../posthog/definitions.js'
import { hooksFromDefinitions } from './definition-hooks.js'
import { STORAGE_KEYS } from '../storage-keys.js'

/** What the plugin keeps in `meta.global` (per worker; never shared, so nothing here may be a count that matters). */
export interface PluginState {
  settings: Settings
  readonly project: string
  ingest: IngestContext
  /**
   * This worker's own tallies, for logs only (the shared counters are in the cache). `failed`: the
   * cache was unavailable; `error`: this code failed on the event (a bug to report).
   */
  readonly local: Record<IngestOutcome | 'failed' | 'error', number>
  /** Why the `ignored` events of `local` were ignored, by reason (ingestEvent tells each). */
  readonly ignoredBy: Record<IgnoreReason, number>
  /** `local` and `ignoredBy` as the last minute's line saw them: each line says what changed since. */
  lastMinute: EventTally
  readonly log: (level: 'debug' | 'info' | 'warn', message: string) => void
  /** the backfill watermark once PostHog credentials are set: live counters count from it on */
  readonly backfill: { watermark: number | null }
  /** What the state was built from, so definitions fetched later can rebuild it. */
  readonly config: Record<string, unknown>
  readonly cache: ContractCache
  readonly hooks: PluginHooks
  /** When the definitions this worker counts with were fetched (shared through storage); null: none. */
  definitionsAt: number | null
  /** The last failure of this code on an event, for the minute's log line. */
  lastError?: string
  /** This worker looks at storage for newer definitions no earlier than this (its own clock). */
  nextDefinitionsLook: number
}

export interface PluginHooks {
  /** Injected by the host and tests; the plugin-server offers none and the plugin uses Date.now. */
  readonly now?: () => number
  /** For group-aggregated flags: the group type whose key is the unit. */
  readonly groupTypeOf?: (flag: string) => string | null
  /**
   * Which responses are the flag's own values (from its definition). Others are counted as exposure
   * events but kept out of the unit counts, as PostHog's exposure filter drops them. Without
   * definitions every value counts.
   */
  readonly isCountedValue?: (flag: string, value: VariantValue) => boolean
  /** Experiments' exposure criteria, compiled: only matching exposure events count for that flag. */
  readonly exposureFilterOf?: (flag: string) => readonly unknown[] | undefined
  /** The flags whose experiment counts exposures on a custom event, by the event's name. */
  readonly customExposureFlagsOf?: (event: string) => readonly string[] | undefined
  /** Flags whose experiment keeps a unit's first variant (`first_seen`). */
  readonly firstSeenFlags?: ReadonlySet<string>
  /** Each experiment's run: its flag's numbers cover the run, whatever the lookback says. */
  readonly experimentRunOf?: (flag: string) => ExperimentRun | null
  /** Per experiment flag, the primary metric matchers that mark a unit as having reached its surface. */
  readonly surfaceMetrics?: ReadonlyMap<string, readonly string[]>
  /** Events to count per variant besides the configured goals, so the report can infer goals. */
  readonly countedEvents?: readonly CountedEvent[]
  /** Periods the host fills from HogQL after an outage (live events in them are left out). */
  readonly filling?: () => readonly FillingPeriod[]
  /** Told each rejection by reason once it is counted (the host's metrics). */
  readonly onRejected?: (reason: RejectReason) => void
  /** Count each event exactly once across crashes and redeliveries (on by default; see createIngestContext). */
  readonly exactlyOnce?: boolean
  /** Where the plugin's log lines go; plugin-server captures the console, the CLI sends them to stderr. */
  readonly log?: (level: 'debug' | 'info' | 'warn', message: string) => void
}

export const OBSERVATIONS_STORAGE_KEY = STORAGE_KEYS.observations

/** Validates the settings (throwing a SettingsError that names each bad field) and prepares ingestion. */
export async function createPluginState(config: Record<string, unknown>, cache: ContractCache, hooks: PluginHooks = {}): Promise<PluginState> {
  const backfill = { watermark: null as number | null }
  const ignoredBy = { ...NO_IGNORED }
  const { settings, ingest } = await buildIngest(config, cache, hooks, backfill, ignoredBy)
  return {
    backfill,
    settings,
    project: settings.posthogProjectId || 'default',
    ingest,
    local: { counted: 0, ignored: 0, duplicate: 0, rejected: 0, failed: 0, error: 0 },
    ignoredBy,
    lastMinute: { outcomes: { counted: 0, ignored: 0, duplicate: 0, rejected: 0, failed: 0, error: 0 }, ignoredBy: { ...NO_IGNORED } },
    log: hooks.log ?? ((level, message) => console[level](message)),
    config,
    cache,
    hooks,
    definitionsAt: null,
    nextDefinitionsLook: 0,
  }
}

async function buildIngest(config: Record<string, unknown>, cache: ContractCache, hooks: PluginHooks, backfill: { watermark: number | null }, ignoredBy: Record<IgnoreReason, number>): Promise<{ settings: Settings; ingest: IngestContext }> {
  const settings = parseSettings(config, { countedEvents: hooks.countedEvents })
  const filters = settings.metrics.some((m) => m.filter) ? await compileMatcherFilters(settings) : undefined
  const project = settings.posthogProjectId || 'default'
  return {
    settings,
    ingest: createIngestContext({
      cache,
      settings,
      project,
      now: hooks.now,
      groupTypeOf: hooks.groupTypeOf,
      isCountedValue: hooks.isCountedValue,
      exposureFilterOf: hooks.exposureFilterOf,
      customExposureFlagsOf: hooks.customExposureFlagsOf,
      firstSeenFlags: hooks.firstSeenFlags,
      experimentRunOf: hooks.experimentRunOf,
      surfaceMetrics: hooks.surfaceMetrics,
      filters,
      watermark: () => backfill.watermark,
      filling: hooks.filling,
      onRejected: hooks.onRejected,
      onIgnored: (reason) => void ignoredBy[reason]++,
      exactlyOnce: hooks.exactlyOnce,
    }),
  }
}

export const DEFINITIONS_STORAGE_KEY = STORAGE_KEYS.definitions
// PostHog's own flag definitions poll (posthog-node local evaluation) is every 30 s; experiments
// change far less often than flags, and each refresh costs a few API pages and one GET per experiment.
export const DEFINITIONS_REFRESH_MS = 10 * 60_000
// How often each worker looks in storage for definitions another worker fetched.
const DEFINITIONS_LOOK_MS = 60_000

/** Definitions as storage keeps them (JSON: group types as pairs, not a Map). */
interface StoredDefinitions {
  readonly fetchedAt: number
  readonly flags: Definitions['flags']
  readonly experiments: Definitions['experiments']
  readonly cohorts: Definitions['cohorts']
  readonly groupTypes: [number, string][]
}

/** The host (or a test) gave the definitions' hooks itself: the plugin then never fetches its own. */
function hostGivesDefinitions(state: PluginState): boolean {
  return state.hooks.isCountedValue !== undefined || state.hooks.experimentRunOf !== undefined
}

/** The project's PostHog API client, from the settings (the key goes only to posthogHost). */
export function clientOf(state: PluginState): PostHogClient {
  return new PostHogClient({
    host: state.settings.posthogHost,
    projectId: state.settings.posthogProjectId,
    personalApiKey: state.settings.posthogPersonalApiKey,
    timers: typeof setTimeout === 'function',
  })
}

/** Rebuilds the counters' view of the project from definitions (the watermark and tallies stay). */
async function applyDefinitions(state: PluginState, stored: StoredDefinitions): Promise<void> {
  const defs: Definitions = { flags: stored.flags, experiments: stored.experiments, cohorts: stored.cohorts, groupTypes: new Map(stored.groupTypes) }
  const fromDefs = await hooksFromDefinitions(defs, configuredGoals(state.settings))
  const { settings, ingest } = await buildIngest(state.config, state.cache, { ...state.hooks, ...fromDefs }, state.backfill, state.ignoredBy)
  state.settings = settings
  state.ingest = ingest
  state.definitionsAt = stored.fetchedAt
}

/**
 * With PostHog credentials, the counters count what the experiments define (their metric events
 * and filters, exposure criteria, runs, the flags' own values and group types), as the backfill and
 * the offline audit do. Definitions are fetched at setup and when older than DEFINITIONS_REFRESH_MS
 * (from runEveryMinute, which runs on one worker), and kept in storage, where every worker finds them.
 * A failed fetch is logged; the plugin keeps counting with what it had.
 */
export async function refreshDefinitions(state: PluginState, storage: Storage, opts: { fetch: boolean }): Promise<void> {
  if (!canBackfill(state) || hostGivesDefinitions(state)) return
  const nowMs = state.ingest.now()
  let stored = (await storage.get(DEFINITIONS_STORAGE_KEY, null)) as StoredDefinitions | null
  if (opts.fetch && (!stored || nowMs - stored.fetchedAt >= DEFINITIONS_REFRESH_MS)) {
    try {
      const defs = await fetchDefinitions(clientOf(state), (m) => state.log('warn', `experiment-coverage: ${m}`))
      stored = { fetchedAt: nowMs, flags: defs.flags, experiments: defs.experiments, cohorts: defs.cohorts, groupTypes: [...defs.groupTypes] }
      await storage.set(DEFINITIONS_STORAGE_KEY, stored)
    } catch (e) {
      state.log('warn', `experiment-coverage: could not fetch the project's flags and experiments, counting with ${stored ? 'the ones fetched before' : 'none'}: ${(e as Error).message}`)
    }
  }
  state.nextDefinitionsLook = nowMs + DEFINITIONS_LOOK_MS
  if (stored && stored.fetchedAt !== state.definitionsAt) await applyDefinitions(state, stored)
}

/**
 * Every worker: at most once a minute, picks up definitions another worker stored. Nothing to wait
 * for (undefined) between looks, so the events in between cost no promise.
 */
export function lookForDefinitions(state: PluginState, storage: Storage): Promise<void> | undefined {
  if (state.ingest.now() < state.nextDefinitionsLook) return undefined
  return refreshDefinitions(state, storage, { fetch: false })
}

/**
 * Counts one event. Never throws: a bad event is counted by reason inside `ingestEvent`; a cache
 * failure (Redis gone) loses this event's update, is tallied, and is logged once per minute.
 */
export type EventOutcome = IngestOutcome | 'failed' | 'error'

export function handleEvent(state: PluginState, event: unknown, via: IngestVia = {}): Promise<EventOutcome> {
  let counting: Promise<IngestOutcome>
  try {
    counting = ingestEvent(state.ingest, event, via)
  } catch (e) {
    return Promise.resolve(failedWith(state, e))
  }
  // Most events: nothing to count, answered without a promise or a turn of their own.
  if (counting === IGNORED) {
    state.local.ignored++
    return IGNORED
  }
  return counting.then(
    (outcome) => {
      state.local[outcome]++
      return outcome
    },
    (e: unknown) => failedWith(state, e),
  )
}

function failedWith(state: PluginState, e: unknown): 'failed' | 'error' {
  if (e instanceof CacheUnavailableError) {
    state.local.failed++
    return 'failed'
  }
  // Not the cache: this code failed on the event. Said as such (once a minute), never as the cache.
  state.local.error++
  state.lastError = e instanceof Error ? e.message : String(e)
  return 'error'
}

export async function collectObservations(state: PluginState, cache: ContractCache): Promise<Observations> {
  return readObservations({
    cache,
    project: state.project,
    lookbackDays: state.settings.lookbackDays,
    experimentMaxDays: state.settings.experimentMaxDays,
    experimentRunOf: state.ingest.runOf,
    nowMs: state.ingest.now(),
  })
}

/**
 * The live counters merged with the backfill already stored (no backfill step: for reads between
 * runs). A watermark is set with PostHog credentials, or by the host for the demo, whose past is
 * counted offline and stored as its backfill.
 */
export async function observeStored(state: PluginState, cache: ContractCache, storage: Storage): Promise<Observations> {
  const live = await collectObservations(state, cache)
  if (state.backfill.watermark === null) return live
  const stored = (await storage.get(BACKFILL_KEY, null)) as StoredBackfill | null
  return mergeObservations(live, stored && stored.watermark === state.backfill.watermark ? stored.observations : null)
}

/** True when the settings can reach PostHog's API (a project and a personal API key). */
export function canBackfill(state: PluginState): boolean {
  return state.settings.posthogProjectId !== '' && state.settings.posthogPersonalApiKey !== ''
}

/**
 * With credentials: fix the watermark (live counters count from it on), run one step of the
 * HogQL backfill of what came before, and return the live counters merged with the backfill.
 * Without: the live counters alone. A failing backfill step is logged and retried next time.
 */
export async function observeWithBackfill(state: PluginState, cache: ContractCache, storage: Storage, config: Record<string, unknown>): Promise<Observations> {
  const live = await collectObservations(state, cache)
  if (!canBackfill(state)) return live
  const nowMs = state.ingest.now()
  state.backfill.watermark ??= await ensureWatermark(storage, nowMs)
  try {
    await backfillStep(storage, clientOf(state), { nowMs, watermark: state.backfill.watermark, userConfig: config })
  } catch (e) {
    state.log('warn', `experiment-coverage: backfill step failed, will retry: ${(e as Error).message}`)
  }
  const stored = (await storage.get(BACKFILL_KEY, null)) as StoredBackfill | null
  return mergeObservations(live, stored && stored.watermark === state.backfill.watermark ? stored.observations : null)
}
