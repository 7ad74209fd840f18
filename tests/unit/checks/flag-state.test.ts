import { describe, expect, it } from 'vitest'
import { flagState } from '../../../src/coverage/checks/flag-state.js'
import { NOW, context, experimentDef, flagDef } from '../../support/context.js'

describe('flag_state', () => {
  it.each([
    ['a running experiment with its flag on', flagDef(), 'pass'],
    ['a running experiment with its flag switched off', flagDef({ active: false }), 'fail'],
    ['a running experiment rolled out to 0%', flagDef({ rollout: 0 }), 'fail'],
    ['one variant at 100%', flagDef({ variants: [['control', 0], ['test', 100]] }), 'fail'],
    [
      'a release condition forcing a variant',
      flagDef({ filters: { groups: [{ properties: [{ key: 'plan', type: 'person', value: ['enterprise'] }], rollout_percentage: 100, variant: 'test' }, { properties: [], rollout_percentage: 100 }], multivariate: { variants: [{ key: 'control', rollout_percentage: 50 }, { key: 'test', rollout_percentage: 50 }] } } }),
      'fail',
    ],
  ])('%s: %s', (_why, flag, status) => {
    expect(flagState.run(context({ flag })).status).toBe(status)
  })
  it('a switched-off flag without an experiment is simply off', () => {
    expect(flagState.run(context({ flag: flagDef({ active: false }), experiment: null })).summary).toMatch(/switched off/)
  })
  it.each([
    ['an ended experiment whose flag still splits users (PostHog: live after end)', experimentDef({ status: 'stopped', end_date: new Date(NOW - 86_400_000).toISOString() }), flagDef(), 'warn'],
    ['an ended experiment whose winner is shipped at 100%', experimentDef({ status: 'stopped', end_date: new Date(NOW - 86_400_000).toISOString() }), flagDef({ variants: [['control', 0], ['test', 100]] }), 'pass'],
    ['an ended experiment whose flag is off', experimentDef({ status: 'stopped', end_date: new Date(NOW - 86_400_000).toISOString() }), flagDef({ active: false }), 'pass'],
    ['a draft whose flag already splits users (PostHog: live before launch)', experimentDef({ status: 'draft', start_date: null }), flagDef(), 'warn'],
    ['a draft whose flag is at 0%', experimentDef({ status: 'draft', start_date: null }), flagDef({ rollout: 0 }), 'pass'],
  ])('%s: %s', (_why, experiment, flag, status) => {
    expect(flagState.run(context({ flag, experiment })).status).toBe(status)
  })
})

// The release conditions and cases of PostHog's own tests: products/experiments/backend/health/test/
// test_forced_variant.py (`test_forced_variant_release_condition`) and test_flag_state.py (`test_flag_state`).
const EVEN_SPLIT = [{ key: 'control', rollout_percentage: 50 }, { key: 'test', rollout_percentage: 50 }]
const SHIPPED_SPLIT = [{ key: 'control', rollout_percentage: 0 }, { key: 'test', rollout_percentage: 100 }]
const EVERYONE = { properties: [], rollout_percentage: 100 }
const STAFF = { properties: [{ key: 'email', value: '@example.com', operator: 'icontains', type: 'person' }], rollout_percentage: 100 }
const IOS = { properties: [{ key: '$device_type', value: 'iOS', operator: 'exact', type: 'person' }], rollout_percentage: 100 }
const flagWith = (groups: unknown[], over: { variants?: unknown[]; early_exit?: boolean } = {}) =>
  flagDef({ filters: { groups, multivariate: { variants: over.variants ?? EVEN_SPLIT }, aggregation_group_type_index: null }, ...(over.early_exit ? { early_exit: true } : {}) })
const DAY = 86_400_000
const ENDED = experimentDef({ status: 'stopped', end_date: new Date(NOW - DAY).toISOString() })
const DRAFT = experimentDef({ status: 'draft', start_date: null })

describe('flag_state: release conditions that pin a variant, by PostHog\'s rules', () => {
  // [PostHog test case, PostHog's finding, flag, experiment, our status, pinned condition sets, pinned keys]
  it.each([
    ['no_override', 'none', flagWith([EVERYONE]), experimentDef(), 'pass', [], []],
    // some_conditions_pinned is INFO in PostHog; a running experiment's pinned users are never randomised: we block (docs/checks.md)
    ['qa_override_before_randomized_set', 'some_conditions_pinned (INFO)', flagWith([{ ...STAFF, variant: 'test' }, EVERYONE]), experimentDef(), 'fail', [1], ['test']],
    ['catch_all_override', 'all_conditions_pinned', flagWith([{ ...EVERYONE, variant: 'control' }]), experimentDef(), 'fail', [1], ['control']],
    ['catch_all_override_without_rollout', 'all_conditions_pinned', flagWith([{ properties: [], variant: 'test' }]), experimentDef(), 'fail', [1], ['test']],
    ['cohorts_forced_into_both_variants', 'all_conditions_pinned', flagWith([{ ...IOS, variant: 'test' }, { ...STAFF, variant: 'control' }]), experimentDef(), 'fail', [1, 2], ['test', 'control']],
    ['randomized_set_at_zero_rollout_randomizes_nobody', 'all_conditions_pinned', flagWith([{ ...IOS, variant: 'test' }, { ...EVERYONE, rollout_percentage: 0 }]), experimentDef(), 'fail', [1], ['test']],
    ['override_at_zero_rollout', 'none', flagWith([{ ...STAFF, variant: 'test', rollout_percentage: 0 }, EVERYONE]), experimentDef(), 'pass', [], []],
    ['override_after_a_catch_all_is_unreachable', 'none', flagWith([EVERYONE, { ...STAFF, variant: 'test' }]), experimentDef(), 'pass', [], []],
    ['override_after_a_group_catch_all_in_a_mixed_flag', 'some_conditions_pinned (INFO)', flagWith([{ ...EVERYONE, aggregation_group_type_index: 0 }, { ...STAFF, variant: 'test' }]), experimentDef(), 'fail', [2], ['test']],
    [
      'override_after_a_catch_all_of_the_same_group_type',
      'all_conditions_pinned',
      flagWith([{ ...EVERYONE, aggregation_group_type_index: 0, variant: 'test' }, { ...EVERYONE, aggregation_group_type_index: 0 }, { ...STAFF, variant: 'control' }]),
      experimentDef(),
      'fail',
      [1, 3],
      ['test', 'control'],
    ],
    ['override_after_a_zero_catch_all_with_early_exit', 'none', flagWith([{ ...EVERYONE, rollout_percentage: 0 }, { ...EVERYONE, variant: 'control' }], { early_exit: true }), experimentDef(), 'pass', [], []],
    ['override_after_a_partial_catch_all_with_early_exit', 'none', flagWith([{ ...EVERYONE, rollout_percentage: 50 }, { ...STAFF, variant: 'test' }], { early_exit: true }), experimentDef(), 'pass', [], []],
    ['override_after_a_partial_catch_all', 'some_conditions_pinned (INFO)', flagWith([{ ...EVERYONE, rollout_percentage: 50 }, { ...STAFF, variant: 'test' }]), experimentDef(), 'fail', [2], ['test']],
    ['override_naming_no_variant_is_ignored', 'none', flagWith([{ ...STAFF, variant: 'old-test' }, EVERYONE]), experimentDef(), 'pass', [], []],
    // flag_state.py reports the shipped variant (running_but_single_variant_shipped); forced_variant.py adds nothing
    ['shipped_variant_already_reported', 'running_but_single_variant_shipped', flagWith([{ ...EVERYONE, variant: 'test' }], { variants: SHIPPED_SPLIT }), experimentDef(), 'fail', [1], ['test']],
    ['override_contradicts_the_shipped_variant', 'all_conditions_pinned', flagWith([{ ...EVERYONE, variant: 'control' }], { variants: SHIPPED_SPLIT }), experimentDef(), 'fail', [1], ['control']],
    // forced_variant.py skips ended experiments; flag_state.py's ended_but_multiple_variants_rolled_out (WARNING) remains
    ['ended', 'ended_but_multiple_variants_rolled_out', flagWith([{ ...EVERYONE, variant: 'control' }]), ENDED, 'warn', [1], ['control']],
    // a draft's overrides are no finding of ours beyond flag_state.py's not_started_but_multiple_variants_rolled_out (WARNING)
    ['draft_qa_override', 'some_conditions_pinned (INFO)', flagWith([{ ...STAFF, variant: 'test' }, EVERYONE]), DRAFT, 'warn', [1], ['test']],
  ])('%s (PostHog: %s) is %s here', (_case, _posthog, flag, experiment, status, sets, keys) => {
    const r = flagState.run(context({ flag, experiment }))
    expect(r.status).toBe(status)
    expect(r.evidence).toMatchObject({ pinned_condition_sets: sets, forced_variants: keys })
  })

  it.each([
    ['catch_all_override', [{ ...EVERYONE, variant: 'control' }], /Every release condition that includes users pins "control"/, /end the experiment with a conclusion; otherwise remove the variant override/],
    ['cohorts_forced_into_both_variants', [{ ...IOS, variant: 'test' }, { ...STAFF, variant: 'control' }], /each variant holds a different group of users/, /Remove the variant overrides/],
  ])('%s: a flag whose only conditions pin a variant is not read as rolled out to 0%%', (_case, groups, summary, fix) => {
    const r = flagState.run(context({ flag: flagWith(groups) }))
    expect(r.summary).not.toMatch(/0%/)
    expect(r.summary).toMatch(summary)
    expect(r.fix).toMatch(fix)
  })

  it.each([
    ['override_at_zero_rollout', [{ ...STAFF, variant: 'test', rollout_percentage: 0 }, EVERYONE], 'zero_rollout'],
    ['override_after_a_catch_all_is_unreachable', [EVERYONE, { ...STAFF, variant: 'test' }], 'after_catch_all'],
    ['override_naming_no_variant_is_ignored', [{ ...STAFF, variant: 'old-test' }, EVERYONE], 'names_no_variant'],
  ])('%s: the override that reaches nobody is named, not blocking', (_case, groups, because) => {
    const r = flagState.run(context({ flag: flagWith(groups) }))
    expect(r.status).toBe('pass')
    expect(r.evidence.ignored_overrides).toEqual([expect.objectContaining({ because })])
  })

  it('forced_variant.py warns on a draft whose every condition pins a variant: after launch nobody is randomised', () => {
    const r = flagState.run(context({ flag: flagWith([{ ...EVERYONE, variant: 'control' }], {}), experiment: DRAFT }))
    expect(r.status).toBe('warn')
    expect(r.summary).toMatch(/After launch no user would be randomly assigned/)
  })

  // test_flag_state.py
  it.each([
    ['running_zero_rollout', flagWith([{ ...EVERYONE, rollout_percentage: 0 }]), 'fail', /0%/],
    ['running_zero_rollout_before_shipped_variant', flagWith([{ ...EVERYONE, rollout_percentage: 0 }], { variants: SHIPPED_SPLIT }), 'fail', /0%/],
    ['running_groups_are_null', flagWith([]), 'pass', /splits users as planned/],
  ])('%s is %s', (_case, flag, status, summary) => {
    const r = flagState.run(context({ flag }))
    expect(r.status).toBe(status)
    expect(r.summary).toMatch(summary)
  })
})
