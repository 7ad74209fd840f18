import { DEMO_PROJECT, demoSpec, simulateDemo } from '../sim/demo.js'
import { definitionsOf } from '../sim/simulation.js'
import { auditEvents } from '../audit/offline-audit.js'
import { formatReport, type Format } from './formats.js'
import { Progress } from './progress.js'

export interface DemoOptions {
  readonly seed: number
  readonly users: number
  readonly days: number
  readonly format: Format
  /** the moment the window is taken at (default: now) */
  readonly nowMs?: number
}

/**
 * The embedded default: the demo project `serve` serves (DEMO_PROJECT: twenty flags and
 * experiments, a realistic mix of healthy and broken tracking) goes through the plugin's own
 * onEvent into the in-memory cache, and is judged as the audit judges a real project: coverage
 * table, plan and readout. The whole window is counted: what the served demo settles on.
 */
export async function runDemo(opts: DemoOptions): Promise<string> {
  const spec = demoSpec(opts.nowMs ?? Date.now(), { seed: opts.seed, users: opts.users, days: opts.days })
  const sim = simulateDemo(spec)
  const defs = definitionsOf(sim.project)
  const progress = new Progress('demo: events through onEvent')
  const { report, events, seconds } = await auditEvents(defs, {}, sim.events, { now: spec.endMs, onEvent: (n) => progress.tick(n) })
  progress.done(
    `demo: ${events.toLocaleString('en-US')} simulated events (${DEMO_PROJECT.flags} flags, ${spec.users.toLocaleString('en-US')} users, ${spec.days} days up to ${new Date(spec.endMs).toISOString()}) went through the plugin's onEvent in ${seconds.toFixed(1)} s. Injected: ${sim
      .truth()
      .defects.map((d) => `${d.defect} on ${d.flag}`)
      .join('; ')}`,
  )
  return formatReport(report, opts.format)
}
