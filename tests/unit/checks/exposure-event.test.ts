import { describe, expect, it } from 'vitest'
import { exposureEvent } from '../../../src/coverage/checks/exposure-event.js'
import { context, experimentDef, exposureObs, observation } from '../../support/context.js'

const both = () =>
  observation({
    exposure: {
      $feature_flag_called: exposureObs([{ value: 'control', units: 500 }, { value: 'test', units: 500 }]),
      $experiment_exposure: exposureObs([{ value: 'control', units: 500 }, { value: 'test', units: 500 }], '$experiment_exposure'),
    },
  })

describe('exposure_event', () => {
  it('accepts PostHog\'s ingestion copy when the experiment counts $experiment_exposure', () => {
    const exp = experimentDef({ exposure_criteria: { exposure_config: { kind: 'ExperimentEventExposureConfig', event: '$experiment_exposure' } } })
    expect(exposureEvent.run(context({ experiment: exp, observation: both() })).status).toBe('pass')
  })
  it('fails when a manual $experiment_exposure doubles $feature_flag_called: sums count each exposure twice', () => {
    const r = exposureEvent.run(context({ observation: both() }))
    expect(r.status).toBe('fail')
    expect(r.repairs[0]).toMatchObject({ category: 'dashboard' })
  })
  it('fails when most conversions come before the exposure (the exposure is sent too late)', () => {
    const late = observation({
      metrics: [{ name: 'checkout_completed', variants: [{ value: 'control', events: 100, units: 80, eventsBeforeExposure: 70 }, { value: 'test', events: 100, units: 80, eventsBeforeExposure: 75 }] }],
    })
    expect(exposureEvent.run(context({ observation: late })).summary).toMatch(/before the unit's exposure/)
  })
  it.each([
    ['a custom exposure event that arrives: pass, flag calls beside it are not double counting', true, 'pass'],
    ['a custom exposure event that never arrives while flag calls do: the experiment counts the wrong event', false, 'fail'],
  ])('%s', (_why, arrives, status) => {
    const exp = experimentDef({ exposure_criteria: { exposure_config: { kind: 'ExperimentEventExposureConfig', event: 'checkout_viewed' } } })
    const exposure = { $feature_flag_called: exposureObs([{ value: 'control', units: 500 }, { value: 'test', units: 500 }]), ...(arrives ? { custom: exposureObs([{ value: 'control', units: 400 }, { value: 'test', units: 400 }], 'custom') } : {}) }
    expect(exposureEvent.run(context({ experiment: exp, observation: observation({ exposure }) })).status).toBe(status)
  })
  it('passes when some conversions precede exposure, as happens with repeat visits', () => {
    expect(exposureEvent.run(context()).status).toBe('pass')
  })
})
