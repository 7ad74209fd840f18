import { describe, expect, it } from 'vitest'
import { onEvent } from '../../index.js'
import { inUnitSample } from '../../src/counters/hash.js'
import { MemoryCache } from '../../src/counters/memory-cache.js'
import { createPluginState, handleEvent } from '../../src/plugin/state.js'
import { DAY_MS } from '../../src/time.js'
import { NOW, customEvent, flagCalled, iso } from '../support/events.js'
import { byValue, harness } from '../support/ingest.js'

describe('exposure counters', () => {
  it('counts exposure events and distinct units per variant', async () => {
    const h = harness()
    await h.ingest(
      flagCalled('exp', 'control', { distinct_id: 'u1' }),
      flagCalled('exp', 'control', { distinct_id: 'u1' }),
      flagCalled('exp', 'control', { distinct_id: 'u2' }),
      flagCalled('exp', 'test', { distinct_id: 'u3' }),
    )
    const exp = (await h.flag('exp'))?.exposure.$feature_flag_called
    expect(exp).toMatchObject({ exposures: 4, units: 3, multipleVariantUnits: 0 })
    const v = byValue(exp!.variants)
    expect(v.control).toMatchObject({ exposures: 3, units: 2 })
    expect(v.test).toMatchObject({ exposures: 1, units: 1 })
  })

  it('counts a redelivered event (same uuid) once, and says how many were redelivered', async () => {
    const h = harness()
    const e = flagCalled('exp', 'control')
    expect(await h.ingest(e, e, structuredClone(e))).toEqual(['counted', 'duplicate', 'duplicate'])
    const obs = await h.observe()
    expect(obs.flags[0]?.exposure.$feature_flag_called?.exposures).toBe(1)
    expect(obs.duplicates).toBe(2)
  })

  it('counts a unit that saw two variants once per flag, and in each variant it saw', async () => {
    const h = harness()
    await h.ingest(
      flagCalled('exp', 'control', { distinct_id: 'u1' }),
      flagCalled('exp', 'test', { distinct_id: 'u1' }),
      flagCalled('exp', 'test', { distinct_id: 'u1' }),
      flagCalled('exp', 'control', { distinct_id: 'u2' }),
    )
    const exp = (await h.flag('exp'))!.exposure.$feature_flag_called!
    expect(exp).toMatchObject({ units: 2, multipleVariantUnits: 1 })
    const v = byValue(exp.variants)
    expect(v.control).toMatchObject({ units: 2, multipleVariantUnits: 1 })
    expect(v.test).toMatchObject({ units: 1, multipleVariantUnits: 1 })
  })

  it('keeps values outside the variants as they are: mis-cased, false, missing, "true" vs true', async () => {
    const h = harness()
    await h.ingest(
      flagCalled('exp', 'Test', { distinct_id: 'a' }),
      flagCalled('exp', false, { distinct_id: 'b' }),
      flagCalled('exp', undefined, { distinct_id: 'c' }),
      flagCalled('exp', 'true', { distinct_id: 'd' }),
      flagCalled('exp', true, { distinct_id: 'e' }),
    )
    const values = (await h.flag('exp'))!.exposure.$feature_flag_called!.variants.map((v) => v.value)
    expect(values).toHaveLength(5)
    expect(new Set(values)).toEqual(new Set(['Test', false, null, 'true', true]))
  })

  it('counts exposures by source, and units by each library class that exposed them', async () => {
    const h = harness()
    await h.ingest(
      flagCalled('exp', 'a', { distinct_id: 'u1', props: { $lib: 'posthog-node', locally_evaluated: true } }),
      flagCalled('exp', 'a', { distinct_id: 'u1', props: { $lib: 'web' } }),
      flagCalled('exp', 'a', { distinct_id: 'u2', props: { $lib: 'web', $used_bootstrap_value: true } }),
      flagCalled('exp', 'a', { distinct_id: 'u3', props: { $lib: 'web', $feature_flag_error: 'flag_missing' } }),
    )
    const a = byValue((await h.flag('exp'))!.exposure.$feature_flag_called!.variants).a!
    expect(a.exposuresByLib).toEqual({ client: 3, server: 1, unknown: 0 })
    expect(a.unitsByLib).toEqual({ client: 3, server: 1, unknown: 0 }) // u1 was exposed by both
    expect(a).toMatchObject({ bootstrapped: 1, locallyEvaluated: 1, errored: 1 })
  })

  it('keeps $feature_flag_called and $experiment_exposure apart, so the pair is never summed', async () => {
    const h = harness()
    for (const id of ['u1', 'u2']) {
      await h.ingest(
        flagCalled('exp', 'test', { distinct_id: id }),
        { ...flagCalled('exp', 'test', { distinct_id: id }), event: '$experiment_exposure' },
      )
    }
    const f = (await h.flag('exp'))!
    expect(f.exposure.$feature_flag_called).toMatchObject({ exposures: 2, units: 2 })
    expect(f.exposure.$experiment_exposure).toMatchObject({ exposures: 2, units: 2 })
    expect(f.sightings.unitsExposed).toBe(2) // a unit is exposed once, whichever event said it
  })

  it('counts group-aggregated flags by group key, not by person', async () => {
    const h = harness()
    await h.ingest(
      flagCalled('company-x', 'a', { distinct_id: 'u1', props: { $groups: { company: 'acme' } } }),
      flagCalled('company-x', 'a', { distinct_id: 'u2', props: { $groups: { company: 'acme' } } }),
      flagCalled('company-x', 'a', { distinct_id: 'u3', props: { $groups: { company: 'globex' } } }),
    )
    expect((await h.flag('company-x'))!.exposure.$feature_flag_called).toMatchObject({ exposures: 3, units: 2 })
  })
})

describe('units that carry the flag but were never exposed', () => {
  it('counts sightings and the units among them that were exposed, in either order', async () => {
    const h = harness()
    await h.ingest(
      customEvent('$pageview', { distinct_id: 'seen-first', props: { '$feature/exp': 'test' } }),
      flagCalled('exp', 'test', { distinct_id: 'seen-first' }),
      flagCalled('exp', 'test', { distinct_id: 'exposed-first' }),
      customEvent('$pageview', { distinct_id: 'exposed-first', props: { '$feature/exp': 'test' } }),
      customEvent('$pageview', { distinct_id: 'never-exposed', props: { '$feature/exp': 'control' } }),
      customEvent('$pageview', { distinct_id: 'never-exposed', props: { '$feature/exp': 'control' } }),
    )
    const s = (await h.flag('exp'))!.sightings
    expect(s).toMatchObject({ units: 3, unitsExposed: 2 })
    expect(byValue(s.variants)).toEqual({ test: { units: 2 }, control: { units: 1 } })
  })
})

describe('goal and guardrail events', () => {
  const config = { goalEvents: '["checkout_completed"]', guardrailEvents: '[{"name": "errors", "event": "$exception"}]' }

  it('counts events and units per variant of exposed units, whether the exposure arrives before or after', async () => {
    const h = harness(config)
    await h.ingest(
      customEvent('checkout_completed', { distinct_id: 'late', ts: NOW - 7_200_000 }), // sent and arriving before its exposure
      flagCalled('exp', 'test', { distinct_id: 'late' }),
      flagCalled('exp', 'control', { distinct_id: 'early' }),
      customEvent('checkout_completed', { distinct_id: 'early' }),
      customEvent('checkout_completed', { distinct_id: 'early' }),
      customEvent('$exception', { distinct_id: 'early' }),
      customEvent('checkout_completed', { distinct_id: 'not-exposed' }),
    )
    const metrics = (await h.flag('exp'))!.metrics
    const checkout = byValue(metrics.find((m) => m.name === 'checkout_completed')!.variants)
    expect(checkout).toEqual({ test: { events: 1, units: 1, eventsBeforeExposure: 1 }, control: { events: 2, units: 1, eventsBeforeExposure: 0 } })
    expect(byValue(metrics.find((m) => m.name === 'errors')!.variants)).toEqual({ control: { events: 1, units: 1, eventsBeforeExposure: 0 } })
  })

  it('counts a redelivered goal event once', async () => {
    const h = harness(config)
    const goal = customEvent('checkout_completed', { distinct_id: 'u' })
    await h.ingest(flagCalled('exp', 'a', { distinct_id: 'u' }), goal, goal)
    const m = (await h.flag('exp'))!.metrics[0]!
    expect(m.variants[0]).toMatchObject({ events: 1, units: 1 })
  })
})

describe('cost and bounds', () => {
  it('an event that carries no flag and matches no goal costs no cache call at all', async () => {
    const h = harness({ goalEvents: '["checkout_completed"]' })
    await h.ingest(customEvent('$pageview'), customEvent('$autocapture', { props: { $active_feature_flags: ['x'] } }))
    expect(h.cache.total).toBe(0)
  })

  it('a $feature/ property already counted by this worker costs no further cache call', async () => {
    const h = harness()
    await h.ingest(customEvent('$pageview', { props: { '$feature/exp': 'a' } }))
    const before = h.cache.total
    await h.ingest(customEvent('$pageview', { props: { '$feature/exp': 'a' } }))
    expect(h.cache.total).toBe(before)
  })

  it('every counter expires with the longest window it serves (lookback, experimentMaxDays); nothing is left in the cache', async () => {
    const h = harness({ lookbackDays: '3', experimentMaxDays: '2', goalEvents: '["buy"]' })
    await h.ingest(
      flagCalled('exp', 'a', { distinct_id: 'u1' }),
      flagCalled('exp', 'b', { distinct_id: 'u1' }),
      customEvent('$pageview', { distinct_id: 'u2', props: { '$feature/exp': 'a' } }),
      customEvent('buy', { distinct_id: 'u1' }),
      flagCalled('', 'a'),
    )
    expect((await h.observe()).flags).toHaveLength(1)
    h.clock.now += 2 * DAY_MS
    expect((await h.observe()).flags).toHaveLength(1) // still inside the window
    h.clock.now += 3 * DAY_MS
    expect((await h.observe()).flags).toHaveLength(0)
    expect(h.memory!.size).toBe(0)
  })

  it.each([0.01, 0.1, 0.5])('the unit sample keeps %s of sequential ids, evenly', (rate) => {
    const n = 100_000
    let kept = 0
    for (let i = 0; i < n; i++) if (inUnitSample(`user-${i}`, rate)) kept++
    expect(Math.abs(kept / n - rate)).toBeLessThan(0.005 + rate * 0.05)
  })

  it('unit sampling estimates distinct units and keeps exposure counts exact', async () => {
    const h = harness({ unitSampleRate: '0.25' })
    const n = 4000
    for (let i = 0; i < n; i++) await h.ingest(flagCalled('exp', i % 2 ? 'a' : 'b', { distinct_id: `user-${i}` }))
    const f = (await h.flag('exp'))!
    const exp = f.exposure.$feature_flag_called!
    expect(exp.exposures).toBe(n)
    expect(f).toMatchObject({ estimated: true, sampleRate: 0.25 })
    expect(exp.units).toBeGreaterThan(n * 0.9)
    expect(exp.units).toBeLessThan(n * 1.1)
  })

  it('a flag flooded with junk values lists at most the cap, and says how many were left out', async () => {
    const h = harness()
    for (let i = 0; i < 450; i++) await h.ingest(flagCalled('exp', `junk-${i}`, { distinct_id: `u${i}` }))
    const f = (await h.flag('exp'))!
    expect(f.exposure.$feature_flag_called!.variants.length).toBeLessThanOrEqual(400)
    expect(f.unlistedSeries).toBeGreaterThan(0)
  })
})

describe('bad input', () => {
  it('counts rejections by reason and changes no other counter; the next event is unaffected', async () => {
    const h = harness()
    const bad: unknown[] = [
      null,
      { event: '$feature_flag_called', distinct_id: 'x' },
      flagCalled(7 as unknown as string, 'a'),
      flagCalled('__proto__', 'a'),
      flagCalled('x'.repeat(5000), 'a'),
      { ...flagCalled('exp', 'a'), timestamp: iso(NOW + 400 * DAY_MS) },
    ]
    const outcomes = await h.ingest(...bad)
    expect(outcomes.every((o) => o === 'rejected')).toBe(true)
    let obs = await h.observe()
    expect(obs.flags).toEqual([])
    expect(obs.rejections).toEqual({
      not_an_object: 1,
      properties_invalid: 1,
      flag_key_not_string: 1,
      flag_key_unsafe: 1,
      flag_key_invalid: 1,
      timestamp_in_future: 1,
    })
    await h.ingest(flagCalled('exp', 'a'))
    obs = await h.observe()
    expect(obs.flags.map((f) => f.flag)).toEqual(['exp'])
    expect(({} as Record<string, unknown>).exp).toBeUndefined()
  })

  it('bucketed by the event timestamp: a late event lands on its own day', async () => {
    const h = harness()
    await h.ingest(flagCalled('exp', 'a', { ts: NOW - 5 * DAY_MS }), flagCalled('exp', 'a', { ts: NOW }))
    const f = (await h.flag('exp'))!
    expect(f.firstDay).toBe(iso(NOW - 5 * DAY_MS).slice(0, 10))
    expect(f.lastDay).toBe(iso(NOW).slice(0, 10))
  })
})

describe('the plugin adapter', () => {
  it('a repeat exposure (same unit, value and library) costs five cache calls', async () => {
    const h = harness()
    await h.ingest(flagCalled('exp', 'a', { distinct_id: 'u1' }))
    h.cache.reset()
    await h.ingest(flagCalled('exp', 'a', { distinct_id: 'u1' }))
    // redelivery marker INCR + EXPIRE, exposure count, count by library, the unit's value marker
    expect(h.cache.calls).toEqual({ incr: 4, expire: 1, get: 0, set: 0 })
  })

  it('onEvent never throws when the cache fails, and tallies the loss', async () => {
    const failing = {
      incr: async () => {
        throw new Error('connection lost')
      },
      expire: async () => false,
      get: async () => null,
      set: async () => {},
    }
    const state = await createPluginState({}, failing)
    await expect(handleEvent(state, flagCalled('exp', 'a'))).resolves.toBe('failed')
    expect(state.local.failed).toBe(1)
  })

  it("reports a fault of the plugin's own code as such, never as the cache being unavailable", async () => {
    const state = await createPluginState({}, new MemoryCache(), {
      groupTypeOf: () => {
        throw new Error('a bug in a hook')
      },
    })
    await expect(handleEvent(state, flagCalled('exp', 'a'))).resolves.toBe('error')
    expect(state.local).toMatchObject({ error: 1, failed: 0 })
    expect(state.lastError).toBe('a bug in a hook')
  })

  it('onEvent before a successful setup counts nothing and does not throw', async () => {
    const meta = { config: {}, cache: new MemoryCache(), storage: {}, global: {} } as never
    await expect(onEvent(flagCalled('exp', 'a') as never, meta)).resolves.toBe('not_set_up')
  })
})

describe('hostile $groups', () => {
  const group = (groups: Record<string, unknown>, distinct_id = 'u1') =>
    flagCalled('company-flag', 'test', { distinct_id, props: { $groups: groups } })

  it.each([
    ['a lone surrogate in a group type', { ['\uD800bad']: 'acme', company: 'acme' }],
    ['a group type of a megabyte', { ['x'.repeat(1_000_000)]: 'acme', company: 'acme' }],
    ['a group key that is an object', { other: { nested: true }, company: 'acme' }],
  ])('%s: the entry is dropped and counted, the good group still counts, nothing throws', async (_why, groups) => {
    const h = harness()
    expect(await h.ingest(group(groups))).toEqual(['counted'])
    const o = await h.observe()
    expect(o.rejections).toEqual({ group_invalid: 1 })
    expect(o.flags.find((f) => f.flag === 'company-flag')!.exposure.$feature_flag_called!.units).toBe(1)
    expect([...h.memory!.keys()].every((k) => k.length < 2_000)).toBe(true)
  })

  it('an event with 10,000 groups reads at most five (PostHog has at most five group types)', async () => {
    // A goal event counts for the person and each of its groups: unbounded, each group costs calls.
    const h = harness({ goalEvents: '["buy"]' })
    const groups: Record<string, string> = {}
    for (let i = 0; i < 10_000; i++) groups[`type${i}`] = `g${i}`
    const before = h.cache.total
    await h.ingest(customEvent('buy', { distinct_id: 'u1', props: { $groups: groups } }))
    expect(h.cache.total - before).toBeLessThan(60)
    expect((await h.observe()).rejections).toEqual({ group_invalid: 1 })
  })
})
