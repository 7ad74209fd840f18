import { EmbeddedPlugin } from '../host/embedded.js'
import { AREAS, GUARDRAIL_EVENTS } from '../sim/catalog.js'
import { simulate } from '../sim/simulation.js'
import { formatObservationsTable } from './format-observations.js'
import { Progress } from './progress.js'

export interface DemoOptions {
  readonly seed: number
  readonly users: number
  readonly days: number
  readonly format: 'table' | 'json'
}

const HOUR_MS = 3_600_000
const DEMO_FLAGS = 20

/**
 * The embedded default: a simulated project of twenty flags and experiments (a realistic mix of
 * healthy and broken tracking) goes through the plugin's own onEvent into the in-memory cache, and
 * the per-variant counters are read back the way runEveryMinute does.
 */
export async function runDemo(opts: DemoOptions): Promise<string> {
  const endMs = Math.floor(Date.now() / HOUR_MS) * HOUR_MS
  const sim = simulate({ seed: opts.seed, flags: DEMO_FLAGS, users: opts.users, days: opts.days, endMs, defects: 'mix', redeliveryShare: 0.005 })
  const plugin = new EmbeddedPlugin(
    {
      goalEvents: JSON.stringify(AREAS.map((a) => a.funnel.at(-1))),
      guardrailEvents: JSON.stringify(GUARDRAIL_EVENTS.slice(0, 2)),
      lookbackDays: String(Math.max(30, opts.days + 1)),
    },
    { now: () => endMs, log: (_level, message) => process.stderr.write(`${message}\n`) },
  )
  await plugin.setup()
  const progress = new Progress('demo: events through onEvent')
  let n = 0
  for (const event of sim.events) {
    await plugin.onEvent(event)
    progress.tick(++n)
  }
  const observations = await plugin.observe()
  await plugin.teardown()
  progress.done(
    `demo: ${n.toLocaleString('en-US')} simulated events (${DEMO_FLAGS} flags, ${opts.users} users, ${opts.days} days) went through the plugin's onEvent; injected defects: ${sim
      .truth()
      .defects.map((d) => `${d.defect} on ${d.flag}`)
      .join('; ')}`,
  )
  return opts.format === 'json' ? `${JSON.stringify(observations, null, 2)}\n` : formatObservationsTable(observations)
}
