import { afterAll, describe, expect, it } from 'vitest'
import { contractOnly, type ContractCache } from '../../src/counters/cache.js'
import { createIngestContext, ingestEvent } from '../../src/counters/ingest.js'
import { MemoryCache } from '../../src/counters/memory-cache.js'
import { readObservations } from '../../src/counters/read.js'
import type { Observations } from '../../src/counters/observation.js'
import { hooksFromDefinitions } from '../../src/plugin/definition-hooks.js'
import { parseSettings } from '../../src/settings/settings.js'
import { DEFECT_IDS, parseDefectList } from '../../src/sim/defects.js'
import { definitionsOf, simulate } from '../../src/sim/simulation.js'
import { dropPrefix, freshRedisCache, redisOrSkipReason } from '../support/redis.js'

const NOW = Date.UTC(2026, 10, 20)
const CONFIG = { goalEvents: '["checkout_completed", "onboarding_completed"]', guardrailEvents: '["$exception"]', unitSampleRate: '1' }

/** Counts a stream into a cache with the project's definitions, as the plugin does, and reads it back. */
async function countInto(cache: ContractCache, sim: ReturnType<typeof simulate>) {
  const hooks = await hooksFromDefinitions(definitionsOf(sim.project))
  const ctx = createIngestContext({ cache, settings: parseSettings(CONFIG, { countedEvents: hooks.countedEvents }), project: 'eq', now: () => NOW, ...hooks })
  const outcomes: string[] = []
  for (const e of sim.events) outcomes.push(await ingestEvent(ctx, JSON.parse(JSON.stringify(e))))
  const observations = await readObservations({ cache, project: 'eq', lookbackDays: 30, experimentMaxDays: 90, experimentRunOf: hooks.experimentRunOf, nowMs: NOW })
  return { outcomes, observations }
}

/**
 * The observations without the units by slice and those crossing at identify, which only stores that list a group's fields keep
 * (one key per field cannot read back fields it cannot name), after checking them: a unit counts in
 * at most one value of each dimension, so a dimension's slices add up to no more than the units.
 */
function withoutSlices(o: Observations): Observations {
  const copy = structuredClone(o)
  let sliced = 0
  for (const f of copy.flags) {
    for (const exp of Object.values(f.exposure)) {
      // Exposures by SDK, per day: likewise listed fields only; they add up to the day's exposures.
      for (const [day, sdks] of Object.entries(exp?.byDayBySdk ?? {})) expect(Object.values(sdks).reduce((a, b) => a + b, 0), `${f.flag} ${day}`).toBeLessThanOrEqual(exp?.byDay?.[day] ?? 0)
      if (exp) delete exp.byDayBySdk
      if (exp) delete exp.sliceFirstDay
      if (exp) delete exp.multipleSlices
      // Units crossing at identify: likewise counted only where a unit's fields can be listed.
      if (exp?.identityCrossedUnits !== undefined) {
        expect(exp.identityCrossedUnits, f.flag).toBeLessThanOrEqual(exp.multipleVariantUnits)
        delete exp.identityCrossedUnits
      }
      for (const v of exp?.variants ?? []) {
        if (!v.slices) continue
        const byDim = new Map<string, number>()
        for (const [slice, n] of Object.entries(v.slices)) byDim.set(slice.split(':')[0]!, (byDim.get(slice.split(':')[0]!) ?? 0) + n)
        for (const [dim, n] of byDim) expect(n, `${f.flag} ${String(v.value)} ${dim}`).toBeLessThanOrEqual(v.units)
        sliced++
        delete v.slices
      }
    }
  }
  return Object.assign(copy, { sliced })
}

// The plugin on plugin-server keeps one key per field on the four calls; the host and the offline
// audit keep hashes (in memory or in Redis). Every simulated defect must read back the same.
describe('the counters give the same observations in every store', () => {
  it.each(DEFECT_IDS.map((id) => [id]))('with the defect %s: one key per field (plugin-server) and in-memory hashes (host, audit)', async (id) => {
    const sim = () => simulate({ seed: 5, flags: 20, users: 150, days: 8, endMs: NOW, defects: parseDefectList(id), redeliveryShare: 0.03, experimentStartDays: [1, 7], endedShare: 0.3 })
    const contract = await countInto(contractOnly(new MemoryCache(() => NOW)), sim())
    const hashes = await countInto(new MemoryCache(() => NOW), sim())
    expect(contract.observations.flags.length).toBeGreaterThan(5)
    expect(hashes.outcomes).toEqual(contract.outcomes)
    const { sliced, ...bare } = withoutSlices(hashes.observations) as Observations & { sliced: number }
    expect(sliced).toBeGreaterThan(0)
    expect(bare).toEqual(contract.observations)
  })
})

const skip = redisOrSkipReason('the counters in Redis hashes against one key per field')
describe.skipIf(skip !== null)('the counters in Redis', () => {
  const hashes = skip ? null : freshRedisCache()
  const keys = skip ? null : freshRedisCache()
  afterAll(async () => {
    for (const c of [hashes, keys]) {
      if (!c) continue
      await dropPrefix(c)
      await c.redis.quit()
    }
  })

  it('as Redis hashes (the host) read back what one key per field (plugin-server) does, with far fewer keys', async () => {
    const sim = () => simulate({ seed: 9, flags: 20, users: 200, days: 6, endMs: NOW, defects: 'mix', redeliveryShare: 0.05, experimentStartDays: [1, 6], endedShare: 0.3 })
    const [viaHashes, viaKeys] = await Promise.all([countInto(hashes!, sim()), countInto(contractOnly(keys!), sim())])
    expect(viaHashes.observations.duplicates).toBeGreaterThan(10)
    const { sliced, ...bare } = withoutSlices(viaHashes.observations) as Observations & { sliced: number }
    expect(sliced).toBeGreaterThan(0)
    expect(bare).toEqual(viaKeys.observations)
    const count = async (prefix: string) => (await hashes!.redis.keys(`${prefix}*`)).length
    expect(await count(hashes!.prefix)).toBeLessThan((await count(keys!.prefix)) / 4)
  })
})
