import { describe, expect, it } from 'vitest'
import { auditEvents } from '../../src/audit/offline-audit.js'
import type { Report } from '../../src/coverage/report.js'
import { DEFECTS, DEFECT_IDS, parseDefectList, type DefectId } from '../../src/sim/defects.js'
import { definitionsOf, simulate } from '../../src/sim/simulation.js'
import { SCENARIOS } from '../../src/sim/scenarios.js'
import { parseActivity } from '../../src/definitions/activity.js'

const END = Date.UTC(2026, 10, 20)

/** Simulates a project, then audits it exactly as `experiment-coverage audit` does. */
export async function auditSimulation(defects: string, users = 1200, seed = 21) {
  const sim = simulate({ seed, flags: 20, users, days: 14, endMs: END, defects: parseDefectList(defects) })
  // The flags' history as PostHog's activity log has it (a split changed mid-run is only there).
  const { report } = await auditEvents(definitionsOf(sim.project), {}, sim.events, { activity: parseActivity('simulated activity', sim.project.api.activity) })
  return { report, truth: sim.truth() }
}

const flagOf = (report: Report, key: string) => report.flags.find((f) => f.key === key)!

describe('a healthy project', () => {
  it('passes: every running experiment is trustworthy or short of data, with no failing check', async () => {
    const { report } = await auditSimulation('none')
    for (const f of report.flags.filter((x) => x.kind === 'experiment')) {
      expect.soft(f.checks.filter((c) => c.status === 'fail').map((c) => `${f.key}: ${c.id}: ${c.summary}`)).toEqual([])
      expect.soft(['trustworthy', 'insufficient_data']).toContain(f.verdict)
    }
    expect(flagOf(report, 'checkout-one-page').verdict).toBe('trustworthy')
  })
})

describe.each(DEFECT_IDS.map((id) => [id]))('the injected defect %s', (id) => {
  it('fires the check that should catch it, with the verdict it deserves', async () => {
    // A quarter of one variant's units lost shows as a mismatch (p < 0.001) reliably from about 1,500 units on;
    // at 750 it is a coin toss (a power limit, not a miss).
    const { report, truth } = await auditSimulation(id, id === 'sample_ratio_mismatch' ? 6000 : id === 'slice_exposure_loss' ? 3000 : 1200)
    const key = truth.defects[0]!.flag
    const flag = flagOf(report, key)
    const fired = flag.checks.filter((c) => c.status === 'fail' || c.status === 'warn').map((c) => c.id)
    for (const check of DEFECTS.get(id as DefectId)!.checks) expect(fired, `${key}: ${JSON.stringify(flag.checks.map((c) => [c.id, c.status, c.summary]))}`).toContain(check)
    expect(flag.verdict).toBe(DEFECTS.get(id as DefectId)!.verdict)
    // The readout names the flag when it needs something done.
    if (flag.verdict !== 'trustworthy') expect(report.readout + JSON.stringify(report.plan)).toContain(key)
  })
})

describe('experiments that started before the lookback window', () => {
  it("count their whole run, as PostHog's experiment page does: per-variant units and exposures equal truth.json exactly", async () => {
    // Experiments started 5 to 60 days ago (a quarter already stopped, their flags still served),
    // judged with the default 30-day lookback.
    const sim = simulate({ seed: 33, flags: 20, users: 1500, days: 61, endMs: END, defects: [], experimentStartDays: [5, 60], endedShare: 0.25 })
    const { report } = await auditEvents(definitionsOf(sim.project), {}, sim.events, { now: END })
    const truth = sim.truth()
    const experiments = truth.flags.filter((f) => f.kind === 'experiment')
    const plans = new Map(sim.project.flags.map((f) => [f.key, f]))
    // The case is real: some runs began before the lookback, some ended before now.
    expect(experiments.filter((f) => plans.get(f.key)!.startMs < END - 30 * 86_400_000).length).toBeGreaterThanOrEqual(2)
    expect(experiments.filter((f) => (plans.get(f.key)!.endMs ?? Infinity) < END).length).toBeGreaterThanOrEqual(1)
    for (const t of experiments) {
      const flag = flagOf(report, t.key)
      const plan = plans.get(t.key)!
      expect(flag.window).toMatchObject({ basis: 'experiment', from: new Date(plan.startMs).toISOString(), truncated: false })
      expect.soft(
        flag.variants.map((v) => [v.key, v.units, v.exposures]),
        t.key,
      ).toEqual(t.variants.map((v) => [v.key, v.units, v.exposures]))
    }
    expect(experiments.reduce((n, t) => n + t.variants.reduce((m, v) => m + v.units, 0), 0)).toBeGreaterThan(1000)
  })
})

describe('the long-running scenario: experiments begun before the lookback, with the SDK defects real traffic shows', () => {
  it('catches each defect with its checks and verdict, and counts every healthy experiment exactly', async () => {
    const scenario = SCENARIOS['long-running']!
    const sim = simulate({ seed: 41, flags: 20, users: 2000, days: scenario.days, endMs: END, defects: parseDefectList(scenario.defects), ...scenario.options })
    const { report } = await auditEvents(definitionsOf(sim.project), {}, sim.events, { now: END })
    const truth = sim.truth()
    expect(truth.defects.map((d) => d.defect).sort()).toEqual(['bootstrap_stale', 'payload_only_server', 'payload_only_share'])
    for (const d of truth.defects) {
      const flag = flagOf(report, d.flag)
      const fired = flag.checks.filter((c) => c.status === 'fail' || c.status === 'warn').map((c) => c.id)
      for (const check of DEFECTS.get(d.defect)!.checks) expect(fired, `${d.defect} on ${d.flag}: ${JSON.stringify(flag.checks.map((c) => [c.id, c.status, c.summary]))}`).toContain(check)
      expect(flag.verdict, d.defect).toBe(DEFECTS.get(d.defect)!.verdict)
    }
    const defective = new Set(truth.defects.map((d) => d.flag))
    for (const t of truth.flags.filter((f) => f.kind === 'experiment' && !defective.has(f.key))) {
      const flag = flagOf(report, t.key)
      expect.soft(flag.checks.filter((c) => c.status === 'fail').map((c) => `${c.id}: ${c.summary}`), t.key).toEqual([])
      expect.soft(flag.variants.map((v) => [v.key, v.units, v.exposures]), t.key).toEqual(t.variants.map((v) => [v.key, v.units, v.exposures]))
    }
  })
})
