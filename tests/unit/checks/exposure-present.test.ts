import { describe, expect, it } from 'vitest'
import { exposurePresent } from '../../../src/coverage/checks/exposure-present.js'
import { context, experimentDef, exposureObs, observation, NOW } from '../../support/context.js'

const HOUR = 3_600_000
const none = observation({ exposure: {}, sightings: { units: 0, unitsExposed: 0, variants: [], reached: 0, reachedExposed: 0 } })

describe('exposure_present', () => {
  it('passes with exposures of the counted event', () => {
    expect(exposurePresent.run(context()).status).toBe('pass')
  })
  it('waits 24 hours after launch before calling zero exposures a failure, as PostHog does', () => {
    const fresh = experimentDef({ start_date: new Date(NOW - 5 * HOUR).toISOString() })
    expect(exposurePresent.run(context({ experiment: fresh, observation: none })).status).toBe('unknown')
    expect(exposurePresent.run(context({ observation: none })).status).toBe('fail')
  })
  it('names the payload-only read when units carry the flag but none was exposed', () => {
    const carried = observation({ exposure: {}, sightings: { units: 800, unitsExposed: 0, variants: [{ value: 'test', units: 800 }], reached: 0, reachedExposed: 0 } })
    const r = exposurePresent.run(context({ observation: carried }))
    expect(r.status).toBe('fail')
    expect(r.summary).toMatch(/800 units carry the flag/)
    expect(r.repairs.map((x) => x.category)).toEqual(['event', 'property'])
  })
  it('fails when only the other exposure event arrives: the experiment counts the wrong one', () => {
    const other = observation({ exposure: { $experiment_exposure: exposureObs([{ value: 'control', units: 10 }], '$experiment_exposure') } })
    expect(exposurePresent.run(context({ observation: other })).summary).toMatch(/counts the wrong event/)
  })
  it('cannot judge a custom exposure event from the live counters', () => {
    const custom = experimentDef({ exposure_criteria: { exposure_config: { kind: 'ExperimentEventExposureConfig', event: 'checkout_viewed' } } })
    expect(exposurePresent.run(context({ experiment: custom })).status).toBe('unknown')
  })
  it('does not apply to an experiment that is not running', () => {
    const stopped = experimentDef({ status: 'stopped', end_date: new Date(NOW - 86_400_000).toISOString() })
    expect(exposurePresent.appliesTo(context({ experiment: stopped }))).toBe(false)
  })
})
