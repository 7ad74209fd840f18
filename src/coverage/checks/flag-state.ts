import type { FlagDefinition } from '../../definitions/definitions.js'
import { defineCheck, result } from './types.js'

/** Why a release condition that names a variant serves it to nobody. */
type IgnoredBecause = 'zero_rollout' | 'after_catch_all' | 'names_no_variant'

interface Conditions {
  /** The conditions that can include users (numbered from 1, as PostHog's page labels them: "Set 2"). */
  readonly live: readonly number[]
  /** Live conditions that pin one of the flag's variants, with that variant. */
  readonly pinned: readonly { set: number; variant: string }[]
  /** Conditions that name a variant but pin nobody to it. */
  readonly ignored: readonly { set: number; variant: string; because: IgnoredBecause }[]
}

/**
 * PostHog's flag service evaluates release conditions in their stored order and the first match
 * wins; a condition's variant override serves its variant only when it names one of the flag's
 * variants (products/experiments/backend/health/checks/forced_variant.py, `_live_condition_sets`,
 * after `get_match` in rust/feature-flags). A condition at 0% includes nobody; one without
 * properties at 100% (or at any rollout with early exit) ends the evaluation for its group type,
 * so the conditions after it are never reached.
 */
function readConditions(flag: FlagDefinition): Conditions {
  const keys = new Set((flag.filters.multivariate?.variants ?? []).map((v) => v.key))
  // `early_exit` is a FeatureFlag field PostHog's health context reads; the REST answer is not verified to carry it.
  const earlyExit = (flag as { early_exit?: unknown }).early_exit === true
  const flagGroupType = flag.filters.aggregation_group_type_index ?? null
  const ended = new Set<number | null>()
  const live: number[] = []
  const pinned: { set: number; variant: string }[] = []
  const ignored: { set: number; variant: string; because: IgnoredBecause }[] = []
  flag.filters.groups.forEach((g, i) => {
    const set = i + 1
    const own = (g as { aggregation_group_type_index?: unknown }).aggregation_group_type_index
    const groupType = typeof own === 'number' ? own : flagGroupType
    // A missing rollout serves every matched user, as on the flag service.
    const rollout = g.rollout_percentage ?? 100
    const reached = !ended.has(groupType) && !ended.has(null)
    if (reached && rollout > 0) {
      live.push(set)
      if (g.variant && keys.has(g.variant)) pinned.push({ set, variant: g.variant })
      else if (g.variant) ignored.push({ set, variant: g.variant, because: 'names_no_variant' })
    } else if (g.variant) {
      ignored.push({ set, variant: g.variant, because: reached ? 'zero_rollout' : 'after_catch_all' })
    }
    if (reached && g.properties.length === 0 && (rollout >= 100 || earlyExit)) ended.add(groupType)
  })
  return { live, pinned, ignored }
}

/**
 * What is wrong with a running experiment's flag, in the evidence (`finding`): the findings of
 * other checks that follow from it name it (checks/causes.ts).
 */
export type FlagStateFinding = 'deleted' | 'switched_off' | 'zero_rollout' | 'one_variant_at_full' | 'all_pinned' | 'some_pinned'

const quoted = (keys: readonly string[]) => keys.map((k) => `"${k}"`).join(', ')
const setNames = (sets: readonly number[]) => (sets.length === 1 ? `Set ${sets[0]}` : `Sets ${sets.slice(0, -1).join(', ')} and ${sets.at(-1)}`)

// PostHog's health checks warn about a running experiment whose flag is off, rolled out to 0%, or
// with one variant at 100% (flag_state.py, A5), and about release conditions that pin a variant
// (forced_variant.py, A7). A running experiment's findings block here.
export const flagState = defineCheck({
  id: 'flag_state',
  appliesTo: () => true,
  run(ctx) {
    const { flag, experiment } = ctx
    const conditions = readConditions(flag)
    const pinnedKeys = [...new Set(conditions.pinned.map((p) => p.variant))]
    const pinnedSets = conditions.pinned.map((p) => p.set)
    const allPinned = conditions.pinned.length > 0 && conditions.pinned.length === conditions.live.length
    // flag_state.py `_has_zero_rollout`: every release condition set to 0 explicitly (pinned ones
    // too); a condition without a rollout percentage serves everyone.
    const zeroRollout = flag.filters.groups.length > 0 && flag.filters.groups.every((g) => g.rollout_percentage === 0)
    const rollouts = flag.filters.groups.map((g) => g.rollout_percentage ?? 100)
    const maxRollout = rollouts.length ? Math.max(...rollouts) : 0
    const full = (flag.filters.multivariate?.variants ?? []).find((v) => v.rollout_percentage >= 100)
    const evidence = {
      active: flag.active,
      deleted: flag.deleted,
      max_rollout_percentage: maxRollout,
      forced_variants: pinnedKeys,
      pinned_condition_sets: pinnedSets,
      all_conditions_pinned: allPinned,
      ignored_overrides: conditions.ignored,
      running: ctx.running,
    }
    if (experiment && ctx.running) {
      if (flag.deleted || !flag.active) {
        const finding: FlagStateFinding = flag.deleted ? 'deleted' : 'switched_off'
        return result('fail', `The experiment is running but its flag "${flag.key}" is ${flag.deleted ? 'deleted' : 'switched off'}: nobody gets a variant.`, { ...evidence, finding }, 'Switch the flag back on, or stop the experiment and read out only the days it was on.', [
          { category: 'flag_config', action: `Re-enable "${flag.key}" or end the experiment at the day it was switched off`, effort: 'low', blocking: true },
        ])
      }
      if (zeroRollout) {
        return result('fail', 'The experiment is running with its flag rolled out to 0% of users: no new user is exposed.', { ...evidence, finding: 'zero_rollout' satisfies FlagStateFinding }, 'Raise the rollout percentage of the release condition, or end the experiment with a conclusion (users exposed earlier still count).', [
          { category: 'flag_config', action: `Set the rollout of "${flag.key}" above 0%`, effort: 'low', blocking: true },
        ])
      }
      if (full) {
        return result('fail', `Variant "${full.key}" gets 100% of users, so there is nothing to compare.`, { ...evidence, finding: 'one_variant_at_full' satisfies FlagStateFinding }, 'Restore the planned split before reading results.', [
          { category: 'flag_config', action: `Restore the variant split of "${flag.key}"`, effort: 'low', blocking: true },
        ])
      }
      if (allPinned) {
        const one = pinnedKeys.length === 1
        return result(
          'fail',
          one
            ? `Every release condition that includes users pins "${pinnedKeys[0]}" (${setNames(pinnedSets)}): all users get it, so there is nothing to compare.`
            : `Every release condition that includes users pins a variant (${quoted(pinnedKeys)}; ${setNames(pinnedSets)}): each variant holds a different group of users, none randomly assigned.`,
          { ...evidence, finding: 'all_pinned' satisfies FlagStateFinding },
          one
            ? `If you meant to roll out "${pinnedKeys[0]}", end the experiment with a conclusion; otherwise remove the variant override${pinnedSets.length > 1 ? 's' : ''} so users are assigned at random.`
            : `Remove the variant overrides so users are assigned at random.`,
          [{ category: 'flag_config', action: `Remove the variant override${pinnedSets.length > 1 ? 's' : ''} of "${flag.key}" (${setNames(pinnedSets)}) so users are assigned at random`, effort: 'low', blocking: true }],
        )
      }
      if (conditions.pinned.length) {
        return result(
          'fail',
          `${setNames(pinnedSets)} ${pinnedSets.length === 1 ? 'pins' : 'pin'} the users ${pinnedSets.length === 1 ? 'it matches' : 'they match'} to ${quoted(pinnedKeys)}: they count in the results without being randomised.`,
          { ...evidence, finding: 'some_pinned' satisfies FlagStateFinding },
          'If these are internal or test users, check that the filter for internal and test users excludes them from the results; otherwise remove the override.',
          [{ category: 'flag_config', action: `Remove the variant override on "${flag.key}" (${setNames(pinnedSets)}), or filter its users out of the readout`, effort: 'medium', blocking: true }],
        )
      }
      const ignoredNote = conditions.ignored.length ? ` (${setNames(conditions.ignored.map((o) => o.set))} name${conditions.ignored.length === 1 ? 's' : ''} a variant but reach${conditions.ignored.length === 1 ? 'es' : ''} nobody)` : ''
      return result('pass', `The flag is on and splits users as planned${ignoredNote}.`, evidence)
    }
    // PostHog's flag_state (A5) also warns when the flag still splits users outside the run: after
    // the end (unless one variant is shipped) and before the launch of a draft.
    const activeVariants = (flag.filters.multivariate?.variants ?? []).filter((v) => v.rollout_percentage !== 0).length
    const splitting = flag.active && !flag.deleted && activeVariants > 1 && !zeroRollout
    const ended = experiment !== null && (experiment.status === 'stopped' || (experiment.end_date != null && Date.parse(experiment.end_date) <= ctx.nowMs))
    const draft = experiment !== null && !ended && !experiment.start_date && !experiment.archived
    if (experiment && splitting && ended && !full) {
      return result('warn', `The experiment has ended, but its flag "${flag.key}" still splits users across ${activeVariants} variants.`, evidence, 'Roll out the chosen variant or switch the flag off; or resume the experiment.', [
        { category: 'flag_config', action: `Ship the winning variant of "${flag.key}" or switch it off`, effort: 'low', blocking: false },
      ])
    }
    // forced_variant.py (A7b) warns on a draft too: after launch, no user would be randomised.
    const pinnedAtLaunch = draft && !flag.deleted && allPinned ? ` After launch no user would be randomly assigned: every release condition that includes users pins a variant (${quoted(pinnedKeys)}).` : ''
    if (experiment && splitting && draft) {
      return result('warn', `The experiment has not launched, but its flag "${flag.key}" already exposes users to ${activeVariants} variants.${pinnedAtLaunch}`, evidence, 'Switch the flag off until launch, or launch the experiment (its results start at the launch).', [
        { category: 'flag_config', action: `Switch "${flag.key}" off until the experiment launches`, effort: 'low', blocking: false },
      ])
    }
    if (pinnedAtLaunch) {
      return result('warn', `The experiment has not launched.${pinnedAtLaunch}`, evidence, 'Remove the variant overrides before launch so users are assigned at random.', [
        { category: 'flag_config', action: `Remove the variant overrides of "${flag.key}" (${setNames(pinnedSets)}) before launch`, effort: 'low', blocking: false },
      ])
    }
    if (experiment) return result('pass', `The experiment is ${experiment.status ?? (ctx.startMs === null ? 'a draft' : 'not running')}.`, evidence)
    if (flag.deleted || !flag.active) return result('pass', 'The flag is switched off.', evidence)
    if (conditions.pinned.length && ctx.deFactoExperiment) {
      return result('warn', `A release condition pins users to ${quoted(pinnedKeys)}: compare only randomised users.`, evidence, 'Exclude the overridden users when comparing variants.', [
        { category: 'flag_config', action: `Exclude the users pinned by "${flag.key}"'s override from comparisons`, effort: 'medium', blocking: false },
      ])
    }
    return result('pass', maxRollout >= 100 && !ctx.deFactoExperiment ? 'The flag is fully rolled out.' : 'The flag is on.', evidence)
  },
})
