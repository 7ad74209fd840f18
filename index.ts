/**
 * The PostHog plugin: plugin-server's calls mapped onto the plugin's service (src/plugin/service.ts).
 * The standalone host and the in-process runs call that service directly, so a plugin-server and
 * the host count the same way.
 */
import type { Meta, PluginEvent, PluginInput, ProcessedPluginEvent } from '@posthog/plugin-scaffold'
import type { ContractCache } from './src/counters/cache.js'
import { countEvent, runMinute, setUp, tearDown, type CountOutcome, type PluginParts } from './src/plugin/service.js'
import type { PluginHooks, PluginState } from './src/plugin/state.js'

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

/** plugin-server's meta, as the service's parts: its cache keeps the contract the counters use. */
const parts = (meta: CoverageMeta): PluginParts => ({ config: meta.config, cache: meta.cache as ContractCache, storage: meta.storage, global: meta.global })

export function setupPlugin(meta: CoverageMeta): Promise<void> {
  return setUp(parts(meta))
}

export function onEvent(event: ProcessedPluginEvent | PluginEvent, meta: CoverageMeta): Promise<CountOutcome> {
  return countEvent(parts(meta), event)
}

export function runEveryMinute(meta: CoverageMeta): Promise<void> {
  return runMinute(parts(meta))
}

export function teardownPlugin(meta: CoverageMeta): Promise<void> {
  return tearDown(parts(meta))
}
