/**
 * Online audit cost: HogQL queries and HTTP requests one audit makes as the project grows, and the
 * wall time against msw with a simulated latency per request, as a multiple of one request's latency.
 * Run: npm run bench:posthog [-- --latency 50 --runs 3]
 */
import { setupServer } from 'msw/node'
import { performance } from 'node:perf_hooks'
import { parseArgs } from 'node:util'
import { http, HttpResponse, delay } from 'msw'
import { PostHogClient } from '../src/posthog/client.js'
import { auditOnline } from '../src/audit/online-audit.js'
import { simulate } from '../src/sim/simulation.js'
import { HOST, KEY, PROJECT, posthogHandlers } from '../tests/support/posthog-api.js'

const { values: args } = parseArgs({ options: { latency: { type: 'string', default: '50' }, runs: { type: 'string', default: '3' }, flags: { type: 'string', default: '100,300,1000' } } })
const LATENCY = Number(args.latency)
const RUNS = Number(args.runs)
const END = Date.UTC(2026, 10, 20, 12)
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number

const rows: string[] = []
for (const n of args.flags.split(',').map(Number)) {
  const sim = simulate({ seed: 1, flags: n, users: 1, days: 2, endMs: END, defects: [] })
  const handlers = posthogHandlers({ ...sim.project.api, query: () => ({ columns: [], results: [] }) })
  // Every request waits the simulated network and server latency first.
  const server = setupServer(http.all('*', async () => void (await delay(LATENCY))), ...handlers)
  server.listen({ onUnhandledRequest: 'error' })
  const times: number[] = []
  let requests = 0
  let queries = 0
  for (let r = 0; r < RUNS; r++) {
    let count = 0
    // PostHog's 240 requests a minute would dominate (one GET per experiment); lifted here so the
    // table shows the audit's own cost, and the minimum under the limit is computed beside it.
    const client = new PostHogClient({ host: HOST, projectId: PROJECT, personalApiKey: KEY, requestsPerMinute: 1_000_000, onRequest: () => count++ })
    const t0 = performance.now()
    const { runs } = await auditOnline(client, {}, { nowMs: END })
    times.push(performance.now() - t0)
    requests = count
    queries = runs.length
    process.stderr.write(`  ${n} flags: run ${r + 1}/${RUNS}\n`)
  }
  server.close()
  const wall = median(times)
  const experiments = sim.project.api.experiments.length
  rows.push(
    `| ${n} | ${experiments} | ${queries} | ${requests} | ${(wall / 1000).toFixed(2)} s | ${(wall / LATENCY).toFixed(1)}x | ${((requests / 240) * 60).toFixed(0)} s |`,
  )
}
process.stdout.write(
  `\n### Online audit against msw (${LATENCY} ms per request, median of ${RUNS} runs)\n\n| flags | experiments | HogQL queries | HTTP requests | wall time | wall / one request | minimum at 240 requests/min |\n|---:|---:|---:|---:|---:|---:|---:|\n${rows.join('\n')}\n\nHogQL queries grow with flags: one that finds flags outside the flag list, then per batch of 50 flags exposures, units and metrics, and per batch of 10 flags sightings and (with an experiment's primary metric) reach; requests also include the flag and cohort pages and one GET per experiment, since PostHog's experiment list omits metrics.\n`,
)
