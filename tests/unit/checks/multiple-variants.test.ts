import { describe, expect, it } from 'vitest'
import { multipleVariants } from '../../../src/coverage/checks/multiple-variants.js'
import { context, exposureObs, observation } from '../../support/context.js'

describe('multiple_variants', () => {
  it.each([
    ['no unit crossed', 0, 'pass'],
    ['0.5% crossed: within noise', 5, 'pass'],
    ['5% crossed: above the 1% peers call unhealthy', 50, 'warn'],
    ["15% crossed: above PostHog's 10%", 150, 'fail'],
  ])('%s', (_why, multi, status) => {
    const exposure = exposureObs([{ value: 'control', units: 500 + multi, multi }, { value: 'test', units: 500 + multi, multi }], '$feature_flag_called', multi)
    exposure.units = 1000
    expect(multipleVariants.run(context({ observation: observation({ exposure: { $feature_flag_called: exposure } }) })).status).toBe(status)
  })
})
