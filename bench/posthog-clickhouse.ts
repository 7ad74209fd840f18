/**
 * The backfill's HogQL on a real ClickHouse (chdb, as the tests run it) over a simulated project of
 * at least 2 million events: per query of the plan, ClickHouse's time (median of several runs), the
 * rows it read and the rows it returned, beside baselines measured in the same rounds; and the time
 * to parse and print the HogQL as PostHog prints it, apart from ClickHouse's. Queries over PostHog's
 * 10-second limit for synchronous personal-API-key queries are split as the audit splits them and
 * their parts are measured too. Progress on stderr, the Markdown table on stdout.
 * Run: npm run bench:clickhouse [-- --users 28000 --days 30 --flags 100 --runs 3 --seed 1]
 */
import { loadavg, cpus } from 'node:os'
import { performance } from 'node:perf_hooks'
import { parseArgs } from 'node:util'
import { auditConfig } from '../src/definitions/audit-config.js'
import { experimentRuns } from '../src/definitions/windows.js'
import { parseSelect } from '../src/hog/parser.js'
import { backfillWindow } from '../src/posthog/backfill.js'
import { backfillPlanner, planBackfill, type BackfillQuery } from '../src/posthog/backfill-queries.js'
import { parseSettings } from '../src/settings/settings.js'
import { parseDefectList } from '../src/sim/defects.js'
import { definitionsOf, simulate } from '../src/sim/simulation.js'
import type { SimEvent } from '../src/sim/traffic.js'
import { HogQLPrinter, INTERNAL_EMAIL_FILTER, PostHogBox, withInternalUsers } from '../tests/support/posthog-box/index.js'

const { values: args } = parseArgs({
  options: {
    users: { type: 'string', default: '28000' },
    days: { type: 'string', default: '30' },
    flags: { type: 'string', default: '100' },
    runs: { type: 'string', default: '3' },
    seed: { type: 'string', default: '1' },
    'min-events': { type: 'string', default: '2000000' },
    /** PostHog's limit; lower only to try the splitting on a small project */
    'limit-seconds': { type: 'string', default: '10' },
  },
})
const USERS = Number(args.users)
const DAYS = Number(args.days)
const FLAGS = Number(args.flags)
const RUNS = Number(args.runs)
const MIN_EVENTS = Number(args['min-events'])
const END = Date.UTC(2026, 10, 20, 12)
// PostHog's execution limit for synchronous queries made with a personal API key (posthog/api/query.py).
const SYNC_LIMIT_MS = Number(args['limit-seconds']) * 1000
const LIMIT = `${SYNC_LIMIT_MS / 1000} s`
// The insert's chunk: the rows of one chunk are the only ones held at once.
const CHUNK_ROWS = 50_000

const median = (xs: readonly number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number
const log = (text: string) => process.stderr.write(`${text}\n`)
const int = (n: number) => Math.round(n).toLocaleString('en-US')
const secs = (ms: number) => (ms / 1000).toFixed(ms < 10_000 ? 2 : 1)
const ratio = (a: number, b: number) => (b > 0 ? `${a / b >= 100 ? Math.round(a / b).toLocaleString('en-US') : (a / b).toFixed(1)}x` : '-')
const load = () => loadavg().map((l) => l.toFixed(2)).join(' / ')

const startedAt = performance.now()
const loadAtStart = load()
const sim = simulate({ seed: Number(args.seed), flags: FLAGS, users: USERS, days: DAYS, endMs: END, defects: parseDefectList('mix') })
const defs = definitionsOf(sim.project)
const { config, counted } = auditConfig({}, defs)
const settings = parseSettings(config, { countedEvents: counted })
const window = backfillWindow(END, settings, null, experimentRuns(defs))
const FILTERS = { filterTestAccounts: true }
const plan = planBackfill(defs, settings.metrics, window, FILTERS)
const planner = backfillPlanner(defs, settings.metrics, window, FILTERS)

// The project keeps its internal users out with team.test_account_filters, as online-audit.test.ts does.
const box = new PostHogBox({ groupTypes: defs.groupTypes, testAccountFilters: INTERNAL_EMAIL_FILTER })
let closed = false
const cleanUp = () => {
  if (closed) return
  closed = true
  box.close()
}
// The box's data directory goes on exit; an interrupted run must reach it too.
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => {
  cleanUp()
  process.exit(130)
})

try {
  await main()
} finally {
  cleanUp()
}

async function main() {
  // 1. Events: straight from the simulator into the table, one chunk at a time.
  log(`simulating ${int(USERS)} users over ${DAYS} days with ${FLAGS} flags, inserting in chunks of ${int(CHUNK_ROWS)} rows`)
  const t0 = performance.now()
  let generated = 0
  function* stream(events: Iterable<SimEvent>) {
    for (const e of events) {
      yield withInternalUsers([e])[0]!
      if (++generated % 250_000 === 0) {
        const s = (performance.now() - t0) / 1000
        log(`  ${int(generated)} events in ${s.toFixed(0)} s (${int(generated / s)}/s)`)
      }
    }
  }
  const events = await box.insert(stream(sim.events), CHUNK_ROWS)
  const insertMs = performance.now() - t0
  log(`inserted ${int(events)} events in ${secs(insertMs)} s`)
  if (events < MIN_EVENTS) throw new Error(`only ${int(events)} events (at least ${int(MIN_EVENTS)} wanted): raise --users or --days`)
  // One part per chunk would leave ClickHouse merging in the background while queries are timed.
  const t1 = performance.now()
  log('merging the table into one part (OPTIMIZE TABLE ... FINAL)')
  box.session.query(`OPTIMIZE TABLE ${box.table} FINAL`) // no result set: not through box.sql
  const optimizeMs = performance.now() - t1
  const persons = Number((await box.sql(`SELECT uniqExact(person_id) FROM ${box.table}`)).results[0]![0])
  const bytes = Number((await box.sql(`SELECT sum(data_compressed_bytes) FROM system.parts WHERE database = '${box.table.split('.')[0]}' AND table = 'events' AND active`)).results[0]![0])
  log(`merged in ${secs(optimizeMs)} s; ${int(persons)} persons, ${(bytes / 2 ** 20).toFixed(0)} MiB compressed`)

  // 2. Printing, apart from ClickHouse: the parse (PostHog's parser in WASM) and the printer's own walk.
  await parseSelect('SELECT 1') // loads the parser's WASM once, outside the timings
  const printer = new HogQLPrinter({ eventsTable: box.table, timezone: box.timezone, testAccountFilters: INTERNAL_EMAIL_FILTER, filterTestAccounts: true, personalApiKey: true })
  const printing = new Map<BackfillQuery, { parseMs: number; printMs: number }>()
  const measurePrinting = async (q: BackfillQuery) => {
    const parses: number[] = []
    for (let r = 0; r < RUNS; r++) {
      const t = performance.now()
      await parseSelect(q.hogql)
      parses.push(performance.now() - t)
    }
    await printer.printSelect(q.hogql) // the printer keeps each text's parse: later prints time the walk alone
    const prints: number[] = []
    for (let r = 0; r < RUNS; r++) {
      const t = performance.now()
      await printer.printSelect(q.hogql)
      prints.push(performance.now() - t)
    }
    printing.set(q, { parseMs: median(parses), printMs: median(prints) })
  }
  log(`printing ${plan.length} queries (${RUNS} times each)`)
  for (const q of plan) await measurePrinting(q)

  // 3. Rounds: each round runs both baselines and every query once, so drift in the machine's load
  // falls on all of them alike.
  interface Timed {
    readonly times: number[]
    rowsRead: number
    resultRows: number
    error: string | null
  }
  const timed = () => ({ times: [], rowsRead: 0, resultRows: 0, error: null }) as Timed
  const bare = timed()
  const scan = timed()
  const byQuery = new Map(plan.map((q) => [q, timed()]))
  const runSql = async (t: Timed, sql: string) => {
    const r = await box.sql(sql)
    t.times.push(r.elapsedMs)
    t.rowsRead = r.rowsRead
    t.resultRows = r.results.length
  }
  const runQuery = async (q: BackfillQuery, t: Timed) => {
    if (t.error) return
    try {
      const r = await box.hogql(q.hogql, { personalApiKey: true, filterTestAccounts: q.filterTestAccounts })
      t.times.push(r.elapsedMs)
      t.rowsRead = r.rowsRead
      t.resultRows = r.results.length
    } catch (e) {
      t.error = (e as Error).message.split('\n')[0]!.slice(0, 160)
    }
  }
  for (let round = 1; round <= RUNS; round++) {
    await runSql(bare, `SELECT count() FROM ${box.table}`)
    // Every event's properties parsed once for one key, as each backfill query reads them at least once
    // (notEmpty(properties) would read only the strings' sizes).
    await runSql(scan, `SELECT countIf(JSONExtractRaw(properties, '$feature_flag') != '') FROM ${box.table}`)
    let i = 0
    for (const [q, t] of byQuery) {
      const before = performance.now()
      await runQuery(q, t)
      log(`  round ${round}/${RUNS}, query ${++i}/${plan.length}: ${q.name}: ${t.error ?? `${secs(performance.now() - before)} s`}`)
    }
  }

  // 4. Queries over the synchronous limit, split as the audit splits them (flags, then shares of
  // units). A part runs first under the limit itself (max_execution_time, as PostHog sets it): one
  // that hits it is split again, as the audit would, without spending its full time; one that fits
  // runs RUNS times in all for its median.
  interface Row {
    readonly q: BackfillQuery
    readonly t: Timed
    readonly depth: number
    /** The part hit the limit on its first run: the time it ran before ClickHouse stopped it. */
    hitAfterMs?: number
    /** ... and backfillPlanner's split has no finer parts for it. */
    unsplittable?: boolean
  }
  const rows: Row[] = []
  const isTimeout = (message: string) => /TIMEOUT_EXCEEDED|Code: 159\b/.test(message)
  const splitRows = async (q: BackfillQuery, depth: number): Promise<void> => {
    const parts = planner.split(q)
    if (!parts) return
    for (const part of parts) {
      const t = timed()
      const row: Row = { q: part, t, depth }
      rows.push(row)
      const before = performance.now()
      try {
        const sql = await printer.printSelect(part.hogql, { join_use_nulls: 0, max_execution_time: SYNC_LIMIT_MS / 1000 })
        const r = await box.sql(sql)
        Object.assign(t, { rowsRead: r.rowsRead, resultRows: r.results.length })
        t.times.push(r.elapsedMs)
      } catch (e) {
        const message = (e as Error).message
        if (!isTimeout(message)) t.error = message.split('\n')[0]!.slice(0, 160)
        else row.hitAfterMs = performance.now() - before
      }
      log(`  split (level ${depth}) ${part.name}: ${row.hitAfterMs !== undefined ? `hit the ${SYNC_LIMIT_MS / 1000}-second limit, splitting` : (t.error ?? `${secs(t.times[0]!)} s`)}`)
      if (row.hitAfterMs !== undefined) {
        if (planner.split(part)) await splitRows(part, depth + 1)
        else row.unsplittable = true
        continue
      }
      for (let r = 1; r < RUNS && !t.error; r++) await runQuery(part, t)
    }
  }
  for (const [q, t] of byQuery) {
    rows.push({ q, t, depth: 0 })
    if (!t.error && median(t.times) > SYNC_LIMIT_MS) await splitRows(q, 1)
  }

  // 5. The table.
  const bareMs = median(bare.times)
  const scanMs = median(scan.times)
  const loadAtEnd = load()
  const totalMs = performance.now() - startedAt
  const line = (cells: readonly (string | number)[]) => `| ${cells.join(' | ')} |`
  const out: string[] = []
  out.push(`\n### The backfill's HogQL on embedded ClickHouse (chdb), ${int(events)} events (median of ${RUNS} runs)\n`)
  out.push(
    `${int(events)} simulated events (seed ${args.seed}, ${int(USERS)} users, ${int(persons)} persons, ${DAYS} days, ${FLAGS} flags with every defect once; ${(bytes / 2 ** 20).toFixed(0)} MiB compressed in one part) written straight into the table in ${secs(insertMs)} s and merged in ${secs(optimizeMs)} s. ` +
      `The plan has ${plan.length} queries (batches of up to 50 flags per unit), test accounts filtered. Each round runs both baselines and every query once.\n`,
  )
  out.push(line(['query', 'flags', 'result rows', 'rows read', 'rows read / events', 'parse ms', 'print ms', 'ClickHouse s (median)', 'min - max s', 'time / bare count', 'time / one-key scan', `over ${LIMIT}`]))
  out.push(line(['---', '---:', '---:', '---:', '---:', '---:', '---:', '---:', '---:', '---:', '---:', '---']))
  const baselineRow = (name: string, t: Timed) =>
    line([name, '-', int(t.resultRows), int(t.rowsRead), (t.rowsRead / events).toFixed(2), '-', '-', secs(median(t.times)), `${secs(Math.min(...t.times))} - ${secs(Math.max(...t.times))}`, ratio(median(t.times), bareMs), ratio(median(t.times), scanMs), '-'])
  out.push(baselineRow(`baseline: \`SELECT count() FROM <box.table>\``, bare))
  out.push(baselineRow(`baseline: one key from every event's properties, \`SELECT countIf(JSONExtractRaw(properties, '$feature_flag') != '') FROM <box.table>\``, scan))
  for (const { q, t, depth, hitAfterMs } of rows) {
    const name = `${depth > 0 ? `${'&nbsp;&nbsp;'.repeat(depth)}↳ ` : ''}${q.name.replace(/^experiment-coverage /, '')}`
    const p = printing.get(q)
    const [parse, print] = p ? [p.parseMs.toFixed(0), p.printMs.toFixed(1)] : ['-', '-']
    if (hitAfterMs !== undefined) {
      out.push(line([name, q.flags.length, '-', '-', '-', parse, print, `stopped at the limit (${secs(hitAfterMs)} s)${rows.find((r) => r.q === q)?.unsplittable ? ', no finer split' : ', split'}`, '-', '-', '-', '**yes**']))
      continue
    }
    if (t.error) {
      out.push(line([name, q.flags.length, '-', '-', '-', parse, print, `failed: ${t.error.replace(/\|/g, '\\|')}`, '-', '-', '-', '-']))
      continue
    }
    const ms = median(t.times)
    out.push(
      line([name, q.flags.length, int(t.resultRows), int(t.rowsRead), (t.rowsRead / events).toFixed(2), parse, print, secs(ms), `${secs(Math.min(...t.times))} - ${secs(Math.max(...t.times))}`, ratio(ms, bareMs), ratio(ms, scanMs), ms > SYNC_LIMIT_MS ? '**yes**' : 'no']),
    )
  }
  const splitSummary = () => {
    const leaves = rows.filter((r) => r.depth > 0 && r.hitAfterMs === undefined)
    const stuck = rows.filter((r) => r.unsplittable)
    const leafMs = leaves.filter((r) => !r.t.error).reduce((sum, r) => sum + median(r.t.times), 0)
    return `In all ${leaves.length} parts fit, taking ${secs(leafMs)} s together (median each)${stuck.length ? `; ${stuck.length} could not be split further and would fail the audit` : ''}.`
  }
  const over = rows.filter((r) => r.depth === 0 && !r.t.error && median(r.t.times) > SYNC_LIMIT_MS)
  const planMs = rows.filter((r) => r.depth === 0 && !r.t.error).reduce((sum, r) => sum + median(r.t.times), 0)
  out.push('')
  out.push(
    over.length
      ? `Over the ${LIMIT} limit (PostHog's for synchronous personal-API-key queries) here: ${over.map((r) => r.q.name.replace(/^experiment-coverage /, '')).join('; ')}. Their parts are listed under them as backfillPlanner's split makes them (a batch into halves of its flags, then one flag's units into shares of 4); each part ran first under the limit (ClickHouse's max_execution_time), and one stopped there was split again, as the audit splits a query that hits a limit. ${splitSummary()}`
      : `No query of the plan needs more than ${LIMIT} (PostHog's limit for synchronous personal-API-key queries) here, so none was split.`,
  )
  out.push(
    `The whole plan takes ${secs(planMs)} s of ClickHouse time one query after another. "rows read" is ClickHouse's statistics.rows_read: a query reading events in several subqueries counts each read; the bare count reads part metadata (${int(bare.rowsRead)} row), so rows are compared with the events in the table and time with both baselines. Parse is PostHog's HogQL parser (WASM); print is the printer's walk over the parsed query (printer.ts); neither is in ClickHouse's time. ClickHouse time is the embedded engine's on this machine (one process, max_threads = its cores); PostHog's cluster has more cores per query but other load beside it, so "over ${LIMIT}" compares this machine's time with PostHog's limit.`,
  )
  out.push(
    `Machine: ${cpus().length} cores, shared; load average (1 / 5 / 15 min) ${loadAtStart} at the start, ${loadAtEnd} at the end. Whole run: ${secs(totalMs)} s.\n`,
  )
  process.stdout.write(out.join('\n'))
}
