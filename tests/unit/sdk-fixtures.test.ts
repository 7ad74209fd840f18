/**
 * Facts about what the real PostHog SDKs send, pinned from the recordings in tests/fixtures/sdk/
 * (made by `npm run record:sdk`, see tests/fixtures/record/README.md), and how the event reader
 * reads those events.
 */
import { readFileSync, readdirSync, statSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { gunzipSync } from 'node:zlib'
import { describe, expect, it } from 'vitest'
import { readEvent, type ReadOptions } from '../../src/events/read-event.js'
import type { ReadEvent } from '../../src/events/types.js'
import { harness } from '../support/ingest.js'
import { parseSettings } from '../../src/settings/settings.js'
import { createIngestContext, ingestEvent } from '../../src/counters/ingest.js'
import { MemoryCache } from '../../src/counters/memory-cache.js'
import { readObservations } from '../../src/counters/read.js'
import { auditEvents } from '../../src/audit/offline-audit.js'
import { ALL_FLAG_DEFINITIONS } from '../fixtures/record/flags.js'
import { recorderProject } from '../support/recorder-project.js'
import { asIngested as asIngestedWithPersons } from '../support/posthog-box/persons.js'
import { packageVersion } from '../fixtures/record/fixture-file.js'

type Json = Record<string, unknown>

interface FixtureRequest {
  scenario: string
  kind: string
  method: string
  path: string
  query: Record<string, string>
  contentType: string | null
  contentEncoding: string | null
  bodyBytes: number
  bodyEncoding: string
  bodyBase64?: string
  decoded: unknown
}

interface Fixture {
  sdk: string
  version: string
  recordedAt: string
  requests: FixtureRequest[]
  events: Json[]
  notes: Json & { scenarios: Array<{ name: string; description: string; eventIndexes: number[] }> }
}

const DIR = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'sdk')

function fixturesOf(sdk: string): Array<{ file: string; fixture: Fixture }> {
  return readdirSync(DIR)
    .filter((f) => f.startsWith(`${sdk}-`) && f.endsWith('.json'))
    .map((f) => ({ file: join(DIR, f), fixture: JSON.parse(readFileSync(join(DIR, f), 'utf8')) as Fixture }))
}

const nodeFixtures = fixturesOf('posthog-node')
const webFixtures = fixturesOf('posthog-js')
/**
 * The posthog-js version package.json installs. A recording of an older one (an outdated SDK on part
 * of the traffic) keeps what every version sends pinned here; what that version sends differently
 * is pinned in sdk-outdated.test.ts.
 */
const INSTALLED_WEB = packageVersion('posthog-js')

const props = (e: Json): Json => e.properties as Json
const isExposure = (e: Json): boolean => e.event === '$feature_flag_called'
const has = (o: Json, k: string): boolean => Object.prototype.hasOwnProperty.call(o, k)

function eventsIn(f: Fixture, scenario: string): Json[] {
  const s = f.notes.scenarios.find((x) => x.name === scenario)
  if (!s) throw new Error(`${f.sdk}: no scenario ${scenario}`)
  return s.eventIndexes.map((i) => f.events[i] as Json)
}

function one(f: Fixture, scenario: string, pred: (e: Json) => boolean = isExposure): Json {
  const found = eventsIn(f, scenario).filter(pred)
  expect(found, `${f.sdk} ${scenario}`).toHaveLength(1)
  return found[0] as Json
}

/** The capture bodies' events, in order: what `events` must be. */
function flattenCaptures(f: Fixture): Json[] {
  const out: Json[] = []
  for (const r of f.requests) {
    if (r.kind !== 'capture') continue
    const d = r.decoded as Json | Json[]
    if (Array.isArray(d)) out.push(...d)
    else if (Array.isArray(d.batch)) out.push(...(d.batch as Json[]))
    else out.push(d)
  }
  return out
}

/** Just after the recording: the reader rejects nothing as too old or in the future. */
function optsFor(f: Fixture): ReadOptions {
  const last = Math.max(...f.events.map((e) => Date.parse(String(e.timestamp))))
  return {
    nowMs: last + 60_000,
    maxAgeDays: 30,
    metricsByEvent: new Map(),
    groupTypeOf: (flag) => (flag === 'company-beta' ? 'company' : null),
  }
}

function read(raw: unknown, opts: ReadOptions): ReadEvent {
  const r = readEvent(raw, opts)
  if (!r.ok) throw new Error(`expected the event to be read, got ${r.reason}: ${JSON.stringify(raw).slice(0, 200)}`)
  return r.event
}

/** The `$feature/<key>` properties an event carries, as [flag, value]. */
function carried(e: Json): Array<[string, unknown]> {
  return Object.entries(props(e))
    .filter(([k]) => k.startsWith('$feature/'))
    .map(([k, v]) => [k.slice('$feature/'.length), v])
}

/**
 * posthog-js puts the distinct id inside `properties` only; PostHog's capture endpoint lifts it to
 * the event's top level before plugins, webhooks or exports see the event. This does that and
 * nothing else.
 */
function asIngested(e: Json): Json {
  return has(e, 'distinct_id') ? e : { ...e, distinct_id: props(e).distinct_id }
}

/** The reader's sightings are the event's $feature/ properties (a group flag only with its group). */
function expectSightings(e: { sightings: readonly { flag: string; variant: unknown }[] }, raw: Json): void {
  const expected = carried(raw)
    .filter(([flag]) => flag !== 'company-beta' || has(props(raw), '$groups'))
    .map(([flag, variant]) => ({ flag, variant }))
  expect(e.sightings.map(({ flag, variant }) => ({ flag, variant }))).toEqual(expected)
}

describe('the recordings', () => {
  it('exist for both SDKs and stay small enough to commit', () => {
    expect(nodeFixtures.length).toBeGreaterThanOrEqual(1)
    expect(webFixtures.length).toBeGreaterThanOrEqual(1)
    for (const { file } of [...nodeFixtures, ...webFixtures]) expect(statSync(file).size).toBeLessThan(256 * 1024)
  })

  it.each([...nodeFixtures, ...webFixtures].map((x) => [x.fixture.sdk, x.fixture.version, x.fixture] as const))(
    '%s %s: events are the capture bodies in send order, and every raw body decodes to what was recorded',
    (_sdk, _v, f) => {
      expect(f.events).toEqual(flattenCaptures(f))
      expect(f.notes.blockedNonLoopbackRequests).toEqual([])
      for (const r of f.requests) {
        if (r.bodyBase64 === undefined) continue
        const raw = Buffer.from(r.bodyBase64, 'base64')
        expect(raw.length).toBe(r.bodyBytes)
        if (r.bodyEncoding === 'gzip') expect(JSON.parse(gunzipSync(raw).toString('utf8'))).toEqual(r.decoded)
        if (r.bodyEncoding === 'json') expect(JSON.parse(raw.toString('utf8'))).toEqual(r.decoded)
      }
    },
  )

  it.each([...nodeFixtures, ...webFixtures].map((x) => [x.fixture.sdk, x.fixture.version, x.fixture] as const))(
    '%s %s: every $feature_flag_called names its flag and carries a response, unless the flag was missing',
    (_sdk, _v, f) => {
      const exposures = f.events.filter(isExposure)
      expect(exposures.length).toBeGreaterThan(0)
      for (const e of exposures) {
        const p = props(e)
        expect(typeof p.$feature_flag).toBe('string')
        // posthog-node builds the event with `$feature_flag_response: undefined` for a flag /flags did not
        // return, and JSON drops it: the property is absent, with `$feature_flag_error: 'flag_missing'`.
        if (has(p, '$feature_flag_response')) expect(['string', 'boolean']).toContain(typeof p.$feature_flag_response)
        else expect(String(p.$feature_flag_error)).toContain('flag_missing')
      }
    },
  )
})

describe.each(nodeFixtures.map((x) => [x.fixture.version, x.fixture] as const))('posthog-node %s', (_v, f) => {
  it('sends gzip JSON batches to /batch/ and asks /flags/?v=2 per evaluation; definitions from /flags/definitions', () => {
    const captures = f.requests.filter((r) => r.kind === 'capture')
    expect(new Set(captures.map((r) => `${r.method} ${r.path}`))).toEqual(new Set(['POST /batch/']))
    for (const r of captures) {
      expect(r.contentType).toBe('application/json')
      expect(r.contentEncoding).toBe('gzip')
      expect(Object.keys(r.decoded as Json).sort()).toEqual(['api_key', 'batch', 'sent_at'])
    }
    const flags = f.requests.filter((r) => r.kind === 'flags')
    expect(flags.every((r) => r.path === '/flags/' && r.query.v === '2' && r.contentEncoding === null)).toBe(true)
    expect(f.requests.filter((r) => r.kind === 'flag-definitions').map((r) => r.path)).toEqual(['/flags/definitions'])
  })

  it('puts distinct_id, timestamp and uuid beside the properties, and $lib posthog-node on every event', () => {
    for (const e of f.events) {
      expect(Object.keys(e).sort()).toEqual(['distinct_id', 'event', 'properties', 'timestamp', 'uuid'])
      expect(typeof e.distinct_id).toBe('string')
      expect(props(e).$lib).toBe('posthog-node')
      expect(props(e).$lib_version).toBe(f.version)
    }
  })

  it('getFeatureFlag and isFeatureEnabled send one exposure each, with $feature/<key> and the flag metadata', () => {
    const mv = props(one(f, 'getFeatureFlag-multivariate'))
    expect(mv).toMatchObject({ $feature_flag: 'checkout-redesign', locally_evaluated: false, $feature_flag_has_experiment: true })
    expect(['control', 'test']).toContain(mv.$feature_flag_response)
    expect(mv['$feature/checkout-redesign']).toBe(mv.$feature_flag_response)
    expect(typeof mv.$feature_flag_request_id).toBe('string')
    expect(mv.$feature_flag_id).toBe(101)
    const bool = props(one(f, 'isFeatureEnabled-boolean'))
    expect(bool).toMatchObject({ $feature_flag: 'new-onboarding', $feature_flag_response: true, '$feature/new-onboarding': true })
    // Exposure events carry no $active_feature_flags and no other flag's $feature/<key>.
    expect(has(mv, '$active_feature_flags')).toBe(false)
    expect(carried({ properties: mv }).map(([k]) => k)).toEqual(['checkout-redesign'])
  })

  it('getFeatureFlagPayload and getAllFlags send no exposure (remote and local)', () => {
    expect(f.notes.payloadCallSentExposure).toBe(false)
    expect(f.notes.localPayloadCallSentExposure).toBe(false)
    expect(f.notes.getAllFlagsSentExposure).toBe(false)
    expect(eventsIn(f, 'getFeatureFlagPayload')).toEqual([])
    expect(eventsIn(f, 'getAllFlags')).toEqual([])
    expect(eventsIn(f, 'local-evaluation-payload')).toEqual([])
    expect(f.events.filter((e) => isExposure(e) && props(e).$feature_flag === 'pricing-copy')).toEqual([])
  })

  it('deduplicates the same flag and value for the same distinct id: one event for two calls', () => {
    expect(f.notes.dedupSingleExposure).toBe(true)
    expect(f.notes.dedupSecondCallSentExposure).toBe(false)
    expect(eventsIn(f, 'dedup').filter(isExposure)).toHaveLength(1)
  })

  it('capture with sendFeatureFlags (or a flags snapshot) carries every flag: $feature/<key> for all, $active_feature_flags for enabled ones', () => {
    for (const scenario of ['capture-sendFeatureFlags', 'evaluateFlags', 'local-evaluation-capture-sendFeatureFlags']) {
      const p = props(one(f, scenario, (e) => e.event === 'checkout_started'))
      expect(p['$feature/company-beta']).toBe(false)
      expect(p['$feature/new-onboarding']).toBe(true)
      expect(['control', 'test']).toContain(p['$feature/checkout-redesign'])
      expect(p.$active_feature_flags).toEqual(['checkout-redesign', 'new-onboarding', 'pricing-copy'])
    }
    expect(f.notes.captureSendFeatureFlagsExtraFlagsRequest).toBe(true)
    const plain = props(one(f, 'capture-plain', () => true))
    expect(carried({ properties: plain })).toEqual([])
    expect(has(plain, '$active_feature_flags')).toBe(false)
  })

  it('a group flag exposure carries $groups; without groups the flag is false and the exposure is still sent, without $groups', () => {
    expect(props(one(f, 'group-flag'))).toMatchObject({ $feature_flag: 'company-beta', $feature_flag_response: true, $groups: { company: 'acme' } })
    const without = props(one(f, 'group-flag-without-groups'))
    expect(without).toMatchObject({ $feature_flag: 'company-beta', $feature_flag_response: false })
    expect(has(without, '$groups')).toBe(false)
  })

  it('local evaluation: locally_evaluated true, no request id or version, no /flags call', () => {
    const local = props(one(f, 'local-evaluation'))
    expect(local).toMatchObject({ $feature_flag: 'checkout-redesign', locally_evaluated: true, $feature_flag_reason: 'Evaluated locally' })
    expect(has(local, '$feature_flag_request_id')).toBe(false)
    expect(typeof local.$feature_flag_definitions_loaded_at).toBe('number')
    expect(props(one(f, 'local-evaluation-group'))).toMatchObject({ locally_evaluated: true, $groups: { company: 'acme' } })
    expect(f.notes.localEvaluationCalledRemoteFlags).toBe(false)
  })

  it('a missing flag: no response, no $feature/<key>, $feature_flag_error flag_missing', () => {
    const p = props(one(f, 'missing-flag'))
    expect(p.$feature_flag).toBe('no-such-flag')
    expect(has(p, '$feature_flag_response')).toBe(false)
    expect(has(p, '$feature/no-such-flag')).toBe(false)
    expect(p.$feature_flag_error).toBe('flag_missing')
  })

  it('minimal $feature_flag_called events (when /flags asks) drop $feature/<key> for flags without an experiment only', () => {
    const [minimal, full] = eventsIn(f, 'minimal-flag-called-events').map(props)
    expect(minimal).toMatchObject({ $feature_flag: 'new-onboarding', $feature_flag_response: true, $feature_flag_has_experiment: false })
    expect(has(minimal as Json, '$feature/new-onboarding')).toBe(false)
    expect(full).toMatchObject({ $feature_flag: 'checkout-redesign', $feature_flag_has_experiment: true })
    expect(has(full as Json, '$feature/checkout-redesign')).toBe(true)
  })

  it('every event reads as ok; exposures with the right flag, variant, server lib and unit; $feature/<key> as sightings', () => {
    const opts = optsFor(f)
    for (const raw of f.events) {
      const e = read(raw, opts)
      const p = props(raw)
      if (isExposure(raw)) {
        const groupWithoutKey = p.$feature_flag === 'company-beta' && !has(p, '$groups')
        if (groupWithoutKey) {
          expect(e.exposure).toBeNull()
          expect(e.partialRejections).toContain('group_key_missing')
          continue
        }
        expect(e.exposure).toMatchObject({
          event: '$feature_flag_called',
          flag: p.$feature_flag,
          variant: p.$feature_flag_response ?? null,
          lib: 'server',
          bootstrapped: false,
          locallyEvaluated: p.locally_evaluated === true,
          error: p.$feature_flag_error ?? null,
          unit: p.$feature_flag === 'company-beta' ? '$group:company:acme' : raw.distinct_id,
        })
      } else {
        expect(e.exposure).toBeNull()
      }
      expectSightings(e, raw)
    }
  })
})

describe.each(webFixtures.map((x) => [x.fixture.version, x.fixture] as const))('posthog-js %s', (_v, f) => {
  // Facts of the installed version only: sdk-outdated.test.ts pins what an older one sends instead.
  // Defined for that version alone, so no test shows as skipped for the other.
  const itInstalled = (name: string, fn: () => unknown) => (f.version === INSTALLED_WEB ? it(name, fn) : undefined)

  itInstalled('sends gzip bodies as text/plain, with no Content-Encoding header and no compression query parameter', () => {
    const captures = f.requests.filter((r) => r.kind === 'capture')
    expect(captures.length).toBeGreaterThan(0)
    for (const r of [...captures, ...f.requests.filter((x) => x.kind === 'flags')]) {
      expect(r.bodyEncoding).toBe('gzip')
      expect(r.contentType).toBe('text/plain')
      expect(r.contentEncoding).toBeNull()
      expect(has(r.query, 'compression')).toBe(false)
    }
    // /e/ until the remote config names /i/v0/e/ as the analytics endpoint, /i/v0/e/ after it.
    expect(new Set(captures.map((r) => r.path))).toEqual(new Set(['/e/', '/i/v0/e/']))
    expect(f.requests.filter((r) => r.kind === 'flags').every((r) => r.path === '/flags/' && r.query.v === '2')).toBe(true)
  })

  it('puts distinct_id inside properties (with the token), not beside them; $lib is web', () => {
    for (const e of f.events) {
      expect(has(e, 'distinct_id')).toBe(false)
      expect(typeof props(e).distinct_id).toBe('string')
      expect(props(e).token).toBe('phc_fixture_recorder_token')
      expect(typeof e.uuid).toBe('string')
      expect(typeof e.timestamp).toBe('string')
      expect(props(e).$lib).toBe('web')
      expect(props(e).$lib_version).toBe(f.version)
    }
  })

  itInstalled('exposures carry $feature_flag_response, every loaded flag as $feature/<key> and $active_feature_flags', () => {
    const mv = props(one(f, 'getFeatureFlag-multivariate'))
    expect(mv).toMatchObject({ $feature_flag: 'checkout-redesign', $used_bootstrap_value: false, $feature_flag_has_experiment: true })
    expect(mv['$feature/checkout-redesign']).toBe(mv.$feature_flag_response)
    expect(mv['$feature/company-beta']).toBe(false)
    expect(mv.$active_feature_flags).toEqual(['checkout-redesign', 'new-onboarding', 'pricing-copy'])
    expect(has(mv, 'locally_evaluated')).toBe(false)
    expect(props(one(f, 'isFeatureEnabled-boolean'))).toMatchObject({ $feature_flag: 'new-onboarding', $feature_flag_response: true })
    const custom = props(one(f, 'capture-after-flags', (e) => e.event === 'checkout_started'))
    expect(custom['$feature/checkout-redesign']).toBe(mv.$feature_flag_response)
    expect(custom.$active_feature_flags).toEqual(['checkout-redesign', 'new-onboarding', 'pricing-copy'])
  })

  it('getFeatureFlagPayload and a read before flags load send no exposure; the same read twice sends one', () => {
    expect(f.notes.payloadCallSentExposure).toBe(false)
    expect(eventsIn(f, 'getFeatureFlagPayload')).toEqual([])
    expect(f.notes.readBeforeFlagsLoadedSentExposure).toBe(false)
    expect(f.notes.dedupSingleExposure).toBe(true)
    expect(f.notes.dedupSecondCallSentExposure).toBe(false)
    expect(eventsIn(f, 'dedup')).toEqual([])
  })

  it('identify clears the dedup: the same value is exposed again under the new distinct id', () => {
    expect(f.notes.afterIdentifySameValue).toBe(true)
    expect(f.notes.afterIdentifySentExposure).toBe(true)
    const before = props(one(f, 'getFeatureFlag-multivariate'))
    const after = props(one(f, 'getFeatureFlag-after-identify'))
    expect(after.$feature_flag_response).toBe(before.$feature_flag_response)
    expect(after.distinct_id).not.toBe(before.distinct_id)
  })

  it('the group flag exposure (after posthog.group) carries $groups', () => {
    expect(props(one(f, 'group-flag'))).toMatchObject({ $feature_flag: 'company-beta', $feature_flag_response: true, $groups: { company: 'acme' } })
  })

  itInstalled('a bootstrapped read sends $used_bootstrap_value true; bootstrapped flags mean no /flags call until a reload', () => {
    const returned = f.notes.returnedValues as Json
    expect(returned.bootstrapPageAskedFlagsOnLoad).toBe(false)
    const boot = returned.bootstrap as Json
    const before = props(one(f, 'bootstrap-read-before-flags'))
    expect(before).toMatchObject({
      $feature_flag: 'checkout-redesign',
      $feature_flag_response: boot.bootstrapVariant,
      $feature_flag_bootstrapped_response: boot.bootstrapVariant,
      $used_bootstrap_value: true,
    })
    expect(has(before, '$feature_flag_request_id')).toBe(false)
    // After /flags answers with another value, the same read is a new exposure: one unit, two variants.
    const after = props(one(f, 'bootstrap-read-after-flags'))
    expect(after).toMatchObject({ $feature_flag_response: boot.remoteVariant, $feature_flag_bootstrapped_response: boot.bootstrapVariant, $used_bootstrap_value: false })
  })

  it("a payload-only read (getFeatureFlagPayload, send_event: false) sends no exposure, yet the experiment's metric event carries the variant: the unit reached the surface unexposed", async () => {
    const visitor = (f.notes.returnedValues as Json).payloadOnlyDistinctId
    expect(f.notes.payloadOnlyExposureCount).toBe(0)
    expect(eventsIn(f, 'payload-only-read').filter(isExposure)).toEqual([])
    expect(eventsIn(f, 'send-event-false-read').filter(isExposure)).toEqual([])
    const metric = one(f, 'payload-only-metric', (e) => e.event === 'checkout_completed')
    expect(props(metric)).toMatchObject({ distinct_id: visitor, '$feature/checkout-redesign': (f.notes.returnedValues as Json).sendEventFalseValue })
    const settings = parseSettings({ goalEvents: '["checkout_completed"]' })
    const cache = new MemoryCache(() => optsFor(f).nowMs)
    const ctx = createIngestContext({ cache, settings, project: 'web', now: () => optsFor(f).nowMs, surfaceMetrics: new Map([['checkout-redesign', ['checkout_completed']]]) })
    for (const e of f.events) await ingestEvent(ctx, asIngested(e))
    const obs = await readObservations({ cache, project: 'web', lookbackDays: 30, nowMs: optsFor(f).nowMs })
    expect(obs.flags.find((x) => x.flag === 'checkout-redesign')!.sightings).toMatchObject({ reached: 1, reachedExposed: 0 })
  })

  itInstalled('the exposure after /flags corrected a bootstrapped value is read as a bootstrap mismatch, and counted once per unit', async () => {
    const opts = optsFor(f)
    const before = read(asIngested(one(f, 'bootstrap-read-before-flags')), opts)
    const after = read(asIngested(one(f, 'bootstrap-read-after-flags')), opts)
    expect(before.exposure).toMatchObject({ bootstrapped: true, bootstrapMismatch: false })
    expect(after.exposure).toMatchObject({ bootstrapped: false, bootstrapMismatch: true })
    const h = harness()
    h.clock.now = opts.nowMs
    await h.ingest(...f.events.map(asIngested), asIngested(one(f, 'bootstrap-read-after-flags')))
    const called = (await h.flag('checkout-redesign'))!.exposure.$feature_flag_called!
    const boot = (f.notes.returnedValues as Json).bootstrap as Json
    const remote = called.variants.find((v) => v.value === boot.remoteVariant)!
    expect(remote).toMatchObject({ bootstrapMismatchUnits: 1 })
    expect(called.variants.find((v) => v.value === boot.bootstrapVariant)).toMatchObject({ bootstrapMismatchUnits: 0 })
  })

  describe('identify after the flag was read (issue 22): a unit crossing variants, or kept in one by experience continuity', () => {
    const OFF = 'signup-headline'
    const ON = 'signup-headline-persisted'
    const crossing = (f.notes.returnedValues as Json).identityCrossing as {
      anonymousDistinctId: string
      identifiedId: string
      continuityOn: { anonymous: string; identifiedIdOwnVariant: string }
    }
    const exposureOf = (scenario: string, flag: string): Json => props(one(f, scenario, (e) => isExposure(e) && props(e).$feature_flag === flag))

    it('posthog-js exposes the variant read while anonymous ($is_identified false) and, after identify, the one /flags gives the identified id ($is_identified true)', () => {
      expect(ALL_FLAG_DEFINITIONS.find((x) => x.key === OFF)?.ensure_experience_continuity).toBe(false)
      expect(ALL_FLAG_DEFINITIONS.find((x) => x.key === ON)?.ensure_experience_continuity).toBe(true)
      const [offBefore, onBefore] = [OFF, ON].map((flag) => exposureOf('crossing-read-anonymous', flag))
      const [offAfter, onAfter] = [OFF, ON].map((flag) => exposureOf('crossing-read-identified', flag))
      for (const p of [offBefore, onBefore]) expect(p).toMatchObject({ distinct_id: crossing.anonymousDistinctId, $is_identified: false })
      for (const p of [offAfter, onAfter]) {
        expect(p).toMatchObject({ distinct_id: crossing.identifiedId, $is_identified: true })
        // Not a bootstrapped value: posthog-js says so, or (before $used_bootstrap_value existed) says nothing.
        expect(p!.$used_bootstrap_value ?? false).toBe(false)
      }
      // Continuity off: the identified id is bucketed afresh, into the other variant.
      expect(offAfter!.$feature_flag_response).not.toBe(offBefore!.$feature_flag_response)
      expect(f.notes.crossingContinuityOffCrossed).toBe(true)
      // Continuity on: the anonymous id's variant is kept, although the identified id alone gets the other one.
      expect(onAfter!.$feature_flag_response).toBe(onBefore!.$feature_flag_response)
      expect(crossing.continuityOn.identifiedIdOwnVariant).not.toBe(crossing.continuityOn.anonymous)
      expect(f.notes.crossingContinuityOnCrossed).toBe(false)
    })

    it('the /flags reload after identify carries $anon_distinct_id, from which PostHog keeps the continuity flag in the anonymous bucket', () => {
      const reloads = f.requests.filter((r) => r.scenario === 'crossing-identify' && r.kind === 'flags').map((r) => r.decoded as Json)
      expect(reloads).toHaveLength(1)
      expect(reloads[0]).toMatchObject({ distinct_id: crossing.identifiedId, $anon_distinct_id: crossing.anonymousDistinctId })
      const identify = one(f, 'crossing-identify', (e) => e.event === '$identify')
      expect(props(identify).$anon_distinct_id).toBe(crossing.anonymousDistinctId)
    })

    it('audited as PostHog ingests them (one person after $identify): the continuity-off flag has one unit crossing at identify, and multiple_variants names continuity as the cause; the continuity-on flag none', async () => {
      const events = asIngestedWithPersons(f.events)
      const times = events.map((e) => Date.parse(e.timestamp))
      const now = Math.max(...times) + 3_600_000
      const { defs } = recorderProject(Math.min(...times) - 3_600_000, [OFF, ON].map((flag, i) => ({ id: i + 1, flag })))
      const { report } = await auditEvents(defs, { filterTestAccounts: 'No' }, events, { now, activity: { changes: [], entries: 0 } })
      const check = (flag: string) => report.flags.find((x) => x.key === flag)?.checks.find((c) => c.id === 'multiple_variants')

      const off = check(OFF)!
      expect(off.evidence).toMatchObject({ units: 1, multiple_variant_units: 1, identity_crossed_units: 1, experience_continuity: false })
      expect(['warn', 'fail']).toContain(off.status)
      expect(off.fix).toContain('Experience continuity is off')
      const on = check(ON)!
      expect(on.evidence).toMatchObject({ units: 1, multiple_variant_units: 0, identity_crossed_units: 0, experience_continuity: true })
      expect(on.status).toBe('pass')
    })
  })

  it('read as sent (distinct_id only inside properties), every event still has its unit', () => {
    const opts = optsFor(f)
    for (const raw of f.events) {
      const r = readEvent(raw, opts)
      expect(r.ok ? r.event.personUnit : r.reason).toBe(props(raw).distinct_id)
    }
  })

  it('as PostHog ingests them (distinct_id lifted), every event reads as ok; exposures with flag, variant, client lib, bootstrap; sightings', () => {
    const opts = optsFor(f)
    for (const sent of f.events) {
      const raw = asIngested(sent)
      const e = read(raw, opts)
      const p = props(raw)
      if (isExposure(raw)) {
        expect(e.exposure).toMatchObject({
          event: '$feature_flag_called',
          flag: p.$feature_flag,
          variant: p.$feature_flag_response,
          lib: 'client',
          bootstrapped: p.$used_bootstrap_value === true,
          bootstrapMismatch: p.$feature_flag_bootstrapped_response != null && p.$feature_flag_bootstrapped_response !== p.$feature_flag_response,
          locallyEvaluated: false,
          error: null,
          unit: p.$feature_flag === 'company-beta' ? '$group:company:acme' : p.distinct_id,
        })
      } else {
        expect(e.exposure).toBeNull()
      }
      expectSightings(e, raw)
      expect(e.activeFlags).toEqual(Array.isArray(p.$active_feature_flags) ? p.$active_feature_flags : [])
    }
  })
})
