import { describe, expect, it } from 'vitest'
import { exposureGap } from '../../../src/coverage/checks/exposure-gap.js'
import { context, observation } from '../../support/context.js'

const run = (units: number, exposed: number, falseUnits = 0) =>
  exposureGap.run(
    context({
      observation: observation({
        sightings: { units: units + falseUnits, unitsExposed: exposed, variants: [{ value: 'test', units }, ...(falseUnits ? [{ value: false, units: falseUnits }] : [])] },
      }),
    }),
  )

describe('exposure_gap', () => {
  it('accepts half of the carriers never reaching the page: posthog-js puts every flag on every event', () => {
    expect(run(1000, 500).status).toBe('pass')
  })
  it('fails when nearly every unit given a value was never exposed', () => {
    expect(run(1000, 20).status).toBe('fail')
  })
  it('does not count units carrying false: they are outside the rollout', () => {
    expect(run(100, 60, 5000).status).toBe('pass')
  })
})
