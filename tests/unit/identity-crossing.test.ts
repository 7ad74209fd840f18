/**
 * Units that cross variants at identify: exposed to one value while anonymous and another once
 * identified (`$is_identified`, as posthog-js and the mobile SDKs send it). Counted once per unit
 * whatever the order and interleaving of its exposures, by the same rule as the backfill's query.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { crossedAtIdentify } from '../../src/counters/ingest-exposure.js'
import { createIngestContext, ingestEvent } from '../../src/counters/ingest.js'
import { MemoryCache } from '../../src/counters/memory-cache.js'
import { readObservations } from '../../src/counters/read.js'
import { parseSettings } from '../../src/settings/settings.js'
import { NOW, flagCalled } from '../support/events.js'

const exposure = (unit: string, value: string, identified: boolean | undefined) =>
  flagCalled('exp', value, { person: unit, distinct_id: identified ? `user-${unit}` : `anon-${unit}`, props: identified === undefined ? {} : { $is_identified: identified } })

async function count(events: readonly ReturnType<typeof exposure>[], lanes: number) {
  const cache = new MemoryCache(() => NOW)
  const ctx = createIngestContext({ cache, settings: parseSettings({}), project: 'p', now: () => NOW })
  let next = 0
  // Several deliveries in flight at once: their calls interleave, as concurrent requests' do.
  const lane = async () => {
    while (next < events.length) await ingestEvent(ctx, structuredClone(events[next++]!))
  }
  await Promise.all(Array.from({ length: lanes }, lane))
  const obs = await readObservations({ cache, project: 'p', lookbackDays: 30, nowMs: NOW })
  return obs.flags.find((f) => f.flag === 'exp')!.exposure.$feature_flag_called!
}

describe('units crossing variants at identify', () => {
  it('the rule: a value while anonymous and another once identified', () => {
    const s = (...v: string[]) => new Set(v)
    expect(crossedAtIdentify(s('control'), s('test'))).toBe(true)
    expect(crossedAtIdentify(s('control'), s('control'))).toBe(false)
    expect(crossedAtIdentify(s('control', 'test'), s())).toBe(false) // never identified: crossed otherwise
    expect(crossedAtIdentify(s(), s('control', 'test'))).toBe(false)
    expect(crossedAtIdentify(s('control'), s('control', 'test'))).toBe(true)
    expect(crossedAtIdentify(s('control', 'test'), s('control'))).toBe(true)
  })

  it('counts a unit once, whatever the order of its exposures; units without $is_identified, or that never crossed, do not count', async () => {
    const events = [
      exposure('a', 'control', false),
      exposure('a', 'control', false),
      exposure('a', 'test', true),
      exposure('a', 'control', true),
      exposure('b', 'control', false),
      exposure('b', 'control', true), // same value on both sides
      exposure('c', 'control', undefined),
      exposure('c', 'test', undefined), // several values, but the SDK does not say when
      exposure('d', 'test', false),
      exposure('d', 'control', false), // several values, all anonymous
    ]
    const exp = await count(events, 1)
    expect(exp.multipleVariantUnits).toBe(3)
    expect(exp.identityCrossedUnits).toBe(1)
    expect((await count([...events].reverse(), 1)).identityCrossedUnits).toBe(1)
  })

  it('equals the rule applied to each unit, for any exposures in any order and interleaving', async () => {
    const one = fc.record({ unit: fc.constantFrom('a', 'b', 'c', 'd'), value: fc.constantFrom('control', 'test', 'test-2'), identified: fc.constantFrom(true, false, undefined) })
    await fc.assert(
      fc.asyncProperty(fc.array(one, { minLength: 1, maxLength: 24 }), fc.integer({ min: 1, max: 4 }), async (list, lanes) => {
        const sides = new Map<string, { anon: Set<string>; known: Set<string> }>()
        for (const x of list) {
          const s = sides.get(x.unit) ?? { anon: new Set<string>(), known: new Set<string>() }
          sides.set(x.unit, s)
          if (x.identified !== undefined) (x.identified ? s.known : s.anon).add(x.value)
        }
        const expected = [...sides.values()].filter((s) => crossedAtIdentify(s.anon, s.known)).length
        const exp = await count(
          list.map((x) => exposure(x.unit, x.value, x.identified)),
          lanes,
        )
        expect(exp.identityCrossedUnits).toBe(expected)
      }),
      { numRuns: 150 },
    )
  })
})
