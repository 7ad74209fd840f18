import { describe, expect, it } from 'vitest'
import { audience } from '../../../src/coverage/checks/audience.js'
import { parseCohorts } from '../../../src/definitions/definitions.js'
import { context, experimentDef, flagDef } from '../../support/context.js'

const cohorts = parseCohorts('test', [
  { id: 1, name: 'Beta testers', is_static: true },
  { id: 2, name: 'Power users', is_static: false },
])
const targeting = (cohort: number) => flagDef({ filters: { groups: [{ properties: [{ key: 'id', type: 'cohort', value: cohort }], rollout_percentage: 100 }], multivariate: { variants: [{ key: 'control', rollout_percentage: 50 }, { key: 'test', rollout_percentage: 50 }] } } })

describe('audience', () => {
  it('passes without cohorts', () => expect(audience.run(context({ cohorts })).status).toBe('pass'))
  it('passes with a static cohort', () => expect(audience.run(context({ flag: targeting(1), cohorts })).status).toBe('pass'))
  it('fails with a dynamic cohort, whose members move during the experiment', () => {
    const r = audience.run(context({ flag: targeting(2), cohorts }))
    expect(r.status).toBe('fail')
    expect(r.repairs[0]).toMatchObject({ category: 'cohort' })
  })
  it('warns when the cohort is not in the list', () => expect(audience.run(context({ flag: targeting(9), cohorts })).status).toBe('warn'))
  it('warns when test accounts are not filtered out', () => {
    const exp = experimentDef({ exposure_criteria: { filterTestAccounts: false } })
    expect(audience.run(context({ experiment: exp, cohorts })).status).toBe('warn')
  })
})
