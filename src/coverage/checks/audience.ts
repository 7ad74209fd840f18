import { defineCheck, result } from './types.js'

// PostHog's health checks warn about dynamic cohorts in the exposure criteria: their membership
// moves during the experiment, so who can be exposed changes with it.
export const audience = defineCheck({
  id: 'audience',
  appliesTo: (ctx) => ctx.kind === 'experiment' || ctx.deFactoExperiment,
  run(ctx) {
    const cohortIds = new Set<number>()
    for (const g of ctx.flag.filters.groups) {
      for (const p of g.properties) if (p.type === 'cohort' && p.value !== undefined) cohortIds.add(Number(p.value))
    }
    if (ctx.experiment?.exposure_cohort) cohortIds.add(ctx.experiment.exposure_cohort)
    const dynamic = [...cohortIds].map((id) => ({ id, cohort: ctx.cohorts.get(id) })).filter((c) => c.cohort && !c.cohort.is_static)
    const missing = [...cohortIds].filter((id) => !ctx.cohorts.has(id))
    const testAccounts = ctx.experiment?.exposure_criteria?.filterTestAccounts
    const evidence = { cohorts: [...cohortIds], dynamic_cohorts: dynamic.map((d) => d.id), missing_cohorts: missing, filter_test_accounts: testAccounts ?? null }
    if (dynamic.length) {
      const names = dynamic.map((d) => `"${d.cohort?.name ?? d.id}"`).join(', ')
      return result('fail', `The flag targets the dynamic cohort ${names}: its members change during the experiment, so the audience shifts under the comparison.`, evidence, 'Target a static copy of the cohort taken at launch.', [
        { category: 'cohort', action: `Replace ${names} in "${ctx.flag.key}" with a static cohort snapshotted at launch`, effort: 'medium', blocking: true },
      ])
    }
    if (missing.length) return result('warn', `The flag targets cohort ${missing.join(', ')}, which the cohort list does not have.`, evidence, 'Pass the cohorts file, or check that the cohort still exists.')
    if (ctx.kind === 'experiment' && testAccounts === false) {
      return result('warn', 'Test accounts are not filtered out of the exposures.', evidence, "Turn on the experiment's test-account filter.", [
        { category: 'flag_config', action: `Filter test accounts out of "${ctx.experiment?.name ?? ctx.flag.key}"`, effort: 'low', blocking: false },
      ])
    }
    return result('pass', cohortIds.size ? 'The audience is fixed (static cohorts only).' : 'The audience is not restricted by a cohort.', evidence)
  },
})
