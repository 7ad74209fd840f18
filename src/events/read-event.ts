import { globalsOf, runBytecode } from '../hog/run.js'
import { classifyLib } from './lib-class.js'
import type {
  Exposure,
  ExposureEvent,
  ExposureSlices,
  SliceDim,
  FlagSighting,
  MetricHit,
  ReadEvent,
  ReadResult,
  RejectReason,
  VariantValue,
} from './types.js'
import { DAY_MS } from '../time.js'

export interface ReadOptions {
  readonly nowMs: number
  /** Events older than this many whole UTC days are too old for any window the counters keep. */
  readonly maxAgeDays: number
  /** Configured goal and guardrail matchers by event name. */
  readonly metricsByEvent: ReadonlyMap<string, readonly MetricHit[]>
  /**
   * For group-aggregated flags, the group type name whose key is the counting unit (from the flag's
   * `aggregation_group_type_index` and the project's group types); null for person-level flags.
   */
  readonly groupTypeOf?: (flag: string) => string | null
  /** An experiment's exposure criteria filter (compiled HogQL): only matching exposure events count. */
  readonly exposureFilterOf?: (flag: string) => readonly unknown[] | undefined
  /** The flags whose experiment counts exposures on this (custom) event; undefined for none. */
  readonly customExposureFlagsOf?: (event: string) => readonly string[] | undefined
}

// PostHog's FeatureFlag.key is a 400-character column; a longer key cannot be a real flag.
const MAX_FLAG_KEY = 400
// Variant keys are short identifiers in PostHog; anything this long is garbage, not a variant.
const MAX_VARIANT = 400
// PostHog's capture truncates distinct ids at 200 characters; allow room for person UUIDs and groups.
const MAX_UNIT = 400
const MAX_UUID = 100
// PostHog names a group type in at most 400 characters (GroupTypeMapping.group_type) and a project
// has at most five group types: an event with more `$groups` entries than that is not PostHog's.
const MAX_GROUP_TYPE = 400
const MAX_GROUPS = 5
const MAX_EVENT_NAME = 400
// posthog-js attaches one $feature/<key> per loaded flag; projects with more than this are not plausible.
const MAX_SIGHTINGS = 1000
// A future timestamp beyond this is a broken client clock; PostHog itself distrusts such timestamps.
const MAX_FUTURE_MS = DAY_MS
const FEATURE_PREFIX = '$feature/'
// Keys that would reach Object.prototype if anything ever indexed a plain object with them.
const UNSAFE_KEYS = new Set(['__proto__', 'constructor', 'prototype'])
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/

type Obj = Record<string, unknown>

/** The counting unit of a group: what group-aggregated flags and the group's goal events count by. */
export function groupUnit(type: string, key: string): string {
  return `$group:${type}:${key}`
}

function isObject(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

/** Reads only own properties: an object built with a `__proto__` literal must not leak inherited values. */
function own(o: Obj, key: string): unknown {
  return Object.prototype.hasOwnProperty.call(o, key) ? o[key] : undefined
}

// A slice value is a label, not data to keep whole: at most this long, printable.
const MAX_SLICE = 40

/** A property as a slice value: a short printable string, or nothing. */
function sliceValue(v: unknown): string | undefined {
  if (typeof v !== 'string' && typeof v !== 'number') return undefined
  // eslint-disable-next-line no-control-regex
  const s = String(v).replace(/[\u0000-\u001f\u007f]/g, '').trim().slice(0, MAX_SLICE)
  return s === '' ? undefined : s
}

/** The SDK with its minor version ("web 1.130"): patch releases rarely change what a flag call sends. */
function sdkOf(lib: unknown, version: unknown): string | undefined {
  const name = sliceValue(lib)
  if (name === undefined) return undefined
  const v = sliceValue(version)
  const minor = v === undefined ? undefined : /^(\d+)\.(\d+)/.exec(v)
  return minor ? `${name} ${minor[1]}.${minor[2]}` : v === undefined ? name : `${name} ${v}`
}

/** The exposure's slices (see SLICE_DIMS); only the ones the event carries. */
/** `$is_identified` as the SDK sent it (a boolean), else null: the SDK does not say. */
function identifiedOf(props: Obj): boolean | null {
  const v = own(props, '$is_identified')
  return typeof v === 'boolean' ? v : null
}

function slicesOf(props: Obj): ExposureSlices {
  const out: Partial<Record<SliceDim, string>> = {}
  const sdk = sdkOf(own(props, '$lib'), own(props, '$lib_version'))
  if (sdk !== undefined) out.sdk = sdk
  const pairs: [SliceDim, string][] = [['app_version', '$app_version'], ['browser', '$browser'], ['os', '$os'], ['device', '$device_type'], ['country', '$geoip_country_code']]
  for (const [dim, key] of pairs) {
    const v = sliceValue(own(props, key))
    if (v !== undefined) out[dim] = v
  }
  return out
}

function passes(bytecode: readonly unknown[], raw: Obj): boolean {
  try {
    return runBytecode(bytecode, globalsOf(raw)) === true
  } catch {
    return false
  }
}

/** The matchers of this event name whose filter (if any) the event passes; a filter that errors does not match. */
function matchMetrics(hits: readonly MetricHit[] | undefined, raw: Obj): MetricHit[] {
  if (!hits) return []
  const out: MetricHit[] = []
  for (const hit of hits) {
    if (!hit.filter) {
      out.push({ name: hit.name, kind: hit.kind })
      continue
    }
    try {
      if (runBytecode(hit.filter, globalsOf(raw)) === true) out.push({ name: hit.name, kind: hit.kind })
    } catch {
      // a filter that cannot be judged on this event (a type error) does not count it
    }
  }
  return out
}

// String.prototype.isWellFormed where the runtime has it (Node 20), the pattern elsewhere.
const nativeWellFormed = (String.prototype as { isWellFormed?: () => boolean }).isWellFormed
function isWellFormed(s: string): boolean {
  return nativeWellFormed ? nativeWellFormed.call(s) : !LONE_SURROGATE.test(s)
}

function readTimestamp(v: unknown, nowMs: number): number | RejectReason {
  if (v === undefined || v === null || v === '') return nowMs // plugin-server always sets one; offline lines may not
  let ms: number
  if (v instanceof Date) ms = v.getTime()
  else if (typeof v === 'string' && v.length <= 64) ms = Date.parse(v)
  else if (typeof v === 'number') ms = v
  else return 'timestamp_invalid'
  return Number.isFinite(ms) ? ms : 'timestamp_invalid'
}

function readUnitId(v: unknown): string | null | RejectReason {
  if (v === undefined || v === null || v === '') return null
  if (typeof v === 'number' && Number.isFinite(v)) return String(v)
  if (typeof v !== 'string') return 'unit_invalid'
  if (v.length > MAX_UNIT || !isWellFormed(v)) return 'unit_invalid'
  return v
}

type Checked = { readonly key: string; readonly reason?: undefined } | { readonly key?: undefined; readonly reason: RejectReason }

/** True for a string that can name a flag (what checkFlagKey accepts), with nothing allocated. */
export function isFlagKey(v: unknown): v is string {
  return typeof v === 'string' && v.length > 0 && v.length <= MAX_FLAG_KEY && !UNSAFE_KEYS.has(v) && isWellFormed(v)
}

/** Validates a flag key; a reason when it cannot name a flag. */
function checkFlagKey(v: unknown): Checked {
  if (v === undefined || v === null) return { reason: 'flag_key_missing' }
  if (typeof v !== 'string') return { reason: 'flag_key_not_string' }
  if (v.length === 0 || v.length > MAX_FLAG_KEY || !isWellFormed(v)) return { reason: 'flag_key_invalid' }
  if (UNSAFE_KEYS.has(v)) return { reason: 'flag_key_unsafe' }
  return { key: v }
}

const INVALID = Symbol('invalid')
// Most events carry no $groups: one shared empty map for them.
const NO_GROUPS: ReadonlyMap<string, string> = new Map()

function readVariant(v: unknown): VariantValue | typeof INVALID {
  if (v === undefined || v === null) return null
  if (typeof v === 'boolean') return v
  if (typeof v === 'number') return Number.isFinite(v) ? v : INVALID
  if (typeof v === 'string') return v.length <= MAX_VARIANT && isWellFormed(v) ? v : INVALID
  return INVALID
}

function readExposureEvent(name: string): ExposureEvent | null {
  return name === '$feature_flag_called' || name === '$experiment_exposure' ? name : null
}

/** The unit a flag counts by on this event: the person, or the flag's group (null: not on the event). */
function unitOf(opts: ReadOptions, groups: ReadonlyMap<string, string>, personUnit: string, flag: string): string | null {
  const type = opts.groupTypeOf?.(flag) ?? null
  if (type === null) return personUnit
  const key = groups.get(type)
  return key === undefined ? null : groupUnit(type, key)
}

const NO_EXPOSURES: readonly Exposure[] = []

/**
 * The exposures an experiment's custom exposure event gives, one per flag whose experiment counts
 * it, as PostHog's exposure query reads them (exposure_query_logic.py `get_exposure_event_and_property`,
 * experiment_query_builder.py `_build_variant_property`): the variant is the event's
 * `$feature/<flag key>`, no `$feature_flag` is asked for, and the criteria's property filters apply.
 * An event that carries no value of the flag (the property absent, or null) is no exposure: PostHog's
 * filter on the variant drops it, and most such events (a `$pageview` before flags load) never were one.
 */
function readCustomExposures(
  flags: readonly string[],
  raw: Obj,
  props: Obj,
  opts: ReadOptions,
  groups: ReadonlyMap<string, string>,
  personUnit: string,
  partial: RejectReason[],
): Exposure[] {
  const out: Exposure[] = []
  for (const flag of flags) {
    const variant = readVariant(own(props, FEATURE_PREFIX + flag))
    // a value no reader accepts is counted once, by the sightings, as `sighting_invalid`
    if (variant === null || variant === INVALID) continue
    const criteria = opts.exposureFilterOf?.(flag)
    if (criteria && !passes(criteria, raw)) continue
    const unit = unitOf(opts, groups, personUnit, flag)
    if (unit === null) {
      partial.push('group_key_missing')
      continue
    }
    // the flag-call properties (bootstrap, local evaluation, error) belong to `$feature_flag_called`
    out.push({ event: 'custom', flag, variant, unit, lib: classifyLib(own(props, '$lib')), bootstrapped: false, bootstrapMismatch: false, locallyEvaluated: false, error: null, slices: slicesOf(props), identified: unit === personUnit ? identifiedOf(props) : null })
  }
  return out
}

/** A read event. `activeFlags` is read from the raw list when asked for: the counters do not use it. */
class Read implements ReadEvent {
  private active: readonly string[] | undefined
  constructor(
    readonly uuid: string | null,
    readonly event: string,
    readonly timestampMs: number,
    readonly personUnit: string,
    readonly groups: ReadonlyMap<string, string>,
    readonly exposure: Exposure | null,
    readonly customExposures: readonly Exposure[],
    readonly sightings: readonly FlagSighting[],
    private readonly rawActive: unknown,
    readonly metrics: readonly MetricHit[],
    readonly partialRejections: readonly RejectReason[],
  ) {}

  get activeFlags(): readonly string[] {
    this.active ??= Array.isArray(this.rawActive) ? this.rawActive.filter(isFlagKey).slice(0, MAX_SIGHTINGS) : []
    return this.active
  }
}

/** Unwraps the three shapes PostHog delivers: plugin-server events, webhook `{event, person}`, offline lines. */
function unwrap(raw: Obj): { ev: Obj; person: Obj | null } {
  const inner = own(raw, 'event')
  if (isObject(inner)) {
    const person = own(raw, 'person')
    return { ev: inner, person: isObject(person) ? person : null }
  }
  const person = own(raw, 'person')
  return { ev: raw, person: isObject(person) ? person : null }
}

/**
 * Reads one event as PostHog delivers it. Never throws: anything that cannot be counted becomes
 * a named reason. Pure: no I/O, no clock (the caller passes `nowMs`).
 */
export function readEvent(raw: unknown, opts: ReadOptions, nowMs: number = opts.nowMs): ReadResult {
  if (!isObject(raw)) return { ok: false, reason: 'not_an_object' }
  const { ev, person } = unwrap(raw)

  const name = own(ev, 'event')
  if (typeof name !== 'string' || name.length === 0 || name.length > MAX_EVENT_NAME || !isWellFormed(name)) {
    return { ok: false, reason: 'event_name_invalid' }
  }
  const props = own(ev, 'properties')
  if (!isObject(props)) return { ok: false, reason: 'properties_invalid' }

  const ts = readTimestamp(own(ev, 'timestamp'), nowMs)
  if (typeof ts === 'string') return { ok: false, reason: ts }
  const windowStart = Math.floor(nowMs / DAY_MS) * DAY_MS - (opts.maxAgeDays - 1) * DAY_MS
  if (ts < windowStart) return { ok: false, reason: 'timestamp_too_old' }
  if (ts > nowMs + MAX_FUTURE_MS) return { ok: false, reason: 'timestamp_in_future' }

  const rawUuid = own(ev, 'uuid')
  let uuid: string | null = null
  if (rawUuid !== undefined && rawUuid !== null && rawUuid !== '') {
    if (typeof rawUuid !== 'string' || rawUuid.length > MAX_UUID || !isWellFormed(rawUuid)) {
      return { ok: false, reason: 'uuid_invalid' }
    }
    uuid = rawUuid
  }

  // plugin-server: person.uuid; webhook destination: person.id
  const personId = person ? readUnitId(own(person, 'uuid') ?? own(person, 'id')) : null
  // posthog-js puts the distinct id only in `properties` of what it sends; PostHog's capture lifts it
  // to the top level. Reading both lets a raw capture stream be counted too.
  const distinctId = readUnitId(own(ev, 'distinct_id') ?? own(props, 'distinct_id'))
  if (personId === 'unit_invalid' || distinctId === 'unit_invalid') return { ok: false, reason: 'unit_invalid' }
  const personUnit = personId ?? distinctId
  if (personUnit === null) return { ok: false, reason: 'unit_missing' }

  const partial: RejectReason[] = []
  const rawGroups = own(props, '$groups')
  let groups = NO_GROUPS
  if (isObject(rawGroups)) {
    const found = new Map<string, string>()
    groups = found
    let invalid = false
    for (const type of Object.keys(rawGroups)) {
      if (found.size >= MAX_GROUPS) {
        invalid = true
        break
      }
      const id = readUnitId(rawGroups[type])
      if (type.length === 0 || type.length > MAX_GROUP_TYPE || !isWellFormed(type) || UNSAFE_KEYS.has(type)) invalid = true
      else if (id === 'unit_invalid') invalid = true
      else if (id !== null) found.set(type, id)
    }
    // Counted once per event, whatever the number of bad entries: the good groups still count.
    if (invalid) partial.push('group_invalid')
  }

  let exposure: Exposure | null = null
  const exposureEvent = readExposureEvent(name)
  if (exposureEvent) {
    const checked = checkFlagKey(own(props, '$feature_flag'))
    if (checked.key === undefined) return { ok: false, reason: checked.reason }
    const flag = checked.key
    // $experiment_exposure carries the variant on $feature_flag_response, as PostHog's query runner reads it;
    // a custom-built one may only carry $feature/<key>.
    let response = own(props, '$feature_flag_response')
    if (response === undefined && exposureEvent === '$experiment_exposure') response = own(props, FEATURE_PREFIX + flag)
    const variant = readVariant(response)
    if (variant === INVALID) return { ok: false, reason: 'variant_invalid' }
    const unit = unitOf(opts, groups, personUnit, flag)
    const criteria = opts.exposureFilterOf?.(flag)
    if (criteria && !passes(criteria, raw as Obj)) {
      // not an exposure for the experiment (its exposure criteria); the event's other parts still count
    } else if (unit === null) {
      partial.push('group_key_missing')
    } else {
      const error = own(props, '$feature_flag_error')
      const booted = readVariant(own(props, '$feature_flag_bootstrapped_response'))
      exposure = {
        event: exposureEvent,
        flag,
        variant,
        unit,
        lib: classifyLib(own(props, '$lib')),
        bootstrapped: own(props, '$used_bootstrap_value') === true,
        // posthog-js sends null when nothing was bootstrapped; a value of another type differs too.
        bootstrapMismatch: booted !== null && booted !== INVALID && booted !== variant,
        locallyEvaluated: own(props, 'locally_evaluated') === true,
        error: typeof error === 'string' && error.length > 0 ? error.slice(0, MAX_VARIANT) : null,
        slices: slicesOf(props),
        identified: unit === personUnit ? identifiedOf(props) : null,
      }
    }
  }

  const custom = exposureEvent ? undefined : opts.customExposureFlagsOf?.(name)
  const customExposures = custom ? readCustomExposures(custom, raw as Obj, props, opts, groups, personUnit, partial) : NO_EXPOSURES

  const sightings: FlagSighting[] = []
  let seen = 0
  for (const key of Object.keys(props)) {
    if (!key.startsWith(FEATURE_PREFIX) || props[key] === undefined) continue
    if (++seen > MAX_SIGHTINGS) break
    const name = key.slice(FEATURE_PREFIX.length)
    const flag = isFlagKey(name) ? name : undefined
    const variant = readVariant(props[key])
    if (flag === undefined || variant === INVALID) {
      partial.push('sighting_invalid')
      continue
    }
    const unit = unitOf(opts, groups, personUnit, flag)
    if (unit === null) continue // a group flag seen on an event without that group: nothing to attribute
    sightings.push({ flag, variant, unit })
  }

  const active = own(props, '$active_feature_flags')

  return {
    ok: true,
    event: new Read(uuid, name, ts, personUnit, groups, exposure, customExposures, sightings, active, matchMetrics(opts.metricsByEvent.get(name), raw as Obj), partial),
  }
}
