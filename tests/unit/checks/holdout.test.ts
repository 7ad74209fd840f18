import { describe, expect, it } from 'vitest'
import { auditEvents } from '../../../src/audit/offline-audit.js'
import { sampleRatio } from '../../../src/coverage/checks/sample-ratio.js'
import { variantValues } from '../../../src/coverage/checks/variant-values.js'
import { expectedVariants } from '../../../src/coverage/context.js'
import { holdoutOf, ownValues } from '../../../src/definitions/definitions.js'
import { countedValues } from '../../../src/plugin/definition-hooks.js'
import { flagCalled } from '../../support/events.js'
import { NOW, context, experimentDef, exposureObs, flagDef, observation } from '../../support/context.js'

/**
 * An experiment with a holdout, as PostHog's ExperimentSerializer returns it: `holdout` is the
 * ExperimentHoldoutSerializer's object, whose `filters` are release conditions; the first one's
 * rollout_percentage is the share held out, served the value `holdout-<id>`
 * (products/experiments/backend/api/experiment_holdouts.py, `_get_filters_with_holdout_id`).
 */
const HOLDOUT = { id: 9, name: 'Q4 holdout', description: null, filters: [{ properties: [], rollout_percentage: 20, variant: 'holdout-9' }] }
const withHoldout = (holdout: unknown = HOLDOUT) => experimentDef({ holdout })

const srm = (units: Record<string, number>) =>
  sampleRatio.run(
    context({
      experiment: withHoldout(),
      observation: observation({ exposure: { $feature_flag_called: exposureObs(Object.entries(units).map(([value, n]) => ({ value, units: n }))) } }),
    }),
  )

// PostHog: products/experiments/backend/hogql_queries/experiment_exposures_query_runner.py `_calculate_srm`
// and its tests in products/experiments/backend/hogql_queries/test/experiment_query_runner/test_experiment_exposures_query_runner.py.
describe('a holdout in the sample ratio test: left out, as PostHog leaves it out', () => {
  it.each([
    // test_srm_calculation_adjusts_for_holdout: 20% holdout, control/test 50/50; {control: 50, test: 50}
    // -> expected 50 and 50, p = 1.0, and the holdout is not in `expected`.
    ['test_srm_calculation_adjusts_for_holdout: the arms at 50/50 of what the holdout leaves', { control: 50, test: 50, 'holdout-9': 25 }, 'pass', 1],
    // The same test before PostHog dropped the holdout from SRM fed {holdout: 20, control: 40, test: 40};
    // today only the arms count toward SRM_MINIMUM_SAMPLE_SIZE (100): 80 gives no result.
    ['_calculate_srm: holdout units do not count toward the 100 units SRM needs', { control: 40, test: 40, 'holdout-9': 20 }, 'unknown', null],
    // `_calculate_srm` drops the holdout from rollout_percentages: its own count cannot make a mismatch.
    ['_calculate_srm: a holdout far from its 20% is not a mismatch of the arms', { control: 50, test: 50, 'holdout-9': 300 }, 'pass', 1],
    // test_srm_calculation_detects_significant_mismatch: 90/10 on a 50/50 split, p < 0.001; a holdout beside it changes nothing.
    ['test_srm_calculation_detects_significant_mismatch: 90/10 on 50/50 still fails beside a holdout', { control: 90, test: 10, 'holdout-9': 25 }, 'fail', null],
  ])('%s', (_case, units, status, p) => {
    const r = srm(units)
    expect(r.status).toBe(status)
    const arms = r.evidence.variants as { key: string; expected_share: number }[]
    expect(arms.map((v) => [v.key, v.expected_share])).toEqual([['control', 0.5], ['test', 0.5]])
    expect(r.evidence.holdout).toMatchObject({ key: 'holdout-9', units: units['holdout-9'], expected_share: 0.2, tested: false })
    if (p !== null) expect(r.evidence.p_value).toBeCloseTo(p, 6)
  })
})

describe('a holdout is one of the flag\'s values, with its share', () => {
  it.each([
    // `_calculate_srm`: "Holdout takes its percentage from the total, other variants share the remainder"
    // (each variant's rollout x (100 - holdout) / 100): 20% holdout on 50/50 is 40/40/20.
    ['a 20% holdout on a 50/50 split', flagDef(), withHoldout(), [['control', 0.4], ['test', 0.4], ['holdout-9', 0.2]]],
    ['a 10% holdout on a 70/30 split', flagDef({ variants: [['control', 70], ['test', 30]] }), withHoldout({ id: 3, filters: [{ properties: [], rollout_percentage: 10 }] }), [['control', 0.63], ['test', 0.27], ['holdout-3', 0.1]]],
    // `_calculate_srm`: a holdout without a rollout_percentage holds out 0%.
    ['a holdout without a percentage holds out nobody', flagDef(), withHoldout({ id: 4, filters: [{ properties: [] }] }), [['control', 0.5], ['test', 0.5], ['holdout-4', 0]]],
    ['no holdout', flagDef(), experimentDef(), [['control', 0.5], ['test', 0.5]]],
  ])('%s', (_case, flag, experiment, shares) => {
    const got = expectedVariants(flag, experiment).map((v) => [v.key, v.share] as const)
    expect(got.map(([k]) => k)).toEqual(shares.map(([k]) => k))
    got.forEach(([, share], i) => expect(share).toBeCloseTo(shares[i]![1] as number, 10))
  })

  it.each([
    ['the experiment\'s holdout (ExperimentSerializer `holdout`)', flagDef(), withHoldout(), { key: 'holdout-9', share: 0.2 }],
    // products/feature_flags/backend/facade/filters.py `set_holdout`: filters.holdout = {id, exclusion_percentage}
    ['the flag\'s `holdout` (newer PostHog)', flagDef({ filters: { groups: [{ properties: [], rollout_percentage: 100 }], multivariate: { variants: [{ key: 'control', rollout_percentage: 50 }, { key: 'test', rollout_percentage: 50 }] }, holdout: { id: 5, exclusion_percentage: 15 } } }), null, { key: 'holdout-5', share: 0.15 }],
    // ee/clickhouse/views/experiments.py (older): filters.holdout_groups = the holdout's filters
    ['the flag\'s `holdout_groups` (older PostHog)', flagDef({ filters: { groups: [{ properties: [], rollout_percentage: 100 }], multivariate: { variants: [{ key: 'control', rollout_percentage: 50 }, { key: 'test', rollout_percentage: 50 }] }, holdout_groups: [{ properties: [], rollout_percentage: 30, variant: 'holdout-6' }] } }), null, { key: 'holdout-6', share: 0.3 }],
    ['none', flagDef(), experimentDef(), null],
  ])('reads the holdout from %s', (_case, flag, experiment, holdout) => {
    expect(holdoutOf(flag, experiment)).toEqual(holdout)
    expect(ownValues(flag, experiment)).toEqual(['control', 'test', ...(holdout ? [holdout.key] : [])])
  })

  it.each([
    ['its own holdout value', 'holdout-9', 'pass'],
    ['another holdout\'s value', 'holdout-99', 'fail'],
  ])('variant_values: %s is %s', (_case, value, status) => {
    const obs = observation({ exposure: { $feature_flag_called: exposureObs([{ value: 'control', units: 400 }, { value: 'test', units: 400 }, { value, units: 200 }]) } })
    expect(variantValues.run(context({ experiment: withHoldout(), observation: obs })).status).toBe(status)
  })

  it('the counters count units for the holdout value, only on a flag whose experiment has one', () => {
    const isCounted = countedValues({ flags: [flagDef()], experiments: [withHoldout()] })
    expect(isCounted('exp-flag', 'holdout-9')).toBe(true)
    expect(isCounted('exp-flag', 'holdout-10')).toBe(false)
    expect(countedValues({ flags: [flagDef()], experiments: [experimentDef()] })('exp-flag', 'holdout-9')).toBe(false)
  })
})

describe('the offline audit counts holdout units', () => {
  it('lists the holdout with its share and units; no unknown value; the arms alone in the SRM', async () => {
    const events = [
      ...Array.from({ length: 60 }, (_, i) => flagCalled('exp-flag', 'control', { distinct_id: `c${i}` })),
      ...Array.from({ length: 60 }, (_, i) => flagCalled('exp-flag', 'test', { distinct_id: `t${i}` })),
      ...Array.from({ length: 30 }, (_, i) => flagCalled('exp-flag', 'holdout-9', { distinct_id: `h${i}` })),
    ]
    const defs = { flags: [flagDef()], experiments: [withHoldout()], cohorts: [], groupTypes: new Map<number, string>() }
    const { report } = await auditEvents(defs, {}, events, { now: NOW })
    const flag = report.flags.find((f) => f.key === 'exp-flag')!
    expect(flag.variants.map((v) => ({ key: v.key, units: v.units, share: Math.round(v.expected_share * 100) }))).toEqual([
      { key: 'control', units: 60, share: 40 },
      { key: 'test', units: 60, share: 40 },
      { key: 'holdout-9', units: 30, share: 20 },
    ])
    const check = (id: string) => flag.checks.find((c) => c.id === id)!
    expect(check('variant_values')).toMatchObject({ status: 'pass', evidence: { outside_exposures: 0 } })
    expect(check('sample_ratio')).toMatchObject({ status: 'pass', evidence: { total_units: 120, holdout: { key: 'holdout-9', units: 30 } } })
  })
})
