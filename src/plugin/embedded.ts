import type { ContractCache } from '../counters/cache.js'
import { MemoryCache } from '../counters/memory-cache.js'
import type { Observations } from '../counters/observation.js'
import { MemoryStorage } from '../counters/memory-storage.js'
import { countEvent, runMinute, setUp, tearDown, type CountOutcome } from './service.js'
import { OBSERVATIONS_STORAGE_KEY, type PluginHooks, type PluginState } from './state.js'

/**
 * Runs the plugin's service (set up, count, the minute's work) in this process, with the
 * embedded default parts: an in-memory cache and storage. The demo and offline runs use it, so
 * their numbers are the live plugin's by construction.
 */
export class EmbeddedPlugin {
  readonly meta: {
    config: Record<string, string>
    cache: ContractCache
    storage: MemoryStorage
    global: { state?: PluginState; hooks?: PluginHooks }
  }

  constructor(config: Record<string, string>, hooks: PluginHooks = {}, cache: ContractCache = new MemoryCache(hooks.now)) {
    this.meta = { config, cache, storage: new MemoryStorage(), global: { hooks } }
  }

  setup(): Promise<void> {
    return setUp(this.meta)
  }

  onEvent(event: unknown): Promise<CountOutcome> {
    return countEvent(this.meta, event)
  }

  async observe(): Promise<Observations> {
    await runMinute(this.meta)
    return (await this.meta.storage.get(OBSERVATIONS_STORAGE_KEY, null)) as Observations
  }

  teardown(): Promise<void> {
    return tearDown(this.meta)
  }
}
