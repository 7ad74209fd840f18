/**
 * One measured run of bench/audit.ts, in its own process so its peak memory is its own:
 *   node <this file compiled> <audit|audit-plain|reader|baseline|startup> <dir>   (bench/audit.ts compiles it)
 * Prints one JSON line on stdout: {events, seconds, maxRssKb, ...}. Timing covers reading the
 * file to the end (and, for the audit, the report); module loading is not timed.
 */
import { createReadStream } from 'node:fs'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { createInterface } from 'node:readline'
import { readJsonFile } from '../src/cli/audit.js'
import { auditEvents } from '../src/audit/offline-audit.js'
import { readNdjson } from '../src/cli/read-ndjson.js'
import { parseCohorts, parseExperiments, parseFlags, parseGroupTypes, type Definitions } from '../src/definitions/definitions.js'

const [mode, dir] = process.argv.slice(2)
if (!mode || !dir) throw new Error('usage: audit-child.ts <audit|audit-plain|reader|baseline|startup> <dir>')
const file = join(dir, 'events.ndjson')

function definitions(): Definitions {
  const json = (name: string) => readJsonFile(join(dir!, name))
  return {
    flags: parseFlags('flags.json', json('flags.json')),
    experiments: parseExperiments('experiments.json', json('experiments.json')),
    cohorts: parseCohorts('cohorts.json', json('cohorts.json')),
    groupTypes: parseGroupTypes('group_types.json', json('group_types.json')),
  }
}

/**
 * The offline audit as `experiment-coverage audit` runs it: readNdjson lines -> auditEvents.
 * With `plain`, the lines come from the bare reader instead (readline + JSON.parse), which
 * separates what readNdjson costs from what the plugin and the report cost.
 */
async function audit(plain: boolean) {
  const defs = definitions()
  const t0 = performance.now()
  let events = 0
  async function* values() {
    for await (const line of readNdjson(file)) {
      events++
      yield line.value
    }
  }
  async function* plainValues() {
    for await (const line of createInterface({ input: createReadStream(file), crlfDelay: Infinity })) {
      if (line === '') continue
      events++
      yield JSON.parse(line) as unknown
    }
  }
  const run = await auditEvents(defs, {}, plain ? plainValues() : values())
  const seconds = (performance.now() - t0) / 1000
  return { events, seconds, reportedEvents: run.events, flags: run.report.flags.length, summary: run.report.summary }
}

/** The audit's reader alone: readNdjson to the end, values dropped. */
async function reader() {
  const t0 = performance.now()
  let events = 0
  for await (const line of readNdjson(file)) if (line.value !== undefined) events++
  return { events, seconds: (performance.now() - t0) / 1000 }
}

/** The floor: read the same file with readline and JSON.parse every line, nothing else. */
async function baseline() {
  const t0 = performance.now()
  let events = 0
  const lines = createInterface({ input: createReadStream(file), crlfDelay: Infinity })
  for await (const line of lines) {
    if (line === '') continue
    JSON.parse(line)
    events++
  }
  return { events, seconds: (performance.now() - t0) / 1000 }
}

const result = mode === 'audit' || mode === 'audit-plain' ? await audit(mode === 'audit-plain') : mode === 'reader' ? await reader() : mode === 'baseline' ? await baseline() : { events: 0, seconds: 0 }
process.stdout.write(`${JSON.stringify({ mode, ...result, maxRssKb: process.resourceUsage().maxRSS })}\n`)
