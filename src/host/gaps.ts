import { CacheUnavailableError } from '../counters/cache.js'
import type { Definitions } from '../definitions/definitions.js'
import { dt, list, lit } from '../hog/literals.js'
import { canBackfill, clientOf, handleEvent, type PluginState } from '../plugin/state.js'
import { STORAGE_KEYS } from '../storage-keys.js'
import { intakeEvents } from './intake-events.js'
import type { HostMetrics } from './metrics.js'
import type { CountingPeriod, GapRow, HostStore, pluginStorage } from './store.js'

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

/** Where a fill stopped: the sort key of the last row replayed. */
export interface ReplayCursor {
  /** as PostHog returned it (ISO 8601 with its offset, to the microsecond) */
  readonly timestamp: string
  readonly uuid: string
}

/**
 * A timestamp PostHog returned ("2026-11-20T12:00:00.123456Z", or with the project's offset) as
 * the UTC text HogQL's toDateTime reads, microseconds kept: a millisecond Date would lose them,
 * and the next page would repeat or skip rows.
 */
export function utcText(iso: string): string | null {
  const m = /^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:?\d{2})?$/.exec(iso.trim())
  if (!m) return null
  const seconds = Date.parse(`${m[1]}T${m[2]}${m[4] === undefined || m[4] === 'Z' ? 'Z' : m[4].length === 5 ? `${m[4].slice(0, 3)}:${m[4].slice(3)}` : m[4]}`)
  if (Number.isNaN(seconds)) return null
  return `${new Date(seconds).toISOString().slice(0, 19).replace('T', ' ')}.${(m[3] ?? '').padEnd(6, '0').slice(0, 6)}`
}

/**
 * The HogQL that reads a gap's events back, one page at a time, in a stable order (time, then
 * uuid), only the events the webhook destination sends. `{filters}` applies the project's test
 * account filters when the settings ask for them. Pages follow the sort key (rows after the last
 * one read), not OFFSET: PostHog refuses OFFSET in a query sent with a personal API key
 * (posthog/hogql/user_query_validator.py). Every column is named: `person.properties` would come
 * back as `properties`, the event's own column's name.
 */
export function replayQuery(gap: { fromMs: number; toMs: number }, events: readonly string[], after: ReplayCursor | null, rows = FILL_PAGE_ROWS): string {
  const at = after ? utcText(after.timestamp) : null
  if (after && (at === null || !/^[0-9a-fA-F-]{36}$/.test(after.uuid))) throw new Error(`cannot resume a gap fill after ${JSON.stringify(after).slice(0, 200)}: not a timestamp and uuid PostHog returned`)
  const next = after && at ? ` AND (timestamp > toDateTime(${lit(at)}, 'UTC') OR (timestamp = toDateTime(${lit(at)}, 'UTC') AND uuid > toUUID(${lit(after.uuid)})))` : ''
  return [
    'SELECT uuid AS uuid, event AS event, distinct_id AS distinct_id, timestamp AS timestamp, properties AS properties, person_id AS person_id, person.properties AS person_properties',
    'FROM events',
    `WHERE timestamp >= ${dt(gap.fromMs)} AND timestamp < ${dt(gap.toMs)} AND event IN ${list(events)} AND {filters}${next}`,
    'ORDER BY timestamp ASC, uuid ASC',
    `LIMIT ${rows}`,
  ].join('\n')
}

/** The cursor after a page's last row. */
export function cursorAfter(columns: readonly string[], rows: readonly (readonly unknown[])[]): ReplayCursor | null {
  const last = rows.at(-1)
  if (!last) return null
  const timestamp = last[columns.indexOf('timestamp')]
  const uuid = last[columns.indexOf('uuid')]
  return typeof timestamp === 'string' && typeof uuid === 'string' ? { timestamp, uuid } : null
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
    person: personId ? { id: personId, properties: json(at('person_properties')) } : null,
  }
}

/** What recording and filling a project's gaps work with. */
export interface GapParts {
  readonly project: string
  readonly state: PluginState
  readonly storage: ReturnType<typeof pluginStorage>
  readonly store: HostStore
  readonly metrics: HostMetrics
  readonly processId: string
  readonly clock: () => number
  readonly log: (level: 'info' | 'warn', message: string) => void
  readonly definitions: () => Promise<Definitions>
}

/** Records the period no process counted, if there is one: pending when HogQL can fill it, unfillable otherwise. */
export async function recordGap(p: GapParts, now: number, lastBeat: number | null): Promise<void> {
  const gap = missedPeriod(await p.store.periods(p.project), p.processId, now, lastBeat, p.state.backfill.watermark)
  if (!gap) return
  const fillable = canBackfill(p.state)
  await p.store.addGap({
    project: p.project,
    ...gap,
    state: fillable ? 'pending' : 'unfillable',
    done: 0,
    note: fillable ? 'no host process was counting; filling from HogQL' : 'no host process was counting, and without PostHog credentials the events of this period cannot be read back',
    updatedAt: now,
  })
  p.log('warn', `no host process counted from ${new Date(gap.fromMs).toISOString()} to ${new Date(gap.toMs).toISOString()}${fillable ? '; filling it from HogQL' : '; without PostHog credentials it cannot be filled'}`)
}

/**
 * Replays pending gaps whose end is `delayMs` old, one lease at a time, resuming where a fill
 * stopped. True when some gap was due (its row changed: the caller reloads the gaps).
 */
export async function fillDueGaps(p: GapParts, gapRows: readonly GapRow[], now: number, delayMs: number): Promise<boolean> {
  const due = gapRows.filter((g) => g.state === 'pending' && g.toMs + delayMs <= now)
  for (const gap of due) {
    if (!(await p.store.leaseGap(p.project, gap.fromMs, p.processId, now, now + 10 * 60_000))) continue
    const client = clientOf(p.state)
    const events = intakeEvents(p.state.settings, await p.definitions())
    let done = gap.done
    // The fill resumes after the last row it replayed; without a cursor (a fill of an older
    // version) it starts over, and the counters' delivery markers count each event once.
    const cursorKey = STORAGE_KEYS.gapCursor(gap.fromMs)
    let after = (await p.storage.get(cursorKey, null)) as ReplayCursor | null
    try {
      for (;;) {
        const page = await client.query(replayQuery(gap, events, after), 'experiment coverage: outage fill', { filterTestAccounts: p.state.settings.filterTestAccounts })
        for (const row of page.rows) {
          const outcome = await handleEvent(p.state, rowToWebhookBody(page.columns, row), { replay: true })
          if (outcome === 'failed') throw new CacheUnavailableError('while replaying a gap')
          p.metrics.gapEvents.inc({ project: p.project, outcome })
        }
        done += page.rows.length
        after = cursorAfter(page.columns, page.rows) ?? after
        if (after) await p.storage.set(cursorKey, after)
        await p.store.updateGap(p.project, gap.fromMs, { done, updatedAt: p.clock() })
        if (page.rows.length < FILL_PAGE_ROWS) break
      }
      await p.storage.del(cursorKey)
      await p.store.updateGap(p.project, gap.fromMs, { state: 'filled', note: `filled from HogQL: ${done} events read back`, updatedAt: p.clock() })
      p.log('info', `filled the gap from ${new Date(gap.fromMs).toISOString()} to ${new Date(gap.toMs).toISOString()}: ${done} events read back from HogQL`)
    } catch (e) {
      await p.store.updateGap(p.project, gap.fromMs, { note: `fill interrupted after ${done} events, will resume: ${(e as Error).message}`, updatedAt: p.clock() })
      p.log('warn', `filling a gap stopped after ${done} events, will resume: ${(e as Error).message}`)
    }
  }
  return due.length > 0
}
