/**
 * Host benchmark: sustained intake over HTTP on loopback, one event per request as PostHog's
 * webhook destination sends them (signed), with the memory cache and with Redis, beside a bare
 * server of the same framework that answers 200 without work, in the same run. Each server runs
 * in its own process; this process only sends. Medians over several interleaved runs.
 * Run: npm run bench:host [-- --events 6000 --runs 3 --concurrency 32]  (Redis rows need REDIS_URL)
 * BENCH_KINDS=bare,redis measures only those rows (the table needs bare); BENCH_NODE_ARGS passes
 * flags to the servers' Node, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof" to profile them.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes, randomUUID } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { parseArgs } from 'node:util'
import { Redis } from 'ioredis'
import pino from 'pino'
import { deleteKeysWithPrefix, pluginKeyPrefix } from '../src/counters/redis-cache.js'
import { signedHeaders, webhookBody } from '../src/host/demo-feed.js'
import { Host } from '../src/host/host.js'
import type { DemoSpec } from '../src/host/project.js'
import { simulate } from '../src/sim/simulation.js'

const { values: args } = parseArgs({
  options: { events: { type: 'string', default: '6000' }, runs: { type: 'string', default: '3' }, concurrency: { type: 'string', default: '32' } },
})
const N = Number(args.events)
const RUNS = Number(args.runs)
const C = Number(args.concurrency)
const REDIS_URL = process.env.REDIS_URL ?? null
const SECRET_KEY = randomBytes(32).toString('hex')
const HOUR = 3_600_000
const spec: DemoSpec = { seed: 3, flags: 20, users: Math.ceil(N / 50), days: 7, endMs: Math.floor(Date.now() / HOUR) * HOUR }
const events = [...simulate({ ...spec, defects: 'mix' }).events].slice(0, N)
const say = (m: string) => process.stderr.write(`${m}\n`)

interface Server {
  proc: ChildProcess
  url: string
}

function start(cmd: string[], env: Record<string, string> = {}): Promise<Server> {
  const proc = spawn(process.execPath, [...(process.env.BENCH_NODE_ARGS ? process.env.BENCH_NODE_ARGS.split(' ') : []), '--import', 'tsx', ...cmd], { env: { ...process.env, LOG_LEVEL: 'warn', ...env }, stdio: ['ignore', 'ignore', 'pipe'] })
  let err = ''
  return new Promise((resolve, reject) => {
    proc.stderr!.on('data', (b: Buffer) => {
      err += b.toString()
      const m = /serving on (http:\/\/127\.0\.0\.1:\d+)/.exec(err)
      if (m) resolve({ proc, url: m[1]! })
    })
    proc.once('exit', (code) => reject(new Error(`server exited (${code}): ${err}`)))
  })
}

async function stop(s: Server): Promise<void> {
  if (s.proc.exitCode !== null) return
  const done = new Promise((r) => s.proc.once('exit', r))
  s.proc.kill('SIGTERM')
  await done
}

/** Posts every event once, C at a time; returns events per second and per-request latencies. */
async function load(url: string, project: string, secret: string): Promise<{ rate: number; latencies: number[]; failed: number }> {
  const bodies = events.map((e) => JSON.stringify(webhookBody(e)))
  const latencies: number[] = []
  let next = 0
  let failed = 0
  const t0 = performance.now()
  await Promise.all(
    Array.from({ length: C }, async () => {
      while (next < bodies.length) {
        const i = next++
        const body = bodies[i]!
        const headers = signedHeaders(secret, `msg_${i}`, body)
        const s = performance.now()
        const res = await fetch(`${url}/ingest/${project}`, { method: 'POST', body, headers })
        await res.arrayBuffer()
        latencies.push(performance.now() - s)
        if (!res.ok) failed++
      }
    }),
  )
  return { rate: bodies.length / ((performance.now() - t0) / 1000), latencies, failed }
}

const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))]!
const median = (xs: number[]) => pct(xs, 0.5)

type Kind = 'bare' | 'memory' | 'redis'
async function once(kind: Kind): Promise<{ rate: number; p50: number; p99: number; failed: number }> {
  if (kind === 'bare') {
    const s = await start(['bench/host-bare.ts'])
    try {
      const r = await load(s.url, 'bench', 'whsec_' + randomBytes(32).toString('base64'))
      return { rate: r.rate, p50: pct(r.latencies, 0.5), p99: pct(r.latencies, 0.99), failed: r.failed }
    } finally {
      await stop(s)
    }
  }
  const dataDir = mkdtempSync(join(tmpdir(), 'coverage-bench-host-'))
  const project = `bench${randomUUID().slice(0, 8)}`
  const host = await Host.open({ dataDir, secretKey: SECRET_KEY, logger: pino({ level: 'silent' }), processMetrics: false })
  const secret = host.ingestSecret(await host.addProject({ id: project, demo: spec, start: false }))
  await host.stop()
  // The memory row must not pick up REDIS_URL from the environment (serve reads it as --redis).
  const s = await start(['src/cli/main.ts', 'serve', '--port', '0', '--data-dir', dataDir, ...(kind === 'redis' ? ['--redis', REDIS_URL!] : [])], { COVERAGE_SECRET_KEY: SECRET_KEY, REDIS_URL: '', REDIS_CLUSTER_NODES: '', DATABASE_URL: '' })
  try {
    const r = await load(s.url, project, secret)
    return { rate: r.rate, p50: pct(r.latencies, 0.5), p99: pct(r.latencies, 0.99), failed: r.failed }
  } finally {
    await stop(s)
    rmSync(dataDir, { recursive: true, force: true })
    if (kind === 'redis') await dropKeys(pluginKeyPrefix('experiment-coverage', project))
  }
}

/** The benchmark leaves no key behind. */
async function dropKeys(prefix: string): Promise<void> {
  const redis = new Redis(REDIS_URL!)
  await deleteKeysWithPrefix(redis, prefix)
  redis.disconnect()
}

const kinds: Kind[] = process.env.BENCH_KINDS ? (process.env.BENCH_KINDS.split(',') as Kind[]) : ['bare', 'memory', ...(REDIS_URL ? (['redis'] as const) : [])]
if (!REDIS_URL) say('bench:host: REDIS_URL is not set: the Redis row is left out')
const results = new Map<Kind, { rate: number; p50: number; p99: number; failed: number }[]>(kinds.map((k) => [k, []]))
say(`bench:host: ${events.length} events a run, ${C} in flight, ${RUNS} runs of each, interleaved`)
for (let run = 1; run <= RUNS; run++) {
  for (const k of kinds) {
    const r = await once(k)
    results.get(k)!.push(r)
    say(`  run ${run} ${k}: ${Math.round(r.rate)} events/s, p50 ${r.p50.toFixed(2)} ms, p99 ${r.p99.toFixed(2)} ms${r.failed ? `, ${r.failed} not 2xx` : ''}`)
  }
}
const bare = median(results.get('bare')!.map((r) => r.rate))
const label: Record<Kind, string> = { bare: 'bare Hono server, 200 without work (baseline)', memory: 'host, memory cache + SQLite', redis: 'host, Redis cache + SQLite' }
const lines = [
  `Sustained intake over HTTP on loopback, one signed event per request, ${C} in flight, ${events.length} events a run; medians of ${RUNS} runs.`,
  '',
  '| server | events/s | p50 latency | p99 latency | events/s vs bare | not 2xx |',
  '|---|---:|---:|---:|---:|---:|',
  ...kinds.map((k) => {
    const rs = results.get(k)!
    const rate = median(rs.map((r) => r.rate))
    return `| ${label[k]} | ${Math.round(rate).toLocaleString('en-US')} | ${median(rs.map((r) => r.p50)).toFixed(2)} ms | ${median(rs.map((r) => r.p99)).toFixed(2)} ms | ${(rate / bare).toFixed(2)} | ${rs.reduce((a, r) => a + r.failed, 0)} |`
  }),
]
process.stdout.write(`${lines.join('\n')}\n`)
