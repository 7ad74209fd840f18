import { describe, expect, it } from 'vitest'
import { CHECKS, runChecks } from '../../../src/coverage/checks/registry.js'
import { CHECK_IDS, type Check } from '../../../src/coverage/checks/types.js'
import { NOW, context, observation } from '../../support/context.js'
import { dayLabel, dayNumber } from '../../../src/time.js'

describe('the check registry', () => {
  it('turns a check that throws into unknown, with the error, and still runs every other check', () => {
    const broken: Check = {
      id: 'sample_ratio',
      needs: [],
      appliesTo: () => true,
      run: () => {
        throw new Error('division by zero')
      },
    }
    const checks = CHECKS.map((c) => (c.id === 'sample_ratio' ? broken : c))
    const results = runChecks(context(), checks)
    expect(results.find((r) => r.id === 'sample_ratio')).toMatchObject({ status: 'unknown', evidence: { error: 'division by zero' } })
    expect(results.filter((r) => r.id !== 'sample_ratio').every((r) => r.status !== 'unknown' || r.summary !== '')).toBe(true)
    expect(results.map((r) => r.id)).toEqual(CHECKS.map((c) => c.id))
    expect(results.find((r) => r.id === 'exposure_present')?.status).toBe('pass')
  })

  it('marks a check that does not apply as not_applicable instead of running it', () => {
    let ran = false
    const picky: Check = { id: 'guardrails', needs: [], appliesTo: () => false, run: () => ((ran = true), { status: 'pass', summary: '', evidence: {}, fix: null, repairs: [] }) }
    expect(runChecks(context(), [picky])[0]).toMatchObject({ status: 'not_applicable' })
    expect(ran).toBe(false)
  })

  it('skips a check whose declared inputs are missing, without running it, as PostHog\'s health registry does', () => {
    let ran = false
    const needy: Check = { id: 'variant_values', needs: ['exposure'], appliesTo: () => true, run: () => ((ran = true), { status: 'pass', summary: '', evidence: {}, fix: null, repairs: [] }) }
    expect(runChecks(context({ observation: null }), [needy])[0]).toMatchObject({ status: 'not_applicable' })
    expect(ran).toBe(false)
    // called directly without its input, a declared check does not apply, and running it names what is missing
    const variantValues = CHECKS.find((c) => c.id === 'variant_values')!
    const bare = { ...context(), exposure: null }
    expect(variantValues.appliesTo(bare)).toBe(false)
    expect(() => variantValues.run(bare)).toThrow(/variant_values needs exposure/)
  })

  it('has exactly one check per id of DESIGN.md, each in its own file', () => {
    expect([...CHECKS.map((c) => c.id)].sort()).toEqual([...CHECK_IDS].sort())
  })

  it('a healthy running experiment passes every check', () => {
    // Its history read, with nothing in it since the start; exposures on every day of its run.
    const steady = observation()
    const exposure = steady.exposure.$feature_flag_called!
    exposure.byDay = Object.fromEntries(Array.from({ length: 11 }, (_, i) => [dayLabel(dayNumber(NOW) - i), Math.round(exposure.exposures / 11)]))
    const failing = runChecks(context({ changes: [], observation: steady })).filter((r) => r.status !== 'pass')
    expect(failing.map((r) => `${r.id}: ${r.summary}`)).toEqual([])
  })
})
