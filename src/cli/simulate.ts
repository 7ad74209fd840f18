import { parseDefectList } from '../sim/defects.js'
import { simulate } from '../sim/simulation.js'
import { writeSimulation } from '../sim/write.js'
import { SCENARIOS } from '../sim/scenarios.js'
import { ExitError } from './errors.js'
import { Progress } from './progress.js'
import { HOUR_MS } from '../time.js'

export interface SimulateOptions {
  readonly seed: number
  readonly out: string
  readonly flags: number
  readonly users: number
  readonly days: number
  readonly defects: string
  readonly end?: string
  readonly gzip: boolean
  readonly redeliver: number
  /** A named scenario (SCENARIOS): its days and defects apply unless given on the command line. */
  readonly scenario?: string
  readonly given?: { readonly days: boolean; readonly defects: boolean }
}

export function parseEnd(end: string | undefined): number {
  if (end === undefined) return Math.floor(Date.now() / HOUR_MS) * HOUR_MS
  const ms = Date.parse(end)
  if (!Number.isFinite(ms)) throw new ExitError(`--end: "${end}" is not a date (use e.g. 2026-11-20 or 2026-11-20T12:00:00Z)`, 2)
  return ms
}

/** `experiment-coverage simulate`: writes a simulated project as the audit's offline input files. */
export async function runSimulate(opts: SimulateOptions): Promise<void> {
  const scenario = opts.scenario === undefined ? undefined : SCENARIOS[opts.scenario]
  if (opts.scenario !== undefined && !scenario) throw new ExitError(`--scenario: unknown scenario "${opts.scenario}"; known: ${Object.keys(SCENARIOS).join(', ')}`, 2)
  const days = scenario && !opts.given?.days ? scenario.days : opts.days
  let defects
  try {
    defects = parseDefectList(scenario && !opts.given?.defects ? scenario.defects : opts.defects)
  } catch (e) {
    throw new ExitError(`--defects: ${(e as Error).message}`, 2)
  }
  let sim
  try {
    sim = simulate({ seed: opts.seed, flags: opts.flags, users: opts.users, days, endMs: parseEnd(opts.end), defects, redeliveryShare: opts.redeliver, ...scenario?.options })
  } catch (e) {
    throw new ExitError(`simulate: ${(e as Error).message}`, 2)
  }
  const progress = new Progress('simulate: events written')
  const result = await writeSimulation(sim, opts.out, { gzip: opts.gzip, onProgress: (n) => progress.tick(n) })
  const rate = Math.round(result.events / result.seconds)
  progress.done(
    `simulate: ${result.events.toLocaleString('en-US')} events for ${opts.flags} flags and ${opts.users.toLocaleString('en-US')} users over ${days} days in ${result.seconds.toFixed(1)} s (${rate.toLocaleString('en-US')} events/s)`,
  )
  for (const d of result.truth.defects) process.stderr.write(`  injected ${d.defect}${d.param === null ? '' : ` (${d.param})`} on ${d.flag}\n`)
  for (const f of result.files) process.stdout.write(`${f}\n`)
}
