import { describe, expect, it } from 'vitest'
import { parseSettings } from '../../src/settings/settings.js'
import { experimentRun, flagWindow, type ExperimentRun } from '../../src/definitions/windows.js'
import { createIngestContext, ingestEvent } from '../../src/counters/ingest.js'
import { MemoryCache } from '../../src/counters/memory-cache.js'
import { readObservations } from '../../src/counters/read.js'
import { NOW, customEvent, flagCalled } from '../support/events.js'

const DAY = 86_400_000

/** The counters with one experiment's run known, read back as the plugin reads them. */
function counters(run: { current: ExperimentRun | null }, config: Record<string, unknown> = {}) {
  const clock = { now: NOW }
  const cache = new MemoryCache(() => clock.now)
  const settings = parseSettings({ goalEvents: '["buy"]', ...config })
  const ctx = createIngestContext({
    cache,
    settings,
    project: 'w',
    now: () => clock.now,
    experimentRunOf: (flag) => (flag === 'exp' ? run.current : null),
    surfaceMetrics: new Map([['exp', ['buy']]]),
  })
  return {
    clock,
    ingest: async (...events: unknown[]) => {
      for (const e of events) await ingestEvent(ctx, e)
    },
    exp: async () =>
      (await readObservations({ cache, project: 'w', lookbackDays: settings.lookbackDays, experimentMaxDays: settings.experimentMaxDays, experimentRunOf: () => run.current, nowMs: clock.now })).flags.find((f) => f.flag === 'exp'),
  }
}

describe("an experiment's window", () => {
  it('is its run: start_date to end_date, whole seconds, inclusive to the end', () => {
    const run = experimentRun({ start_date: '2026-10-01T10:00:00.250Z', end_date: '2026-11-01T10:00:00.750Z', deleted: false } as never)!
    expect(run).toEqual({ startMs: Date.parse('2026-10-01T10:00:00Z'), endMs: Date.parse('2026-11-01T10:00:00.999Z') })
    expect(experimentRun({ start_date: null, deleted: false } as never)).toBeNull() // a draft
    const w = flagWindow(run, parseSettings(), NOW)
    expect(w).toMatchObject({ basis: 'experiment', fromMs: run.startMs, toMs: run.endMs, truncated: false })
  })

  it('is cut to experimentMaxDays whole days, and says so', () => {
    const w = flagWindow({ startMs: NOW - 200 * DAY, endMs: null }, parseSettings({ experimentMaxDays: '90' }), NOW)
    expect(w.truncated).toBe(true)
    expect(new Date(w.fromMs).toISOString().slice(11)).toBe('00:00:00.000Z')
    expect(Math.round((NOW - w.fromMs) / DAY)).toBe(90)
  })

  it('counts exposures inside the run only, beyond the lookback, and not after the end', async () => {
    const run = { current: { startMs: NOW - 45 * DAY, endMs: NOW - 2 * DAY } as ExperimentRun | null }
    const c = counters(run)
    c.clock.now = NOW - 50 * DAY
    await c.ingest(flagCalled('exp', 'test', { distinct_id: 'before', ts: NOW - 50 * DAY }))
    c.clock.now = NOW - 40 * DAY
    await c.ingest(flagCalled('exp', 'test', { distinct_id: 'early', ts: NOW - 40 * DAY }))
    c.clock.now = NOW
    await c.ingest(flagCalled('exp', 'control', { distinct_id: 'late', ts: NOW - 5 * DAY }), flagCalled('exp', 'test', { distinct_id: 'after', ts: NOW - DAY }))
    const exposure = (await c.exp())!.exposure.$feature_flag_called!
    expect(exposure.units).toBe(2) // early (40 days ago, before the 30-day lookback) and late
    expect(exposure.variants.map((v) => [v.value, v.units])).toEqual([['control', 1], ['test', 1]])
  })

  it('starts from fresh per-unit state when the experiment is relaunched with a new start date', async () => {
    const run = { current: { startMs: NOW - 20 * DAY, endMs: null } as ExperimentRun | null }
    const c = counters(run)
    c.clock.now = NOW - 15 * DAY
    await c.ingest(flagCalled('exp', 'test', { distinct_id: 'u1', ts: NOW - 15 * DAY }))
    run.current = { startMs: NOW - 10 * DAY, endMs: null }
    c.clock.now = NOW
    await c.ingest(flagCalled('exp', 'test', { distinct_id: 'u1', ts: NOW - 5 * DAY }), customEvent('buy', { distinct_id: 'u1', ts: NOW - 4 * DAY, props: { '$feature/exp': 'test' } }))
    const obs = (await c.exp())!
    // u1 counts once in the new run (its marker from the first run does not hide it), with its goal.
    expect(obs.exposure.$feature_flag_called!.units).toBe(1)
    expect(obs.metrics.find((m) => m.name === 'buy')!.variants).toEqual([{ value: 'test', events: 1, units: 1, eventsBeforeExposure: 0 }])
    expect(obs.sightings).toMatchObject({ reached: 1, reachedExposed: 1 })
  })

  it("counts a unit at the experiment's surface whichever of its three sides comes first", async () => {
    const orders = [
      ['carried', 'metric', 'exposed'],
      ['exposed', 'metric', 'carried'],
      ['metric', 'exposed', 'carried'],
    ] as const
    for (const order of orders) {
      const c = counters({ current: { startMs: NOW - 10 * DAY, endMs: null } })
      const side = {
        carried: customEvent('$pageview', { distinct_id: 'u', ts: NOW - 3 * DAY, props: { '$feature/exp': 'test' } }),
        metric: customEvent('buy', { distinct_id: 'u', ts: NOW - 2 * DAY }),
        exposed: flagCalled('exp', 'test', { distinct_id: 'u', ts: NOW - DAY }),
      }
      await c.ingest(...order.map((k) => side[k]))
      expect((await c.exp())!.sightings, order.join(' > ')).toMatchObject({ reached: 1, reachedExposed: 1 })
    }
    const unexposed = counters({ current: { startMs: NOW - 10 * DAY, endMs: null } })
    await unexposed.ingest(customEvent('buy', { distinct_id: 'u', ts: NOW - 2 * DAY, props: { '$feature/exp': 'test' } }), customEvent('buy', { distinct_id: 'v', ts: NOW - 2 * DAY, props: { '$feature/exp': false } }))
    expect((await unexposed.exp())!.sightings).toMatchObject({ reached: 1, reachedExposed: 0 }) // v carried false: outside the rollout
  })

  it('keeps day buckets as long as experimentMaxDays, and reads a flag without an experiment over the lookback', async () => {
    const c = counters({ current: null }, { lookbackDays: '7' })
    c.clock.now = NOW - 20 * DAY
    await c.ingest(flagCalled('exp', 'test', { distinct_id: 'old', ts: NOW - 20 * DAY }))
    c.clock.now = NOW
    await c.ingest(flagCalled('exp', 'test', { distinct_id: 'new', ts: NOW - DAY }))
    expect((await c.exp())!.exposure.$feature_flag_called!.units).toBe(1) // the 20-day-old unit is outside the 7-day lookback
  })
})
