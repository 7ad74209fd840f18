import { describe, expect, it } from 'vitest'
import { createIngestContext, ingestEvent } from '../../src/counters/ingest.js'
import { KeyScheme } from '../../src/counters/keys.js'
import { MemoryCache } from '../../src/counters/memory-cache.js'
import { FLAG } from '../../src/counters/schema.js'
import { storeFor, type CounterStore } from '../../src/counters/store.js'
import { hooksFromDefinitions } from '../../src/plugin/definition-hooks.js'
import { parseSettings } from '../../src/settings/settings.js'
import { definitionsOf, simulate } from '../../src/sim/simulation.js'
import { dayNumber } from '../../src/time.js'

/**
 * An event's sightings (`$feature/<key>` for every loaded flag) cost one call per unit, and a unit's
 * sightings are claimed while they are counted: events of the unit in flight together cost no call
 * for them, and an event that fails gives its claim back, so its retry counts them.
 */
const NOW = Date.UTC(2026, 10, 20)

async function setUp(failSteps = 0) {
  const sim = simulate({ seed: 5, flags: 6, users: 20, days: 2, endMs: NOW, defects: [] })
  const flags = sim.project.flags.map((f) => f.key)
  const hooks = await hooksFromDefinitions(definitionsOf(sim.project))
  const cache = new MemoryCache(() => NOW)
  const inner = storeFor(cache)
  const calls: string[] = []
  let failing = failSteps
  const store: CounterStore = Object.assign(Object.create(inner) as CounterStore, {
    steps: (g: string, s: Parameters<CounterStore['steps']>[1], t: number, tag?: string) => {
      calls.push(g)
      if (failing > 0) {
        failing--
        return Promise.reject(new Error('the cache went away'))
      }
      return inner.steps(g, s, t, tag)
    },
  })
  const wrapped = Object.assign(Object.create(cache) as MemoryCache, { counterStore: () => store })
  const ctx = createIngestContext({ cache: wrapped, settings: parseSettings({}, { countedEvents: hooks.countedEvents }), project: 'sightings', now: () => NOW, ...hooks })
  const keys = new KeyScheme('sightings')
  const carried = async (flag: string) => ((await inner.readCounts(keys.flagDay(dayNumber(NOW - 3_600_000), flag), [FLAG.sightingUnits])) as number[])[0]
  return { flags, ctx, calls, carried }
}

function pageview(uuid: string, unit: string, flags: readonly string[]) {
  const properties: Record<string, unknown> = { $lib: 'web' }
  for (const f of flags) properties[`$feature/${f}`] = 'control'
  return { uuid, event: '$pageview', distinct_id: unit, timestamp: new Date(NOW - 3_600_000).toISOString(), properties }
}

describe('sightings', () => {
  it('of one unit for several flags are one call, and events in flight together count them once', async () => {
    const { flags, ctx, calls, carried } = await setUp()
    const three = flags.slice(0, 3)
    await Promise.all([ingestEvent(ctx, pageview('00000000-0000-4000-8000-000000000001', 'u1', three)), ingestEvent(ctx, pageview('00000000-0000-4000-8000-000000000002', 'u1', three))])
    expect(calls).toHaveLength(1)
    for (const f of three) expect(await carried(f)).toBe(1)
    expect(await carried(flags[3]!)).toBe(0)
  })

  it('claimed by an event that fails are counted by its retry', async () => {
    const { flags, ctx, calls, carried } = await setUp(1)
    const e = pageview('00000000-0000-4000-8000-000000000003', 'u2', flags.slice(0, 2))
    await expect(ingestEvent(ctx, structuredClone(e))).rejects.toThrow(/went away/)
    expect(await carried(flags[0]!)).toBe(0)
    await ingestEvent(ctx, structuredClone(e))
    expect(calls).toHaveLength(2)
    expect(await carried(flags[0]!)).toBe(1)
    expect(await carried(flags[1]!)).toBe(1)
  })
})
