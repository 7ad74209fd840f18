import type { Check } from './types.js'
import { result } from './types.js'

// PostHog's health checks warn about a running experiment whose flag is off, rolled out to 0%, or
// with one variant at 100%, and about forced variants (products/experiments/backend/health).
export const flagState: Check = {
  id: 'flag_state',
  appliesTo: () => true,
  run(ctx) {
    const { flag, experiment } = ctx
    const forced = flag.filters.groups.filter((g) => g.variant)
    const rollouts = flag.filters.groups.filter((g) => !g.variant).map((g) => g.rollout_percentage ?? 100)
    const maxRollout = rollouts.length ? Math.max(...rollouts) : 0
    const full = (flag.filters.multivariate?.variants ?? []).find((v) => v.rollout_percentage >= 100)
    const evidence = { active: flag.active, deleted: flag.deleted, max_rollout_percentage: maxRollout, forced_variants: forced.map((g) => g.variant), running: ctx.running }
    if (experiment && ctx.running) {
      if (flag.deleted || !flag.active) {
        return result('fail', `The experiment is running but its flag "${flag.key}" is ${flag.deleted ? 'deleted' : 'switched off'}: nobody gets a variant.`, evidence, 'Switch the flag back on, or stop the experiment and read out only the days it was on.', [
          { category: 'flag_config', action: `Re-enable "${flag.key}" or end the experiment at the day it was switched off`, effort: 'low', blocking: true },
        ])
      }
      if (maxRollout === 0) {
        return result('fail', 'The experiment is running with its flag rolled out to 0% of users.', evidence, 'Raise the rollout percentage of the release condition.', [
          { category: 'flag_config', action: `Set the rollout of "${flag.key}" above 0%`, effort: 'low', blocking: true },
        ])
      }
      if (full) {
        return result('fail', `Variant "${full.key}" gets 100% of users, so there is nothing to compare.`, evidence, 'Restore the planned split before reading results.', [
          { category: 'flag_config', action: `Restore the variant split of "${flag.key}"`, effort: 'low', blocking: true },
        ])
      }
      if (forced.length) {
        return result('fail', `A release condition pins users to "${forced.map((g) => g.variant).join('", "')}", so those users were never randomised.`, evidence, 'Remove the variant override, or exclude those users from the analysis.', [
          { category: 'flag_config', action: `Remove the variant override on "${flag.key}" (or filter its users out of the readout)`, effort: 'medium', blocking: true },
        ])
      }
      return result('pass', 'The flag is on and splits users as planned.', evidence)
    }
    // PostHog's flag_state (A5) also warns when the flag still splits users outside the run: after
    // the end (unless one variant is shipped) and before the launch of a draft.
    const activeVariants = (flag.filters.multivariate?.variants ?? []).filter((v) => v.rollout_percentage !== 0).length
    const splitting = flag.active && !flag.deleted && activeVariants > 1 && maxRollout > 0
    const ended = experiment !== null && (experiment.status === 'stopped' || (experiment.end_date != null && Date.parse(experiment.end_date) <= ctx.nowMs))
    const draft = experiment !== null && !ended && !experiment.start_date && !experiment.archived
    if (experiment && splitting && ended && !full) {
      return result('warn', `The experiment has ended, but its flag "${flag.key}" still splits users across ${activeVariants} variants.`, evidence, 'Roll out the chosen variant or switch the flag off; or resume the experiment.', [
        { category: 'flag_config', action: `Ship the winning variant of "${flag.key}" or switch it off`, effort: 'low', blocking: false },
      ])
    }
    if (experiment && splitting && draft) {
      return result('warn', `The experiment has not launched, but its flag "${flag.key}" already exposes users to ${activeVariants} variants.`, evidence, 'Switch the flag off until launch, or launch the experiment (its results start at the launch).', [
        { category: 'flag_config', action: `Switch "${flag.key}" off until the experiment launches`, effort: 'low', blocking: false },
      ])
    }
    if (experiment) return result('pass', `The experiment is ${experiment.status ?? (ctx.startMs === null ? 'a draft' : 'not running')}.`, evidence)
    if (flag.deleted || !flag.active) return result('pass', 'The flag is switched off.', evidence)
    if (forced.length && ctx.deFactoExperiment) {
      return result('warn', `A release condition pins users to "${forced.map((g) => g.variant).join('", "')}": compare only randomised users.`, evidence, 'Exclude the overridden users when comparing variants.', [
        { category: 'flag_config', action: `Exclude the users pinned by "${flag.key}"'s override from comparisons`, effort: 'medium', blocking: false },
      ])
    }
    return result('pass', maxRollout >= 100 && !ctx.deFactoExperiment ? 'The flag is fully rolled out.' : 'The flag is on.', evidence)
  },
}
