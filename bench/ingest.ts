/**
 * Ingestion benchmark: the counters' cost per event and Redis's footprint, for both layouts the
 * plugin runs on: plugin-server's `meta.cache` (one key per field, the four contract calls) and the
 * host's caches (hashes, one script per call). Each row beside its baseline from the same run: a
 * bare JSON.parse loop over the same lines, and redis-benchmark against the same Redis. Medians
 * over several runs; every Redis key written is removed after each run.
 * Run: npm run bench:ingest [-- --events 60000 --runs 5 --redis-events 20000]  (Redis rows need REDIS_URL)
 */
import { execFile } from 'node:child_process'
import { randomInt, randomUUID } from 'node:crypto'
import { performance } from 'node:perf_hooks'
import { promisify } from 'node:util'
import { parseArgs } from 'node:util'
import { contractOnly, type ContractCache } from '../src/counters/cache.js'
import { MemoryCache } from '../src/counters/memory-cache.js'
import { RedisCache, deleteKeysWithPrefix, pluginKeyPrefix } from '../src/counters/redis-cache.js'
import { EmbeddedPlugin } from '../src/plugin/embedded.js'
import { definitionsOf, simulate } from '../src/sim/simulation.js'
import { hooksFromDefinitions } from '../src/plugin/definition-hooks.js'
import type { PluginHooks } from '../src/plugin/state.js'
import { RoundTrips, measuredContract, measuredStore } from './measure-calls.js'
const { values: args } = parseArgs({
  options: { events: { type: 'string', default: '60000' }, runs: { type: 'string', default: '5' }, 'redis-events': { type: 'string', default: '20000' } },
})
const RUNS = Number(args.runs)
const END = Date.UTC(2026, 10, 20)
const CONFIG = { goalEvents: '["checkout_completed", "onboarding_completed", "subscription_upgraded"]', guardrailEvents: '["$exception"]' }

/**
 * A project sized to the number of events wanted (about 65 events a person over 14 days), so the
 * lines cover the whole window: flags launch during it, and early hours alone have few exposures.
 * The plugin counts with the project's definitions, as it does with PostHog credentials and under
 * the host: experiments' runs, metric events and their surface, variant values, group types.
 */
async function makeProject(n: number): Promise<{ lines: string[]; hooks: PluginHooks; goals: Set<string> }> {
  const sim = simulate({ seed: 3, flags: 20, users: Math.ceil(n / 60), days: 14, endMs: END, defects: 'mix' })
  const lines: string[] = []
  let i = 0
  for (const e of sim.events) {
    lines.push(JSON.stringify(e))
    // Server-side events with no flag on them (a backend's own events), a fifth of the stream:
    // posthog-js puts $feature/ properties on every browser event, so the simulation has none.
    if (i++ % 4 === 3 && lines.length < n) {
      const properties = Object.fromEntries(Object.entries(e.properties).filter(([k]) => !k.startsWith('$feature')))
      lines.push(JSON.stringify({ ...e, uuid: `${e.uuid}-plain`, event: 'api_request', properties: { ...properties, $lib: 'posthog-node' } }))
    }
    if (lines.length >= n) break
  }
  const defs = definitionsOf(sim.project)
  const hooks: PluginHooks = { ...(await hooksFromDefinitions(defs)), now, log: () => {} }
  const goals = new Set(['checkout_completed', 'onboarding_completed', 'subscription_upgraded', '$exception', ...hooks.countedEvents!.map((c) => (typeof c === 'string' ? c : c.event))])
  return { lines, hooks, goals }
}

type Layout = 'plugin-server: one key per field' | 'host: hashes'
const LAYOUTS: readonly Layout[] = ['plugin-server: one key per field', 'host: hashes']
/** The plugin's cache in a layout: plugin-server offers only the four calls; the host's caches offer hashes. */
const inLayout = (layout: Layout, cache: MemoryCache | RedisCache): ContractCache => (layout === 'host: hashes' ? cache : contractOnly(cache))

type Kind = 'first exposure of a unit to a flag' | 'exposure with a value or event new to the unit' | 'repeat exposure' | 'goal or guardrail' | 'carries $feature/' | 'no flag'
const KINDS: readonly Kind[] = ['first exposure of a unit to a flag', 'exposure with a value or event new to the unit', 'repeat exposure', 'goal or guardrail', 'carries $feature/', 'no flag']
const GOALS: Record<Kind, [number, number] | null> = {
  'first exposure of a unit to a flag': [12, 4],
  'exposure with a value or event new to the unit': null,
  'repeat exposure': [3, 2],
  'goal or guardrail': [12, 4],
  'carries $feature/': null,
  'no flag': [0, 0],
}
type Line = { event: string; distinct_id: string; person?: { id: string }; properties: Record<string, unknown> }
const isExposure = (e: Line) => e.event === '$feature_flag_called' || e.event === '$experiment_exposure'

/**
 * Each line's kind, in stream order: a first exposure is the first of its (flag, person); a repeat
 * has the same flag, person, exposure event and value as an earlier one.
 */
function kindsOf(lines: readonly string[]): Kind[] {
  const seen = new Set<string>()
  const seenExactly = new Set<string>()
  return lines.map((line) => {
    const e = JSON.parse(line) as Line
    if (isExposure(e)) {
      const pair = `${String(e.properties.$feature_flag)}|${e.person?.id ?? e.distinct_id}`
      const exact = `${pair}|${e.event}|${JSON.stringify(e.properties.$feature_flag_response ?? e.properties.$feature_flag_variant ?? null)}`
      const kind: Kind = !seen.has(pair) ? 'first exposure of a unit to a flag' : seenExactly.has(exact) ? 'repeat exposure' : 'exposure with a value or event new to the unit'
      seen.add(pair)
      seenExactly.add(exact)
      return kind
    }
    if (project.goals.has(e.event)) return 'goal or guardrail'
    return Object.keys(e.properties).some((k) => k.startsWith('$feature/')) ? 'carries $feature/' : 'no flag'
  })
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number
const now = () => END

function baseline(lines: readonly string[]): number {
  const t0 = performance.now()
  let sink = 0
  for (const line of lines) sink += (JSON.parse(line) as { event: string }).event.length
  if (sink < 0) throw new Error('unreachable')
  return performance.now() - t0
}

async function throughPlugin(lines: readonly string[], cache: ContractCache, inFlight: number): Promise<number> {
  const plugin = new EmbeddedPlugin(CONFIG, project.hooks, cache)
  await plugin.setup()
  const t0 = performance.now()
  let next = 0
  const lane = async () => {
    while (next < lines.length) await plugin.onEvent(JSON.parse(lines[next++] as string))
  }
  await Promise.all(Array.from({ length: inFlight }, lane))
  const elapsed = performance.now() - t0
  // Untimed: the teardown settles the last markers and forgets the tags a live host forgets a
  // minute after each event, so the footprint below is what stays.
  await plugin.teardown()
  return elapsed
}

interface KindCost {
  events: number
  calls: number
  trips: number
}

/** One untimed pass per layout, one event in flight: calls and round trips by kind of event. */
async function costsPerKind(lines: readonly string[], kinds: readonly Kind[], layout: Layout): Promise<Map<Kind, KindCost>> {
  const rt = new RoundTrips()
  const memory = new MemoryCache(now)
  const cache = layout === 'host: hashes' ? measuredStore(memory, rt) : measuredContract(memory, rt)
  const plugin = new EmbeddedPlugin(CONFIG, project.hooks, cache)
  await plugin.setup()
  const out = new Map<Kind, KindCost>(KINDS.map((k) => [k, { events: 0, calls: 0, trips: 0 }]))
  for (let i = 0; i < lines.length; i++) {
    const [calls, trips] = [rt.calls, rt.flushes]
    await plugin.onEvent(JSON.parse(lines[i] as string))
    const row = out.get(kinds[i] as Kind)!
    row.events++
    row.calls += rt.calls - calls
    row.trips += rt.flushes - trips
  }
  return out
}

/** Redis's used_memory, from INFO. */
async function usedMemory(cache: RedisCache): Promise<number> {
  return Number(/used_memory:(\d+)/.exec(await cache.redis.info('memory'))?.[1] ?? 0)
}

/** redis-benchmark's INCR rate against the same Redis: one client without pipelining, and 32 clients. */
async function redisBenchmark(url: string, clients: number): Promise<number | null> {
  const u = new URL(url)
  try {
    const key = `bench-incr-${randomUUID()}`
    const { stdout } = await promisify(execFile)('redis-benchmark', ['-h', u.hostname, '-p', u.port || '6379', '-c', String(clients), '-n', '40000', '-q', 'INCR', key])
    await promisify(execFile)('redis-cli', ['-h', u.hostname, '-p', u.port || '6379', 'UNLINK', key])
    const m = /([\d.]+) requests per second/.exec(stdout.split('\r').pop() ?? stdout)
    return m ? Number(m[1]) : null
  } catch {
    return null
  }
}

interface Footprint {
  keys: number
  bytes: number
}
const footprints = new Map<Layout, Footprint[]>()

interface Row {
  label: string
  events: number
  eps: number
  baseEps: number
  ratio: number
}

/** Events per second through onEvent, median of RUNS, beside the bare parse loop in the same runs. */
async function measure(label: string, lines: readonly string[], makeCache: () => Promise<{ cache: ContractCache; redis?: RedisCache; layout?: Layout }>, inFlight: number): Promise<Row> {
  const base: number[] = []
  const plug: number[] = []
  for (let r = 0; r < RUNS; r++) {
    base.push(baseline(lines))
    const { cache, redis, layout } = await makeCache()
    const usedBefore = redis ? await usedMemory(redis) : 0
    plug.push(await throughPlugin(lines, cache, inFlight))
    if (redis) {
      // Its footprint, then every key it wrote is removed: the benchmark leaves nothing behind.
      const usedAfter = await usedMemory(redis)
      const keys = await deleteKeysWithPrefix(redis.redis, redis.prefix)
      if (layout) footprints.set(layout, [...(footprints.get(layout) ?? []), { keys, bytes: Math.max(0, usedAfter - usedBefore) }])
      await redis.close()
    }
    process.stderr.write(`  ${label}: run ${r + 1}/${RUNS}\n`)
  }
  const b = median(base)
  const p = median(plug)
  return { label, events: lines.length, eps: Math.round((lines.length / p) * 1000), baseEps: Math.round((lines.length / b) * 1000), ratio: p / b }
}

const project = await makeProject(Number(args.events))
const lines = project.lines
const kinds = kindsOf(lines)
process.stderr.write(`bench:ingest: ${lines.length} simulated events, ${RUNS} runs each\n`)
const memoryHost = async () => ({ cache: new MemoryCache(now) })
const plain = lines.filter((_, i) => kinds[i] === 'no flag')
const rows: Row[] = [
  await measure('in-memory cache (host, audit), sequential', lines, memoryHost, 1),
  await measure('in-memory cache (host, audit), 32 in flight', lines, memoryHost, 32),
  await measure('in-memory cache, plain events only (no flag on them)', plain, memoryHost, 1),
]
const redisUrl = process.env.REDIS_URL
const redisLines = lines.slice(0, Number(args['redis-events']))
const baselines: { label: string; ops: number | null }[] = []
if (redisUrl) {
  const makeRedis = (layout: Layout) => async () => {
    // The host's own prefix for a project with a six-digit id (key names are part of the footprint).
    const redis = RedisCache.connect(redisUrl, pluginKeyPrefix('experiment-coverage', 900_000 + randomInt(100_000)))
    return { cache: inLayout(layout, redis), redis, layout }
  }
  baselines.push({ label: 'redis-benchmark INCR, 1 client (a round trip each)', ops: await redisBenchmark(redisUrl, 1) })
  baselines.push({ label: 'redis-benchmark INCR, 32 clients', ops: await redisBenchmark(redisUrl, 32) })
  rows.push(await measure('in-memory cache, 32 in flight, same events as Redis', redisLines, memoryHost, 32))
  for (const layout of LAYOUTS) {
    rows.push(await measure(`Redis, ${layout}, sequential`, redisLines, makeRedis(layout), 1))
    rows.push(await measure(`Redis, ${layout}, 32 in flight`, redisLines, makeRedis(layout), 32))
  }
} else {
  process.stderr.write('bench:ingest: REDIS_URL is not set: Redis rows skipped\n')
}
const costs = new Map(await Promise.all(LAYOUTS.map(async (l) => [l, await costsPerKind(lines, kinds, l)] as const)))

const fmt = (n: number) => n.toLocaleString('en-US')
let out = `\n### Ingestion through onEvent (median of ${RUNS} runs)\n\n`
out += '| cache | events | events/s through onEvent | events/s bare JSON.parse | time ratio (onEvent / parse) |\n|---|---:|---:|---:|---:|\n'
for (const r of rows) out += `| ${r.label} | ${fmt(r.events)} | ${fmt(r.eps)} | ${fmt(r.baseEps)} | ${r.ratio.toFixed(1)}x |\n`
if (baselines.length) {
  out += '\n| baseline in the same run | operations/s |\n|---|---:|\n'
  for (const b of baselines) out += `| ${b.label} | ${b.ops === null ? 'redis-benchmark not found' : fmt(Math.round(b.ops))} |\n`
  const mem32 = rows.find((r) => r.label.startsWith('in-memory cache, 32 in flight, same events'))!
  out += '\n| Redis, 32 in flight, as a share of the in-memory cache, 32 in flight (goal ≥ 60%) | share |\n|---|---:|\n'
  for (const layout of LAYOUTS) {
    const r = rows.find((x) => x.label === `Redis, ${layout}, 32 in flight`)!
    out += `| ${layout} | ${((r.eps / mem32.eps) * 100).toFixed(0)}% |\n`
  }
}

out += `\n### Calls and sequential round trips per event, one event in flight (goal: calls / round trips)\n\n`
out += `| event kind | share of events | ${LAYOUTS.map((l) => `${l}: calls | round trips`).join(' | ')} | goal |\n|---|---:|${LAYOUTS.map(() => '---:|---:|').join('')}---|\n`
const totals = new Map<Layout, { calls: number; events: number }>()
for (const k of KINDS) {
  const cells: string[] = []
  for (const l of LAYOUTS) {
    const c = costs.get(l)!.get(k)!
    const t = totals.get(l) ?? { calls: 0, events: 0 }
    totals.set(l, { calls: t.calls + c.calls, events: t.events + c.events })
    cells.push(c.events ? (c.calls / c.events).toFixed(2) : '-', c.events ? (c.trips / c.events).toFixed(2) : '-')
  }
  const share = (costs.get(LAYOUTS[0]!)!.get(k)!.events / lines.length) * 100
  const goal = GOALS[k]
  out += `| ${k} | ${share.toFixed(1)}% | ${cells.join(' | ')} | ${goal ? `≤ ${goal[0]} / ≤ ${goal[1]}` : ''} |\n`
}
out += `| all events (mean calls) | 100% | ${LAYOUTS.map((l) => `${(totals.get(l)!.calls / totals.get(l)!.events).toFixed(2)} | `).join(' | ')} | ≤ 3 |\n`

if (footprints.size && redisUrl) {
  const units = new Set(redisLines.map((l) => JSON.parse(l) as Line).filter(isExposure).map((e) => e.person?.id ?? e.distinct_id)).size
  out += `\n### Redis footprint after ${fmt(redisLines.length)} events and the plugin's teardown (${fmt(units)} exposed units; median of ${RUNS} runs; the keys are removed after each run)\n\n`
  out += '| layout | keys | keys per 1,000 exposed units (goal ≤ 20,000) | used_memory growth | per 1,000 exposed units (goal ≤ 3 MiB) |\n|---|---:|---:|---:|---:|\n'
  for (const [layout, list] of footprints) {
    const keys = median(list.map((x) => x.keys))
    const bytes = median(list.map((x) => x.bytes))
    out += `| ${layout} | ${fmt(keys)} | ${fmt(Math.round((keys / units) * 1000))} | ${(bytes / 1048576).toFixed(1)} MiB | ${(((bytes / units) * 1000) / 1048576).toFixed(2)} MiB |\n`
  }
}
process.stdout.write(out)
for (const l of LAYOUTS) {
  const noFlag = costs.get(l)!.get('no flag')!
  if (noFlag.events === 0) throw new Error('the stream holds no event without flags: the plain-event row measured nothing')
  if (noFlag.calls !== 0) throw new Error(`${l}: events without flags made ${noFlag.calls} calls; they must make none`)
}
