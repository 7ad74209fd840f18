import { definitionsOf, simulate } from '../sim/simulation.js'
import { auditEvents } from './audit.js'
import { formatReport, type Format } from './formats.js'
import { Progress } from './progress.js'

export interface DemoOptions {
  readonly seed: number
  readonly users: number
  readonly days: number
  readonly format: Format
}

const HOUR_MS = 3_600_000
const DEMO_FLAGS = 20

/**
 * The embedded default: a simulated project of twenty flags and experiments (a realistic mix of
 * healthy and broken tracking) goes through the plugin's own onEvent into the in-memory cache,
 * and is judged as the audit judges a real project: coverage table, plan and readout.
 */
export async function runDemo(opts: DemoOptions): Promise<string> {
  const endMs = Math.floor(Date.now() / HOUR_MS) * HOUR_MS
  const sim = simulate({ seed: opts.seed, flags: DEMO_FLAGS, users: opts.users, days: opts.days, endMs, defects: 'mix', redeliveryShare: 0.005 })
  const defs = definitionsOf(sim.project)
  const progress = new Progress('demo: events through onEvent')
  const { report, events, seconds } = await auditEvents(defs, {}, sim.events, { now: endMs, onEvent: (n) => progress.tick(n) })
  progress.done(
    `demo: ${events.toLocaleString('en-US')} simulated events (${DEMO_FLAGS} flags, ${opts.users} users, ${opts.days} days) went through the plugin's onEvent in ${seconds.toFixed(1)} s. Injected: ${sim
      .truth()
      .defects.map((d) => `${d.defect} on ${d.flag}`)
      .join('; ')}`,
  )
  return formatReport(report, opts.format)
}
