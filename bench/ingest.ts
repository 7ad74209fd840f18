/**
 * Ingestion benchmark: events per second through the plugin's onEvent, cache calls per event,
 * against a bare JSON.parse loop over the same lines in the same run. Medians over several runs.
 * Run: npm run bench:ingest [-- --events 60000 --runs 5]  (Redis rows need REDIS_URL)
 */
import { randomUUID } from 'node:crypto'
import { performance } from 'node:perf_hooks'
import { parseArgs } from 'node:util'
import { CountingCache, type ContractCache } from '../src/counters/cache.js'
import { MemoryCache } from '../src/counters/memory-cache.js'
import { RedisCache, deleteKeysWithPrefix } from '../src/counters/redis-cache.js'
import { EmbeddedPlugin } from '../src/plugin/embedded.js'
import { definitionsOf, simulate } from '../src/sim/simulation.js'
import { hooksFromDefinitions } from '../src/plugin/definition-hooks.js'
import type { PluginHooks } from '../src/plugin/state.js'

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

type Kind = 'exposure' | 'goal' | 'carries $feature/' | 'no flag'
function kindOf(e: { event: string; properties: Record<string, unknown> }): Kind {
  if (e.event === '$feature_flag_called' || e.event === '$experiment_exposure') return 'exposure'
  if (project.goals.has(e.event)) return 'goal'
  return Object.keys(e.properties).some((k) => k.startsWith('$feature/')) ? 'carries $feature/' : 'no flag'
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number
const now = () => END

function baseline(lines: string[]): number {
  const t0 = performance.now()
  let sink = 0
  for (const line of lines) sink += (JSON.parse(line) as { event: string }).event.length
  if (sink < 0) throw new Error('unreachable')
  return performance.now() - t0
}

async function throughPlugin(lines: string[], cache: ContractCache, inFlight: number): Promise<number> {
  const plugin = new EmbeddedPlugin(CONFIG, project.hooks, cache)
  await plugin.setup()
  const t0 = performance.now()
  let next = 0
  const lane = async () => {
    while (next < lines.length) await plugin.onEvent(JSON.parse(lines[next++] as string))
  }
  await Promise.all(Array.from({ length: inFlight }, lane))
  return performance.now() - t0
}

/** One untimed pass that attributes cache calls to the kind of event that caused them. */
async function callsPerKind(lines: string[]): Promise<Map<Kind, { events: number; calls: number }>> {
  const cache = new CountingCache(new MemoryCache(now))
  const plugin = new EmbeddedPlugin(CONFIG, project.hooks, cache)
  await plugin.setup()
  const out = new Map<Kind, { events: number; calls: number }>()
  for (const line of lines) {
    const e = JSON.parse(line)
    const before = cache.total
    await plugin.onEvent(e)
    const k = kindOf(e)
    const row = out.get(k) ?? { events: 0, calls: 0 }
    row.events++
    row.calls += cache.total - before
    out.set(k, row)
  }
  return out
}

/** Redis's used_memory, from INFO. */
async function usedMemory(cache: RedisCache): Promise<number> {
  return Number(/used_memory:(\d+)/.exec(await cache.redis.info('memory'))?.[1] ?? 0)
}

/** Redis's footprint of one run: its keys and the growth of used_memory, then the keys are removed. */
async function redisFootprint(cache: RedisCache, usedBefore: number): Promise<{ keys: number; bytes: number }> {
  const usedAfter = await usedMemory(cache)
  const keys = await deleteKeysWithPrefix(cache.redis, cache.prefix)
  return { keys, bytes: Math.max(0, usedAfter - usedBefore) }
}

const footprints: { keys: number; bytes: number }[] = []

async function measure(label: string, lines: string[], makeCache: () => Promise<ContractCache & { close?: () => Promise<void> }>, inFlight: number) {
  const base: number[] = []
  const plug: number[] = []
  for (let r = 0; r < RUNS; r++) {
    base.push(baseline(lines))
    const cache = await makeCache()
    const usedBefore = cache instanceof RedisCache ? await usedMemory(cache) : 0
    plug.push(await throughPlugin(lines, cache, inFlight))
    // The benchmark leaves nothing behind in Redis.
    if (cache instanceof RedisCache) footprints.push(await redisFootprint(cache, usedBefore))
    await cache.close?.()
    process.stderr.write(`  ${label}: run ${r + 1}/${RUNS}\n`)
  }
  const b = median(base)
  const p = median(plug)
  return { label, events: lines.length, eps: Math.round((lines.length / p) * 1000), baseEps: Math.round((lines.length / b) * 1000), ratio: p / b }
}

const project = await makeProject(Number(args.events))
const lines = project.lines
process.stderr.write(`bench:ingest: ${lines.length} simulated events, ${RUNS} runs each\n`)
const rows = [await measure('in-memory cache, sequential', lines, async () => new MemoryCache(now), 1)]
const redisUrl = process.env.REDIS_URL
if (redisUrl) {
  const redisLines = lines.slice(0, Number(args['redis-events']))
  const makeRedis = async () => RedisCache.connect(redisUrl, `@plugin/bench-${randomUUID()}/1/`)
  rows.push(await measure('Redis cache, sequential', redisLines, makeRedis, 1))
  rows.push(await measure('Redis cache, 32 in flight', redisLines, makeRedis, 32))
} else {
  process.stderr.write('bench:ingest: REDIS_URL is not set: Redis rows skipped\n')
}
const kinds = await callsPerKind(lines)

const fmt = (n: number) => n.toLocaleString('en-US')
let out = `\n### Ingestion through onEvent (median of ${RUNS} runs)\n\n`
out += '| cache | events | events/s through onEvent | events/s bare JSON.parse | time ratio (onEvent / parse) |\n|---|---:|---:|---:|---:|\n'
for (const r of rows) out += `| ${r.label} | ${fmt(r.events)} | ${fmt(r.eps)} | ${fmt(r.baseEps)} | ${r.ratio.toFixed(1)}x |\n`
let totalCalls = 0
let totalEvents = 0
out += '\n### Cache calls per event (same for both caches: the calls are the contract)\n\n| event kind | share of events | cache calls per event |\n|---|---:|---:|\n'
for (const [k, v] of [...kinds].sort((a, b) => b[1].events - a[1].events)) {
  totalCalls += v.calls
  totalEvents += v.events
  out += `| ${k} | ${((v.events / lines.length) * 100).toFixed(1)}% | ${(v.calls / v.events).toFixed(2)} |\n`
}
out += `| all events (mean) | 100% | ${(totalCalls / totalEvents).toFixed(2)} |\n`
if (footprints.length && redisUrl) {
  const redisLines = lines.slice(0, Number(args['redis-events']))
  const exposed = new Set<string>()
  for (const l of redisLines) {
    const e = JSON.parse(l) as { event: string; distinct_id: string; person?: { id: string }; properties: Record<string, unknown> }
    if (e.event === '$feature_flag_called' || e.event === '$experiment_exposure') exposed.add(`${String(e.properties.$feature_flag)}|${e.person?.id ?? e.distinct_id}`)
  }
  const units = new Set([...exposed].map((x) => x.slice(x.indexOf('|') + 1))).size
  const f = footprints.map((x) => x.keys).sort((a, b) => a - b)[Math.floor(footprints.length / 2)]!
  const b = footprints.map((x) => x.bytes).sort((a, b2) => a - b2)[Math.floor(footprints.length / 2)]!
  out += `\n### Redis footprint after ${fmt(redisLines.length)} events (${fmt(units)} exposed units; median of ${footprints.length} runs; the keys are removed after each run)\n\n| figure | total | per 1,000 exposed units |\n|---|---:|---:|\n`
  out += `| keys | ${fmt(f)} | ${fmt(Math.round((f / units) * 1000))} |\n`
  out += `| used_memory growth | ${(b / 1048576).toFixed(1)} MiB | ${((b / units) * 1000 / 1048576).toFixed(2)} MiB |\n`
}
const noFlag = kinds.get('no flag')
if (noFlag && noFlag.calls !== 0) {
  process.stdout.write(out)
  throw new Error(`events without flags made ${noFlag.calls} cache calls; they must make none`)
}
process.stdout.write(out)
