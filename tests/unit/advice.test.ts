import { describe, expect, it } from 'vitest'
import { formatHtml, formatMarkdown, formatTable } from '../../src/cli/formats.js'
import { CHECK_IDS } from '../../src/coverage/checks/types.js'
import { REPAIR_CATEGORY_LABELS, VERDICT_LABELS, CHECK_LABELS } from '../../src/coverage/labels.js'
import { buildReport, type Report } from '../../src/coverage/report.js'
import { backfillItemSchema, flagReportSchema, reportSchema } from '../../src/coverage/report-schema.js'
import type { ExperimentDefinition, FlagDefinition } from '../../src/definitions/definitions.js'
import type { FlagObservation } from '../../src/counters/observation.js'
import { parseSettings } from '../../src/settings/settings.js'
import { NOW, experimentDef, exposureObs, flagDef, observation } from '../support/context.js'

// Issue 20, item 3: advice that agrees with itself. Each case is one the demo project showed
// (`experiment-coverage demo`): settings-dark-mode and settings-usage-alerts (a payload-only read on
// a boolean flag without an experiment), checkout-express-pay (an experiment whose flag was switched off).

function reportOf(flag: FlagDefinition, experiment: ExperimentDefinition | null, obs: FlagObservation): Report {
  return buildReport({
    definitions: { flags: [flag], experiments: experiment ? [experiment] : [], cohorts: [], groupTypes: new Map() },
    observations: {
      schema: 'experiment-coverage/observations@1',
      project: 'p',
      generatedAt: new Date(NOW).toISOString(),
      window: { from: '2026-10-22', to: '2026-11-20', days: 30 },
      flags: [{ ...obs, flag: flag.key }],
      rejections: {},
      duplicates: 0,
      unlistedFlags: 0,
    },
    settings: parseSettings(),
    nowMs: NOW,
  })
}

const check = (r: Report, id: string) => r.flags[0]!.checks.find((c) => c.id === id)!

// settings-dark-mode: a boolean flag at 50%, no experiment; the code reads it with the payload
// getter, so its $feature/ property rides on every event but no $feature_flag_called is sent.
const payloadOnly = observation({
  exposure: {},
  sightings: { units: 1313, unitsExposed: 0, variants: [{ value: true, units: 631 }, { value: false, units: 682 }], reached: 0, reachedExposed: 0 },
  metrics: [],
})
const plainFlag = flagDef({ key: 'settings-dark-mode', variants: null, rollout: 50 })
const plainMultivariate = flagDef({ key: 'search-typeahead' })
const experimentFlag = flagDef({ key: 'exp-flag' })

describe('repairs fit the flag kind', () => {
  it.each([
    ['a boolean flag without an experiment (settings-dark-mode)', plainFlag, null],
    ['a multivariate flag without an experiment', plainMultivariate, null],
  ] as const)('%s: no repair talks of an experiment, and a missing exposure blocks no readout', (_case, flag, experiment) => {
    const r = reportOf(flag, experiment, payloadOnly)
    expect(r.flags[0]!.kind).not.toBe('experiment')
    expect(r.flags[0]!.backfill.length).toBeGreaterThan(0)
    for (const item of r.flags[0]!.backfill) {
      expect(item.action).not.toMatch(/experiment/i)
      expect(item.blocking).toBe(false)
    }
  })

  it('an experiment with the same gap keeps its blocking repairs: its analysis leaves unexposed units out', () => {
    const r = reportOf(experimentFlag, experimentDef(), observation({ exposure: {}, sightings: payloadOnly.sightings }))
    expect(r.flags[0]!.backfill.filter((b) => b.blocking).map((b) => b.category)).toContain('event')
  })

  it('a plain flag that receives only $experiment_exposure is told to send $feature_flag_called, not to change an exposure setting it does not have', () => {
    const r = reportOf(plainMultivariate, null, observation({ exposure: { $experiment_exposure: exposureObs([{ value: 'control', units: 40 }], '$experiment_exposure') } }))
    expect(check(r, 'exposure_present').summary).not.toMatch(/the experiment/)
    expect(r.flags[0]!.backfill.map((b) => b.action)).toEqual([expect.stringMatching(/^Send \$feature_flag_called for "search-typeahead"/)])
  })
})

describe('one repair per action per flag', () => {
  it('exposure_present and exposure_gap both ask to send the exposure: the plan lists it once', () => {
    const r = reportOf(plainFlag, null, payloadOnly)
    const actions = r.flags[0]!.backfill.map((b) => `${b.category}: ${b.action}`)
    expect(actions.filter((a) => a.startsWith('event: Send $feature_flag_called'))).toHaveLength(1)
    expect(actions.filter((a) => a.startsWith('property: Backfill exposure'))).toHaveLength(1)
    expect(new Set(actions).size).toBe(actions.length)
    expect(r.plan.filter((b) => b.flag === 'settings-dark-mode')).toHaveLength(r.flags[0]!.backfill.length)
  })

  it('an experiment whose exposure arrives as the other event is told once to change its exposure event', () => {
    const r = reportOf(experimentFlag, experimentDef(), observation({ exposure: { $experiment_exposure: exposureObs([{ value: 'control', units: 60 }, { value: 'test', units: 60 }], '$experiment_exposure') } }))
    const set = r.flags[0]!.backfill.filter((b) => b.action.startsWith('Set the exposure event'))
    expect(set).toHaveLength(1)
    expect(set[0]).toMatchObject({ check: 'exposure_event', blocking: true })
    expect(check(r, 'exposure_present')).toMatchObject({ status: 'fail', follows_from: 'exposure_event' })
  })
})

describe('numbers that share a name are the same number', () => {
  const r = reportOf(plainFlag, null, payloadOnly)
  const present = check(r, 'exposure_present')
  const gap = check(r, 'exposure_gap')

  it('"units carrying the flag" and "units with the flag on" read the same in exposure_present and exposure_gap', () => {
    expect(present.evidence).toMatchObject({ units_carrying_flag: 1313, units_carrying_a_value: 631 })
    expect(gap.evidence).toMatchObject({ units_carrying_flag: 1313, units_carrying_a_value: 631 })
    expect(present.summary).toMatch(/^1,313 units carry the flag on their events \(631 of them with the flag on\)/)
    expect(gap.summary).toMatch(/^100% of the 631 units with the flag on never sent an exposure event \(the other 682 units carrying the flag carry it as false/)
  })

  it.each([
    ['a payload-only boolean flag', plainFlag, null, payloadOnly],
    ['a healthy experiment', experimentFlag, experimentDef(), observation()],
    ['an experiment with a gap at its surface', experimentFlag, experimentDef(), observation({ sightings: { units: 2000, unitsExposed: 1000, variants: [{ value: 'control', units: 900 }, { value: 'test', units: 900 }, { value: false, units: 200 }], reached: 300, reachedExposed: 60 } })],
  ] as const)('%s: every evidence field that two checks share has one value', (_case, flag, experiment, obs) => {
    const seen = new Map<string, { check: string; value: unknown }>()
    for (const c of reportOf(flag, experiment, obs).flags[0]!.checks) {
      for (const [name, value] of Object.entries(c.evidence)) {
        if (typeof value !== 'number') continue
        const first = seen.get(name)
        if (first) expect(value, `${name}: ${first.check} says ${String(first.value)}, ${c.id} says ${value}`).toBe(first.value)
        else seen.set(name, { check: c.id, value })
      }
    }
  })
})

describe('one cause, named once', () => {
  // checkout-express-pay: the experiment runs, its flag was switched off, and the SDK kept sending
  // $feature_flag_called without a value.
  const off = flagDef({ key: 'exp-flag', active: false })
  const obs = observation({ exposure: { $feature_flag_called: exposureObs([{ value: 'control', units: 300 }, { value: 'test', units: 300 }, { value: null, units: 337 }]) } })
  const r = reportOf(off, experimentDef(), obs)
  const values = check(r, 'variant_values')

  it('variant_values of a switched-off flag follows from flag_state, with no advice to look for an old app version', () => {
    expect(check(r, 'flag_state')).toMatchObject({ status: 'fail', follows_from: null, evidence: { finding: 'switched_off' } })
    expect(values).toMatchObject({ status: 'fail', follows_from: 'flag_state' })
    expect(values.summary).toMatch(/carry no value of the flag\. It follows from Flag state: the flag is switched off/)
    expect(`${values.summary} ${values.fix}`).not.toMatch(/app version|client/i)
    expect(r.flags[0]!.backfill.map((b) => b.check)).toEqual(['flag_state'])
    expect(r.flags[0]!.backfill[0]!.action).toMatch(/^Re-enable "exp-flag"/)
  })

  it('the cause costs the score once', () => {
    // flag_state blocks (35 off), an unknown costs 3; variant_values follows from flag_state and costs nothing.
    const unknowns = r.flags[0]!.checks.filter((c) => c.status === 'unknown').length
    expect(r.flags[0]!.score).toBe(100 - 35 - 3 * unknowns)
  })

  it('values that the switch does not explain keep their own finding and advice', () => {
    const mixed = observation({ exposure: { $feature_flag_called: exposureObs([{ value: 'control', units: 300 }, { value: 'test', units: 300 }, { value: 'Test', units: 40 }]) } })
    const own = check(reportOf(off, experimentDef(), mixed), 'variant_values')
    expect(own.follows_from).toBeNull()
    expect(own.fix).toMatch(/Fix the client/)
  })

  it('a mismatched split follows from a release condition that pins users to the variant with too many', () => {
    const pinned = flagDef({
      key: 'exp-flag',
      filters: {
        groups: [
          { properties: [{ key: 'email', value: 'internal', operator: 'icontains', type: 'person' }], rollout_percentage: 100, variant: 'test' },
          { properties: [], rollout_percentage: 100, variant: null },
        ],
        multivariate: { variants: [{ key: 'control', rollout_percentage: 50 }, { key: 'test', rollout_percentage: 50 }] },
        aggregation_group_type_index: null,
      },
    })
    const skewed = observation({ exposure: { $feature_flag_called: exposureObs([{ value: 'control', units: 400 }, { value: 'test', units: 600 }]) } })
    const srm = check(reportOf(pinned, experimentDef(), skewed), 'sample_ratio')
    expect(srm).toMatchObject({ status: 'fail', follows_from: 'flag_state' })
    expect(srm.summary).toMatch(/^Sample ratio mismatch: .* It follows from Flag state: Set 1 pins the users it matches to "test"/)
  })

  it('exposure_gap follows from exposure_present when no exposure is sent at all', () => {
    expect(check(reportOf(plainFlag, null, payloadOnly), 'exposure_gap')).toMatchObject({ status: 'fail', follows_from: 'exposure_present', fix: 'Send the exposure (see Exposure present).' })
  })

  it.each([
    ['no exposure at all: the switch, not code that is not live', observation({ exposure: {}, sightings: { units: 0, unitsExposed: 0, variants: [], reached: 0, reachedExposed: 0 } }), 'exposure_present', /Deploy|live/],
    ['a short sample: nobody new is exposed, so waiting adds no unit', observation({ exposure: { $feature_flag_called: exposureObs([{ value: 'control', units: 20 }, { value: 'test', units: 20 }]) } }), 'sample_size', /Wait for more traffic|Widen/],
  ] as const)('a switched-off flag explains %s', (_case, obs, id, advice) => {
    const c = check(reportOf(off, experimentDef(), obs), id)
    expect(c).toMatchObject({ status: 'fail', follows_from: 'flag_state' })
    expect(c.summary).toMatch(/It follows from Flag state: the flag is switched off/)
    expect(c.fix).not.toMatch(advice)
  })

  it('the report JSON carries follows_from on every check, and still validates', () => {
    expect(reportSchema.safeParse(r).success).toBe(true)
    expect(r.flags[0]!.checks.every((c) => 'follows_from' in c)).toBe(true)
  })
})

describe('labels: the words people read, in one place', () => {
  it('names every verdict, repair category and check the report JSON can hold', () => {
    const shape = flagReportSchema.shape
    expect(Object.keys(VERDICT_LABELS).sort()).toEqual([...shape.verdict.options].sort())
    expect(Object.keys(REPAIR_CATEGORY_LABELS).sort()).toEqual([...backfillItemSchema.shape.category.options].sort())
    expect(Object.keys(CHECK_LABELS).sort()).toEqual([...CHECK_IDS].sort())
  })

  it('calls needs_backfill what its repairs are (a metric, a cohort, the tracking), not a backfill', () => {
    expect(VERDICT_LABELS.needs_backfill.label).toBe('Needs repair')
    for (const l of [...Object.values(VERDICT_LABELS), ...Object.values(REPAIR_CATEGORY_LABELS)]) expect(l.label).not.toMatch(/_|backfill/i)
  })

  it('the table, Markdown and HTML reports show the labels; the JSON keeps its values', () => {
    const r = reportOf(plainFlag, null, payloadOnly)
    expect(r.flags[0]!.verdict).toBe('needs_backfill')
    // The HTML keeps the value as a class name for its colour; the text a person reads is the label.
    const htmlText = formatHtml(r).replace(/<style>[\s\S]*?<\/style>/, '').replace(/<[^>]*>/g, '')
    for (const out of [formatTable(r), formatMarkdown(r), htmlText]) {
      expect(out).toContain('Needs repair')
      expect(out).not.toMatch(/needs[_ ]backfill/i)
    }
    expect(formatMarkdown(r)).toContain('Tracking code')
  })
})
