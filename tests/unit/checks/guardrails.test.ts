import { describe, expect, it } from 'vitest'
import { guardrails } from '../../../src/coverage/checks/guardrails.js'
import { context, experimentDef, observation } from '../../support/context.js'

describe('guardrails', () => {
  it('passes with a documented secondary metric', () => expect(guardrails.run(context()).status).toBe('pass'))
  it('warns without one, naming the guardrail it watched instead', () => {
    const r = guardrails.run(context({ experiment: experimentDef({ metrics_secondary: [] }) }))
    expect(r.status).toBe('warn')
    expect(r.summary).toMatch(/\$exception/)
  })
  it('fails without one when exposed users send no common guardrail event', () => {
    const quiet = observation({ metrics: [] })
    expect(guardrails.run(context({ experiment: experimentDef({ metrics_secondary: [] }), observation: quiet })).status).toBe('fail')
  })
})
