import * as plugin from '../../index.js'
import type { ContractCache } from '../counters/cache.js'
import { MemoryCache } from '../counters/memory-cache.js'
import type { Observations } from '../counters/observation.js'
import { MemoryStorage } from '../counters/memory-storage.js'
import { OBSERVATIONS_STORAGE_KEY, type PluginHooks } from './state.js'

/**
 * Runs the plugin's own exports (setupPlugin, onEvent, runEveryMinute) in this process, with the
 * embedded default parts: an in-memory cache and storage. The demo and offline runs use it, so
 * their numbers are the live plugin's by construction.
 */
export class EmbeddedPlugin {
  readonly meta: {
    config: Record<string, string>
    cache: ContractCache
    storage: MemoryStorage
    global: { hooks?: PluginHooks }
    attachments: Record<string, never>
  }

  constructor(config: Record<string, string>, hooks: PluginHooks = {}, cache: ContractCache = new MemoryCache(hooks.now)) {
    this.meta = { config, cache, storage: new MemoryStorage(), global: { hooks }, attachments: {} }
  }

  // The scaffold's Meta type asks for jobs/metrics/geoip the plugin never touches.
  private get anyMeta(): Parameters<typeof plugin.setupPlugin>[0] {
    return this.meta as unknown as Parameters<typeof plugin.setupPlugin>[0]
  }

  setup(): Promise<void> {
    return plugin.setupPlugin(this.anyMeta)
  }

  onEvent(event: unknown): ReturnType<typeof plugin.onEvent> {
    return plugin.onEvent(event as Parameters<typeof plugin.onEvent>[0], this.anyMeta)
  }

  async observe(): Promise<Observations> {
    await plugin.runEveryMinute(this.anyMeta)
    return (await this.meta.storage.get(OBSERVATIONS_STORAGE_KEY, null)) as Observations
  }

  teardown(): Promise<void> {
    return plugin.teardownPlugin(this.anyMeta)
  }
}
