import chi2gof from '@stdlib/stats-chi2gof'
import { describe, expect, it } from 'vitest'
import { logBayesFactor, lookSequentialSrm } from '../../src/alerts/sequential-srm.js'
import { Rng } from '../../src/sim/rng.js'

/** Units assigned one by one with the given true shares, looked at every `every` units. */
function run(rng: Rng, trueShares: number[], plannedShares: number[], looks: number, every: number) {
  const counts = plannedShares.map(() => 0)
  let seq: ReturnType<typeof lookSequentialSrm> | null = null
  let minChi = 1
  for (let l = 0; l < looks; l++) {
    for (let i = 0; i < every; i++) {
      let x = rng.float()
      let k = 0
      while (k < trueShares.length - 1 && x >= trueShares[k]!) x -= trueShares[k++]!
      counts[k]!++
    }
    seq = lookSequentialSrm(seq?.state ?? null, counts, plannedShares)
    if (counts.reduce((a, b) => a + b, 0) >= 100) minChi = Math.min(minChi, chi2gof(counts, plannedShares).pValue)
  }
  return { sequential: seq!.p, peeking: minChi, counts }
}

describe('the sequential sample ratio test', () => {
  it('keeps its false-alarm rate over 150 looks a run, where the chi-square test looked at each time does not', () => {
    const rng = new Rng(11)
    const runs = Array.from({ length: 400 }, () => run(rng, [0.5, 0.5], [0.5, 0.5], 150, 20))
    const seqRate = runs.filter((r) => r.sequential < 0.05).length / runs.length
    const peekRate = runs.filter((r) => r.peeking < 0.05).length / runs.length
    expect(seqRate).toBeLessThanOrEqual(0.05)
    expect(peekRate).toBeGreaterThan(0.15) // peeking: several times the nominal 5%
  })

  it('finds a real mismatch (45/55 against a planned 50/50) with p < 0.001 within a few thousand units', () => {
    const rng = new Rng(12)
    const found = Array.from({ length: 50 }, () => run(rng, [0.45, 0.55], [0.5, 0.5], 100, 60)).filter((r) => r.sequential < 0.001).length
    expect(found).toBeGreaterThanOrEqual(45)
  })

  it('its p-value never rises again within a run (the running maximum of the evidence)', () => {
    let s = lookSequentialSrm(null, [300, 200], [0.5, 0.5])
    const p1 = s.p
    s = lookSequentialSrm(s.state, [310, 300], [0.5, 0.5])
    expect(s.p).toBeLessThanOrEqual(p1)
    expect(logBayesFactor([0, 0], [0.5, 0.5])).toBeCloseTo(0)
    expect(logBayesFactor([50, 50, 50], [1 / 3, 1 / 3, 1 / 3])).toBeLessThan(0) // a perfect split is evidence for the plan
  })
})
