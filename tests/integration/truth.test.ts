import { describe, expect, it } from 'vitest'
import { auditEvents } from '../../src/cli/audit.js'
import type { Report } from '../../src/coverage/report.js'
import { DEFECTS, DEFECT_IDS, parseDefectList, type DefectId } from '../../src/sim/defects.js'
import { definitionsOf, simulate } from '../../src/sim/simulation.js'

const END = Date.UTC(2026, 10, 20)

/** Simulates a project, then audits it exactly as `experiment-coverage audit` does. */
export async function auditSimulation(defects: string, users = 1200, seed = 21) {
  const sim = simulate({ seed, flags: 20, users, days: 14, endMs: END, defects: parseDefectList(defects) })
  const { report } = await auditEvents(definitionsOf(sim.project), {}, sim.events)
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
    // A quarter of one variant's exposures lost shows as a mismatch from about a thousand units on.
    const { report, truth } = await auditSimulation(id, id === 'sample_ratio_mismatch' ? 3000 : 1200)
    const key = truth.defects[0]!.flag
    const flag = flagOf(report, key)
    const fired = flag.checks.filter((c) => c.status === 'fail' || c.status === 'warn').map((c) => c.id)
    for (const check of DEFECTS.get(id as DefectId)!.checks) expect(fired, `${key}: ${JSON.stringify(flag.checks.map((c) => [c.id, c.status, c.summary]))}`).toContain(check)
    expect(flag.verdict).toBe(DEFECTS.get(id as DefectId)!.verdict)
    // The readout names the flag when it needs something done.
    if (flag.verdict !== 'trustworthy') expect(report.readout + JSON.stringify(report.plan)).toContain(key)
  })
})
