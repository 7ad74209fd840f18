/**
 * bench:accuracy, part c: the sample ratio test behind alerts, looked at every hour over healthy
 * simulated projects. Each experiment's units enter in the order the simulated people are first
 * exposed (PostHog's rule: a unit's first exposure decides its variant); every hour the test looks
 * at the cumulative units per variant. A false alarm is a run where any look says mismatch.
 * Compared in the same run: the one-shot chi-square test looked at every hour (peeking), the
 * same test looked at once at the end (the audit), and the sequential test (the alerts).
 */
import chi2gof from '@stdlib/stats-chi2gof'
import { lookSequentialSrm } from '../src/alerts/sequential-srm.js'
import { definitionsOf, simulate } from '../src/sim/simulation.js'

const HOUR = 3_600_000
const MIN_UNITS = 100 // srmMinExposures

interface Trial {
  flag: string
  looks: number
  hourly: number // smallest chi-square p over the hourly looks
  last: number // chi-square p at the last look
  sequential: number // the always-valid p after the last look
}

export function srmLookTrials(opts: { projects: number; users: number; days: number; seed: number; endMs: number }): Trial[] {
  const trials: Trial[] = []
  for (let s = 0; s < opts.projects; s++) {
    const sim = simulate({ seed: opts.seed + s, flags: 20, users: opts.users, days: opts.days, endMs: opts.endMs, defects: [] })
    const defs = definitionsOf(sim.project)
    const experiments = new Map(defs.experiments.filter((e) => !e.deleted).map((e) => [e.feature_flag_key, e]))
    const variantsOf = new Map(defs.flags.filter((f) => experiments.has(f.key)).map((f) => [f.key, (f.filters.multivariate?.variants ?? []).map((v) => ({ key: v.key, share: v.rollout_percentage / 100 }))]))
    const first = new Map<string, Map<string, { hour: number; variant: number }>>()
    const start = opts.endMs - opts.days * 86_400_000
    for (const e of sim.events) {
      if (e.event !== '$feature_flag_called' && e.event !== '$experiment_exposure') continue
      const flag = String(e.properties.$feature_flag)
      const variants = variantsOf.get(flag)
      if (!variants) continue
      const value = e.properties.$feature_flag_response ?? e.properties[`$feature/${flag}`]
      const i = variants.findIndex((v) => v.key === value)
      if (i < 0) continue
      const unit = e.person?.id ?? e.distinct_id
      const units = first.get(flag) ?? new Map()
      first.set(flag, units)
      if (!units.has(unit)) units.set(unit, { hour: Math.floor((Date.parse(e.timestamp) - start) / HOUR), variant: i })
    }
    for (const [flag, units] of first) {
      const variants = variantsOf.get(flag)!
      const shares = variants.map((v) => v.share)
      const byHour = new Map<number, number[]>()
      for (const u of units.values()) {
        const row = byHour.get(u.hour) ?? variants.map(() => 0)
        row[u.variant]!++
        byHour.set(u.hour, row)
      }
      const counts = variants.map(() => 0)
      let seq: ReturnType<typeof lookSequentialSrm> | null = null
      let hourly = 1
      let last = 1
      let looks = 0
      for (const hour of [...byHour.keys()].sort((a, b) => a - b)) {
        byHour.get(hour)!.forEach((n, i) => (counts[i]! += n))
        const total = counts.reduce((a, b) => a + b, 0)
        seq = lookSequentialSrm(seq?.state ?? null, counts, shares)
        if (total < MIN_UNITS) continue
        const p = chi2gof(counts, shares).pValue
        hourly = Math.min(hourly, p)
        last = p
        looks++
      }
      if (looks > 0) trials.push({ flag: `${flag}~s${opts.seed + s}`, looks, hourly, last, sequential: seq!.p })
    }
  }
  return trials
}

export function srmLooksSection(trials: Trial[], wilson: (k: number, n: number) => [number, number]): string {
  const pct = (x: number) => `${(x * 100).toFixed(2)}%`
  const looks = trials.map((t) => t.looks).sort((a, b) => a - b)
  let out = `\n### Hourly looks at the sample ratio (alerts) on healthy projects\n\n`
  out += `${trials.length} experiment runs without defects; every simulated hour the test looks at the cumulative units per variant once at least ${MIN_UNITS} units are in (median ${looks[Math.floor(looks.length / 2)]} looks a run). `
  out += 'A run counts as a false alarm when any look says mismatch.\n\n'
  out += '| test | alpha | false alarms | rate | 95% Wilson interval | rate / alpha |\n|---|---:|---:|---:|---:|---:|\n'
  for (const alpha of [0.05, 0.001]) {
    for (const [name, pick] of [
      ['chi-square, looked at every hour (peeking)', (t: Trial) => t.hourly],
      ['chi-square, looked at once at the end (the audit)', (t: Trial) => t.last],
      ['sequential, looked at every hour (the alerts)', (t: Trial) => t.sequential],
    ] as const) {
      const k = trials.filter((t) => pick(t) < alpha).length
      const [lo, hi] = wilson(k, trials.length)
      out += `| ${name} | ${alpha} | ${k} | ${pct(k / trials.length)} | ${pct(lo)} to ${pct(hi)} | ${(k / trials.length / alpha).toFixed(2)} |\n`
    }
  }
  return out
}
