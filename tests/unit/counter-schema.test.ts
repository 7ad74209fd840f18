import { describe, expect, it } from 'vitest'
import { createIngestContext, ingestEvent } from '../../src/counters/ingest.js'
import { KeyScheme } from '../../src/counters/keys.js'
import { MemoryCache } from '../../src/counters/memory-cache.js'
import { DAY, EXPOSURE_FIELDS, FLAG_FIELDS, METRIC_FIELDS, RATE, SERIES_TYPE, SIGHTING_FIELDS, isSeriesField } from '../../src/counters/schema.js'
import { storeFor } from '../../src/counters/store.js'
import { REJECT_REASONS } from '../../src/events/types.js'
import { hooksFromDefinitions } from '../../src/plugin/definition-hooks.js'
import { parseSettings } from '../../src/settings/settings.js'
import { definitionsOf, simulate } from '../../src/sim/simulation.js'
import { dayNumber } from '../../src/time.js'

/**
 * Issue 21, move 3: the writer and the reader name every counter field through one schema
 * (src/counters/schema.ts). Everything the writer writes for a realistic stream (every defect of the
 * simulator, redeliveries, junk) is a field the reader reads: a field spelled apart would be read as 0.
 */
const NOW = Date.UTC(2026, 10, 20)
const CONFIG = { goalEvents: '["checkout_completed", "onboarding_completed"]', guardrailEvents: '["$exception"]', unitSampleRate: '1' }

describe('the counters schema', () => {
  it('every field the writer writes to a flag\'s or a project\'s day is one the reader reads', async () => {
    const sim = simulate({ seed: 11, flags: 20, users: 200, days: 4, endMs: NOW, defects: 'mix', redeliveryShare: 0.05 })
    const hooks = await hooksFromDefinitions(definitionsOf(sim.project))
    const cache = new MemoryCache(() => NOW)
    const ctx = createIngestContext({ cache, settings: parseSettings(CONFIG, { countedEvents: hooks.countedEvents }), project: 'schema', now: () => NOW, ...hooks })
    for (const e of [...sim.events, { event: 'x' }, null]) await ingestEvent(ctx, JSON.parse(JSON.stringify(e)))

    const store = storeFor(cache)
    const keys = new KeyScheme('schema')
    const dayFields = new Set<string>([...REJECT_REASONS.map(DAY.rejected), DAY.redelivered])
    const seen = { exposure: new Set<string>(), sighting: new Set<string>(), metric: new Set<string>(), flag: new Set<string>(), day: new Set<string>() }
    const unread: string[] = []
    for (let day = dayNumber(NOW) - 5; day <= dayNumber(NOW); day++) {
      for (const field of (await store.readAll(keys.day(day)))?.keys() ?? []) {
        if (dayFields.has(field)) seen.day.add(field)
        else unread.push(`day ${day}: ${field}`)
      }
      for (const flag of (await store.readMembers(keys.flagsOfDay(day), 1000)).values as string[]) {
        for (const field of (await store.readAll(keys.flagDay(day, flag)))?.keys() ?? []) {
          if (field === RATE) continue
          if (FLAG_FIELDS.includes(field)) {
            seen.flag.add(field)
            continue
          }
          const at = field.indexOf(':') // a series name has no ':' (keys.ts enc)
          const type = field.split('|')[0]!
          const own = field.slice(at + 1)
          if (at > 0 && isSeriesField(type, own)) {
            seen[type === SERIES_TYPE.exposure ? 'exposure' : type === SERIES_TYPE.sighting ? 'sighting' : 'metric'].add(own)
          } else unread.push(`${flag} day ${day}: ${field}`)
        }
      }
    }
    expect(unread).toEqual([])
    // the stream exercises the schema: most of each table is written, so the check above covers it
    expect(seen.exposure.size).toBeGreaterThanOrEqual(EXPOSURE_FIELDS.length / 2)
    expect(seen.sighting.size).toBe(SIGHTING_FIELDS.length)
    expect(seen.metric.size).toBe(METRIC_FIELDS.length)
    expect(seen.flag.size).toBeGreaterThanOrEqual(4)
    expect(seen.day).toContain(DAY.redelivered)
  })
})
