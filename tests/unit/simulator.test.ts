import { createHash } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { readEvent } from '../../src/events/read-event.js'
import { DEFECTS, DEFECT_IDS, OPT_IN_DEFECTS, parseDefectList, type DefectId } from '../../src/sim/defects.js'
import { simulate } from '../../src/sim/simulation.js'
import { serializeSimEvent, type SimEvent } from '../../src/sim/traffic.js'
import type { FlagTruth, Truth } from '../../src/sim/truth.js'

const END = Date.UTC(2026, 10, 20)

function run(defects: string, users = 500, flags = 20) {
  const sim = simulate({ seed: 11, flags, users, days: 10, endMs: END, defects: parseDefectList(defects) })
  const events = [...sim.events]
  const truth = sim.truth()
  return { sim, events, truth }
}

function defectFlag(truth: Truth, id: DefectId): FlagTruth {
  const key = truth.defects.find((d) => d.defect === id)!.flag
  return truth.flags.find((f) => f.key === key)!
}

const exposuresOf = (events: SimEvent[], flag: string) =>
  events.filter((e) => (e.event === '$feature_flag_called' || e.event === '$experiment_exposure') && e.properties.$feature_flag === flag)
const unitsTotal = (f: FlagTruth) => f.variants.reduce((n, v) => n + v.units, 0)
const share = (f: FlagTruth, key: string) => f.variants.find((v) => v.key === key)!.units / unitsTotal(f)

describe('the simulator is deterministic', () => {
  it('writes the same events, definitions and truth for the same seed, and different ones for another', () => {
    const digest = (seed: number) => {
      const sim = simulate({ seed, flags: 20, users: 150, days: 5, endMs: END, defects: 'mix' })
      const h = createHash('sha256')
      for (const e of sim.events) h.update(JSON.stringify(e))
      h.update(JSON.stringify(sim.project.api))
      h.update(JSON.stringify(sim.truth()))
      return h.digest('hex')
    }
    expect(digest(5)).toBe(digest(5))
    expect(digest(5)).not.toBe(digest(6))
  })
})

describe('a healthy project', () => {
  const { events, truth, sim } = run('none', 600)

  it('sends events in time order, each read by the plugin without a rejection', () => {
    let last = 0
    for (const e of events) {
      const ts = Date.parse(e.timestamp)
      expect(ts).toBeGreaterThanOrEqual(last)
      last = ts
      const read = readEvent(e, { nowMs: END, maxAgeDays: 30, metricsByEvent: new Map(), groupTypeOf: (f) => (f === 'onboarding-progress-bar' ? 'company' : null) })
      expect(read.ok && read.event.partialRejections).toEqual([])
    }
    expect(new Set(events.map((e) => e.uuid)).size).toBe(events.length)
  })

  it('writes each event as exactly the text JSON.stringify gives', () => {
    for (const e of events) expect(serializeSimEvent(e)).toBe(JSON.stringify(e))
  })

  it('looks like PostHog traffic: most events carry no exposure, flags ride on $feature/ properties', () => {
    const exposures = events.filter((e) => e.event === '$feature_flag_called').length
    expect(exposures / events.length).toBeLessThan(0.35)
    const pageviews = events.filter((e) => e.event === '$pageview')
    const carrying = pageviews.filter((e) => Object.keys(e.properties).some((k) => k.startsWith('$feature/')))
    expect(carrying.length / pageviews.length).toBeGreaterThan(0.9) // once the first flags exist
    expect(events.some((e) => e.properties.$lib === 'posthog-node' && e.properties.locally_evaluated === true)).toBe(true)
    expect(events.some((e) => e.event === '$identify' && typeof e.properties.$anon_distinct_id === 'string')).toBe(true)
    expect(events.some((e) => e.properties.$used_bootstrap_value === true)).toBe(true)
  })

  it('has no values outside the variants, no crossing units, and splits near the rollout', () => {
    for (const f of truth.flags) {
      expect(f.outside_values).toEqual({})
      expect(f.multiple_units).toBe(0)
      if (f.kind === 'experiment' && unitsTotal(f) > 200) {
        for (const v of f.variants) expect(Math.abs(share(f, v.key) - v.expected_share)).toBeLessThan(0.08)
      }
    }
  })

  it('includes boolean rollout flags that are not experiments, shaped like the API returns them', () => {
    const flags = sim.project.api.flags as { key: string; filters: { multivariate: unknown }; experiment_set: number[] }[]
    expect(flags.filter((f) => f.filters.multivariate === null && f.experiment_set.length === 0).length).toBeGreaterThan(2)
    const experiments = sim.project.api.experiments as { metrics: unknown[]; exposure_criteria: { exposure_config: { event: string } } }[]
    expect(experiments.every((e) => e.metrics.length === 1)).toBe(true)
    expect(new Set(experiments.map((e) => e.exposure_criteria.exposure_config.event))).toEqual(new Set(['$feature_flag_called', '$experiment_exposure']))
  })

  it('counts $experiment_exposure copies for experiments that use them, and never sums the pair', () => {
    const f = truth.flags.find((x) => x.counted_event === '$experiment_exposure' && x.kind === 'experiment')!
    expect(f.events_by_kind.$experiment_exposure).toBe(f.events_by_kind.$feature_flag_called)
    expect(f.variants.reduce((n, v) => n + v.exposures, 0)).toBe(f.events_by_kind.$experiment_exposure)
  })
})

// Each defect, injected alone, with the ground truth that shows it.
describe.each(DEFECT_IDS.map((id) => [id]))('defect %s', (id) => {
  const { events, truth, sim } = run(id, id === 'sample_ratio_mismatch' || id === 'crossover' ? 900 : 500)
  const flag = defectFlag(truth, id)
  const apiFlag = (sim.project.api.flags as { key: string; active: boolean; filters: { groups: { variant: string | null; properties: { type: string; value: unknown }[] }[] } }[]).find(
    (f) => f.key === flag.key,
  )!
  const apiExperiment = (sim.project.api.experiments as { feature_flag_key: string; metrics: unknown[]; metrics_secondary: unknown[]; status: string }[]).find(
    (e) => e.feature_flag_key === flag.key,
  )

  it('is recorded in the truth with the checks that should catch it, on that flag only', () => {
    expect(truth.defects).toEqual([{ flag: flag.key, defect: id, param: DEFECTS.get(id)!.defaultParam }])
    expect(flag.defects.map((d) => d.id)).toEqual([id])
    expect(flag.defects[0]!.checks).toEqual(DEFECTS.get(id)!.checks)
    expect(truth.flags.filter((f) => f.defects.length > 0)).toHaveLength(1)
  })

  it('shows in the data as the truth says', () => {
    const exposures = exposuresOf(events, flag.key)
    switch (id) {
      case 'missing_exposure_payload_only':
      case 'missing_exposure_server':
        expect(exposures).toHaveLength(0)
        expect(flag.units_carrying_flag).toBeGreaterThan(50)
        expect(flag.units_carrying_never_exposed).toBe(flag.units_carrying_flag)
        break
      case 'exposure_after_goal':
        expect(flag.metrics[0]!.units_with_event_before_exposure).toBeGreaterThan(10)
        break
      case 'unknown_variant':
        expect(Object.keys(flag.outside_values).every((v) => v.endsWith('-old'))).toBe(true)
        expect(Object.values(flag.outside_values).reduce((a, b) => a + b, 0)).toBeGreaterThan(5)
        break
      case 'miscased_variant':
        expect(Object.keys(flag.outside_values).length).toBeGreaterThan(0)
        expect(Object.keys(flag.outside_values).every((v) => /^[A-Z]/.test(v))).toBe(true)
        break
      case 'false_response':
        expect(flag.outside_values.false).toBeGreaterThan(5)
        break
      case 'sample_ratio_mismatch':
        // a quarter of the last variant's units never send an exposure: 0.5 becomes about 0.43
        expect(share(flag, flag.variants.at(-1)!.key)).toBeLessThan(flag.variants.at(-1)!.expected_share - 0.04)
        break
      case 'crossover':
        expect(flag.multiple_units / (unitsTotal(flag) + flag.multiple_units)).toBeGreaterThan(0.05)
        break
      case 'no_primary_metric':
        expect(apiExperiment!.metrics).toEqual([])
        break
      case 'no_guardrail':
        expect(apiExperiment!.metrics_secondary).toEqual([])
        break
      case 'metric_unreachable':
        expect(flag.metrics[0]!.variants.every((v) => v.units === 0)).toBe(true)
        expect(events.some((e) => e.event === flag.metrics[0]!.event)).toBe(false)
        break
      case 'flag_off_running':
        expect(apiFlag.active).toBe(false)
        expect(apiExperiment!.status).toBe('running')
        expect(exposures.some((e) => !('$feature_flag_response' in e.properties))).toBe(true)
        break
      case 'forced_variant':
        expect(apiFlag.filters.groups[0]!.variant).toBe('test')
        expect(share(flag, 'test')).toBeGreaterThan(0.52)
        break
      case 'dynamic_cohort_exposure': {
        const cohortId = apiFlag.filters.groups[0]!.properties[0]!
        expect(cohortId.type).toBe('cohort')
        const cohort = (sim.project.api.cohorts as { id: number; is_static: boolean }[]).find((c) => c.id === cohortId.value)!
        expect(cohort.is_static).toBe(false)
        break
      }
      case 'double_exposure_event':
        expect(flag.counted_event).toBe('$feature_flag_called')
        expect(flag.events_by_kind.$experiment_exposure).toBe(flag.events_by_kind.$feature_flag_called)
        expect(flag.events_by_kind.$feature_flag_called).toBeGreaterThan(0)
        break
      case 'server_side_exposure':
        expect(new Set(exposures.map((e) => e.properties.$lib))).toEqual(new Set(['web', 'posthog-node']))
        expect(flag.first_exposure_units_by_lib.server / (flag.first_exposure_units_by_lib.server + flag.first_exposure_units_by_lib.client)).toBeGreaterThan(0.1)
        break
      case 'underpowered':
        expect(flag.variants.every((v) => v.units < 50)).toBe(true)
        break
      case 'payload_only_share':
      case 'payload_only_server':
        // most carriers never get an exposure, but some do: the experiment still shows data
        expect(exposures.length).toBeGreaterThan(0)
        expect(flag.units_carrying_never_exposed / flag.units_carrying_flag).toBeGreaterThan(0.6)
        expect(new Set(exposures.map((e) => e.properties.$lib))).toEqual(new Set([id === 'payload_only_server' ? 'posthog-node' : 'web']))
        break
      case 'bootstrap_stale': {
        const stale = exposures.filter((e) => e.properties.$feature_flag_bootstrapped_response !== e.properties.$feature_flag_response)
        expect(stale.length).toBeGreaterThan(5)
        // first the bootstrapped value (read before /flags answers), then the server's
        expect(stale.every((e) => e.properties.$used_bootstrap_value === false)).toBe(true)
        expect(flag.multiple_units).toBeGreaterThan(5)
        break
      }
      case 'identify_rebucket':
        // users who sign up during the run are exposed to another variant once identified
        expect((apiFlag as unknown as { ensure_experience_continuity: boolean }).ensure_experience_continuity).toBe(false)
        expect(flag.identity_crossed_units).toBeGreaterThan(0)
        expect(flag.identity_crossed_units).toBeLessThanOrEqual(flag.multiple_units)
        expect(exposures.some((e) => e.properties.$is_identified === true) && exposures.some((e) => e.properties.$is_identified === false)).toBe(true)
        break
      case 'split_changed': {
        // the flag's history: created, then its split changed during the run
        const entries = (sim.project.api.activity as { item_id: string; activity: string; detail: { changes: { before: { multivariate: { variants: { rollout_percentage: number }[] } } }[] } }[]).filter((a) => a.item_id === String(apiFlagId(sim, flag.key)))
        expect(entries.map((a) => a.activity)).toEqual(['created', 'updated'])
        expect(entries[1]!.detail.changes[0]!.before.multivariate.variants.map((v) => v.rollout_percentage)).toEqual([60, 40])
        break
      }
      case 'slice_exposure_loss': {
        // Safari runs an outdated posthog-js that drops most of the last variant's exposures
        const safari = exposures.filter((e) => e.properties.$browser === 'Safari')
        expect(safari.length).toBeGreaterThan(20)
        expect(safari.every((e) => e.properties.$lib_version === '1.130.4')).toBe(true)
        const last = flag.variants.at(-1)!.key
        expect(safari.filter((e) => e.properties.$feature_flag_response === last).length / safari.length).toBeLessThan(0.2)
        expect(exposures.filter((e) => e.properties.$browser !== 'Safari').every((e) => e.properties.$lib_version !== '1.130.4')).toBe(true)
        break
      }
    }
  })
})

function apiFlagId(sim: { project: { api: { flags: unknown[] } } }, key: string): number {
  return (sim.project.api.flags as { id: number; key: string }[]).find((f) => f.key === key)!.id
}

describe('--defects', () => {
  it.each([
    ['srm', /unknown defect "srm"/],
    ['crossover:2', /share between 0 and 1/],
    ['crossover@no-such-flag', /not found/],
    ['no_guardrail@settings-dark-mode', /needs an experiment/],
  ])('refuses %s with a message that names it', (text, message) => {
    expect(() => simulate({ seed: 1, flags: 20, users: 10, days: 2, endMs: END, defects: parseDefectList(text) })).toThrow(message)
  })

  it('puts a defect on the flag the user names, with the size given', () => {
    const sim = simulate({ seed: 1, flags: 20, users: 10, days: 2, endMs: END, defects: parseDefectList('sample_ratio_mismatch@checkout-one-page:0.4') })
    expect(sim.project.injected).toEqual([{ flag: 'checkout-one-page', defect: 'sample_ratio_mismatch', param: 0.4 }])
  })

  it('scales to many flags with every defect placed once', () => {
    const sim = simulate({ seed: 1, flags: 300, users: 50, days: 2, endMs: END, defects: 'mix' })
    expect(sim.project.flags).toHaveLength(300)
    expect(new Set(sim.project.flags.map((f) => f.key)).size).toBe(300)
    expect(sim.project.injected.map((d) => d.defect).sort()).toEqual(DEFECT_IDS.filter((d) => d !== 'underpowered' && !OPT_IN_DEFECTS.includes(d)).sort())
  })
})
