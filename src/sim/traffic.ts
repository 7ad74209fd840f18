import type { ExposureEvent } from '../events/types.js'
import { AREAS, BROWSERS, OSES, type Area } from './catalog.js'
import { ownGoalEvent } from './project.js'
import type { FlagPlan, Project } from './project.js'
import { Rng, bucket } from './rng.js'
import { TruthRecorder, type PersonTruth, type SentValue } from './truth.js'
import { DAY_MS, HOUR_MS } from '../time.js'

/** One event as the offline audit reads it: `{uuid, event, distinct_id, timestamp, properties, person?}`. */
export interface SimEvent {
  uuid: string
  event: string
  distinct_id: string
  timestamp: string
  properties: Record<string, unknown>
  person?: { id: string; properties: Record<string, unknown> }
}

export interface TrafficOptions {
  readonly users: number
  /** Share of events delivered twice with the same uuid, as webhook retries do (0 by default). */
  readonly redeliveryShare?: number
}

const MIN_MS = 60_000
const WEB_LIB_VERSION = '1.200.2'
// The outdated posthog-js Safari users run in a project with the slice_exposure_loss defect.
const OLD_WEB_LIB_VERSION = '1.130.4'
const SLICE_BROWSER = 'Safari'
const NODE_LIB_VERSION = '5.9.0'
// Traffic follows the working day (UTC): weights per hour for session starts.
const HOUR_WEIGHTS = [2, 1, 1, 1, 1, 2, 3, 5, 7, 9, 10, 10, 10, 10, 10, 10, 9, 8, 7, 6, 5, 4, 3, 2]
const HOUR_TOTAL = HOUR_WEIGHTS.reduce((a, b) => a + b, 0)

interface Profile {
  readonly index: number
  readonly personId: string
  readonly anonId: string
  readonly userId: string
  readonly app: number
  readonly company: string | null
  readonly plan: 'free' | 'pro' | 'enterprise'
  readonly browser: string
  readonly os: string
  /** Session in which the user signs up and is identified; Infinity if never. */
  readonly identifySession: number
  /** From when the user is in the dynamic "power users" cohort. */
  readonly powerFromMs: number
  readonly sessions: number[]
}

interface PersonState {
  readonly profile: Profile
  readonly truth: PersonTruth
  identified: boolean
  /** posthog-node deduplicates exposures per distinct id in memory; a server process lives a day. */
  readonly nodeReported: Set<string>
  sessionsLeft: number
  /** The person's current session number. */
  visit: number
}

/**
 * A person's UUID, unique per index and different for every seed: flags bucket by it, so projects
 * simulated with different seeds split their users independently (separate trials).
 */
function uuidPersonId(seed: number, index: number): string {
  const tag = (Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) >>> 0).toString(16).padStart(8, '0')
  return `${tag}-${(index >>> 16).toString(16).padStart(4, '0')}-7${(index & 0xfff).toString(16).padStart(3, '0')}-8000-${index.toString(16).padStart(12, '0')}`
}

function profileOf(project: Project, index: number): Profile {
  const rng = Rng.derive(project.seed, 'user', index)
  const span = project.endMs - project.startMs
  // A third of the users were already active when the window opened; the rest arrive over it.
  const firstMs = project.startMs + (rng.chance(0.35) ? rng.float() * DAY_MS : rng.float() * span)
  const sessions: number[] = []
  let t = firstMs
  const count = 1 + Math.floor(rng.exp(2.5))
  for (let s = 0; s < count && t < project.endMs; s++) {
    // Place the session at a working-day hour of its day.
    const day = Math.floor(t / DAY_MS) * DAY_MS
    let r = rng.float() * HOUR_TOTAL
    let hour = 0
    while (r >= (HOUR_WEIGHTS[hour] as number)) r -= HOUR_WEIGHTS[hour++] as number
    const start = Math.max(t, day + hour * HOUR_MS + rng.float() * HOUR_MS)
    if (start >= project.endMs) break
    sessions.push(start)
    t = start + HOUR_MS + rng.exp(2 * DAY_MS) // sessions of one user never overlap
  }
  const plan = rng.chance(0.2) ? 'enterprise' : rng.chance(0.3) ? 'pro' : 'free'
  return {
    index,
    personId: uuidPersonId(project.seed, index),
    anonId: `0190${rng.hex8()}-${rng.hex8().slice(0, 4)}-7${rng.hex8().slice(0, 3)}-a${rng.hex8().slice(0, 3)}-${rng.hex8()}${rng.hex8().slice(0, 4)}`,
    userId: `user_${project.seed}_${index}`,
    app: index % project.apps,
    company: rng.chance(0.7) ? `company_${Math.floor(index / 6)}` : null,
    plan,
    browser: rng.pick(BROWSERS),
    os: rng.pick(OSES),
    identifySession: rng.chance(0.65) ? Math.floor(rng.exp(0.7)) : Infinity,
    powerFromMs: rng.chance(0.5) ? firstMs + rng.exp(5 * DAY_MS) : Infinity,
    sessions,
  }
}

interface HeapItem {
  ts: number
  seq: number
  run: Iterator<SimEvent>
  next: SimEvent
  person: PersonState
}

/** A min-heap of sessions by the time of their next event. */
class SessionHeap {
  private readonly items: HeapItem[] = []
  get size(): number {
    return this.items.length
  }
  peekTs(): number {
    return this.items[0]?.ts ?? Infinity
  }
  push(item: HeapItem): void {
    const a = this.items
    a.push(item)
    let i = a.length - 1
    while (i > 0) {
      const p = (i - 1) >> 1
      if (!this.less(a[i]!, a[p]!)) break
      ;[a[i], a[p]] = [a[p]!, a[i]!]
      i = p
    }
  }
  pop(): HeapItem | undefined {
    const a = this.items
    const top = a[0]
    const last = a.pop()
    if (a.length > 0 && last) {
      a[0] = last
      let i = 0
      for (;;) {
        const l = 2 * i + 1
        const r = l + 1
        let m = i
        if (l < a.length && this.less(a[l]!, a[m]!)) m = l
        if (r < a.length && this.less(a[r]!, a[m]!)) m = r
        if (m === i) break
        ;[a[i], a[m]] = [a[m]!, a[i]!]
        i = m
      }
    }
    return top
  }
  private less(x: { ts: number; seq: number }, y: { ts: number; seq: number }): boolean {
    return x.ts < y.ts || (x.ts === y.ts && x.seq < y.seq)
  }
}

/**
 * The project's events in time order. Sessions are generated lazily and merged by timestamp, so
 * memory holds the people active at the moment, not the stream. `truth` accumulates as it goes.
 */
export function* generateTraffic(project: Project, opts: TrafficOptions, truth: TruthRecorder): Generator<SimEvent> {
  const flagsByApp: FlagPlan[][] = Array.from({ length: project.apps }, () => [])
  project.flags.forEach((f) => flagsByApp[f.app]!.push(f))
  const flagIndex = new Map(project.flags.map((f, i) => [f, i]))

  // The schedule: every session start, sorted. Typed arrays keep 100k users cheap.
  const starts: number[] = []
  const owners: number[] = []
  const sessionNo: number[] = []
  for (let u = 0; u < opts.users; u++) {
    const p = profileOf(project, u)
    p.sessions.forEach((t, s) => {
      starts.push(t)
      owners.push(u)
      sessionNo.push(s)
    })
  }
  const order = Uint32Array.from(starts.keys()).sort((a, b) => starts[a]! - starts[b]! || a - b)
  const people = new Map<number, PersonState>()
  const heap = new SessionHeap()
  const redelivery = opts.redeliveryShare ?? 0
  const transport = Rng.derive(project.seed, 'transport')
  let next = 0
  let seq = 0

  const open = (i: number) => {
    const u = owners[i]!
    let person = people.get(u)
    if (!person) {
      const profile = profileOf(project, u)
      person = { profile, truth: truth.newPersonState(), identified: false, nodeReported: new Set(), sessionsLeft: profile.sessions.length, visit: 0 }
      people.set(u, person)
    }
    const run = session(project, flagsByApp[person.profile.app]!, flagIndex, person, sessionNo[i]!, starts[i]!, truth)
    const first = run.next()
    if (!first.done) heap.push({ ts: Date.parse(first.value.timestamp), seq: seq++, run, next: first.value, person })
    else closeSession(person)
  }
  const closeSession = (person: PersonState) => {
    if (--person.sessionsLeft === 0) {
      truth.finishPerson(person.truth)
      people.delete(person.profile.index)
    }
  }

  while (next < order.length || heap.size > 0) {
    if (next < order.length && starts[order[next]!]! <= heap.peekTs()) {
      open(order[next++]!)
      continue
    }
    const item = heap.pop()!
    truth.events++
    yield item.next
    if (redelivery > 0 && transport.chance(redelivery)) {
      truth.redelivered++
      yield structuredClone(item.next)
    }
    const after = item.run.next()
    if (!after.done) heap.push({ ts: Date.parse(after.value.timestamp), seq: seq++, run: item.run, next: after.value, person: item.person })
    else closeSession(item.person)
  }
}

/**
 * An event as the generator makes it. Its own enumerable fields are exactly a SimEvent's, in the
 * same order; the private field keeps the properties already serialized, which JSON.stringify and
 * structuredClone never see.
 */
class GeneratedEvent implements SimEvent {
  readonly #propertiesJson: string | undefined
  constructor(
    public uuid: string,
    public event: string,
    public distinct_id: string,
    public timestamp: string,
    public properties: Record<string, unknown>,
    public person: { id: string; properties: Record<string, unknown> },
    propertiesJson: string | undefined,
  ) {
    this.#propertiesJson = propertiesJson
  }

  /** The JSON line, byte for byte what JSON.stringify writes, reusing the page's serialized flags. */
  serialize(): string {
    if (this.#propertiesJson === undefined) return JSON.stringify(this)
    return `{"uuid":${JSON.stringify(this.uuid)},"event":${JSON.stringify(this.event)},"distinct_id":${JSON.stringify(this.distinct_id)},"timestamp":"${this.timestamp}","properties":{${this.#propertiesJson}},"person":${JSON.stringify(this.person)}}`
  }
}

/** One event as a JSON line; on a project with many flags the flag properties are most of the bytes. */
export function serializeSimEvent(e: SimEvent): string {
  return e instanceof GeneratedEvent ? e.serialize() : JSON.stringify(e)
}

const featureKeys = new WeakMap<FlagPlan, string>()
/** `$feature/<key>`, built once per flag. */
function featureKey(f: FlagPlan): string {
  let k = featureKeys.get(f)
  if (k === undefined) featureKeys.set(f, (k = `$feature/${f.key}`))
  return k
}

function capitalize(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1)
}

/** The value PostHog's /flags returns for the flag at this moment, before any client-side defect. */
function assignedValue(f: FlagPlan, p: PersonState, distinctId: string, ts: number): SentValue | undefined {
  if (ts < f.startMs) return undefined // the flag does not exist yet
  if (f.offMs !== null && ts >= f.offMs) return undefined // an inactive flag is not returned at all
  const profile = p.profile
  let id: string
  if (f.groupType) {
    if (!profile.company || !p.identified) return undefined // no group yet: group flags are not evaluated
    id = profile.company
  } else {
    // Without experience continuity (new devices, cleared storage), a crossed person is bucketed anew each visit.
    const crossed = f.defects.has('crossover') && bucket(`${f.key}.cross`, profile.personId) < (f.defects.get('crossover') ?? 0.9)
    // Evaluated for the anonymous id before identify and for the user id after it (experience continuity off).
    const rebucketed = f.defects.has('identify_rebucket') && bucket(`${f.key}.ident`, profile.personId) < (f.defects.get('identify_rebucket') ?? 0.9)
    id = crossed ? `${distinctId}.${p.visit}` : rebucketed ? distinctId : profile.personId
  }
  if (f.defects.has('forced_variant') && profile.plan === 'enterprise') return 'test'
  if (f.defects.has('dynamic_cohort_exposure') && ts < profile.powerFromMs) return false
  const inRollout = bucket(`${f.key}.rollout`, id) < f.rollout
  if (f.variants.length === 0) return inRollout
  if (!inRollout) return false
  let b = bucket(f.key, id)
  // Before a mid-run change of the split (split_changed), the old shares: hashing moves some users.
  const shares = f.splitChange && ts < f.splitChange.atMs ? f.splitChange.sharesBefore : f.variants.map((v) => v.share)
  for (const [i, v] of f.variants.entries()) {
    if (b < (shares[i] as number)) return v.key
    b -= shares[i] as number
  }
  return f.variants[f.variants.length - 1]!.key
}

/** The next variant of the flag: what a stale definition would have given. */
function otherVariant(f: FlagPlan, key: string): string {
  const i = f.variants.findIndex((v) => v.key === key)
  return f.variants[(i + 1) % f.variants.length]!.key
}

/** What the client puts in `$feature_flag_response`: the assigned value, or a defect's version of it. */
function sentValue(f: FlagPlan, personId: string, value: SentValue | undefined, browser: string): SentValue | 'lost' {
  if (value === undefined) return null
  if (typeof value !== 'string') return value
  const p = (id: string) => bucket(`${f.key}.${id}`, personId) < (f.defects.get(id as never) ?? 0)
  if (f.defects.has('sample_ratio_mismatch') && value === f.variants.at(-1)?.key && p('sample_ratio_mismatch')) return 'lost'
  if (f.defects.has('slice_exposure_loss') && browser === SLICE_BROWSER && value === f.variants.at(-1)?.key && p('slice_exposure_loss')) return 'lost'
  if (f.defects.has('miscased_variant') && p('miscased_variant')) return capitalize(value)
  if (f.defects.has('unknown_variant') && p('unknown_variant')) return `${value}-old`
  if (f.defects.has('false_response') && p('false_response')) return false
  return value
}

function* session(
  project: Project,
  appFlags: FlagPlan[],
  flagIndex: Map<FlagPlan, number>,
  person: PersonState,
  s: number,
  startMs: number,
  truth: TruthRecorder,
): Generator<SimEvent> {
  const profile = person.profile
  const rng = Rng.derive(project.seed, 'session', profile.index, s)
  person.visit = s
  let t = startMs
  // Sessions near the end of the window are cut at its last millisecond.
  const tick = (ms: number) => {
    t = Math.min(t + ms, project.endMs - 1)
  }
  const webReported = new Set<string>()
  const deferred: FlagPlan[] = []
  const pages = 1 + Math.floor(rng.exp(3))
  const sessionId = `0190${rng.hex8()}-s${s}`
    const distinct = () => (person.identified ? profile.userId : profile.anonId)
  const personProps = () => (person.identified ? { email: `${profile.userId}@example.com`, plan: profile.plan } : {})
  const libVersion = profile.browser === SLICE_BROWSER && appFlags.some((f) => f.defects.has('slice_exposure_loss')) ? OLD_WEB_LIB_VERSION : WEB_LIB_VERSION
  const uuid = () => {
    const ms = Math.floor(t).toString(16).padStart(12, '0')
    const r = rng.hex8() + rng.hex8()
    return `${ms.slice(0, 8)}-${ms.slice(8, 12)}-7${r.slice(0, 3)}-${'89ab'[parseInt(r[3]!, 16) & 3]}${r.slice(4, 7)}-${r.slice(7, 16)}${rng.hex8().slice(0, 3)}`
  }
  const emit = (event: string, properties: Record<string, unknown>): SimEvent =>
    new GeneratedEvent(
      uuid(),
      event,
      distinct(),
      new Date(Math.floor(t)).toISOString(),
      properties,
      // PostHog processes a person for every event (the anonymous id is merged into it on identify).
      { id: profile.personId, properties: personProps() },
      properties === lastProps ? lastPropsJson : undefined,
    )
  // posthog-js keeps the flags it loaded until identity changes: the flag properties are computed
  // once per page (and after identify), and every event of the page carries them.
  let pageFlags: Record<string, unknown> | null = null
  const unitOf = (f: FlagPlan) => (f.groupType ? `company:${profile.company}` : profile.personId)
  const flagProps = (): Record<string, unknown> => {
    if (pageFlags) return pageFlags
    const props: Record<string, unknown> = {}
    const active: string[] = []
    for (const f of appFlags) {
      if (f.lib === 'posthog-node') continue // server-only flags are not sent to browsers
      const v = assignedValue(f, person, distinct(), t)
      if (v === undefined) continue
      props[featureKey(f)] = v
      if (v !== false) active.push(f.key)
      truth.carried(person.truth, flagIndex.get(f)!, unitOf(f))
    }
    props.$active_feature_flags = active
    if (person.identified && profile.company) props.$groups = { company: profile.company }
    pageFlags = props
    pageFlagsJson = ''
    return props
  }
  const groups = () => (person.identified && profile.company ? { company: profile.company } : undefined)
  let pageFlagsJson = ''
  // The serialized text of the properties webProps built last; emit hands it to the event.
  let lastProps: Record<string, unknown> | null = null
  let lastPropsJson = ''
  const deviceType = profile.os === 'iOS' || profile.os === 'Android' ? 'Mobile' : 'Desktop'
  const webProps = (extra?: Record<string, unknown>): Record<string, unknown> => {
    const flags = flagProps()
    const props = {
      $lib: 'web',
      $lib_version: libVersion,
      $browser: profile.browser,
      $os: profile.os,
      $device_type: deviceType,
      $session_id: sessionId,
      $current_url: `https://app.example.com${pagePath}`,
      $pathname: pagePath,
      distinct_id: distinct(),
      $is_identified: person.identified,
      ...flags,
      ...extra,
    }
    if (pageFlagsJson === '') pageFlagsJson = JSON.stringify(flags).slice(1, -1)
    // The same text JSON.stringify would write for these properties, the page's flags serialized once.
    let json = `"$lib":"web","$lib_version":"${libVersion}","$browser":${JSON.stringify(profile.browser)},"$os":${JSON.stringify(profile.os)},"$device_type":"${deviceType}","$session_id":${JSON.stringify(sessionId)},"$current_url":${JSON.stringify(props.$current_url)},"$pathname":${JSON.stringify(pagePath)},"distinct_id":${JSON.stringify(props.distinct_id)},"$is_identified":${person.identified}`
    if (pageFlagsJson !== '') json += `,${pageFlagsJson}`
    if (extra) {
      const extraJson = JSON.stringify(extra)
      if (extraJson !== '{}') json += `,${extraJson.slice(1, -1)}`
    }
    lastProps = props
    lastPropsJson = json
    return props
  }
  const exposureEvents = function* (f: FlagPlan, props: Record<string, unknown>, value: SentValue): Generator<SimEvent> {
    const i = flagIndex.get(f)!
    const kinds: ExposureEvent[] = ['$feature_flag_called']
    // PostHog's ingestion copies multivariate calls of experiments that count $experiment_exposure;
    // the double-exposure defect is an app that also captures it by hand.
    if ((f.exposureEvent === '$experiment_exposure' && f.variants.length > 0) || f.defects.has('double_exposure_event')) {
      kinds.push('$experiment_exposure')
    }
    for (const kind of kinds) {
      truth.exposure(person.truth, i, kind, value, unitOf(f), t, props.$lib === 'posthog-node' ? 'server' : 'client', typeof props.$is_identified === 'boolean' ? props.$is_identified : null)
      yield emit(kind, props)
    }
  }
  function* readOnWeb(f: FlagPlan, firstPage: boolean): Generator<SimEvent> {
    if (t < f.startMs) return // the code that reads it has not shipped yet
    if (f.defects.has('missing_exposure_payload_only')) return // getFeatureFlagPayload sends nothing
    if (f.defects.has('exposure_stopped') && t >= project.endMs - (f.defects.get('exposure_stopped') ?? 0.35) * (project.endMs - f.startMs)) return // a release removed the call
    if (f.defects.has('payload_only_share') && bucket(`${f.key}.payload_only_share`, profile.personId) < (f.defects.get('payload_only_share') ?? 0.8)) return
    const assigned = assignedValue(f, person, distinct(), t)
    if (assigned === undefined && f.groupType) return
    if (f.defects.has('dynamic_cohort_exposure') && assigned === false) return // only cohort members reach the code
    const served = sentValue(f, profile.personId, assigned, profile.browser)
    if (served === 'lost') return
    // A stale bootstrap: the server rendered the page with another variant; posthog-js exposes it
    // until /flags answers, then the real one.
    const stale = f.defects.has('bootstrap_stale') && typeof served === 'string' && bucket(`${f.key}.bootstrap_stale`, profile.personId) < (f.defects.get('bootstrap_stale') ?? 0.3)
    const booted = stale ? otherVariant(f, served) : served
    const value = stale && firstPage ? booted : served
    // posthog-js reports a flag once per value per session.
    const dedup = `${f.key}|${String(value)}`
    if (webReported.has(dedup)) return
    webReported.add(dedup)
    tick(20 + rng.float() * 200)
    const extra: Record<string, unknown> = { $feature_flag: f.key }
    if (value !== null) extra.$feature_flag_response = value // an unknown flag: posthog-js sends no response
    extra.$feature_flag_id = f.id
    extra.$feature_flag_version = f.offMs ? 3 : 1
    extra.$feature_flag_reason = value === false ? 'Out of rollout bound' : 'Matched condition set 1'
    extra.$feature_flag_request_id = `${sessionId}-flags`
    if (f.experimentId !== null) extra.$feature_flag_has_experiment = true
    if (f.lib === 'bootstrap') {
      // The server bootstrapped the value; a read before /flags answers uses it.
      extra.$feature_flag_bootstrapped_response = booted
      extra.$used_bootstrap_value = firstPage
    }
    yield* exposureEvents(f, webProps(extra), value)
  }
  function* readOnServer(f: FlagPlan): Generator<SimEvent> {
    const value = assignedValue(f, person, distinct(), t)
    if (value === undefined) return
    const day = Math.floor(t / DAY_MS)
    const dedup = `${f.key}|${distinct()}|${day}`
    if (person.nodeReported.has(dedup)) return
    person.nodeReported.add(dedup)
    tick(5)
    const nodeProps = {
      $lib: 'posthog-node',
      $lib_version: NODE_LIB_VERSION,
      $geoip_disable: true,
      [featureKey(f)]: value,
    }
    truth.carried(person.truth, flagIndex.get(f)!, unitOf(f))
    const payloadOnly = f.defects.has('payload_only_server') && bucket(`${f.key}.payload_only_server`, profile.personId) < (f.defects.get('payload_only_server') ?? 0.8)
    if (f.defects.has('missing_exposure_server') || payloadOnly) {
      // getAllFlags sends no exposure; the request's own event carries the flags (sendFeatureFlags).
      yield emit('api_request_completed', { ...nodeProps, endpoint: `/api${pagePath}`, $active_feature_flags: value ? [f.key] : [] })
      return
    }
    const props = { ...nodeProps, $feature_flag: f.key, $feature_flag_response: value, locally_evaluated: true, $feature_flag_reason: 'Evaluated locally' }
    if (f.experimentId !== null) Object.assign(props, { $feature_flag_has_experiment: true })
    const g = groups()
    if (g) Object.assign(props, { $groups: g })
    yield* exposureEvents(f, props, value)
  }
  const metric = (name: string) => truth.metric(person.truth, name, t)

  let pagePath = '/'
  for (let page = 0; page < pages && t < project.endMs - 1; page++) {
    const area: Area = rng.pick(AREAS)
    pagePath = area.path
    pageFlags = null
    tick(page === 0 ? 0 : 5_000 + rng.exp(60_000))
    if (s === profile.identifySession && page === Math.min(1, pages - 1) && !person.identified) {
      // Sign-up: posthog.identify merges the anonymous id into the person.
      yield emit('$identify', webProps({ $anon_distinct_id: profile.anonId }))
      person.identified = true
      pageFlags = null
      tick(1_000)
      if (profile.company) yield emit('$groupidentify', webProps({ $group_type: 'company', $group_key: profile.company }))
    }
    yield emit('$pageview', webProps({ $referrer: page === 0 ? 'https://www.google.com/' : '$direct' }))

    const areaFlags = appFlags.filter((f) => f.area === area)
    for (const f of areaFlags) {
      const reads = rng.chance(f.reach)
      if (f.lib === 'posthog-node') {
        if (reads) yield* readOnServer(f)
      } else if (reads) {
        if (f.defects.has('exposure_after_goal')) deferred.push(f)
        else yield* readOnWeb(f, page === 0)
      }
    }
    // The server evaluates these flags on every request, whatever page the user is on.
    for (const f of appFlags) if (f.defects.has('server_side_exposure') && rng.chance(f.defects.get('server_side_exposure') ?? 0.6)) yield* readOnServer(f)

    // The area's funnel, moved by the variants the user is in.
    let lift = 1
    for (const f of areaFlags) {
      const v = assignedValue(f, person, distinct(), t)
      const plan = f.variants.find((x) => x.key === v)
      if (plan) lift *= 1 + plan.lift
    }
    let reached = 0
    for (const step of area.funnel) {
      if (!rng.chance(Math.min(0.95, area.stepRate * lift))) break
      tick(2_000 + rng.exp(20_000))
      metric(step)
      yield emit(step, webProps())
      reached++
    }
    // An experiment measured by an event of its own, sent by the users it assigned once they enter
    // the area's funnel, until a release stopped sending it (metric_stopped).
    if (reached > 0) {
      for (const f of areaFlags) {
        if (!f.defects.has('metric_stopped')) continue
        const v = assignedValue(f, person, distinct(), t)
        if (v === undefined || v === false) continue
        if (t >= project.endMs - (f.defects.get('metric_stopped') ?? 0.35) * (project.endMs - f.startMs)) continue
        tick(500)
        metric(ownGoalEvent(f))
        yield emit(ownGoalEvent(f), webProps())
      }
    }
    for (let a = Math.floor(rng.exp(3)); a > 0; a--) {
      tick(1_000 + rng.exp(15_000))
      yield emit('$autocapture', webProps({ $event_type: 'click', $elements_chain: 'button.btn:text="Continue"' }))
    }
    if (rng.chance(0.02)) {
      tick(500)
      metric('$exception')
      yield emit('$exception', webProps({ $exception_type: 'TypeError', $exception_message: "Cannot read properties of undefined (reading 'id')" }))
    }
    if (rng.chance(0.5)) yield emit('$web_vitals', webProps({ $web_vitals_LCP_value: Math.round(500 + rng.exp(1500)) }))
    tick(1_000 + rng.exp(30_000))
    yield emit('$pageleave', webProps())
  }
  for (const f of deferred) yield* readOnWeb(f, false)
  if (rng.chance(0.01)) {
    tick(MIN_MS)
    metric('refund_requested')
    yield emit('refund_requested', webProps())
  }
}
