/**
 * A process that dies midway through events, and PostHog delivering again what it did not
 * acknowledge: every event is counted exactly once, on the host's three stores (in memory, one
 * Redis, a Redis Cluster). The death is modelled at the store: from the Nth change on, nothing the
 * process sends arrives, and no answer it was waiting for reaches it, although the store may have
 * done the call (as Redis does a command sent before a SIGKILL). The real SIGKILL of a host process
 * is in host-faults.test.ts.
 */
import { randomUUID } from 'node:crypto'
import fc from 'fast-check'
import { afterAll, describe, expect, it } from 'vitest'
import type { ContractCache } from '../../src/counters/cache.js'
import { createIngestContext, forgetSettled, ingestEvent } from '../../src/counters/ingest.js'
import { MemoryCache } from '../../src/counters/memory-cache.js'
import { readObservations } from '../../src/counters/read.js'
import { RedisCache } from '../../src/counters/redis-cache.js'
import type { CounterStore } from '../../src/counters/store.js'
import type { Observations } from '../../src/counters/observation.js'
import { hooksFromDefinitions, type DefinitionHooks } from '../../src/plugin/definition-hooks.js'
import { parseSettings } from '../../src/settings/settings.js'
import { definitionsOf, simulate } from '../../src/sim/simulation.js'
import { clusterOrSkipReason, startCluster } from '../support/redis-cluster.js'
import { REDIS_URL, dropPrefix, redisOrSkipReason } from '../support/redis.js'

const NOW = Date.UTC(2026, 10, 20)
const CONFIG = { goalEvents: '["checkout_completed", "onboarding_completed"]', guardrailEvents: '["$exception"]', unitSampleRate: '1' }
const SIM = simulate({ seed: 19, flags: 20, users: 60, days: 3, endMs: NOW, defects: 'mix', redeliveryShare: 0.1, experimentStartDays: [1, 3] })

/**
 * The stream: every third event has no uuid and comes as a signed delivery instead, its
 * `webhook-id` the same for each delivery of that event (a retry), as PostHog sends it.
 */
interface Delivery {
  readonly event: Record<string, unknown>
  readonly deliveryId?: string
}
const STREAM: Delivery[] = [...SIM.events].map((e, i) => {
  if (i % 3 !== 0) return { event: e as unknown as Record<string, unknown> }
  const { uuid, ...rest } = e as unknown as Record<string, unknown>
  return { event: rest, deliveryId: `msg_${String(uuid)}` }
})

class Died extends Error {}

// The calls that change counters. Forgetting tags is left out of the count (a death there loses
// nothing, and a dead process forgets nothing, which would move later crash points).
const CHANGES = ['bump', 'steps', 'join', 'keepEarliest', 'addMember', 'put', 'advance'] as const
const READS = ['readAll', 'readCounts', 'read', 'readMembers', 'forget'] as const

/**
 * The store as a process sees it until it dies at its `dieAt`-th change. That change reaches the
 * store when `arrives` (its answer is lost) or not; later calls never do. Calls sent before the
 * death are done by the store, but their answers come back to a dead process: they fail too.
 */
function dyingStore(inner: CounterStore, counter: { changes: number }, dieAt: number, arrives: boolean): CounterStore {
  let dead = false
  const wrap =
    (name: keyof CounterStore, change: boolean) =>
    async (...args: unknown[]): Promise<unknown> => {
      if (dead) throw new Died('the process is dead')
      if (change && ++counter.changes === dieAt) {
        dead = true
        if (arrives) await (inner[name] as (...a: unknown[]) => Promise<unknown>)(...args)
        throw new Died('the process died here')
      }
      const answer = await (inner[name] as (...a: unknown[]) => Promise<unknown>)(...args)
      if (dead) throw new Died('the answer came to a dead process')
      return answer
    }
  const store = { atomic: inner.atomic, listsFields: inner.listsFields } as Record<string, unknown>
  for (const name of READS) store[name] = wrap(name, false)
  for (const name of CHANGES) store[name] = wrap(name, true)
  return store as unknown as CounterStore
}

/** A cache that gives the counters the given store (as the host's caches do). */
function cacheOf(store: CounterStore): ContractCache & { counterStore(): CounterStore } {
  const none = () => Promise.reject(new Error('the counters use the store'))
  return { incr: none, expire: none, get: none, set: none, counterStore: () => store }
}

async function ingestAll(cache: ContractCache, hooks: DefinitionHooks, stream: readonly Delivery[], lanes: number): Promise<{ acked: Set<number>; died: boolean }> {
  const ctx = createIngestContext({ cache, settings: parseSettings(CONFIG, { countedEvents: hooks.countedEvents }), project: 'crash', now: () => NOW, settleWaitMs: 60, ...hooks })
  const acked = new Set<number>()
  let next = 0
  let dead = false
  // A few events in flight at once, as concurrent webhook requests are; a dead process takes no more.
  const lane = async () => {
    while (!dead && next < stream.length) {
      const i = next++
      const d = stream[i] as Delivery
      try {
        await ingestEvent(ctx, structuredClone(d.event), d.deliveryId ? { deliveryId: d.deliveryId } : {})
        acked.add(i)
      } catch (e) {
        if (!(e instanceof Died) && !(e instanceof Error && e.cause instanceof Died)) throw e
        dead = true
      }
    }
  }
  await Promise.all(Array.from({ length: lanes }, lane))
  // A process that lives on forgets its settled events' tags (a minute later; here at once).
  if (!dead) await forgetSettled(ctx)
  return { acked, died: dead }
}

/**
 * Lives of a process over one store: each dies at its crash point, and the next is sent again
 * everything not acknowledged, in order, then the rest. Answers how many lives died.
 */
async function runWithCrashes(base: CounterStore, hooks: DefinitionHooks, crashes: readonly { at: number; arrives: boolean }[]): Promise<number> {
  let pending = STREAM.map((_, i) => i)
  const counter = { changes: 0 }
  let died = 0
  for (const crash of [...crashes, null]) {
    const store = crash ? dyingStore(base, counter, crash.at, crash.arrives) : dyingStore(base, counter, Number.POSITIVE_INFINITY, false)
    const life = await ingestAll(cacheOf(store), hooks, pending.map((i) => STREAM[i] as Delivery), 4)
    if (life.died) died++
    pending = pending.filter((_, k) => !life.acked.has(k))
    if (pending.length === 0) break
  }
  expect(pending).toEqual([]) // the last life acknowledged everything
  return died
}

function read(cache: ContractCache, hooks: DefinitionHooks): Promise<Observations> {
  return readObservations({ cache, project: 'crash', lookbackDays: 30, experimentMaxDays: 90, experimentRunOf: hooks.experimentRunOf, nowMs: NOW })
}

/**
 * What must be equal: every number, but the redeliveries seen (see expectExactlyOnce) and the goal
 * events before "the" exposure, which compares with the first exposure to arrive and so with the
 * order of arrival.
 */
// The slice a unit is counted in is that of its first exposure to arrive, which redeliveries reorder
// (and with it the first day a slice has units).
const counted = (o: Observations) => JSON.parse(JSON.stringify(o, (k, v) => (k === 'eventsBeforeExposure' || k === 'duplicates' || k === 'slices' || k === 'sliceFirstDay' || k === 'multipleSlices' ? undefined : v))) as unknown

let truth: { hooks: DefinitionHooks; observations: Observations; changes: number } | null = null
async function theTruth() {
  if (truth) return truth
  const hooks = await hooksFromDefinitions(definitionsOf(SIM.project))
  const cache = new MemoryCache(() => NOW)
  const counter = { changes: 0 }
  await ingestAll(cacheOf(dyingStore(cache.counterStore(), counter, Number.POSITIVE_INFINITY, false)), hooks, STREAM, 1)
  truth = { hooks, observations: await read(cache, hooks), changes: counter.changes }
  return truth
}

/** Crash points spread over the stream's changes, the first death's change arriving, the next not, and so on. */
function spread(changes: number, fractions: readonly number[]) {
  return fractions.map((f, i) => ({ at: Math.max(1, Math.floor(changes * f)), arrives: i % 2 === 0 }))
}

async function expectExactlyOnce(cache: ContractCache & { counterStore(): CounterStore }, crashes: readonly { at: number; arrives: boolean }[]) {
  const t = await theTruth()
  const died = await runWithCrashes(cache.counterStore(), t.hooks, crashes)
  // Each crash point is reached: the lives before it made fewer changes than the stream needs.
  expect(died).toBe(crashes.length)
  const got = await read(cache, t.hooks)
  expect(counted(got)).toEqual(counted(t.observations))
  // Redeliveries seen may differ by the events in flight at each death: an event whose answer was
  // lost after it settled is, rightly, a redelivery the second time; one answered before its marker
  // settled is taken over, not reported, by a later redelivery. Only this diagnostic moves.
  expect(Math.abs(got.duplicates - t.observations.duplicates)).toBeLessThanOrEqual(crashes.length * 8)
}

describe('an event cut off by a crash is completed by its redelivery, exactly once', () => {
  it('the stream exercises what a crash can cut: exposures, units, goals, sightings, redeliveries, signed events without uuid', async () => {
    const t = await theTruth()
    expect(t.observations.duplicates).toBeGreaterThan(10)
    expect(t.observations.flags.some((f) => f.metrics.some((m) => m.variants.some((v) => v.units > 0)))).toBe(true)
    expect(t.observations.flags.filter((f) => f.sightings.reached > 0).length).toBeGreaterThan(0)
    expect(STREAM.filter((d) => d.deliveryId).length).toBeGreaterThan(100)
    expect(t.changes).toBeGreaterThan(5_000)
  })

  it('in memory: at any change of the stream, with or without that change arriving, several times over', async () => {
    const { changes } = await theTruth()
    await fc.assert(
      fc.asyncProperty(fc.uniqueArray(fc.integer({ min: 1, max: changes - 1 }), { minLength: 1, maxLength: 3 }), fc.boolean(), async (points, arrives) => {
        const crashes = [...points].sort((a, b) => a - b).map((at, i) => ({ at, arrives: i % 2 === 0 ? arrives : !arrives }))
        await expectExactlyOnce(new MemoryCache(() => NOW), crashes)
      }),
      { numRuns: Number(process.env.CRASH_RUNS ?? 12) },
    )
  })

  it('an event counted by an earlier version (its marker a count of deliveries) is a redelivery, at once, however often it comes again', async () => {
    const t = await theTruth()
    const exposures = STREAM.filter((d) => d.event.event === '$feature_flag_called' && typeof d.event.uuid === 'string').slice(0, 20)
    const cache = new MemoryCache(() => NOW)
    const settings = parseSettings(CONFIG, { countedEvents: t.hooks.countedEvents })
    const before = createIngestContext({ cache, settings, project: 'crash', now: () => NOW, ...t.hooks, exactlyOnce: false })
    const now = createIngestContext({ cache, settings, project: 'crash', now: () => NOW, ...t.hooks, exactlyOnce: true, settleWaitMs: 60_000 })
    for (const d of exposures) expect(await ingestEvent(before, structuredClone(d.event))).toBe('counted')
    const counted = JSON.stringify((await read(cache, t.hooks)).flags)
    // Had a delivery found the marker open, it would wait 60 s for it, past this test's time limit.
    for (const d of [...exposures, ...exposures]) expect(await ingestEvent(now, structuredClone(d.event))).toBe('duplicate')
    expect(JSON.stringify((await read(cache, t.hooks)).flags)).toBe(counted)
  })

  it('without the tags, the same crashes lose or double counts (the test can fail)', async () => {
    const t = await theTruth()
    let differs = 0
    for (const at of [0.21, 0.43, 0.67, 0.89]) {
      const cache = new MemoryCache(() => NOW)
      await runWithCrashes(untagged(cache.counterStore()), t.hooks, spread(t.changes, [at, at + 0.04, at + 0.08].map((x) => Math.min(x, 0.99))))
      if (JSON.stringify(counted(await read(cache, t.hooks))) !== JSON.stringify(counted(t.observations))) differs++
    }
    expect(differs).toBeGreaterThan(0)
  })
})

/**
 * The store as a process that lives on sees it: the changes numbered in `failAt` fail (reaching the
 * store first when `arrives`, as a command whose answer a timeout lost), and every other call works.
 */
function faultyStore(inner: CounterStore, counter: { changes: number }, failAt: ReadonlySet<number>, arrives: boolean): CounterStore {
  const wrap =
    (name: keyof CounterStore, change: boolean) =>
    async (...args: unknown[]): Promise<unknown> => {
      if (change && failAt.has(++counter.changes)) {
        if (arrives) await (inner[name] as (...a: unknown[]) => Promise<unknown>)(...args)
        throw new Died('the store failed this call')
      }
      return (inner[name] as (...a: unknown[]) => Promise<unknown>)(...args)
    }
  const store = { atomic: inner.atomic, listsFields: inner.listsFields } as Record<string, unknown>
  for (const name of READS) store[name] = wrap(name, false)
  for (const name of CHANGES) store[name] = wrap(name, true)
  return store as unknown as CounterStore
}

/**
 * Two workers that live on share one store; a failed delivery is sent again at the end of the
 * stream (PostHog retries later), to the other worker on its first retry, to the same one after.
 */
async function ingestWithFaults(base: CounterStore, hooks: DefinitionHooks, failAt: ReadonlySet<number>, arrives: boolean): Promise<number> {
  const counter = { changes: 0 }
  const settings = parseSettings(CONFIG, { countedEvents: hooks.countedEvents })
  const workers = [0, 1].map(() => createIngestContext({ cache: cacheOf(faultyStore(base, counter, failAt, arrives)), settings, project: 'crash', now: () => NOW, settleWaitMs: 60, ...hooks }))
  const queue: { i: number; attempt: number }[] = STREAM.map((_, i) => ({ i, attempt: 0 }))
  let failed = 0
  const lane = async () => {
    for (let job = queue.shift(); job !== undefined; job = queue.shift()) {
      const d = STREAM[job.i] as Delivery
      const ctx = workers[(job.i + job.attempt) % 2] as (typeof workers)[number]
      try {
        await ingestEvent(ctx, structuredClone(d.event), d.deliveryId ? { deliveryId: d.deliveryId } : {})
      } catch (e) {
        if (!(e instanceof Died) && !(e instanceof Error && e.cause instanceof Died)) throw e
        failed++
        queue.push({ i: job.i, attempt: job.attempt + 1 })
      }
    }
  }
  await Promise.all(Array.from({ length: 4 }, lane))
  for (const w of workers) await forgetSettled(w)
  return failed
}

async function expectOnceWithFaults(cache: ContractCache & { counterStore(): CounterStore }, arrives: boolean) {
  const t = await theTruth()
  // Every 97th change fails: sightings, exposures, units and goals each meet failures.
  const failAt = new Set(Array.from({ length: Math.floor(t.changes / 97) }, (_, k) => (k + 1) * 97))
  const failed = await ingestWithFaults(cache.counterStore(), t.hooks, failAt, arrives)
  expect(failed).toBeGreaterThan(20)
  expect(counted(await read(cache, t.hooks))).toEqual(counted(t.observations))
}

describe('failures that do not end the process: a failed event sent again, to this worker or another, counts once', () => {
  for (const arrives of [true, false]) {
    it(`calls failing ${arrives ? 'after' : 'before'} they reach the store, in memory`, async () => {
      await expectOnceWithFaults(new MemoryCache(() => NOW), arrives)
    })
  }
})

/** The same store with its tags dropped: each call done again when asked again, as before tags. */
function untagged(store: CounterStore): CounterStore {
  const out = { atomic: store.atomic, listsFields: store.listsFields } as Record<string, unknown>
  for (const name of [...READS, ...CHANGES] as const) {
    const call = (store[name] as (...a: unknown[]) => unknown).bind(store)
    const arity = { bump: 3, steps: 3, join: 8, keepEarliest: 4, addMember: 5 } as Record<string, number>
    const keep = arity[name]
    out[name] = keep === undefined ? call : (...a: unknown[]) => call(...a.slice(0, keep))
  }
  return out as unknown as CounterStore
}

const redisSkip = redisOrSkipReason('crashes with Redis')
describe.skipIf(redisSkip !== null)('on one Redis', () => {
  const caches: RedisCache[] = []
  afterAll(async () => {
    for (const c of caches) {
      await dropPrefix(c)
      await c.close()
    }
  })

  const fresh = () => {
    const cache = RedisCache.connect(REDIS_URL as string, `@plugin/crash-${randomUUID()}/1/`)
    caches.push(cache)
    return cache
  }

  it('four deaths spread over the stream: every event counted once', async () => {
    const { changes } = await theTruth()
    await expectExactlyOnce(fresh(), spread(changes, [0.12, 0.38, 0.63, 0.87]))
  })

  it('calls failing after they reach Redis, the workers living on: every event counted once', async () => {
    await expectOnceWithFaults(fresh(), true)
  })

  it('no death: the counters equal the truth, and once settled events are forgotten no tag is left', async () => {
    const t = await theTruth()
    const cache = fresh()
    await expectExactlyOnce(cache, [])
    let tags = 0
    let keys = 0
    let cursor = '0'
    do {
      const [next, found] = await cache.redis.scan(cursor, 'MATCH', `${cache.prefix}*`, 'COUNT', 1000)
      cursor = next
      for (const key of found) {
        keys++
        if ((await cache.redis.type(key)) === 'hash') tags += Object.keys(await cache.redis.hgetall(key)).filter((f) => f.startsWith('~')).length
      }
    } while (cursor !== '0')
    expect(keys).toBeGreaterThan(100)
    expect(tags).toBe(0)
    expect(t.changes).toBeGreaterThan(0)
  })
})

const clusterSkip = redisSkip ?? clusterOrSkipReason()
describe.skipIf(clusterSkip !== null)('on a Redis Cluster of three nodes', () => {
  it('three deaths spread over the stream: every event counted once', { timeout: 120_000 }, async () => {
    const { changes } = await theTruth()
    const cluster = await startCluster()
    const cache = RedisCache.connectCluster(cluster.nodes, `@plugin/crash-${randomUUID()}/1/`)
    try {
      await expectExactlyOnce(cache, spread(changes, [0.2, 0.5, 0.8]))
    } finally {
      await cache.close()
      await cluster.stop()
    }
  })
})
