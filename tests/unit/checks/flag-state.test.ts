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
