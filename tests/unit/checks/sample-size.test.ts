import { describe, expect, it } from 'vitest'
import { sampleSize } from '../../../src/coverage/checks/sample-size.js'
import { context, experimentDef, exposureObs, observation, NOW } from '../../support/context.js'

const DAY = 86_400_000
const withUnits = (control: number, test: number) => observation({ exposure: { $feature_flag_called: exposureObs([{ value: 'control', units: control }, { value: 'test', units: test }]) } })

describe('sample_size', () => {
  it('passes when every variant has the 50 units PostHog needs', () => expect(sampleSize.run(context()).status).toBe('pass'))
  it('fails below it and says how long it will take at the current rate', () => {
    const r = sampleSize.run(context({ observation: withUnits(25, 30) }))
    expect(r.status).toBe('fail')
    expect(r.evidence.days_to_minimum).toBe(10) // 25 units in 10 days: 10 more days for the next 25
  })
  it('says when the deadline comes first, and proposes widening the rollout', () => {
    const exp = experimentDef({ end_date: new Date(NOW + 3 * DAY).toISOString() })
    const r = sampleSize.run(context({ experiment: exp, observation: withUnits(25, 30) }))
    expect(r.summary).toMatch(/past the readout deadline/)
    expect(r.repairs[0]).toMatchObject({ category: 'flag_config' })
  })
})
