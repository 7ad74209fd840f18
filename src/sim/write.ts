import { once } from 'node:events'
import { createWriteStream, mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { createGzip } from 'node:zlib'
import type { Writable } from 'node:stream'
import type { Simulation } from './simulation.js'
import { serializeSimEvent } from './traffic.js'
import type { Truth } from './truth.js'

/** PostHog's list endpoints page as `{count, next, previous, results}`; the offline files keep that shape. */
export function listResponse(results: unknown[]): { count: number; next: null; previous: null; results: unknown[] } {
  return { count: results.length, next: null, previous: null, results }
}

export interface WriteResult {
  readonly events: number
  readonly files: string[]
  readonly truth: Truth
  readonly seconds: number
}

const CHUNK = 1 << 20

/**
 * Writes the offline input files the audit reads, streaming the events (never all in memory):
 * events.ndjson[.gz], flags.json, experiments.json, cohorts.json, and truth.json.
 */
export async function writeSimulation(
  sim: Simulation,
  dir: string,
  opts: { gzip?: boolean; onProgress?: (events: number) => void } = {},
): Promise<WriteResult> {
  mkdirSync(dir, { recursive: true })
  const started = performance.now()
  const eventsFile = join(dir, opts.gzip ? 'events.ndjson.gz' : 'events.ndjson')
  const file = createWriteStream(eventsFile)
  let out: Writable = file
  if (opts.gzip) {
    const gzip = createGzip({ level: 6 })
    gzip.pipe(file)
    out = gzip
  }
  let lines: string[] = []
  let size = 0
  let n = 0
  for (const event of sim.events) {
    const line = serializeSimEvent(event)
    lines.push(line)
    size += line.length
    n++
    if (size >= CHUNK) {
      lines.push('')
      if (!out.write(lines.join('\n'))) await once(out, 'drain')
      lines = []
      size = 0
      opts.onProgress?.(n)
    }
  }
  if (lines.length > 0) lines.push('')
  out.end(lines.join('\n'))
  await once(file, 'close')
  const truth = sim.truth()
  const files = [eventsFile]
  const json = (name: string, value: unknown) => {
    const path = join(dir, name)
    writeFileSync(path, `${JSON.stringify(value, null, 2)}\n`)
    files.push(path)
  }
  json('flags.json', listResponse(sim.project.api.flags))
  json('experiments.json', listResponse(sim.project.api.experiments))
  json('cohorts.json', listResponse(sim.project.api.cohorts))
  json('group_types.json', sim.project.api.groupTypes)
  // The flags' history, as the activity endpoint lists it, where a defect changed a flag mid-run.
  if (sim.project.api.activity.length > 0) json('activity.json', listResponse(sim.project.api.activity))
  json('truth.json', truth)
  return { events: n, files, truth, seconds: (performance.now() - started) / 1000 }
}
