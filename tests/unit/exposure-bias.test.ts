import { describe, expect, it } from 'vitest'
import { runChecks } from '../../src/coverage/checks/registry.js'
import { verdictOf } from '../../src/coverage/verdict.js'
import { context, exposureObs, observation } from '../support/context.js'

/** Carriers and exposed units per variant (control, test). */
function judge(carrying: [number, number], exposed: [number, number]) {
  const obs = observation({
    exposure: { $feature_flag_called: exposureObs([{ value: 'control', units: exposed[0] }, { value: 'test', units: exposed[1] }]) },
    sightings: { units: carrying[0] + carrying[1], unitsExposed: exposed[0] + exposed[1], variants: [{ value: 'control', units: carrying[0] }, { value: 'test', units: carrying[1] }], reached: 0, reachedExposed: 0 },
  })
  const ctx = context({ observation: obs })
  const results = runChecks(ctx)
  return { check: results.find((r) => r.id === 'exposure_bias')!, verdict: verdictOf(ctx, results), results }
}

describe('exposure_bias', () => {
  it('fails when one variant\'s carriers are exposed more often than the other\'s, with the rates and the p-value', () => {
    // The treatment leads to the page that sends the exposure: 62% of its carriers exposed, 45% of control's.
    const { check, verdict } = judge([1000, 1000], [450, 620])
    expect(check.status).toBe('fail')
    expect(check.summary).toMatch(/^Exposure depends on the variant: 62% of the 1,000 units carrying test, 45% of the 1,000 units carrying control were exposed \(p = /)
    expect(check.evidence.p_value as number).toBeLessThan(1e-9)
    expect(check.repairs.map((r) => r.category)).toEqual(['property', 'event'])
  })

  it('explains the mismatched split it causes: the carriers split as planned, so the flag needs repair, not new data', () => {
    const { results, verdict } = judge([1000, 1000], [450, 620])
    const srm = results.find((r) => r.id === 'sample_ratio')!
    expect(srm.status).toBe('fail')
    expect(srm.follows_from).toBe('exposure_bias')
    expect(verdict).toBe('needs_backfill')
    // Carriers that do not split as planned: assignment itself is off, and the mismatch blocks.
    const skewed = judge([1300, 700], [390, 560])
    expect(skewed.results.find((r) => r.id === 'sample_ratio')!.follows_from).toBeNull()
    expect(skewed.verdict).toBe('blocked')
  })

  it('stays quiet when every variant is exposed alike, however few of the carriers reach the exposure', () => {
    // A flag read on one page only: a fifth of the carriers are exposed, in both variants.
    expect(judge([5000, 5000], [1010, 990]).check.status).toBe('pass')
    expect(judge([1000, 1000], [500, 512]).check.status).toBe('pass')
  })

  it('does not compare too few carriers, or exposures that come from where the flag is not attached', () => {
    expect(judge([60, 50], [40, 10]).check.status).toBe('not_applicable')
    expect(judge([300, 300], [600, 620]).check.status).toBe('not_applicable')
  })
})
