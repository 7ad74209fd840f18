import { describe, expect, it } from 'vitest'
import { parseExperiments } from '../../src/definitions/definitions.js'
import { intakeEvents } from '../../src/host/project.js'

describe('the events the webhook destination sends and the outage fill reads back', () => {
  it("include an experiment's custom exposure event (exposure_query_logic.py: a $pageview exposure config is exposed by $pageview)", () => {
    const experiments = parseExperiments('test', [
      { id: 1, name: 'a', feature_flag_key: 'flag-a', exposure_criteria: { exposure_config: { kind: 'ExperimentEventExposureConfig', event: '$pageview', properties: [] } } },
      { id: 2, name: 'b', feature_flag_key: 'flag-b', exposure_criteria: null },
    ])
    const settings = { metrics: [{ event: 'checkout_completed' }] }
    expect(intakeEvents(settings)).toEqual(['$experiment_exposure', '$feature_flag_called', 'checkout_completed'])
    expect(intakeEvents(settings, { experiments })).toEqual(['$experiment_exposure', '$feature_flag_called', '$pageview', 'checkout_completed'])
  })
})
