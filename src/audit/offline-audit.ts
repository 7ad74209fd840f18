/**
 * The offline audit: definitions and plugin settings in, events (any iterable) through the
 * plugin's own service into the in-memory cache, the report out. The CLI reads the files and prints;
 * tests and benchmarks call this directly.
 */
import { auditConfig } from '../definitions/audit-config.js'
import type { Definitions } from '../definitions/definitions.js'
import type { ActivityLog } from '../definitions/activity.js'
import { buildReport, type Report } from '../coverage/report.js'
import { hooksFromDefinitions } from '../plugin/definition-hooks.js'
import { EmbeddedPlugin } from '../plugin/embedded.js'
import { configuredGoals, parseSettings } from '../settings/settings.js'
import { DAY_MS } from '../time.js'
import { IGNORED } from '../counters/ingest.js'

export interface AuditRun {
  readonly report: Report
  readonly events: number
  readonly seconds: number
}

/**
 * The audit without files: definitions and plugin settings in, events (any iterable) through the
 * plugin's own onEvent into the in-memory cache, the report out. The CLI, tests and benchmarks share it.
 */
export async function auditEvents(
  defs: Definitions,
  userConfig: Record<string, unknown>,
  events: AsyncIterable<unknown> | Iterable<unknown>,
  opts: { now?: number; onEvent?: (n: number) => void; activity?: ActivityLog | null } = {},
): Promise<AuditRun> {
  const { config, counted } = auditConfig(userConfig, defs)
  const settings = parseSettings(config, { countedEvents: counted })
  const fixedNow = opts.now ?? null
  // Replaying a file, "now" follows the events (never more than a day past the real clock, so one
  // absurd timestamp cannot expire everything): counters age exactly as they would have live.
  const ceiling = Date.now() + DAY_MS
  let clock = fixedNow ?? 0
  const plugin = new EmbeddedPlugin(config, { ...(await hooksFromDefinitions(defs, configuredGoals(settings))), countedEvents: counted, now: () => clock, log: () => {}, exactlyOnce: false })
  await plugin.setup()
  let n = 0
  const started = performance.now()
  for await (const value of events) {
    if (fixedNow === null) {
      const ts = eventTime(value)
      if (Number.isFinite(ts) && ts > clock && ts <= ceiling) clock = ts
    }
    // An event with nothing to count is answered with the one shared promise: no turn to wait for.
    const counting = plugin.onEvent(value)
    if (counting !== IGNORED) await counting
    n++
    opts.onEvent?.(n)
  }
  if (clock === 0) clock = Date.now()
  const observations = await plugin.observe()
  await plugin.teardown()
  const report = buildReport({ definitions: defs, observations, settings, nowMs: clock, activity: opts.activity ?? null })
  return { report, events: n, seconds: (performance.now() - started) / 1000 }
}

/**
 * An event's time as the reader would read it (an ISO string or epoch ms), or NaN: the clock never
 * `String()`s what a line carries (a 10,000-deep array would overflow the stack).
 */
function eventTime(value: unknown): number {
  if (typeof value !== 'object' || value === null) return NaN
  const outer = (value as { timestamp?: unknown }).timestamp
  const inner = (value as { event?: unknown }).event
  const t = outer ?? (typeof inner === 'object' && inner !== null ? (inner as { timestamp?: unknown }).timestamp : undefined)
  if (typeof t === 'number') return t
  return typeof t === 'string' && t.length <= 64 ? Date.parse(t) : NaN
}
