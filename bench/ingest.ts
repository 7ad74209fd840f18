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
import { RedisCache } from '../src/counters/redis-cache.js'
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
  for (const e of sim.events) {
    lines.push(JSON.stringify(e))
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

async function measure(label: string, lines: string[], makeCache: () => Promise<ContractCache & { close?: () => Promise<void> }>, inFlight: number) {
  const base: number[] = []
  const plug: number[] = []
  for (let r = 0; r < RUNS; r++) {
    base.push(baseline(lines))
    const cache = await makeCache()
    plug.push(await throughPlugin(lines, cache, inFlight))
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
const noFlag = kinds.get('no flag')
if (noFlag && noFlag.calls !== 0) {
  process.stdout.write(out)
  throw new Error(`events without flags made ${noFlag.calls} cache calls; they must make none`)
}
process.stdout.write(out)
