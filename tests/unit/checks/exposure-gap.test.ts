import { describe, expect, it } from 'vitest'
import { exposureGap } from '../../../src/coverage/checks/exposure-gap.js'
import { context, experimentDef, flagDef, observation } from '../../support/context.js'

const run = (units: number, exposed: number, falseUnits = 0, reached = 0, reachedExposed = 0) =>
  exposureGap.run(
    context({
      observation: observation({
        sightings: { units: units + falseUnits, unitsExposed: exposed, variants: [{ value: 'test', units }, ...(falseUnits ? [{ value: false, units: falseUnits }] : [])], reached, reachedExposed },
      }),
    }),
  )

describe('exposure_gap', () => {
  it('accepts half of the carriers never reaching the page: posthog-js puts every flag on every event', () => {
    expect(run(1000, 500).status).toBe('pass')
  })
  it('fails when nearly every unit given a value was never exposed', () => {
    expect(run(1000, 20).status).toBe('fail')
  })
  it('does not count units carrying false: they are outside the rollout', () => {
    expect(run(100, 60, 5000).status).toBe('pass')
  })
  it.each([
    ['80% of the units that sent the metric read only the payload', 1000, 700, 200, 40, 'fail'],
    ['a healthy page where every flag rides on every event: most carriers never reach it', 1000, 300, 200, 170, 'pass'],
    ['a quarter of converters on a visit that did not read the flag stays quiet', 1000, 600, 200, 150, 'pass'],
  ] as const)('at the experiment surface: %s', (_why, units, exposed, reached, reachedExposed, status) => {
    const r = run(units, exposed, 0, reached, reachedExposed)
    expect(r.status).toBe(status)
    expect(r.evidence).toMatchObject({ measured: 'surface', units_at_surface: reached, units_at_surface_exposed: reachedExposed })
  })
  it('names payloads as the likely cause when the flag defines them, and only then', () => {
    const withPayloads = flagDef({ filters: { groups: [{ properties: [], rollout_percentage: 100, variant: null }], multivariate: { variants: [{ key: 'control', rollout_percentage: 50 }, { key: 'test', rollout_percentage: 50 }] }, payloads: { test: '{"layout":"b"}' } } })
    const obs = observation({ sightings: { units: 1000, unitsExposed: 20, variants: [{ value: 'test', units: 1000 }], reached: 0, reachedExposed: 0 } })
    const r = exposureGap.run(context({ flag: withPayloads, observation: obs }))
    expect(r.status).toBe('fail')
    expect(r.summary).toContain('The flag defines payloads (test): posthog-js sends no exposure for getFeatureFlagPayload')
    expect(r.evidence.payload_variants).toEqual(['test'])
    expect(run(1000, 20).summary).not.toContain('payload')
  })
  it('falls back to the carriers when too few units reached the surface to judge', () => {
    expect(run(1000, 20, 0, 5, 0).evidence).toMatchObject({ measured: 'carriers' })
  })
})

describe('exposure_gap for an experiment without a documented metric', () => {
  const sightings = { units: 1000, unitsExposed: 700, variants: [{ value: 'test', units: 1000 }], reached: 200, reachedExposed: 40 }
  it('measures the surface at the configured goals', () => {
    const r = exposureGap.run(context({ experiment: experimentDef({ metrics: [] }), config: { goalEvents: '["checkout_completed"]' }, observation: observation({ sightings }) }))
    expect(r).toMatchObject({ status: 'fail', evidence: { measured: 'surface' } })
  })
  it('falls back to the carriers without configured goals', () => {
    const r = exposureGap.run(context({ experiment: experimentDef({ metrics: [] }), observation: observation({ sightings }) }))
    expect(r).toMatchObject({ status: 'pass', evidence: { measured: 'carriers' } })
  })
})
