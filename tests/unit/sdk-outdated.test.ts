/**
 * An outdated posthog-js on part of the traffic (issue 22). tests/fixtures/sdk holds, beside the
 * installed version's recording, one of an older release (recorded from its `npm pack` with
 * `record-web.ts --posthog-js-dir`, see tests/fixtures/record/README.md). This pins what that
 * version sends differently, from what was recorded, and that the audit still reads it: exposures
 * counted with their variants, the SDK slice named with the old minor version, the two versions
 * apart in the slices a mismatched split is broken down by, and no alarm from what it does not send.
 */
import { readFileSync, readdirSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { auditEvents } from '../../src/audit/offline-audit.js'
import type { Report } from '../../src/coverage/report.js'
import { buildContext } from '../../src/coverage/context.js'
import { splitBySlice } from '../../src/coverage/slices.js'
import { createIngestContext, ingestEvent } from '../../src/counters/ingest.js'
import { MemoryCache } from '../../src/counters/memory-cache.js'
import { readObservations } from '../../src/counters/read.js'
import type { Definitions } from '../../src/definitions/definitions.js'
import { readEvent } from '../../src/events/read-event.js'
import { parseSettings } from '../../src/settings/settings.js'
import { packageVersion } from '../fixtures/record/fixture-file.js'
import { recorderProject } from '../support/recorder-project.js'
import { asIngested as asIngestedWithPersons } from '../support/posthog-box/persons.js'

type Json = Record<string, unknown>

interface Fixture {
  version: string
  requests: Array<{ scenario: string; kind: string; path: string; query: Record<string, string>; contentType: string | null; bodyEncoding: string; decoded: unknown }>
  events: Json[]
  notes: Json & { scenarios: Array<{ name: string; eventIndexes: number[] }>; returnedValues: Json }
}

const DIR = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'sdk')
const webFixtures: Fixture[] = readdirSync(DIR)
  .filter((f) => f.startsWith('posthog-js-') && f.endsWith('.json'))
  .map((f) => JSON.parse(readFileSync(join(DIR, f), 'utf8')) as Fixture)
const INSTALLED = packageVersion('posthog-js')
const installed = webFixtures.find((f) => f.version === INSTALLED)
const outdated = webFixtures.filter((f) => f.version !== INSTALLED)

const props = (e: Json): Json => e.properties as Json
const has = (o: Json, k: string): boolean => Object.prototype.hasOwnProperty.call(o, k)
const isExposure = (e: Json): boolean => e.event === '$feature_flag_called'
const minorOf = (version: string): string => version.split('.').slice(0, 2).join('.')

function eventsIn(f: Fixture, scenario: string): Json[] {
  const s = f.notes.scenarios.find((x) => x.name === scenario)
  if (!s) throw new Error(`posthog-js ${f.version}: no scenario ${scenario}`)
  return s.eventIndexes.map((i) => f.events[i] as Json)
}

function one(f: Fixture, scenario: string, pred: (e: Json) => boolean = isExposure): Json {
  const found = eventsIn(f, scenario).filter(pred)
  expect(found, `posthog-js ${f.version} ${scenario}`).toHaveLength(1)
  return found[0] as Json
}

/** posthog-js sends the distinct id inside properties; PostHog's capture lifts it to the top level. */
const lifted = (e: Json): Json => (has(e, 'distinct_id') ? e : { ...e, distinct_id: props(e).distinct_id })

/**
 * What the installed posthog-js puts on an exposure about the evaluation (and the bootstrap) that
 * the outdated one does not send: the audit must not need any of it to count an exposure.
 */
const EVALUATION_METADATA = [
  '$feature_flag_has_experiment',
  '$feature_flag_id',
  '$feature_flag_version',
  '$feature_flag_reason',
  '$feature_flag_request_id',
  '$feature_flag_evaluated_at',
  '$feature_flag_payload',
  '$used_bootstrap_value',
  '$feature_flag_bootstrapped_response',
  '$feature_flag_bootstrapped_payload',
]

/** The recorder's project: its flags, and the three experiments the web recording reads. */
const EXPERIMENTS = [
  { id: 1, flag: 'checkout-redesign', metricEvent: 'checkout_completed' },
  { id: 2, flag: 'signup-headline', metricEvent: 'signup_completed' },
  { id: 3, flag: 'signup-headline-persisted', metricEvent: 'signup_completed' },
]

function definitionsFor(startMs: number): Definitions {
  return recorderProject(startMs, EXPERIMENTS).defs
}

function timesOf(events: readonly Json[]): { start: number; now: number } {
  const times = events.map((e) => Date.parse(String(e.timestamp)))
  return { start: Math.min(...times) - 3_600_000, now: Math.max(...times) + 3_600_000 }
}

/** The offline audit of events as PostHog ingests them (persons merged by $identify). */
async function audit(sent: readonly Json[]): Promise<Report> {
  const { start, now } = timesOf(sent)
  const events = asIngestedWithPersons(sent)
  return (await auditEvents(definitionsFor(start), { filterTestAccounts: 'No' }, events, { now, activity: { changes: [], entries: 0 } })).report
}

const statuses = (r: Report): Record<string, string> =>
  Object.fromEntries(r.flags.flatMap((f) => f.checks.map((c) => [`${f.key} ${c.id}`, c.status])))
const checkOf = (r: Report, flag: string, id: string) => r.flags.find((f) => f.key === flag)?.checks.find((c) => c.id === id)

it('an outdated posthog-js is recorded beside the installed one', () => {
  expect(installed, `tests/fixtures/sdk/posthog-js-${INSTALLED}.json`).toBeDefined()
  expect(outdated.length).toBeGreaterThanOrEqual(1)
  for (const f of outdated) expect(Number(f.version.split('.')[1])).toBeLessThan(Number(INSTALLED.split('.')[1]))
})

describe.each(outdated.map((f) => [f.version, f] as const))('posthog-js %s, an outdated SDK beside the installed one', (version, f) => {
  const current = installed as Fixture
  const sdk = `web ${minorOf(version)}`

  it('asks /decide/?v=3 (base64 form bodies) for flags and settings: no /flags, no remote config; /e/ until /decide/ names /i/v0/e/', () => {
    const flags = f.requests.filter((r) => r.kind === 'flags')
    expect(flags.length).toBeGreaterThan(0)
    for (const r of flags) {
      expect(r).toMatchObject({ path: '/decide/', bodyEncoding: 'base64-form', contentType: 'application/x-www-form-urlencoded' })
      expect(r.query).toMatchObject({ v: '3', compression: 'base64', ver: version })
    }
    expect(f.requests.filter((r) => r.kind === 'remote-config')).toEqual([])
    expect(f.notes.flagsRequests).toEqual(['POST /decide/?v=3 base64-form'])
    // Base64 form bodies to /e/ until the first /decide/ answer, gzip to the endpoint it names after.
    const captures = f.requests.filter((r) => r.kind === 'capture')
    for (const r of captures) {
      if (r.path === '/e/') expect(r).toMatchObject({ bodyEncoding: 'base64-form', query: expect.objectContaining({ compression: 'base64' }) })
      else expect(r).toMatchObject({ path: '/i/v0/e/', bodyEncoding: 'gzip', query: expect.objectContaining({ compression: 'gzip-js' }) })
    }
    expect(new Set(captures.map((r) => r.path))).toEqual(new Set(['/e/', '/i/v0/e/']))
    // The installed version asks /flags/?v=2 and reads its settings from the remote config.
    expect(current.requests.some((r) => r.kind === 'flags' && r.path === '/flags/' && r.query.v === '2')).toBe(true)
    expect(current.requests.some((r) => r.kind === 'remote-config')).toBe(true)
  })

  it('an exposure carries $feature_flag_response, every flag as $feature/<key>, $active_feature_flags and $is_identified, but none of the evaluation metadata the installed version adds', () => {
    const mv = props(one(f, 'getFeatureFlag-multivariate'))
    expect(mv.$feature_flag).toBe('checkout-redesign')
    expect(['control', 'test']).toContain(mv.$feature_flag_response)
    expect(mv['$feature/checkout-redesign']).toBe(mv.$feature_flag_response)
    expect(mv['$feature/company-beta']).toBe(false)
    expect(mv.$active_feature_flags).toEqual(['checkout-redesign', 'new-onboarding', 'pricing-copy'])
    expect(mv.$is_identified).toBe(false)
    const installedMv = props(one(current, 'getFeatureFlag-multivariate'))
    for (const key of EVALUATION_METADATA) expect(has(installedMv, key), `${INSTALLED} sends ${key}`).toBe(true)
    for (const e of f.events.filter(isExposure)) {
      const p = props(e)
      expect(['string', 'boolean']).toContain(typeof p.$feature_flag_response)
      expect(typeof p.$is_identified).toBe('boolean')
      expect(EVALUATION_METADATA.filter((key) => has(p, key)), `${version} ${String(p.$feature_flag)}`).toEqual([])
    }
    expect((f.notes.comparedWithInstalled as Json).exposureFlagPropertiesMissingHere).toEqual([...EVALUATION_METADATA].sort())
  })

  it('every event says $lib web and its own $lib_version, carries $set_once beside its properties, and $browser_type "browser" from headless Chromium', () => {
    for (const e of f.events) {
      expect(props(e)).toMatchObject({ $lib: 'web', $lib_version: version })
      // person_profiles defaulted to 'always': the initial person properties ride on every event.
      expect(has(e, '$set_once')).toBe(true)
      // Its bot list has no HeadlessChrome: with opt_out_useragent_filter the page reads as a browser.
      expect(props(e).$browser_type).toBe('browser')
    }
    expect(current.events.every((e) => props(e).$browser_type === 'bot')).toBe(true)
    expect(current.events.filter((e) => has(e, '$set_once')).length).toBeLessThan(current.events.length)
  })

  it('dedups the same read, sends nothing for a payload read or a read before flags load, and identify clears the dedup, as the installed version does', () => {
    expect(f.notes).toMatchObject({
      dedupSingleExposure: true,
      dedupSecondCallSentExposure: false,
      payloadCallSentExposure: false,
      readBeforeFlagsLoadedSentExposure: false,
      afterIdentifySentExposure: true,
      afterIdentifySameValue: true,
      payloadOnlyExposureCount: 0,
    })
    expect(eventsIn(f, 'dedup')).toEqual([])
    expect(eventsIn(f, 'getFeatureFlagPayload')).toEqual([])
    expect((f.notes.returnedValues as Json).payload).toEqual({ headline: 'Save 20% with yearly billing', discount: 20 })
    expect(props(one(f, 'getFeatureFlag-after-identify')).$feature_flag_response).toBe(props(one(f, 'getFeatureFlag-multivariate')).$feature_flag_response)
  })

  it('a bootstrapped read is an exposure like any other: /decide/ is asked on load all the same, and neither exposure says the page was bootstrapped, so the reader sees no bootstrap mismatch', () => {
    const returned = f.notes.returnedValues
    expect(returned.bootstrapPageAskedFlagsOnLoad).toBe(true)
    const boot = returned.bootstrap as Json
    const before = props(one(f, 'bootstrap-read-before-flags'))
    const after = props(one(f, 'bootstrap-read-after-flags'))
    expect(before).toMatchObject({ $feature_flag: 'checkout-redesign', $feature_flag_response: boot.bootstrapVariant })
    expect(after).toMatchObject({ $feature_flag: 'checkout-redesign', $feature_flag_response: boot.remoteVariant })
    const nowMs = timesOf(f.events).now
    const opts = { nowMs, maxAgeDays: 30, metricsByEvent: new Map(), groupTypeOf: (flag: string) => (flag === 'company-beta' ? 'company' : null) }
    for (const e of [one(f, 'bootstrap-read-before-flags'), one(f, 'bootstrap-read-after-flags')]) {
      const r = readEvent(lifted(e), opts)
      expect(r.ok && r.event.exposure).toMatchObject({ bootstrapped: false, bootstrapMismatch: false })
    }
  })

  it(`as PostHog ingests them, every event reads as ok and every exposure has its flag, variant, unit and the SDK slice "${sdk}"`, () => {
    const nowMs = timesOf(f.events).now
    const opts = { nowMs, maxAgeDays: 30, metricsByEvent: new Map(), groupTypeOf: (flag: string) => (flag === 'company-beta' ? 'company' : null) }
    for (const sent of f.events) {
      const raw = lifted(sent)
      const r = readEvent(raw, opts)
      expect(r.ok, JSON.stringify(raw).slice(0, 200)).toBe(true)
      if (!r.ok || !isExposure(raw)) continue
      const p = props(raw)
      expect(r.event.exposure).toMatchObject({
        flag: p.$feature_flag,
        variant: p.$feature_flag_response,
        lib: 'client',
        unit: p.$feature_flag === 'company-beta' ? '$group:company:acme' : p.distinct_id,
        slices: expect.objectContaining({ sdk, browser: 'Chrome', os: 'Linux' }),
      })
      if (p.$feature_flag !== 'company-beta') expect(r.event.exposure?.identified).toBe(p.$is_identified)
    }
  })

  it('audited offline with its flags, the exposures are counted with their variants, and no check raises an alarm the installed version\'s recording does not', async () => {
    const report = await audit(f.events)
    for (const flag of ['checkout-redesign', 'new-onboarding', 'company-beta', 'signup-headline', 'signup-headline-persisted']) {
      const sent = f.events.filter((e) => isExposure(e) && props(e).$feature_flag === flag)
      const values = [...new Set(sent.map((e) => String(props(e).$feature_flag_response)))]
      const counted = report.flags.find((x) => x.key === flag)!.variants
      for (const value of values) {
        expect(counted.find((v) => v.key === value)?.exposures, `${flag} ${value}`).toBe(sent.filter((e) => String(props(e).$feature_flag_response) === value).length)
      }
    }
    // The checks that read only what every version sends pass.
    for (const flag of ['checkout-redesign', 'signup-headline', 'signup-headline-persisted']) {
      for (const id of ['exposure_present', 'exposure_stall', 'exposure_event', 'variant_values', 'exposure_source', 'exposure_gap', 'flag_state', 'flag_changes']) {
        expect(checkOf(report, flag, id)?.status, `${flag} ${id}`).toBe('pass')
      }
    }
    for (const flag of ['new-onboarding', 'company-beta']) {
      for (const id of ['exposure_present', 'variant_values', 'multiple_variants', 'exposure_source', 'exposure_gap']) expect(checkOf(report, flag, id)?.status, `${flag} ${id}`).toBe('pass')
    }
    expect(checkOf(report, 'signup-headline-persisted', 'multiple_variants')?.status).toBe('pass')
    // The alarms it raises are the recording's own: the bootstrapped unit shown two variants, and the
    // unit that crossed variants at identify with experience continuity off.
    expect(checkOf(report, 'checkout-redesign', 'multiple_variants')?.evidence).toMatchObject({ multiple_variant_units: 1, identity_crossed_units: 0 })
    expect(checkOf(report, 'signup-headline', 'multiple_variants')?.evidence).toMatchObject({ multiple_variant_units: 1, identity_crossed_units: 1 })
    // Against the installed version's recording of the same scenarios: the same verdicts, but for
    // exposure_source on the bootstrapped experiment, which the installed version's
    // $feature_flag_bootstrapped_response shows as bootstrapped with another variant, and the
    // outdated one cannot (a blind spot, not an alarm).
    const here = statuses(report)
    const there = statuses(await audit(current.events))
    const differing = Object.keys(there).filter((k) => here[k] !== there[k])
    expect(differing).toEqual(['checkout-redesign exposure_source'])
    expect(here['checkout-redesign exposure_source']).toBe('pass')
    expect(there['checkout-redesign exposure_source']).toBe('fail')
  })

  it(`mixed with the installed version's events, the counters keep an SDK slice per version ("${sdk}" and "web ${minorOf(INSTALLED)}") where sample_ratio breaks a split down, and no check raises a new alarm`, async () => {
    const mixed = [...current.events, ...f.events].sort((a, b) => Date.parse(String(a.timestamp)) - Date.parse(String(b.timestamp)))
    const { start, now } = timesOf(mixed)
    const settings = parseSettings({})
    const cache = new MemoryCache(() => now)
    const ctx = createIngestContext({ cache, settings, project: 'web', now: () => now })
    for (const e of mixed) await ingestEvent(ctx, lifted(e))
    const obs = await readObservations({ cache, project: 'web', lookbackDays: 30, nowMs: now })
    const observation = obs.flags.find((x) => x.flag === 'checkout-redesign')!
    const exposure = observation.exposure.$feature_flag_called!

    // Units by SDK slice per variant, as recorded: the SDK of each distinct id's first exposure to each
    // value. Both recordings bootstrap the same distinct id (web-bootstrap-user): one unit, met by both
    // versions, counted in the slice of the version that exposed it first.
    const expected: Record<string, Record<string, number>> = {}
    const seen = new Set<string>()
    for (const e of mixed.filter((x) => isExposure(x) && props(x).$feature_flag === 'checkout-redesign')) {
      const value = String(props(e).$feature_flag_response)
      const key = `${String(props(e).distinct_id)} ${value}`
      if (seen.has(key)) continue
      seen.add(key)
      const slice = `sdk:web ${minorOf(String(props(e).$lib_version))}`
      expected[value] ??= {}
      expected[value]![slice] = (expected[value]![slice] ?? 0) + 1
    }
    for (const v of exposure.variants) {
      const sdkSlices = Object.fromEntries(Object.entries(v.slices ?? {}).filter(([k]) => k.startsWith('sdk:')))
      expect(sdkSlices, `variant ${String(v.value)}`).toEqual(expected[String(v.value)] ?? {})
    }
    const sdks = new Set(exposure.variants.flatMap((v) => Object.keys(v.slices ?? {}).filter((k) => k.startsWith('sdk:'))))
    expect(sdks).toEqual(new Set([`sdk:${sdk}`, `sdk:web ${minorOf(INSTALLED)}`]))
    expect(new Set(Object.values(exposure.byDayBySdk ?? {}).flatMap((d) => Object.keys(d)))).toEqual(new Set([sdk, `web ${minorOf(INSTALLED)}`]))

    // sample_ratio's breakdown reads those slices: it has them, and finds no mismatch in so few units.
    const defs = definitionsFor(start)
    const flag = defs.flags.find((x) => x.key === 'checkout-redesign')!
    const experiment = defs.experiments.find((x) => x.feature_flag_key === 'checkout-redesign')!
    const breakdown = splitBySlice(buildContext({ flag, experiment, observation, cohorts: new Map(), settings, nowMs: now }))
    expect(breakdown).not.toBeNull()
    expect(breakdown!.variants).toEqual(['control', 'test'])
    expect(breakdown!.mismatched).toEqual([])

    // The installed version's verdicts stand with the outdated SDK's traffic added.
    const there = statuses(await audit(current.events))
    const both = statuses(await audit(mixed))
    expect(Object.keys(there).filter((k) => both[k] !== there[k])).toEqual([])
  })
})
