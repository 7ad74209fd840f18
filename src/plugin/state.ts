import { parseSettings, type CountedEvent, type Settings } from '../coverage/settings.js'
import type { ContractCache } from '../counters/cache.js'
import { createIngestContext, ingestEvent, type IngestContext, type IngestOutcome } from '../counters/ingest.js'
import type { Observations } from '../counters/observation.js'
import type { VariantValue } from '../events/types.js'
import { compileMatcherFilters } from '../hog/matchers.js'
import { mergeObservations } from '../counters/merge.js'
import { BACKFILL_KEY, backfillStep, ensureWatermark, type Storage, type StoredBackfill } from '../posthog/backfill-job.js'
import { PostHogClient } from '../posthog/client.js'
import { readObservations } from '../counters/read.js'
import type { ExperimentRun } from '../coverage/windows.js'

/** What the plugin keeps in `meta.global` (per worker; never shared, so nothing here may be a count that matters). */
export interface PluginState {
  readonly settings: Settings
  readonly project: string
  readonly ingest: IngestContext
  /** This worker's own tallies, for logs only: the shared counters are in the cache. */
  readonly local: Record<IngestOutcome | 'failed', number>
  readonly log: (level: 'info' | 'warn', message: string) => void
  /** the backfill watermark once PostHog credentials are set: live counters count from it on */
  readonly split: { watermark: number | null }
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
  /** Each experiment's run: its flag's numbers cover the run, whatever the lookback says. */
  readonly experimentRunOf?: (flag: string) => ExperimentRun | null
  /** Per experiment flag, the primary metric matchers that mark a unit as having reached its surface. */
  readonly surfaceMetrics?: ReadonlyMap<string, readonly string[]>
  /** Events to count per variant besides the configured goals, so the report can infer goals. */
  readonly countedEvents?: readonly CountedEvent[]
  /** Where the plugin's log lines go; plugin-server captures the console, the CLI sends them to stderr. */
  readonly log?: (level: 'info' | 'warn', message: string) => void
}

export const OBSERVATIONS_STORAGE_KEY = 'coverage/observations'

/** Validates the settings (throwing a SettingsError that names each bad field) and prepares ingestion. */
export async function createPluginState(config: Record<string, unknown>, cache: ContractCache, hooks: PluginHooks = {}): Promise<PluginState> {
  const settings = parseSettings(config, { countedEvents: hooks.countedEvents })
  const filters = settings.metrics.some((m) => m.filter) ? await compileMatcherFilters(settings) : undefined
  const project = settings.posthogProjectId || 'default'
  const split = { watermark: null as number | null }
  return {
    split,
    settings,
    project,
    ingest: createIngestContext({
      cache,
      settings,
      project,
      now: hooks.now,
      groupTypeOf: hooks.groupTypeOf,
      isCountedValue: hooks.isCountedValue,
      exposureFilterOf: hooks.exposureFilterOf,
      experimentRunOf: hooks.experimentRunOf,
      surfaceMetrics: hooks.surfaceMetrics,
      filters,
      watermark: () => split.watermark,
    }),
    local: { counted: 0, ignored: 0, duplicate: 0, rejected: 0, failed: 0 },
    log: hooks.log ?? ((level, message) => console[level](message)),
  }
}

/**
 * Counts one event. Never throws: a bad event is counted by reason inside `ingestEvent`; a cache
 * failure (Redis gone) loses this event's update, is tallied, and is logged once per minute.
 */
export async function handleEvent(state: PluginState, event: unknown): Promise<IngestOutcome | 'failed'> {
  try {
    const outcome = await ingestEvent(state.ingest, event)
    state.local[outcome]++
    return outcome
  } catch {
    state.local.failed++
    return 'failed'
  }
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
  state.split.watermark ??= await ensureWatermark(storage, nowMs)
  try {
    const client = new PostHogClient({
      host: state.settings.posthogHost,
      projectId: state.settings.posthogProjectId,
      personalApiKey: state.settings.posthogPersonalApiKey,
      timers: typeof setTimeout === 'function',
    })
    await backfillStep(storage, client, { nowMs, watermark: state.split.watermark, userConfig: config })
  } catch (e) {
    state.log('warn', `experiment-coverage: backfill step failed, will retry: ${(e as Error).message}`)
  }
  const stored = (await storage.get(BACKFILL_KEY, null)) as StoredBackfill | null
  return mergeObservations(live, stored && stored.watermark === state.split.watermark ? stored.observations : null)
}
