import { describe, expect, it } from 'vitest'
import { variantValues } from '../../../src/coverage/checks/variant-values.js'
import { context, exposureObs, flagDef, observation } from '../../support/context.js'
import type { VariantSpec } from '../../support/context.js'

const run = (extra: VariantSpec[], flag = flagDef()) =>
  variantValues.run(
    context({ flag, observation: observation({ exposure: { $feature_flag_called: exposureObs([{ value: 'control', units: 500, exposures: 1000 }, { value: 'test', units: 500, exposures: 1000 }, ...extra]) } }) }),
  )

describe('variant_values', () => {
  it('passes when every exposure carries a variant key', () => {
    expect(run([]).status).toBe('pass')
  })
  it.each([
    ['a mis-cased key', 'Test', 'miscased'],
    ['a stale key', 'test-old', 'unknown'],
    ['no value at all', null, 'empty'],
    ['false on a flag rolled out to everyone', false, 'empty'],
  ])('fails on %s above the 1% share, naming the value', (_why, value, kind) => {
    const r = run([{ value, units: 40, exposures: 80 }])
    expect(r.status).toBe('fail')
    expect(r.evidence.values).toEqual([expect.objectContaining({ kind, exposures: 80 })])
  })
  it('only warns below the configured share', () => {
    expect(run([{ value: 'Test', units: 2, exposures: 4 }]).status).toBe('warn')
  })
  it('accepts false from users outside a partial rollout: PostHog says "not in the experiment" that way', () => {
    expect(run([{ value: false, units: 300, exposures: 600 }], flagDef({ rollout: 50 })).status).toBe('pass')
  })
  it('on a boolean flag, true and false are the variants and a string is not', () => {
    const flag = flagDef({ variants: null, rollout: 50 })
    const obs = observation({ exposure: { $feature_flag_called: exposureObs([{ value: true, units: 500 }, { value: false, units: 500 }, { value: 'on', units: 50 }]) } })
    expect(variantValues.run(context({ flag, experiment: null, observation: obs })).status).toBe('fail')
  })
})
