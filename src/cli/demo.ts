import { EmbeddedPlugin } from '../host/embedded.js'
import { simulateEvents } from '../sim/stream.js'
import { formatObservationsTable } from './format-observations.js'
import { Progress } from './progress.js'

export interface DemoOptions {
  readonly seed: number
  readonly users: number
  readonly days: number
  readonly format: 'table' | 'json'
}

const HOUR_MS = 3_600_000

/**
 * The embedded default: a simulated project's events go through the plugin's own onEvent into the
 * in-memory cache, and the per-variant counters are read back the way runEveryMinute does.
 */
export async function runDemo(opts: DemoOptions): Promise<string> {
  const endMs = Math.floor(Date.now() / HOUR_MS) * HOUR_MS
  const plugin = new EmbeddedPlugin(
    { goalEvents: '["checkout_completed", "signed_up"]', guardrailEvents: '["$exception"]', lookbackDays: String(Math.max(30, opts.days + 1)) },
    { now: () => endMs, log: (_level, message) => process.stderr.write(`${message}\n`) },
  )
  await plugin.setup()
  const progress = new Progress('demo: events through onEvent')
  let n = 0
  for (const event of simulateEvents({ seed: opts.seed, users: opts.users, days: opts.days, endMs })) {
    await plugin.onEvent(event)
    progress.tick(++n)
  }
  const observations = await plugin.observe()
  await plugin.teardown()
  progress.done(`demo: ${n.toLocaleString('en-US')} simulated events from ${opts.users} users over ${opts.days} days went through the plugin's onEvent`)
  return opts.format === 'json' ? `${JSON.stringify(observations, null, 2)}\n` : formatObservationsTable(observations)
}
