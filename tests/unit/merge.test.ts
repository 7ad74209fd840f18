import { describe, expect, it } from 'vitest'
import { mergeObservations } from '../../src/counters/merge.js'
import type { Observations } from '../../src/counters/observation.js'
import { exposureObs, observation } from '../support/context.js'

const observations = (flags: Observations['flags']): Observations => ({
  schema: 'experiment-coverage/observations@1',
  project: 'p',
  generatedAt: '2026-11-20T00:00:00.000Z',
  window: { from: '2026-10-22', to: '2026-11-20', days: 30 },
  flags,
  rejections: {},
  duplicates: 0,
  unlistedFlags: 0,
})

describe('merging with a backfill stored by an earlier version', () => {
  it('reads its missing bootstrap and surface counts as none, never NaN', () => {
    const live = observation({ exposure: { $feature_flag_called: exposureObs([{ value: 'test', units: 10, bootstrapMismatchUnits: 2 }]) } })
    const old = JSON.parse(JSON.stringify(observation({ exposure: { $feature_flag_called: exposureObs([{ value: 'test', units: 5 }, { value: 'control', units: 5 }]) } })))
    delete old.sightings.reached
    delete old.sightings.reachedExposed
    for (const v of old.exposure.$feature_flag_called.variants) {
      delete v.bootstrapMismatch
      delete v.bootstrapMismatchUnits
    }
    const merged = mergeObservations(observations([live]), observations([old])).flags[0]!
    expect(merged.sightings.reached).toBe(0)
    const variants = merged.exposure.$feature_flag_called!.variants
    expect(variants.map((v) => [v.value, v.bootstrapMismatchUnits])).toEqual([['control', 0], ['test', 2]])
  })
})
