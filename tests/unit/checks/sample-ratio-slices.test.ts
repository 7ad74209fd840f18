/**
 * sample_ratio broken down by slice (issue 22, part 1): a slice that explains a mismatch, a slice
 * far off while the whole split matches, a slice of every unit (which names nothing), and the
 * causes a mismatch follows from (a change of split mid-run, exposure that depends on the variant).
 */
import { describe, expect, it } from 'vitest'
import { linkCauses } from '../../../src/coverage/checks/causes.js'
import { sampleRatio } from '../../../src/coverage/checks/sample-ratio.js'
import type { CheckResult } from '../../../src/coverage/checks/types.js'
import { context, exposureObs, observation } from '../../support/context.js'

/** Two variants, each with its units per slice ("browser:Safari": n). */
function ctxWith(control: Record<string, number>, test: Record<string, number>, totals: [number, number]) {
  const exposure = exposureObs([{ value: 'control', units: totals[0] }, { value: 'test', units: totals[1] }])
  exposure.variants[0]!.slices = control
  exposure.variants[1]!.slices = test
  return context({ observation: observation({ exposure: { $feature_flag_called: exposure } }) })
}

describe('sample_ratio by slice', () => {
  it('names the slice that explains a mismatch, and the rest split as planned', () => {
    // Safari loses most of test's exposures; every other browser splits 50/50.
    const r = sampleRatio.run(ctxWith({ 'browser:Safari': 250, 'browser:Chrome': 500, 'sdk:web 1.200': 750 }, { 'browser:Safari': 40, 'browser:Chrome': 505, 'sdk:web 1.200': 545 }, [750, 545]))
    expect(r.status).toBe('fail')
    expect(r.summary).toMatch(/The mismatch is in browser Safari \(290 units: 86\.2% control \/ 13\.8% test/)
    const slices = r.evidence.slices as { explained_by: { dimension: string; value: string }; mismatched: { value: string }[] }
    expect(slices.explained_by).toMatchObject({ dimension: 'browser', value: 'Safari' })
    // A slice of every unit (one SDK version for all) is the whole split again: never tested.
    expect(slices.mismatched.map((m) => m.value)).not.toContain('web 1.200')
  })

  it('warns when the whole split matches but one slice is far off, naming it', () => {
    const r = sampleRatio.run(ctxWith({ 'browser:Safari': 60, 'browser:Chrome': 440 }, { 'browser:Safari': 8, 'browser:Chrome': 452 }, [500, 460]))
    expect(r.status).toBe('warn')
    expect(r.summary).toMatch(/^The split matches the plan overall \(p = 0\.\d+\), but not in browser Safari \(68 units: 88\.2% control \/ 11\.8% test, p = /)
    expect(r.repairs[0]).toMatchObject({ blocking: false })
  })

  it('passes when every slice is within chance of the plan, with many slices tested', () => {
    const control: Record<string, number> = {}
    const test: Record<string, number> = {}
    for (let i = 0; i < 12; i++) {
      control[`country:C${i}`] = 40 + (i % 3)
      test[`country:C${i}`] = 40 - (i % 3)
    }
    expect(sampleRatio.run(ctxWith(control, test, [500, 480])).status).toBe('pass')
  })

  it('does not call a slice the explanation when the rest is only just short of a mismatch', () => {
    // Every slice is a little off (as after a change of split mid-run): removing one leaves 56/44.
    const r = sampleRatio.run(ctxWith({ 'device:Mobile': 260, 'device:Desktop': 340 }, { 'device:Mobile': 175, 'device:Desktop': 265 }, [600, 440]))
    expect(r.status).toBe('fail')
    expect((r.evidence.slices as { explained_by: unknown }).explained_by).toBeNull()
  })
})

describe('what a mismatched split follows from', () => {
  const mismatch = (extra: Record<string, unknown> = {}): CheckResult => ({
    id: 'sample_ratio',
    status: 'fail',
    summary: 'Sample ratio mismatch: "control" has more units than planned (p = 2.4e-7). Results cannot be trusted until the cause is found.',
    evidence: { variants: [{ key: 'control', expected_share: 0.5 }, { key: 'test', expected_share: 0.5 }], ...extra },
    fix: 'Look for exposures lost in one variant.',
    repairs: [{ category: 'event', action: 'Find where', effort: 'high', blocking: true }],
    follows_from: null,
  })
  const ctx = context({})

  it('a change of split mid-run: the mismatch follows from it, with the date results are clean from', () => {
    const changed: CheckResult = { id: 'flag_changes', status: 'fail', summary: 'The flag changed once.', evidence: { clean_from: '2026-11-14T17:07:00.000Z' }, fix: '', repairs: [], follows_from: null }
    const [r] = linkCauses(ctx, [mismatch(), changed])
    expect(r!.follows_from).toBe('flag_changes')
    expect(r!.summary).toContain('the flag changed on 2026-11-14 17:07 UTC in a way that moves users')
    expect(r!.fix).toBe('Test the split again on the users assigned from 2026-11-14 17:07 UTC, once the experiment starts there (see Flag changes).')
    expect(r!.repairs).toEqual([])
  })

  it('a change that moved nobody (a warning) explains nothing', () => {
    const changed: CheckResult = { id: 'flag_changes', status: 'warn', summary: 'The flag changed.', evidence: { clean_from: null }, fix: '', repairs: [], follows_from: null }
    expect(linkCauses(ctx, [mismatch(), changed])[0]!.follows_from).toBeNull()
  })

  it('exposure that depends on the variant, lost in one slice: the slice is named', () => {
    const bias: CheckResult = { id: 'exposure_bias', status: 'fail', summary: 'Exposure depends on the variant.', evidence: { variants: [{ key: 'control', carrying: 1000 }, { key: 'test', carrying: 1005 }] }, fix: '', repairs: [], follows_from: null }
    const [r] = linkCauses(ctx, [mismatch({ slices: { explained_by: { dimension: 'sdk', value: 'web 1.130', units: 142 } } }), bias])
    expect(r!.follows_from).toBe('exposure_bias')
    expect(r!.summary).toContain('The exposures go missing in SDK web 1.130 (142 units); the rest split as planned.')
    expect(r!.fix).toMatch(/^Look at SDK web 1\.130 \(142 units\) first/)
  })
})
