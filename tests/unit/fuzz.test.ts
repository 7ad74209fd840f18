import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { readObservations } from '../../src/counters/read.js'
import { NOW, customEvent, flagCalled } from '../support/events.js'
import { harness } from '../support/ingest.js'

/** Events as a hostile or broken client might send them: any JSON, and near-misses of real events. */
const hostileEvent = fc.oneof(
  fc.anything({ maxDepth: 4 }),
  fc.record({
    uuid: fc.oneof(fc.string(), fc.anything({ maxDepth: 2 })),
    event: fc.oneof(fc.constantFrom('$feature_flag_called', '$experiment_exposure', 'buy', '$pageview'), fc.string(), fc.anything({ maxDepth: 2 })),
    distinct_id: fc.oneof(fc.string(), fc.integer(), fc.anything({ maxDepth: 2 })),
    timestamp: fc.oneof(fc.date({ noInvalidDate: false }).map((d) => (Number.isNaN(d.getTime()) ? 'not a date' : d.toISOString())), fc.anything({ maxDepth: 3 })),
    properties: fc.oneof(
      fc.dictionary(fc.oneof(fc.string(), fc.constantFrom('$feature_flag', '$feature_flag_response', '$groups', '$feature/exp', '__proto__', '$lib')), fc.anything({ maxDepth: 3 })),
      fc.anything({ maxDepth: 2 }),
    ),
    person: fc.anything({ maxDepth: 2 }),
  }),
)

const snapshot = async (h: ReturnType<typeof harness>) => {
  const o = await readObservations({ cache: h.cache, project: '42', lookbackDays: 30, nowMs: h.clock.now })
  return JSON.stringify(o.flags.find((f) => f.flag === 'exp') ?? null)
}

describe('onEvent under generated hostile events (fast-check, fixed seed)', () => {
  it('never throws, changes no counter for a rejected event, and counts the next valid event exactly', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(hostileEvent, { minLength: 1, maxLength: 20 }), async (events) => {
        const h = harness({ goalEvents: '["buy"]' })
        let n = 0
        for (const raw of events) {
          const before = await snapshot(h)
          const [outcome] = await h.ingest(raw)
          expect(['counted', 'ignored', 'duplicate', 'rejected']).toContain(outcome)
          if (outcome === 'rejected' || outcome === 'ignored' || outcome === 'duplicate') {
            // a rejected or ignored event changes nothing the report reads for the flag
            expect(await snapshot(h)).toBe(before)
          }
          // the next valid event after it is counted exactly once
          n++
          const exposuresBefore = JSON.parse((await snapshot(h)) ?? 'null')?.exposure?.$feature_flag_called?.exposures ?? 0
          expect(await h.ingest(flagCalled('exp', 'test', { distinct_id: `valid-${n}`, ts: NOW - 1_000 }))).toEqual(['counted'])
          const after = JSON.parse(await snapshot(h)).exposure.$feature_flag_called.exposures
          expect(after).toBe(exposuresBefore + 1)
        }
        await h.ingest(customEvent('buy', { distinct_id: 'valid-1', ts: NOW - 500 }))
      }),
      { seed: 20261201, numRuns: 150 },
    )
  })
})
