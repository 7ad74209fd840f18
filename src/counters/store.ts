import { markCacheFailures, rethrowUnavailable, type ContractCache } from './cache.js'
import { shortId } from './hash.js'
import { addMember as addRegistryMember, readMembers as readRegistryMembers } from './registry.js'

export interface Members {
  readonly values: unknown[]
  /** members added past the cap: counted, not listed */
  readonly overflow: number
}

/** A value kept with the time it was seen at: {@link CounterStore.keepEarliest}. */
export interface Timed {
  readonly time: number
  readonly value: string
}

/** What {@link CounterStore.keepEarliest} did: whether it replaced the field, and what the field held before. */
export interface Earliest {
  readonly replaced: boolean
  readonly previous: Timed | null
}

/** One step of {@link CounterStore.steps}: add 1 to a field, or set it, once an earlier step made its field. */
export interface Step {
  readonly field: string
  /** run only when the step at this index (an earlier one) returned 1 */
  readonly if?: number
  /** set the field to this value (JSON) instead of adding 1 */
  readonly set?: unknown
}

/**
 * Where the counters keep their state: named groups of fields (one Redis hash each in the host),
 * and sets of members. Every call names one group or set, so none spans Redis Cluster slots.
 *
 * Three implementations give the same observations:
 * - {@link ContractStore}: one cache key per field, on plugin-server's four calls (INCR, EXPIRE,
 *   GET, SET), for the plugin wherever it runs;
 * - {@link MemoryHashStore}: in-process maps, for the embedded default, the host's memory cache
 *   and the offline audit;
 * - `RedisHashStore` (redis-store.ts): Redis hashes and one script per call, for the host.
 *
 * A group lives at least as long as the TTL given when each of its fields was created: its expiry
 * is pushed later, never earlier. One cache key per field (the contract) keeps each field's own.
 *
 * Calls that change a group may carry a tag (see {@link EventScope}). In the atomic stores a tagged
 * call happens once: it keeps its answer under the tag in the same step as its change, and a call
 * whose tag is already kept changes nothing and answers the kept answer. A retry of an event cut
 * off by a crash then repeats what was done as it was done, and does only what was not. Tags are
 * not fields: readAll and readMembers never list them. One key per field ignores tags.
 */
export interface CounterStore {
  /**
   * True when a call on one group is one atomic step (hashes, in Redis or in memory): several
   * fields cost one call, and no other worker's call on that group comes in between. False for
   * one key per field, where each field costs calls of its own and workers interleave.
   */
  readonly atomic: boolean
  /** True when a group's fields can be read all at once (readAll), so no set needs to list them. */
  readonly listsFields: boolean
  /** Adds 1 to each field and returns the new values (1: this call created the field, exactly once across workers). */
  bump(group: string, fields: readonly string[], ttlSeconds: number, tag?: string): Promise<number[]>
  /**
   * Runs steps on one group in order and returns each one's result: the new value of a field added
   * to, 1 for a field set, 0 for a step skipped because its condition's step did not return 1.
   */
  steps(group: string, steps: readonly Step[], ttlSeconds: number, tag?: string): Promise<number[]>
  /**
   * Adds a member to one side of a group of two sets (`side` and `other`) and reads the other side:
   * a unit's exposed pairs and its pending goal events. Atomic stores do both in one step, so of an
   * exposure and a goal event of one unit exactly one sees the other; otherwise the add comes first.
   */
  join(group: string, side: string, member: string, value: unknown, ttlSeconds: number, cap: number, other: string, otherCap: number, tag?: string): Promise<{ added: boolean; other: Members }>
  /**
   * Keeps the earliest (time, value) of a field: sets it when the field is empty or holds a later
   * time, and answers what it held before. One step in the atomic stores, so of two workers' calls
   * each sees the other's result; on one key per field a read then a write (see ContractStore).
   */
  keepEarliest(group: string, field: string, entry: Timed, ttlSeconds: number, tag?: string): Promise<Earliest>
  /** Every field of a group with its value (numbers as numbers or numeric text); null where fields cannot be listed. */
  readAll(group: string): Promise<Map<string, unknown> | null>
  /** Several fields' numbers; 0 for a missing one. */
  readCounts(group: string, fields: readonly string[]): Promise<number[]>
  /** A stored value (JSON), or null. */
  read(group: string, field: string): Promise<unknown>
  put(group: string, field: string, value: unknown, ttlSeconds: number): Promise<void>
  /** Adds a member with its value; true when this call added it (exactly once across workers). */
  addMember(set: string, member: string, value: unknown, ttlSeconds: number, cap: number, tag?: string): Promise<boolean>
  /** The listed members' values (at most `cap`) and how many did not fit. */
  readMembers(set: string, cap: number): Promise<Members>
  /** Drops the answers kept under these tags in a group (or set); nothing where tags are ignored. */
  forget(group: string, tags: readonly string[]): Promise<void>
  /**
   * Raises a field to `to` where it holds less or nothing, and answers what it held (0: nothing): a
   * state that only moves forward (an event's delivery: open, then settled). One step in the atomic
   * stores; a read then a write on one key per field.
   */
  advance(group: string, field: string, to: number, ttlSeconds: number): Promise<number>
}

/**
 * A cache that offers a richer store than the four contract calls (the host's caches do). A store
 * over a network marks its failures CacheUnavailableError (markStoreFailures); an in-process one
 * has none to mark, and its faults stay faults of the code.
 */
export interface StoreProvider {
  counterStore(): CounterStore
}

function providesStore(cache: unknown): cache is StoreProvider {
  return typeof (cache as Partial<StoreProvider> | null)?.counterStore === 'function'
}

/**
 * The store for a plugin cache: the host's own when the cache offers one, or one key per field on
 * the four contract calls (plugin-server's `meta.cache`, its failures marked CacheUnavailableError).
 */
export function storeFor(cache: ContractCache): CounterStore {
  return providesStore(cache) ? cache.counterStore() : new ContractStore(markCacheFailures(cache))
}

/** One cache key per field (`<group>:<field>`), each with its own TTL, on INCR/EXPIRE/GET/SET only. */
export class ContractStore implements CounterStore {
  readonly atomic = false
  readonly listsFields = false
  constructor(readonly cache: ContractCache) {}

  async steps(group: string, steps: readonly Step[], ttlSeconds: number): Promise<number[]> {
    // In waves: every step whose condition is known runs together with the others of its wave.
    const out: (number | undefined)[] = steps.map(() => undefined)
    while (out.includes(undefined)) {
      const wave: number[] = []
      steps.forEach((step, i) => {
        if (out[i] !== undefined) return
        if (step.if === undefined) wave.push(i)
        else if (out[step.if] !== undefined) {
          if (out[step.if] === 1) wave.push(i)
          else out[i] = 0
        }
      })
      await Promise.all(
        wave.map(async (i) => {
          const step = steps[i] as Step
          if (step.set !== undefined) {
            await this.put(group, step.field, step.set, ttlSeconds)
            out[i] = 1
          } else out[i] = (await this.bump(group, [step.field], ttlSeconds))[0]
        }),
      )
    }
    return out as number[]
  }

  async join(group: string, side: string, member: string, value: unknown, ttlSeconds: number, cap: number, other: string, otherCap: number): Promise<{ added: boolean; other: Members }> {
    const added = await this.addMember(`${group}:${side}`, member, value, ttlSeconds, cap)
    return { added, other: await this.readMembers(`${group}:${other}`, otherCap) }
  }

  bump(group: string, fields: readonly string[], ttlSeconds: number): Promise<number[]> {
    return Promise.all(
      fields.map(async (field) => {
        const key = `${group}:${field}`
        const n = await this.cache.incr(key)
        if (n === 1) await this.cache.expire(key, ttlSeconds)
        return n
      }),
    )
  }

  /**
   * A read, then a write where the time is earlier: two workers with exposures of one unit at the
   * same instant may both write (the last write stays, and both count themselves first). The
   * contract has no atomic compare; plugin-server routes a person's events to one worker at a time
   * in most deployments, which keeps this rare.
   */
  async keepEarliest(group: string, field: string, entry: Timed, ttlSeconds: number): Promise<Earliest> {
    const previous = timedOf(await this.cache.get(`${group}:${field}`, null))
    if (previous !== null && previous.time <= entry.time) return { replaced: false, previous }
    await this.cache.set(`${group}:${field}`, [entry.time, entry.value], ttlSeconds)
    return { replaced: true, previous }
  }

  async readAll(): Promise<Map<string, unknown> | null> {
    return null // the contract has no SCAN
  }

  readCounts(group: string, fields: readonly string[]): Promise<number[]> {
    return Promise.all(fields.map(async (field) => toCount(await this.cache.get(`${group}:${field}`, 0))))
  }

  read(group: string, field: string): Promise<unknown> {
    return this.cache.get(`${group}:${field}`, null)
  }

  put(group: string, field: string, value: unknown, ttlSeconds: number): Promise<void> {
    return this.cache.set(`${group}:${field}`, value, ttlSeconds)
  }

  addMember(set: string, member: string, value: unknown, ttlSeconds: number, cap: number): Promise<boolean> {
    return addRegistryMember({ cache: this.cache, base: set, ttlSeconds, cap }, member, value)
  }

  readMembers(set: string, cap: number): Promise<Members> {
    return readRegistryMembers(this.cache, set, cap)
  }

  async forget(): Promise<void> {} // tags are ignored: the contract has no atomic step to keep them in

  async advance(group: string, field: string, to: number, ttlSeconds: number): Promise<number> {
    const held = toCount(await this.cache.get(`${group}:${field}`, 0))
    if (held < to) await this.cache.set(`${group}:${field}`, to, ttlSeconds)
    return held
  }
}

/** A stored `[time, value]` (JSON, or text of JSON), or null for anything else. */
export function timedOf(v: unknown): Timed | null {
  let x = v
  if (typeof x === 'string') {
    try {
      x = JSON.parse(x) as unknown
    } catch {
      return null
    }
  }
  if (!Array.isArray(x) || typeof x[0] !== 'number' || !Number.isFinite(x[0]) || typeof x[1] !== 'string') return null
  return { time: x[0], value: x[1] }
}

export function toCount(v: unknown): number {
  const n = Number(v)
  return Number.isFinite(n) ? n : 0
}

/**
 * A group's fields: two short arrays while it has few (a unit's state for a flag has about eight),
 * a Map once it has many. Small groups are most of the memory an audit of a large file holds.
 */
class Fields {
  /** name, value, name, value, ...: one small array while the group has few fields */
  private pairs: unknown[] = []
  private map: Map<string, unknown> | null = null

  get size(): number {
    return this.map ? this.map.size : this.pairs.length / 2
  }

  private indexOf(k: string): number {
    const p = this.pairs
    for (let i = 0; i < p.length; i += 2) if (p[i] === k) return i
    return -1
  }

  get(k: string): unknown {
    if (this.map) return this.map.get(k)
    const i = this.indexOf(k)
    return i < 0 ? undefined : this.pairs[i + 1]
  }

  has(k: string): boolean {
    return this.map ? this.map.has(k) : this.indexOf(k) >= 0
  }

  set(k: string, v: unknown): void {
    if (this.map) {
      this.map.set(k, v)
      return
    }
    const i = this.indexOf(k)
    if (i >= 0) this.pairs[i + 1] = v
    // A new array of the exact size: an array grown by push keeps room for 16 more (128 bytes).
    else if (this.pairs.length < 32) this.pairs = grown(this.pairs, k, v)
    else {
      this.map = new Map(this.entries())
      this.map.set(k, v)
      this.pairs = []
    }
  }

  entries(): [string, unknown][] {
    if (this.map) return [...this.map]
    const out: [string, unknown][] = []
    for (let i = 0; i < this.pairs.length; i += 2) out.push([this.pairs[i] as string, this.pairs[i + 1]])
    return out
  }

  values(): unknown[] {
    if (this.map) return [...this.map.values()]
    const out: unknown[] = []
    for (let i = 1; i < this.pairs.length; i += 2) out.push(this.pairs[i])
    return out
  }
}

/** A copy of the pairs with one more (exact size; concat would spread a value that is an array). */
function grown(pairs: readonly unknown[], k: string, v: unknown): unknown[] {
  const next = new Array<unknown>(pairs.length + 2)
  for (let i = 0; i < pairs.length; i++) next[i] = pairs[i]
  next[pairs.length] = k
  next[pairs.length + 1] = v
  return next
}

// Field names recur across groups (`c:v:<value>:<library>`, `any`, ...): one copy of each, so a
// million units' state does not hold a million copies. Bounded; past it, names are kept as given.
const NAMES = new Map<string, string>()
function shared(name: string): string {
  const known = NAMES.get(name)
  if (known !== undefined) return known
  if (NAMES.size < 100_000) NAMES.set(flat(name), name)
  return name
}

/**
 * A name built by concatenation is a rope of several objects until something flattens it; reading
 * a character flattens it in place, and the collector then drops the rope's parts. Names kept for
 * long (a group's, a field's) are flattened when they are first kept.
 */
function flat(name: string): string {
  name.charCodeAt(0)
  return name
}

/** A group: its fields, and when it expires (whole minutes since the epoch, rounded up; 0: new). */
class Group extends Fields {
  expiresAt = 0
  /** sets only: members added past the cap */
  overflow = 0
}

const MINUTE_MS = 60_000
// Answers kept under tags: an event's, from its first call until it finishes. Bounded, so events
// cut off and never retried do not grow it for ever: past the bound the oldest go first.
const MAX_KEPT = 200_000

/**
 * The store in this process's memory, with the semantics of the Redis one: a group's expiry is
 * pushed later by each field it gains; an expired group reads as empty. The clock is injectable.
 */
export class MemoryHashStore implements CounterStore {
  readonly atomic = true
  readonly listsFields = true
  private readonly groups = new Map<string, Group>()
  /** answers of tagged calls, by group and tag */
  private readonly kept = new Map<string, unknown>()
  private writesSinceSweep = 0

  constructor(private readonly now: () => number = Date.now) {}

  /** Live groups and sets. */
  get size(): number {
    this.sweep()
    return this.groups.size
  }

  /** Live fields and members, over all groups: the memory the counters hold. */
  get fieldCount(): number {
    this.sweep()
    let n = 0
    for (const g of this.groups.values()) n += g.size
    return n
  }

  private live(name: string): Group | undefined {
    const g = this.groups.get(name)
    if (g && g.expiresAt * MINUTE_MS <= this.now()) {
      this.groups.delete(name)
      return undefined
    }
    return g
  }

  private open(name: string): Group {
    let g = this.live(name)
    if (!g) {
      g = new Group()
      this.groups.set(flat(name), g)
      if (++this.writesSinceSweep > Math.max(1024, this.groups.size)) this.sweep()
    }
    return g
  }

  private sweep(): void {
    this.writesSinceSweep = 0
    const t = this.now()
    for (const [name, g] of this.groups) if (g.expiresAt * MINUTE_MS <= t) this.groups.delete(name)
  }

  private extend(g: Group, ttlSeconds: number): void {
    // In whole minutes, so the expiry is a small integer V8 keeps in the object (no boxed number per
    // change); a group outlives its TTL by less than a minute.
    g.expiresAt = Math.max(g.expiresAt, Math.ceil((this.now() + ttlSeconds * 1000) / MINUTE_MS))
  }

  /** Runs a change once per tag: a tag already kept answers its kept answer, changing nothing. */
  private once<T>(group: string, tag: string | undefined, change: () => T): T {
    if (tag === undefined) return change()
    const k = `${group}\u0000${tag}`
    if (this.kept.has(k)) return this.kept.get(k) as T
    const answer = change()
    if (this.kept.size >= MAX_KEPT) this.kept.delete(this.kept.keys().next().value as string)
    this.kept.set(k, answer)
    return answer
  }

  async forget(group: string, tags: readonly string[]): Promise<void> {
    for (const tag of tags) this.kept.delete(`${group}\u0000${tag}`)
  }

  async advance(group: string, field: string, to: number, ttlSeconds: number): Promise<number> {
    const g = this.open(group)
    const held = toCount(g.get(field) ?? 0)
    if (held < to) {
      g.set(field, to)
      this.extend(g, ttlSeconds)
    }
    return held
  }

  async bump(group: string, fields: readonly string[], ttlSeconds: number, tag?: string): Promise<number[]> {
    return this.once(group, tag, () => this.bumpNow(group, fields, ttlSeconds))
  }

  private bumpNow(group: string, fields: readonly string[], ttlSeconds: number): number[] {
    const g = this.open(group)
    const out = fields.map((field) => {
      const n = toCount(g.get(field) ?? 0) + 1
      g.set(field, n)
      return n
    })
    if (out.includes(1) || g.expiresAt === 0) this.extend(g, ttlSeconds)
    return out
  }

  async steps(group: string, steps: readonly Step[], ttlSeconds: number, tag?: string): Promise<number[]> {
    return this.once(group, tag, () => this.stepsNow(group, steps, ttlSeconds))
  }

  private stepsNow(group: string, steps: readonly Step[], ttlSeconds: number): number[] {
    const g = this.open(group)
    const out: number[] = []
    let made = g.expiresAt === 0
    for (const step of steps) {
      if (step.if !== undefined && out[step.if] !== 1) out.push(0)
      else if (step.set !== undefined) {
        g.set(shared(step.field), step.set)
        out.push(1)
        made = true
      } else {
        const n = toCount(g.get(step.field) ?? 0) + 1
        g.set(n === 1 ? shared(step.field) : step.field, n)
        out.push(n)
        if (n === 1) made = true
      }
    }
    if (made) this.extend(g, ttlSeconds)
    return out
  }

  async join(group: string, side: string, member: string, value: unknown, ttlSeconds: number, cap: number, other: string, otherCap: number, tag?: string): Promise<{ added: boolean; other: Members }> {
    // Both at once, with no await between: no other event's join comes in the middle.
    return this.once(group, tag, () => {
      const added = this.add(`${group}\u0000${side}`, member, value, ttlSeconds, cap)
      return { added, other: this.members(`${group}\u0000${other}`, otherCap) }
    })
  }

  async keepEarliest(group: string, field: string, entry: Timed, ttlSeconds: number, tag?: string): Promise<Earliest> {
    return this.once(group, tag, () => this.keepEarliestNow(group, field, entry, ttlSeconds))
  }

  private keepEarliestNow(group: string, field: string, entry: Timed, ttlSeconds: number): Earliest {
    const g = this.open(group)
    const previous = timedOf(g.get(field))
    if (previous !== null && previous.time <= entry.time) return { replaced: false, previous }
    g.set(shared(field), [entry.time, entry.value])
    this.extend(g, ttlSeconds)
    return { replaced: true, previous }
  }

  async readAll(group: string): Promise<Map<string, unknown>> {
    return new Map(this.live(group)?.entries() ?? [])
  }

  async readCounts(group: string, fields: readonly string[]): Promise<number[]> {
    const g = this.live(group)
    return fields.map((f) => toCount(g?.get(f) ?? 0))
  }

  async read(group: string, field: string): Promise<unknown> {
    return this.live(group)?.get(field) ?? null
  }

  async put(group: string, field: string, value: unknown, ttlSeconds: number): Promise<void> {
    const g = this.open(group)
    g.set(field, value)
    this.extend(g, ttlSeconds)
  }

  async addMember(set: string, member: string, value: unknown, ttlSeconds: number, cap: number, tag?: string): Promise<boolean> {
    return this.once(set, tag, () => this.add(set, member, value, ttlSeconds, cap))
  }

  async readMembers(set: string, cap: number): Promise<Members> {
    return this.members(set, cap)
  }

  private add(set: string, member: string, value: unknown, ttlSeconds: number, cap: number): boolean {
    const g = this.open(set)
    if (g.has(member)) return false
    // Past the cap a member is remembered (so it is added once) with no value, and not listed.
    const listed = g.size - g.overflow
    if (listed >= cap) g.overflow++
    g.set(member, listed >= cap ? undefined : value)
    this.extend(g, ttlSeconds)
    return true
  }

  private members(set: string, cap: number): Members {
    const g = this.live(set)
    if (!g) return { values: [], overflow: 0 }
    const values: unknown[] = []
    for (const v of g.values()) if (v !== undefined && values.length < cap) values.push(v)
    return { values, overflow: g.overflow }
  }
}

const markFailure = <T>(p: Promise<T>): Promise<T> => p.then(undefined, rethrowUnavailable)

/** The same store, its failures marked as CacheUnavailableError, so callers tell them from bugs. */
export function markStoreFailures(store: CounterStore): CounterStore {
  return {
    atomic: store.atomic,
    listsFields: store.listsFields,
    readAll: (g) => markFailure(store.readAll(g)),
    keepEarliest: (g, f, e, t, tag) => markFailure(store.keepEarliest(g, f, e, t, tag)),
    steps: (g, s, t, tag) => markFailure(store.steps(g, s, t, tag)),
    join: (g, side, m, v, t, c, o, oc, tag) => markFailure(store.join(g, side, m, v, t, c, o, oc, tag)),
    bump: (g, f, t, tag) => markFailure(store.bump(g, f, t, tag)),
    readCounts: (g, f) => markFailure(store.readCounts(g, f)),
    read: (g, f) => markFailure(store.read(g, f)),
    put: (g, f, v, t) => markFailure(store.put(g, f, v, t)),
    addMember: (s, m, v, t, c, tag) => markFailure(store.addMember(s, m, v, t, c, tag)),
    readMembers: (s, c) => markFailure(store.readMembers(s, c)),
    forget: (g, tags) => markFailure(store.forget(g, tags)),
    advance: (g, f, to, t) => markFailure(store.advance(g, f, to, t)),
  }
}

/** At most this many tags are dropped in one call (one command's arguments stay small). */
const FORGET_CHUNK = 500

/**
 * One event's calls on an atomic store, each tagged so that it happens once (CounterStore): the tag
 * is the event's id, the group and what the call asks, so the same event asking the same thing
 * again (a retry after a crash) finds the answer it had, and a call the crash cut off is done then.
 * Once the event is settled (its delivery marker says so, and no attempt asks again) the tags are
 * forgotten; tags left by a crash go with their groups' TTL.
 */
export class EventScope {
  readonly store: CounterStore
  /** [group, tag] in the order the calls were sent */
  private readonly sent: [string, string][] = []
  private readonly asked = new Map<string, number>()

  constructor(
    private readonly inner: CounterStore,
    private readonly event: string,
  ) {
    const tag = (group: string, ask: string) => this.tag(group, ask)
    this.store = {
      atomic: inner.atomic,
      listsFields: inner.listsFields,
      bump: (g, f, t) => inner.bump(g, f, t, tag(g, `b\u0000${f.join('\u0000')}`)),
      steps: (g, s, t) => inner.steps(g, s, t, tag(g, `s\u0000${JSON.stringify(s)}`)),
      join: (g, side, m, v, t, c, o, oc) => inner.join(g, side, m, v, t, c, o, oc, tag(g, `j\u0000${side}\u0000${m}`)),
      keepEarliest: (g, f, e, t) => inner.keepEarliest(g, f, e, t, tag(g, `e\u0000${f}\u0000${e.time}\u0000${e.value}`)),
      addMember: (s, m, v, t, c) => inner.addMember(s, m, v, t, c, tag(s, `a\u0000${m}`)),
      // The same however often they run: a put sets, an advance only moves forward.
      put: (g, f, v, t) => inner.put(g, f, v, t),
      advance: (g, f, to, t) => inner.advance(g, f, to, t),
      readAll: (g) => inner.readAll(g),
      readCounts: (g, f) => inner.readCounts(g, f),
      read: (g, f) => inner.read(g, f),
      readMembers: (s, c) => inner.readMembers(s, c),
      forget: (g, tags) => inner.forget(g, tags),
    }
  }

  /** The tag of one call: the event, the group, what it asks, and how often the event asked it before. */
  private tag(group: string, ask: string): string {
    const k = `${group}\u0000${ask}`
    const n = this.asked.get(k) ?? 0
    this.asked.set(k, n + 1)
    const tag = shortId(`${this.event}\u0000${k}\u0000${n}`, '~')
    this.sent.push([group, tag])
    return tag
  }

  /** The groups this event's calls were sent to, in order, each with the tags of its run of calls. */
  private runs(): [string, string[]][] {
    const out: [string, string[]][] = []
    for (const [group, tag] of this.sent) {
      const last = out[out.length - 1]
      if (last !== undefined && last[0] === group) last[1].push(tag)
      else out.push([group, [tag]])
    }
    return out
  }

  /** Forgets every answer this event kept: {@link EventScope.forgetAll} of this event alone. */
  forget(): Promise<void> {
    return EventScope.forgetAll(this.inner, [this])
  }

  /**
   * Forgets every answer these events kept (all on one store), in the order each event's calls were
   * sent, one group after the other: a call sent after another may depend on its answer, so an
   * attempt meeting a half-done forget finds the earlier call forgotten (and does it anew, finding its
   * markers set) rather than a later one forgotten with the earlier one's answer still kept. The
   * events go in waves (every event's first group, then every event's second...), and the tags of one
   * group in a wave are dropped in one call: many events share a day's counters, so a batch of events
   * costs far fewer calls than one call per event and group.
   */
  static async forgetAll(store: CounterStore, scopes: readonly EventScope[]): Promise<void> {
    const runs = scopes.map((s) => s.runs())
    for (let wave = 0; ; wave++) {
      const tagsOf = new Map<string, string[]>()
      for (const r of runs) {
        const run = r[wave]
        if (run === undefined) continue
        const tags = tagsOf.get(run[0])
        if (tags === undefined) tagsOf.set(run[0], [...run[1]])
        else tags.push(...run[1])
      }
      if (tagsOf.size === 0) return
      const calls: Promise<void>[] = []
      for (const [group, tags] of tagsOf) for (let i = 0; i < tags.length; i += FORGET_CHUNK) calls.push(store.forget(group, tags.slice(i, i + FORGET_CHUNK)))
      await Promise.all(calls)
    }
  }
}
