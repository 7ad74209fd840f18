/**
 * Offline audit benchmark: the audit of a simulated NDJSON file of about two million events
 * (readNdjson -> auditEvents, as `experiment-coverage audit` runs it) against a bare baseline over
 * the same file in the same run (readline + JSON.parse, nothing else), and the audit's reader alone
 * (readNdjson, to split reading from counting). Each measured run is its
 * own process (bench/audit-child.ts), so its peak RSS (process.resourceUsage().maxRSS) is its own.
 * Medians over --runs runs.
 * A fourth row feeds auditEvents from the bare reader, to tell the reader's cost from the plugin's.
 * Run: npm run bench:audit [-- --events 2000000 --runs 3 --seed 3 --dir /path/to/keep --keep --heap-mb 12000]
 * (--dir reuses the file written there before; --heap-mb sets the children's --max-old-space-size)
 */
import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { build } from 'esbuild'
import { simulate } from '../src/sim/simulation.js'
import { writeSimulation } from '../src/sim/write.js'

const { values: args } = parseArgs({
  options: {
    events: { type: 'string', default: '2000000' },
    runs: { type: 'string', default: '3' },
    seed: { type: 'string', default: '3' },
    dir: { type: 'string' },
    keep: { type: 'boolean', default: false },
    'heap-mb': { type: 'string' },
  },
})
const TARGET = Number(args.events)
const RUNS = Number(args.runs)
const SEED = Number(args.seed)
if (!(TARGET > 0) || !(RUNS >= 1)) throw new Error('--events and --runs must be positive numbers')
const END = Date.UTC(2026, 10, 20)
const FLAGS = 20
const DAYS = 14
const HEAP = args['heap-mb'] ? [`--max-old-space-size=${Number(args['heap-mb'])}`] : []
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..')
const CHILD_SOURCE = join(ROOT, 'bench', 'audit-child.ts')
let CHILD = ''

const fmt = (n: number) => n.toLocaleString('en-US')
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number
const sim = (users: number) => simulate({ seed: SEED, flags: FLAGS, users, days: DAYS, endMs: END, defects: 'mix' })

/** Users for about TARGET events: a pilot simulation (same seed and settings) gives events per user. */
function usersFor(target: number): { users: number; perUser: number } {
  const pilot = Math.max(200, Math.min(2000, Math.round(target / 60)))
  let n = 0
  for (const _ of sim(pilot).events) n++
  const perUser = n / pilot
  return { users: Math.max(1, Math.round(target / perUser)), perUser }
}

interface ChildResult {
  mode: string
  events: number
  seconds: number
  maxRssKb: number
  reportedEvents?: number
  flags?: number
  summary?: Record<string, number>
  /** set when the child died (out of memory, most likely): how, and the end of its stderr */
  failed?: string
}

type Mode = 'audit' | 'audit-plain' | 'reader' | 'baseline' | 'startup'

function runChild(mode: Mode, dir: string): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    const started = performance.now()
    const child = spawn(process.execPath, [...HEAP, CHILD, mode, dir], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    let err = ''
    child.stdout.setEncoding('utf8')
    child.stdout.on('data', (s: string) => (out += s))
    child.stderr.setEncoding('utf8')
    child.stderr.on('data', (s: string) => {
      err = (err + s).slice(-4000)
      process.stderr.write(s)
    })
    child.on('error', reject)
    child.on('close', (code, signal) => {
      if (code !== 0) {
        const lines = err.trim().split('\n')
        const last = lines.find((l) => /FATAL ERROR/.test(l)) ?? lines.filter((l) => /Error/.test(l)).at(-1) ?? lines.at(-1) ?? ''
        const seconds = (performance.now() - started) / 1000
        return resolve({ mode, events: 0, seconds, maxRssKb: 0, failed: `exit ${code ?? signal} after ${seconds.toFixed(0)} s: ${last.trim().slice(0, 160)}` })
      }
      try {
        resolve(JSON.parse(out.trim().split('\n').at(-1) ?? '') as ChildResult)
      } catch {
        reject(new Error(`${mode} child printed no result: ${out}`))
      }
    })
  })
}

const started = performance.now()
const dir = args.dir ?? mkdtempSync(join(tmpdir(), 'bench-audit-'))
const keep = args.keep || args.dir !== undefined
let fileEvents: number
let writeNote: string
const eventsFile = join(dir, 'events.ndjson')
if (args.dir && existsSync(eventsFile) && existsSync(join(dir, 'flags.json'))) {
  fileEvents = (JSON.parse(readFileSync(join(dir, 'truth.json'), 'utf8')) as { events: number }).events
  writeNote = `reused ${eventsFile}`
  process.stderr.write(`bench:audit: ${writeNote} (${fmt(fileEvents)} events)\n`)
} else {
  const { users, perUser } = usersFor(TARGET)
  process.stderr.write(`bench:audit: ${perUser.toFixed(1)} events per user in a pilot; writing ${fmt(users)} users (about ${fmt(Math.round(users * perUser))} events) to ${eventsFile}\n`)
  let lastReport = 0
  const written = await writeSimulation(sim(users), dir, {
    onProgress: (n) => {
      if (n - lastReport >= 250_000) {
        lastReport = n
        process.stderr.write(`  written ${fmt(n)} events\n`)
      }
    },
  })
  fileEvents = written.events
  writeNote = `${fmt(users)} simulated users (seed ${SEED}, ${FLAGS} flags, ${DAYS} days, every defect once), written in ${written.seconds.toFixed(0)} s`
}
const sizeMb = statSync(eventsFile).size / 1e6
process.stderr.write(`bench:audit: ${fmt(fileEvents)} events, ${fmt(Math.round(sizeMb))} MB uncompressed NDJSON; ${RUNS} runs\n`)

// The children run compiled JavaScript, as the installed CLI does (dist/), not through tsx: tsx's
// on-the-fly compiling of the HogQL parser's large module alone holds about 200 MB.
// Compiled under node_modules/.cache, so its imports of packages resolve; removed at the end.
CHILD = join(ROOT, 'node_modules', '.cache', `bench-audit-child-${process.pid}.mjs`)
await build({ entryPoints: [CHILD_SOURCE], bundle: true, platform: 'node', format: 'esm', target: 'node20', packages: 'external', outfile: CHILD, logLevel: 'warning' })

try {
  const runs: Record<'baseline' | 'reader' | 'audit' | 'audit-plain', ChildResult[]> = { baseline: [], reader: [], audit: [], 'audit-plain': [] }
  const idle = await runChild('startup', dir)
  for (let r = 0; r < RUNS; r++) {
    // Alternate, so a slow spell on the shared machine hits all of them.
    for (const mode of ['baseline', 'reader', 'audit', 'audit-plain'] as const) {
      const res = await runChild(mode, dir)
      if (!res.failed && res.events !== fileEvents) throw new Error(`${mode} read ${res.events} events; the file has ${fileEvents}`)
      runs[mode].push(res)
      process.stderr.write(`  run ${r + 1}/${RUNS} ${mode}: ${res.failed ? `FAILED, ${res.failed}` : `${res.seconds.toFixed(1)} s, peak RSS ${(res.maxRssKb / 1024).toFixed(0)} MB`}\n`)
    }
  }
  const a = [...runs.audit, ...runs['audit-plain']].filter((x) => !x.failed).at(-1)
  if (a && a.reportedEvents !== a.events) process.stderr.write(`bench:audit: note: auditEvents reported ${a.reportedEvents} events for ${a.events} read (its count only advances when an onEvent callback is given)\n`)
  if (a) process.stderr.write(`bench:audit: report of ${a.flags} flags: ${JSON.stringify(a.summary)}\n`)

  const ok = (r: ChildResult[]) => r.filter((x) => !x.failed)
  const base = ok(runs.baseline).length ? median(ok(runs.baseline).map((x) => x.seconds)) : NaN
  const rows = [
    { what: 'bare baseline: readline + JSON.parse', r: runs.baseline },
    { what: "the audit's reader alone: readNdjson, values dropped", r: runs.reader },
    { what: 'offline audit: readNdjson -> auditEvents (report included)', r: runs.audit },
    { what: 'for comparison: bare reader -> auditEvents (report included)', r: runs['audit-plain'] },
  ]
  const mb = (kb: number) => fmt(Math.round(kb / 1024))
  let out = `\n### Offline audit of one NDJSON file (median of ${RUNS} runs, each in its own process)\n\n`
  out += `${fmt(fileEvents)} events, ${fmt(Math.round(sizeMb))} MB: ${writeNote}. Peak RSS is the highest of the runs; children run with ${HEAP.length ? HEAP.join(' ') : "Node's default heap limit"}.\n\n`
  out += '| what | events | seconds (median) | events/s | peak RSS MB | time ratio to baseline |\n|---|---:|---:|---:|---:|---:|\n'
  const failures: string[] = []
  for (const { what, r } of rows) {
    const good = ok(r)
    for (const x of r.filter((y) => y.failed)) failures.push(`${what}: ${x.failed}`)
    const failedNote = good.length < r.length ? ` (${r.length - good.length} of ${r.length} runs failed)` : ''
    if (!good.length) {
      out += `| ${what}${failedNote} | ${fmt(fileEvents)} | failed | - | - | - |\n`
      continue
    }
    const s = median(good.map((x) => x.seconds))
    out += `| ${what}${failedNote} | ${fmt(fileEvents)} | ${s.toFixed(1)} | ${fmt(Math.round(fileEvents / s))} | ${mb(Math.max(...good.map((x) => x.maxRssKb)))} | ${(s / base).toFixed(1)}x |\n`
  }
  out += `| for scale: node with the modules loaded, no events | 0 | - | - | ${mb(idle.maxRssKb)} | - |\n`
  if (failures.length) out += `\nFailed runs:\n${failures.map((f) => `- ${f}`).join('\n')}\n`
  process.stdout.write(out)
  process.stderr.write(`bench:audit: ${((performance.now() - started) / 1000).toFixed(0)} s in all\n`)
} finally {
  rmSync(CHILD, { force: true })
  if (!keep) rmSync(dir, { recursive: true, force: true })
  else process.stderr.write(`bench:audit: kept ${dir}\n`)
}
