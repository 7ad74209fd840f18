import chi2gof from '@stdlib/stats-chi2gof'
import { describe, expect, it } from 'vitest'
import { sampleRatio } from '../../../src/coverage/checks/sample-ratio.js'
import { context, exposureObs, flagDef, observation } from '../../support/context.js'

const run = (control: number, test: number, over: Parameters<typeof context>[0] = {}) =>
  sampleRatio.run(context({ observation: observation({ exposure: { $feature_flag_called: exposureObs([{ value: 'control', units: control }, { value: 'test', units: test }]) } }), ...over }))

describe('the chi-square library against published values', () => {
  it.each([
    // stdlib's documented example
    [[89, 37, 30, 28, 2], [0.4, 0.2, 0.2, 0.15, 0.05], 0.0406, 9.99],
    // Mendel's peas (round-yellow, round-green, wrinkled-yellow, wrinkled-green) against 9:3:3:1: chi2 = 0.470, p = 0.925
    [[315, 108, 101, 32], [9 / 16, 3 / 16, 3 / 16, 1 / 16], 0.925, 0.47],
    // a perfect 50/50 split
    [[500, 500], [0.5, 0.5], 1, 0],
  ])('%j against %j gives p = %f', (observed, expected, p, statistic) => {
    const out = chi2gof(observed, expected)
    expect(out.pValue).toBeCloseTo(p, 3)
    expect(out.statistic).toBeCloseTo(statistic, 2)
  })

  it.each([
    // critical values of chi-square with 1 degree of freedom (any statistics table)
    [3.841, 0.05],
    [6.635, 0.01],
    [10.828, 0.001],
  ])('a statistic of %f with one degree of freedom has p = %f', (target, p) => {
    // 2 x d^2 / e = statistic with e units expected per side; counts are whole, so e is large
    // enough that rounding d moves p by less than the precision asserted
    const e = 5_000_000
    const d = Math.round(Math.sqrt((target * e) / 2))
    const out = chi2gof([e + d, e - d], [0.5, 0.5])
    expect(out.pValue).toBeCloseTo(p, 4)
  })
})

describe('sample_ratio', () => {
  it.each([
    ['an even split', 500, 500, 'pass'],
    ['a split within chance', 520, 480, 'pass'],
    ['a mismatch PostHog would flag (p < 0.001)', 560, 440, 'fail'],
    ['too few units to test (< 100)', 40, 20, 'unknown'],
  ])('%s: %i vs %i is %s', (_why, control, test, status) => {
    expect(run(control, test).status).toBe(status)
  })

  it('judges against the planned split, not 50/50', () => {
    const flag = flagDef({ variants: [['control', 70], ['test', 30]] })
    expect(run(700, 300, { flag }).status).toBe('pass')
    expect(run(500, 500, { flag }).status).toBe('fail')
  })

  it('leaves units seen with several variants out, as PostHog does', () => {
    const exposure = exposureObs([{ value: 'control', units: 500, multi: 0 }, { value: 'test', units: 620, multi: 120 }], '$feature_flag_called', 120)
    expect(sampleRatio.run(context({ observation: observation({ exposure: { $feature_flag_called: exposure } }) })).status).toBe('pass')
  })

  it('uses the configured p-value', () => {
    expect(run(530, 470, { config: { srmPValue: '0.1' } }).status).toBe('fail')
    expect(run(530, 470).status).toBe('pass')
  })

  it('reports the p-value, the statistic and the shares as evidence', () => {
    const r = run(560, 440)
    expect(r.evidence).toMatchObject({ total_units: 1000, threshold_p_value: 0.001 })
    expect(r.evidence.p_value).toBeLessThan(0.001)
    expect(r.summary).toMatch(/"control" has more units than planned/)
    expect(r.repairs[0]).toMatchObject({ blocking: true })
  })
})
