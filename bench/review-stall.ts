/**
 * The review's stall: how long the event loop is blocked while the host runs its minute task and a
 * review (counters read back, the report built, stored), the time the intake cannot answer. Beside
 * it, the longest block while the host idles, in the same run. The demo project with its past
 * counted (DEMO_PROJECT, 20 flags), and with `--flags` more flags. Medians over runs.
 * Run: npm run bench:review [-- --runs 5 --flags 200]
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { parseArgs } from 'node:util'
import pino from 'pino'
import { countDemoPast, storeDemoPast } from '../src/host/demo-past.js'
import { Host } from '../src/host/host.js'
import { demoSpec } from '../src/sim/demo.js'

const { values: args } = parseArgs({ options: { runs: { type: 'string', default: '5' }, flags: { type: 'string', default: '20' } } })
const RUNS = Number(args.runs)
const FLAGS = Number(args.flags)

/** The longest gap between ticks of a 1 ms timer while `work` runs: the longest the loop was blocked. */
async function longestBlock(work: () => Promise<unknown>): Promise<{ blockMs: number; totalMs: number }> {
  let last = performance.now()
  let worst = 0
  const timer = setInterval(() => {
    const t = performance.now()
    worst = Math.max(worst, t - last)
    last = t
  }, 1)
  const t0 = performance.now()
  await work()
  const totalMs = performance.now() - t0
  await new Promise((r) => setTimeout(r, 5))
  clearInterval(timer)
  worst = Math.max(worst, performance.now() - last)
  return { blockMs: worst, totalMs }
}

const dataDir = mkdtempSync(join(tmpdir(), 'coverage-bench-review-'))
try {
  const now = Date.now()
  const spec = demoSpec(now, { flags: FLAGS })
  const host = await Host.open({ dataDir, logger: pino({ level: 'silent' }), processMetrics: false, secretKey: 'bench-review-key-not-a-secret' })
  const row = await host.addProject({ id: 'demo', demo: spec, start: false })
  const past = await countDemoPast(spec, host.maskedConfig(row), now)
  await storeDemoPast(host.store, 'demo', past)
  await host.start({ scheduler: false })
  const rt = host.runtime('demo')!
  const idle: number[] = []
  const review: number[] = []
  const total: number[] = []
  for (let run = 0; run < RUNS; run++) {
    idle.push((await longestBlock(() => new Promise((r) => setTimeout(r, 300)))).blockMs)
    const r = await longestBlock(() => rt.review(Date.now()))
    review.push(r.blockMs)
    total.push(r.totalMs)
    process.stderr.write(`  run ${run + 1}/${RUNS}: idle block ${idle.at(-1)!.toFixed(1)} ms, review block ${r.blockMs.toFixed(1)} ms (review ${r.totalMs.toFixed(0)} ms)\n`)
  }
  await host.stop()
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
  const flags = (await rt.report()).report as { flags: unknown[] }
  process.stdout.write(
    [
      `The demo project (${flags.flags.length} flags, ${past.events.toLocaleString('en-US')} events counted), memory cache and SQLite; medians of ${RUNS} runs.`,
      '',
      '| measure | longest event-loop block | vs idle |',
      '|---|---:|---:|',
      `| the host idling (a 1 ms timer, 300 ms) | ${median(idle).toFixed(1)} ms | 1.0 |`,
      `| a review: counters read, report built and stored (it takes ${median(total).toFixed(0)} ms in all) | ${median(review).toFixed(1)} ms | ${(median(review) / median(idle)).toFixed(1)} |`,
      '',
    ].join('\n'),
  )
} finally {
  rmSync(dataDir, { recursive: true, force: true })
}
