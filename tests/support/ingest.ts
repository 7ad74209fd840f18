import { parseSettings } from '../../src/settings/settings.js'
import { CountingCache, type ContractCache } from '../../src/counters/cache.js'
import { createIngestContext, ingestEvent, type IngestContext } from '../../src/counters/ingest.js'
import { MemoryCache } from '../../src/counters/memory-cache.js'
import { readObservations } from '../../src/counters/read.js'
import type { FlagObservation } from '../../src/counters/observation.js'
import { NOW } from './events.js'

export interface Harness {
  readonly ctx: IngestContext
  readonly cache: CountingCache
  readonly memory: MemoryCache | null
  readonly clock: { now: number }
  ingest(...events: unknown[]): Promise<string[]>
  observe(): ReturnType<typeof readObservations>
  flag(key: string): Promise<FlagObservation | undefined>
}

export function harness(config: Record<string, unknown> = {}, cache?: ContractCache): Harness {
  const clock = { now: NOW }
  const memory = cache ? null : new MemoryCache(() => clock.now)
  const counting = new CountingCache(cache ?? (memory as MemoryCache))
  const settings = parseSettings(config)
  const ctx = createIngestContext({
    cache: counting,
    settings,
    project: '42',
    now: () => clock.now,
    groupTypeOf: (f) => (f.startsWith('company-') ? 'company' : null),
  })
  const observe = () => readObservations({ cache: counting, project: '42', lookbackDays: settings.lookbackDays, nowMs: clock.now })
  return {
    ctx,
    cache: counting,
    memory,
    clock,
    async ingest(...events) {
      const out: string[] = []
      for (const e of events) out.push(await ingestEvent(ctx, e))
      return out
    },
    observe,
    async flag(key) {
      return (await observe()).flags.find((f) => f.flag === key)
    },
  }
}

/** Per-variant view keyed by a readable label, for compact assertions. */
export function byValue<T extends { value: unknown }>(list: readonly T[]): Record<string, Omit<T, 'value'>> {
  const out: Record<string, Omit<T, 'value'>> = {}
  for (const { value, ...rest } of list) out[typeof value === 'string' ? value : `<${String(value)}>`] = rest
  return out
}
