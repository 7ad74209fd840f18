import { describe, expect, it } from 'vitest'
import { isEvenSplit, multipleVariants } from '../../../src/coverage/checks/multiple-variants.js'
import { context, experimentDef, exposureObs, flagDef, observation } from '../../support/context.js'

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

describe("PostHog's bias risk (A1): $multiple on an uneven split with Exclude handling", () => {
  const run = (split: [string, number][], multi: number, handling = 'exclude') => {
    const exposure = exposureObs([{ value: split[0]![0], units: 700, multi }, { value: split[1]![0], units: 300, multi }], '$feature_flag_called', multi)
    exposure.units = 1000
    const experiment = experimentDef({ exposure_criteria: { multiple_variant_handling: handling } })
    return multipleVariants.run(context({ flag: flagDef({ variants: split }), experiment, observation: observation({ exposure: { $feature_flag_called: exposure } }) }))
  }
  it.each([
    ['0.5% crossed on a 70/30 split: warns (PostHog: above 0.1%)', [['control', 70], ['test', 30]], 5, 'exclude', 'warn'],
    ['0.1% exactly on a 70/30 split: PostHog needs more than 0.1%', [['control', 70], ['test', 30]], 1, 'exclude', 'pass'],
    ['0.5% crossed on an even 50/50 split: no bias from Exclude', [['control', 50], ['test', 50]], 5, 'exclude', 'pass'],
    ['0.5% crossed on 70/30 with First seen handling: nobody is dropped', [['control', 70], ['test', 30]], 5, 'first_seen', 'pass'],
    // analysis_health.py evaluate_bias_risk answers None for first_seen; the crossed units stay in their first variant
    ['15% crossed with First seen handling: a warning, not a block (PostHog shows no $multiple)', [['control', 50], ['test', 50]], 150, 'first_seen', 'warn'],
    ["15% crossed with Exclude: above PostHog's 10%, fails", [['control', 50], ['test', 50]], 150, 'exclude', 'fail'],
  ] as const)('%s', (_why, split, multi, handling, status) => {
    expect(run(split.map(([k, v]) => [k, v]), multi, handling).status).toBe(status)
  })
  it.each([
    [[50, 50], true],
    [[34, 33, 33], true],
    [[15, 15, 14, 14, 14, 14, 14], true],
    [[33, 34, 33], false],
    [[80, 20], false],
  ])("PostHog's even split: %j is %s", (split, even) => {
    expect(isEvenSplit(split)).toBe(even)
  })
})

describe('multiple_variants names the likely cause from experience continuity', () => {
  const crossed = (continuity: boolean) =>
    multipleVariants.run(
      context({
        flag: flagDef({ ensure_experience_continuity: continuity }),
        observation: observation({ exposure: { $feature_flag_called: exposureObs([{ value: 'control', units: 500, multi: 150 }, { value: 'test', units: 500, multi: 150 }]) } }),
      }),
    )
  it('off: the flag is evaluated before and after identify', () => {
    const r = crossed(false)
    expect(r.status).toBe('fail')
    expect(r.evidence.experience_continuity).toBe(false)
    expect(r.fix).toMatch(/^The flag has experience continuity off: posthog-js evaluates it for the anonymous id and again for the identified id/)
  })
  it('on: another distinct id at bootstrap or on the server', () => {
    const r = crossed(true)
    expect(r.evidence.experience_continuity).toBe(true)
    expect(r.fix).toMatch(/experience continuity is on\), so look for a page bootstrapped with another distinct id/)
  })
})

describe('multiple_variants counts the units that crossed at identify, and names the cause', () => {
  const run = (multi: number, crossed: number | undefined, continuity: boolean) => {
    const exposure = exposureObs([{ value: 'control', units: 500, multi }, { value: 'test', units: 500, multi }], '$feature_flag_called', multi)
    exposure.units = 1000
    if (crossed !== undefined) exposure.identityCrossedUnits = crossed
    return multipleVariants.run(context({ flag: flagDef({ ensure_experience_continuity: continuity }), observation: observation({ exposure: { $feature_flag_called: exposure } }) }))
  }
  it('continuity off: re-evaluated after identify', () => {
    const r = run(150, 120, false)
    expect(r.status).toBe('fail')
    expect(r.evidence.identity_crossed_units).toBe(120)
    expect(r.fix).toMatch(/^120 units \(80% of those with several\) saw one variant while anonymous and another once identified\. Experience continuity is off/)
  })
  it('continuity on: another distinct id at bootstrap or on the server', () => {
    expect(run(150, 120, true).fix).toMatch(/Experience continuity is on, so the likely cause is a flag bootstrapped or evaluated with another distinct id/)
  })
  it('a few crossings below the 1% notice still warn: every user who signs up is re-bucketed', () => {
    const r = run(5, 5, false)
    expect(r.status).toBe('warn')
    expect(r.summary).toBe('5 units (0.5%) saw one variant while anonymous and another once identified.')
  })
  it('one or two crossings (a shared device) pass; where the source did not count, the evidence says nothing', () => {
    expect(run(2, 2, false).status).toBe('pass')
    expect(run(5, undefined, false).evidence).not.toHaveProperty('identity_crossed_units')
  })
})

describe('multiple_variants when none crossed at identify', () => {
  const run = (booted: number) => {
    const exposure = exposureObs([{ value: 'control', units: 500, multi: 150, bootstrapMismatchUnits: booted }, { value: 'test', units: 500, multi: 150 }], '$feature_flag_called', 150)
    exposure.identityCrossedUnits = 0
    return multipleVariants.run(context({ flag: flagDef({ ensure_experience_continuity: false }), observation: observation({ exposure: { $feature_flag_called: exposure } }) }))
  }
  it('names a bootstrap that /flags then changed, not identify', () => {
    expect(run(40).fix).toMatch(/^None of them crossed at identify; 40 units were first shown a bootstrapped variant that \/flags then changed/)
  })
  it('without a bootstrap, points away from identify', () => {
    expect(run(0).fix).toMatch(/^None of them crossed at identify \(anonymous and identified exposures agree\)/)
  })
})

describe('multiple_variants by slice: where units cross', () => {
  const run = (multipleSlices: Record<string, number> | undefined) => {
    const exposure = exposureObs([{ value: 'control', units: 500, multi: 150 }, { value: 'test', units: 500, multi: 150 }], '$feature_flag_called', 150)
    // Units by the slice of their first exposure to each value: the server SDK has a tenth of them.
    exposure.variants[0]!.slices = { 'sdk:web 1.200': 450, 'sdk:posthog-node 5.70': 50 }
    exposure.variants[1]!.slices = { 'sdk:web 1.200': 450, 'sdk:posthog-node 5.70': 50 }
    if (multipleSlices) exposure.multipleSlices = multipleSlices
    return multipleVariants.run(context({ flag: flagDef({ ensure_experience_continuity: true }), observation: observation({ exposure: { $feature_flag_called: exposure } }) }))
  }
  it('names the slice that holds far more of the units in several variants than of all units', () => {
    const r = run({ 'sdk:web 1.200': 30, 'sdk:posthog-node 5.70': 120 })
    expect(r.status).toBe('fail')
    expect(r.summary).toMatch(/SDK posthog-node 5\.70 holds 80% of them \(120 units\) but 10% of all units \(p < 1e-16\)\./)
    expect(r.fix).toMatch(/^Look at SDK posthog-node 5\.70 first\./)
    expect((r.evidence.slices as { over_represented: { value: string }[] }).over_represented.map((s) => s.value)).toEqual(['posthog-node 5.70'])
  })
  it('names none when the units in several variants are spread like all units', () => {
    const r = run({ 'sdk:web 1.200': 136, 'sdk:posthog-node 5.70': 14 })
    expect((r.evidence.slices as { over_represented: unknown[] }).over_represented).toEqual([])
    expect(r.summary).not.toMatch(/holds/)
  })
  it('says nothing by slice where the source did not count it', () => {
    expect(run(undefined).evidence).not.toHaveProperty('slices')
  })
})
