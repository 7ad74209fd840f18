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
  // exposure_query_logic.py get_exposure_event_and_property: a custom event counts where it carries $feature/<key>
  it.each([
    ['counts a custom exposure event where it carries $feature/<key>', { custom: exposureObs([{ value: 'control', units: 40 }, { value: 'test', units: 40 }], 'custom') }, 'pass', /160 checkout_viewed events carrying \$feature\/exp-flag from 80 units/],
    ['fails when only $feature_flag_called arrives for a custom exposure event', { $feature_flag_called: exposureObs([{ value: 'control', units: 10 }]) }, 'fail', /No checkout_viewed carrying \$feature\/exp-flag arrives/],
  ] as const)('%s', (_why, exposure, status, summary) => {
    const custom = experimentDef({ exposure_criteria: { exposure_config: { kind: 'ExperimentEventExposureConfig', event: 'checkout_viewed' } } })
    const r = exposurePresent.run(context({ experiment: custom, observation: observation({ exposure }) }))
    expect(r.status).toBe(status)
    expect(r.summary).toMatch(summary)
  })
  it('cannot count an action as the exposure, and says so', () => {
    const action = experimentDef({ exposure_criteria: { exposure_config: { kind: 'ActionsNode', id: 42 } } })
    expect(exposurePresent.run(context({ experiment: action }))).toMatchObject({ status: 'unknown', summary: expect.stringMatching(/action 42, which this audit cannot count/) })
  })
  it('does not apply to an experiment that is not running', () => {
    const stopped = experimentDef({ status: 'stopped', end_date: new Date(NOW - 86_400_000).toISOString() })
    expect(exposurePresent.appliesTo(context({ experiment: stopped }))).toBe(false)
  })
})
