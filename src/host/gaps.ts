import { dt, list } from '../hog/literals.js'
import type { CountingPeriod } from './store.js'

/**
 * No gap after an outage. PostHog's webhook retries give up after about a minute, so a host down
 * for longer misses events for good. Each host process records, every few seconds, that it is
 * counting (its heartbeat, written only while its cache answers). A process that finds no process
 * counted for a while (at its start, or after its own cache came back) records the period as a gap,
 * and the gap is filled from HogQL: the events of that period are read back from PostHog and
 * replayed through the plugin's own onEvent. While a gap is pending the live intake leaves out
 * events whose time falls in it (a late retry), so each event is counted once: by the replay.
 * Events already counted live near the gap's edges are recognised by their uuid (the counters'
 * delivery markers) and counted once.
 */

/** How often a counting process writes its heartbeat. */
export const HEARTBEAT_MS = 5_000
/** A heartbeat older than this means the process was not counting. */
export const STALE_MS = 20_000
/**
 * A gap starts this long before the last heartbeat: events are delivered after their own time
 * (PostHog's pipeline, client batching), so the minute before the outage may hold undelivered ones.
 * Events of it that were counted live are recognised by uuid.
 */
export const GAP_OVERLAP_MS = 120_000
/** The fill waits this long after a gap ends, so events delivered late reach ClickHouse first. */
export const FILL_DELAY_MS = 60_000
/** Rows per replay query (HogQL returns at most 50,000 rows a query). */
export const FILL_PAGE_ROWS = 5_000

/**
 * The period no process counted, seen by `processId` now: from the last heartbeat of any process
 * (less the overlap, and never before the watermark) to now. Null while some other process counts,
 * on the very first start (nothing was counting before; the backfill covers what came before), or
 * when the silence is shorter than STALE_MS.
 */
export function missedPeriod(periods: readonly CountingPeriod[], processId: string, nowMs: number, ownLastBeat: number | null, watermark: number | null): { fromMs: number; toMs: number } | null {
  const others = periods.filter((p) => p.processId !== processId)
  if (others.some((p) => nowMs - p.aliveAt < STALE_MS)) return null
  const beats = [...others.map((p) => p.aliveAt), ...(ownLastBeat === null ? [] : [ownLastBeat])]
  if (beats.length === 0) return null
  const last = Math.max(...beats)
  if (nowMs - last < STALE_MS) return null
  const fromMs = Math.max(Math.floor((last - GAP_OVERLAP_MS) / 1000) * 1000, watermark ?? 0)
  const toMs = Math.ceil(nowMs / 1000) * 1000
  return toMs > fromMs ? { fromMs, toMs } : null
}

/**
 * The HogQL that reads a gap's events back, one page at a time, in a stable order (time, then
 * uuid), only the events the webhook destination sends. `{filters}` applies the project's test
 * account filters when the settings ask for them.
 */
export function replayQuery(gap: { fromMs: number; toMs: number }, events: readonly string[], offset: number, rows = FILL_PAGE_ROWS): string {
  return [
    'SELECT uuid, event, distinct_id, timestamp, properties, person_id, person.properties',
    'FROM events',
    `WHERE timestamp >= ${dt(gap.fromMs)} AND timestamp < ${dt(gap.toMs)} AND event IN ${list(events)} AND {filters}`,
    'ORDER BY timestamp ASC, uuid ASC',
    `LIMIT ${rows} OFFSET ${offset}`,
  ].join('\n')
}

const text = (v: unknown): string | null => (typeof v === 'string' ? v : v === null || v === undefined ? null : String(v))

function json(v: unknown): Record<string, unknown> {
  if (typeof v === 'object' && v !== null && !Array.isArray(v)) return v as Record<string, unknown>
  if (typeof v !== 'string' || v === '') return {}
  try {
    const parsed = JSON.parse(v) as unknown
    return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : {}
  } catch {
    return {}
  }
}

/** A replayed row as the webhook destination would have sent it: `{event, person}`. */
export function rowToWebhookBody(columns: readonly string[], row: readonly unknown[]): { event: Record<string, unknown>; person: Record<string, unknown> | null } {
  const at = (name: string) => row[columns.indexOf(name)]
  const personId = text(at('person_id'))
  const timestamp = at('timestamp')
  return {
    event: {
      uuid: text(at('uuid')),
      event: text(at('event')),
      distinct_id: text(at('distinct_id')),
      timestamp: typeof timestamp === 'number' ? new Date(timestamp).toISOString() : text(timestamp),
      properties: json(at('properties')),
    },
    person: personId ? { id: personId, properties: json(at('person.properties')) } : null,
  }
}
