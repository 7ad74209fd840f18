import { describe, expect, it } from 'vitest'
import { readEvent, type ReadOptions } from '../../src/events/read-event.js'
import type { ReadEvent } from '../../src/events/types.js'
import { NOW, customEvent, flagCalled, iso } from '../support/events.js'

const opts: ReadOptions = {
  nowMs: NOW,
  maxAgeDays: 30,
  metricsByEvent: new Map([['checkout_completed', [{ name: 'checkout', kind: 'goal' as const }]]]),
  groupTypeOf: (flag) => (flag === 'company-flag' ? 'company' : null),
}

function ok(raw: unknown): ReadEvent {
  const r = readEvent(raw, opts)
  if (!r.ok) throw new Error(`expected the event to be read, got ${r.reason}`)
  return r.event
}

describe('readEvent: exposures', () => {
  it.each([
    ['a multivariate variant key', 'test', 'test'],
    ['a boolean flag that is on', true, true],
    ['a boolean flag that is off', false, false],
    ['no response at all (kept as null, not dropped)', undefined, null],
    ['a mis-cased variant, kept as it is', 'Test', 'Test'],
    ['an empty string, kept as it is', '', ''],
    ['a number some SDKs send', 1, 1],
  ])('reads %s', (_why, response, expected) => {
    const e = ok(flagCalled('exp', response))
    expect(e.exposure).toMatchObject({ event: '$feature_flag_called', flag: 'exp', variant: expected })
  })

  it('reads $experiment_exposure as its own kind, variant from $feature_flag_response', () => {
    const e = ok({ ...flagCalled('exp', 'control'), event: '$experiment_exposure' })
    expect(e.exposure).toMatchObject({ event: '$experiment_exposure', flag: 'exp', variant: 'control' })
  })

  it('falls back to $feature/<key> on a custom-built $experiment_exposure', () => {
    const raw = flagCalled('exp', 'test')
    delete (raw.properties as Record<string, unknown>).$feature_flag_response
    const e = ok({ ...raw, event: '$experiment_exposure' })
    expect(e.exposure?.variant).toBe('test')
  })

  it.each([
    ['web', 'client'],
    ['posthog-ios', 'client'],
    ['posthog-node', 'server'],
    ['posthog-python', 'server'],
    ['some-proxy', 'unknown'],
    [undefined, 'unknown'],
  ])('classifies $lib %s as %s', (lib, expected) => {
    expect(ok(flagCalled('f', true, { props: { $lib: lib } })).exposure?.lib).toBe(expected)
  })

  it('reads bootstrap, local evaluation and errors (posthog-node and posthog-js properties)', () => {
    const e = ok(
      flagCalled('f', 'a', {
        props: { $used_bootstrap_value: true, locally_evaluated: true, $feature_flag_error: 'flag_missing' },
      }),
    )
    expect(e.exposure).toMatchObject({ bootstrapped: true, locallyEvaluated: true, error: 'flag_missing' })
    expect(ok(flagCalled('f', 'a')).exposure).toMatchObject({ bootstrapped: false, locallyEvaluated: false, error: null })
  })
})

describe('readEvent: counting unit', () => {
  it('uses the person id when plugin-server attached a person', () => {
    expect(ok(flagCalled('f', 'a', { person: 'person-9', distinct_id: 'anon-1' })).exposure?.unit).toBe('person-9')
  })
  it('uses the distinct id when there is no person (personless events)', () => {
    expect(ok(flagCalled('f', 'a', { distinct_id: 'anon-1' })).exposure?.unit).toBe('anon-1')
  })
  it('reads the HTTP Webhook destination body {event, person} with person.id', () => {
    const inner = flagCalled('f', 'a', { distinct_id: 'anon-1' })
    const e = ok({ event: inner, person: { id: 'person-7', properties: {}, name: 'x', url: 'u' } })
    expect(e.exposure?.unit).toBe('person-7')
    expect(e.uuid).toBe(inner.uuid)
  })
  it('counts group-aggregated flags by the group key', () => {
    const e = ok(flagCalled('company-flag', 'a', { props: { $groups: { company: 'acme' } } }))
    expect(e.exposure?.unit).toBe('$group:company:acme')
  })
  it('drops only the exposure of a group flag without its group, and says why', () => {
    const e = ok(flagCalled('company-flag', 'a'))
    expect(e.exposure).toBeNull()
    expect(e.partialRejections).toEqual(['group_key_missing'])
  })
})

describe('readEvent: other events', () => {
  it('reads $feature/<key> sightings and $active_feature_flags on a pageview', () => {
    const e = ok(
      customEvent('$pageview', {
        props: { '$feature/exp': 'test', '$feature/rollout': true, $active_feature_flags: ['exp', 'rollout', 7] },
      }),
    )
    expect(e.exposure).toBeNull()
    expect(e.sightings).toEqual([
      { flag: 'exp', variant: 'test', unit: 'user-1' },
      { flag: 'rollout', variant: true, unit: 'user-1' },
    ])
    expect(e.activeFlags).toEqual(['exp', 'rollout'])
  })
  it('matches configured goal events by name', () => {
    expect(ok(customEvent('checkout_completed')).metrics).toEqual([{ name: 'checkout', kind: 'goal' }])
    expect(ok(customEvent('checkout_started')).metrics).toEqual([])
  })
})

describe('readEvent: bad input is a named reason, never a throw', () => {
  const good = flagCalled('f', 'a')
  const longText = 'x'.repeat(100_000)
  const protoProps = JSON.parse('{"__proto__": {"$feature_flag": "evil"}, "$feature_flag_response": "a"}')
  it.each([
    ['not an object', 'text', 'not_an_object'],
    ['null', null, 'not_an_object'],
    ['an array', [good], 'not_an_object'],
    ['missing properties', { ...good, properties: undefined }, 'properties_invalid'],
    ['properties that are a string', { ...good, properties: '{"$feature_flag":"f"}' }, 'properties_invalid'],
    ['properties that are an array', { ...good, properties: [] }, 'properties_invalid'],
    ['a numeric flag key', flagCalled(12 as unknown as string, 'a'), 'flag_key_not_string'],
    ['an object flag key', { ...good, properties: { ...good.properties, $feature_flag: { k: 1 } } }, 'flag_key_not_string'],
    ['no flag key', { ...good, properties: { $feature_flag_response: 'a' } }, 'flag_key_missing'],
    ['an empty flag key', flagCalled('', 'a'), 'flag_key_invalid'],
    ['a huge flag key', flagCalled(longText, 'a'), 'flag_key_invalid'],
    ['a lone surrogate in the flag key', flagCalled('flag\uD800', 'a'), 'flag_key_invalid'],
    ['a __proto__ flag key', flagCalled('__proto__', 'a'), 'flag_key_unsafe'],
    ['a constructor flag key', flagCalled('constructor', 'a'), 'flag_key_unsafe'],
    ['a flag key only inherited through __proto__', { ...good, properties: protoProps }, 'flag_key_missing'],
    ['a huge variant', flagCalled('f', longText), 'variant_invalid'],
    ['an object variant', flagCalled('f', { v: 1 }), 'variant_invalid'],
    ['a huge distinct id', flagCalled('f', 'a', { distinct_id: longText }), 'unit_invalid'],
    ['no distinct id and no person', { ...good, distinct_id: undefined }, 'unit_missing'],
    ['an unparseable timestamp', { ...good, timestamp: 'yesterday' }, 'timestamp_invalid'],
    ['a timestamp in 1970', { ...good, timestamp: iso(0) }, 'timestamp_too_old'],
    ['a timestamp before the lookback window', { ...good, timestamp: iso(NOW - 40 * 86_400_000) }, 'timestamp_too_old'],
    ['a timestamp years ahead', { ...good, timestamp: '2099-01-01T00:00:00Z' }, 'timestamp_in_future'],
    ['a non-string uuid', { ...good, uuid: 5 }, 'uuid_invalid'],
    ['a huge event name', { ...good, event: longText }, 'event_name_invalid'],
  ])('rejects %s', (_why, raw, reason) => {
    expect(readEvent(raw, opts)).toEqual({ ok: false, reason })
  })

  it('keeps odd but well-formed unicode as distinct flag keys and variants', () => {
    const e = ok(flagCalled('𝔣𝔩𝔞𝔤-ü\u200b', 'varïant-🧪'))
    expect(e.exposure).toMatchObject({ flag: '𝔣𝔩𝔞𝔤-ü\u200b', variant: 'varïant-🧪' })
  })

  it('skips a bad $feature/ property but keeps the rest of the event', () => {
    const e = ok(customEvent('$pageview', { props: { '$feature/__proto__': 'x', '$feature/ok': 'a', '$feature/o2': {} } }))
    expect(e.sightings.map((s) => s.flag)).toEqual(['ok'])
    expect(e.partialRejections).toEqual(['sighting_invalid', 'sighting_invalid'])
  })

  it('ignores a $groups entry named __proto__ without touching Object.prototype', () => {
    const props = JSON.parse('{"$groups": {"__proto__": "x", "company": "acme"}}')
    const e = ok(customEvent('$pageview', { props }))
    expect([...e.groups]).toEqual([['company', 'acme']])
    expect(({} as Record<string, unknown>).company).toBeUndefined()
  })
})
