import { Session } from 'chdb'
import { mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { HogQLPrinter, type PrintOptions, type PropertyType } from './printer.js'

/**
 * PostHog in a box: a real ClickHouse (chdb, ClickHouse 26 embedded) holding an `events` table
 * shaped like PostHog's (posthog/models/event/sql.py: uuid UUID, event, distinct_id, properties
 * and person_properties as JSON text, timestamp DateTime64(6, 'UTC'), person_id UUID, the five
 * `$group_N` key columns), with persons as PostHog resolves them (persons on events: each event
 * carries its person's id and properties). HogQL is printed as PostHog prints it (printer.ts) and
 * run here; ClickHouse's own errors come back as they are.
 */
export interface BoxEvent {
  readonly uuid: string
  readonly event: string
  readonly distinct_id: string
  readonly timestamp: string
  readonly properties: Record<string, unknown>
  readonly person?: { readonly id: string; readonly properties?: Record<string, unknown> } | null
}

export interface BoxOptions {
  /** team.timezone (UTC by default) */
  readonly timezone?: string
  /** property definitions with a type: names of Boolean / Numeric / DateTime event properties */
  readonly eventPropertyTypes?: ReadonlyMap<string, PropertyType>
  /** team.test_account_filters, as one HogQL expression over events */
  readonly testAccountFilters?: string
  /** group type index -> group type name (what `$groups` keys the event by) */
  readonly groupTypes?: ReadonlyMap<number, string>
  /** ClickHouse's max_execution_time for a synchronous query, seconds (PostHog: 10 for personal API keys) */
  readonly maxExecutionSeconds?: number
  /** ... and for an asynchronous one (PostHog: HOGQL_INCREASED_MAX_EXECUTION_TIME) */
  readonly asyncMaxExecutionSeconds?: number
  /**
   * The most GROUP BY keys one aggregation may hold (ClickHouse's max_rows_to_group_by, thrown):
   * a deterministic stand-in for PostHog's memory limit, which a query meets through the state of
   * its aggregations and joins. The box answers it as PostHog answers the memory limit (513).
   */
  readonly maxGroupByRows?: number
}

export interface BoxResult {
  readonly columns: string[]
  readonly types: string[]
  readonly results: unknown[][]
  readonly rowsRead: number
  readonly elapsedMs: number
  readonly sql: string
}

/** A UUID made from any text: the simulator's person ids are not UUIDs, PostHog's are. */
export function uuidOf(text: string): string {
  if (/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(text)) return text.toLowerCase()
  let h1 = 0x811c9dc5
  let h2 = 0x01000193
  let h3 = 0x9e3779b9
  let h4 = 0x85ebca6b
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    h1 = Math.imul(h1 ^ c, 0x01000193)
    h2 = Math.imul(h2 ^ c, 0x5bd1e995)
    h3 = Math.imul(h3 ^ c, 0x27d4eb2d)
    h4 = Math.imul(h4 ^ c, 0x165667b1)
  }
  const hex = [h1, h2, h3, h4].map((h) => (h >>> 0).toString(16).padStart(8, '0')).join('')
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`
}

const eventsTable = (name: string) => `CREATE TABLE ${name} (
  uuid UUID,
  event String,
  properties String,
  timestamp DateTime64(6, 'UTC'),
  team_id Int64,
  distinct_id String,
  elements_chain String,
  created_at DateTime64(6, 'UTC'),
  person_id UUID,
  person_properties String,
  \`$group_0\` String, \`$group_1\` String, \`$group_2\` String, \`$group_3\` String, \`$group_4\` String
) ENGINE = MergeTree ORDER BY (toDate(timestamp), event, cityHash64(distinct_id), cityHash64(uuid))`

/**
 * chdb opens one data directory per process: every box of a process shares one session, each with
 * a database of its own, dropped when the box closes; the directory goes when the process exits.
 */
let shared: { session: Session; dir: string; boxes: number } | null = null
const DIR_PREFIX = 'ec-clickhouse-'

/** A test worker killed before its exit handler ran leaves its directory: removed once its process is gone. */
function removeStaleDirectories(): void {
  for (const name of readdirSync(tmpdir())) {
    const pid = Number(/^ec-clickhouse-(\d+)-/.exec(name)?.[1] ?? NaN)
    if (!Number.isInteger(pid) || pid === process.pid) continue
    try {
      process.kill(pid, 0)
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ESRCH') rmSync(join(tmpdir(), name), { recursive: true, force: true })
    }
  }
}

function sharedSession(): Session {
  if (!shared) {
    removeStaleDirectories()
    const dir = mkdtempSync(join(tmpdir(), `${DIR_PREFIX}${process.pid}-`))
    shared = { session: new Session(dir), dir, boxes: 0 }
    const { session } = shared
    process.once('exit', () => {
      try {
        session.cleanup()
      } catch {
        // the process is ending; the directory is removed below either way
      }
      rmSync(dir, { recursive: true, force: true })
    })
  }
  return shared.session
}

export class PostHogBox {
  readonly session: Session
  readonly timezone: string
  /** This box's events table, `<database>.events` */
  readonly table: string
  private readonly database: string

  constructor(readonly options: BoxOptions = {}) {
    this.session = sharedSession()
    this.database = `posthog_box_${process.pid}_${++shared!.boxes}`
    this.table = `${this.database}.events`
    this.timezone = options.timezone ?? 'UTC'
    this.session.query(`CREATE DATABASE ${this.database}`)
    this.session.query(eventsTable(this.table))
  }

  /** One row of the events table, as JSONEachRow, for an event the SDK sent and PostHog ingested. */
  rowOf(e: BoxEvent): string {
    const groups = (e.properties.$groups ?? {}) as Record<string, unknown>
    const groupKey = (i: number) => {
      const type = this.options.groupTypes?.get(i)
      const v = type ? groups[type] : undefined
      return v === undefined || v === null ? '' : String(v)
    }
    const personKey = e.person?.id ?? e.distinct_id
    return JSON.stringify({
      uuid: uuidOf(e.uuid),
      event: e.event,
      properties: JSON.stringify(e.properties),
      timestamp: toClickHouseTime(e.timestamp),
      team_id: 1,
      distinct_id: e.distinct_id,
      elements_chain: '',
      created_at: toClickHouseTime(e.timestamp),
      person_id: uuidOf(personKey),
      person_properties: JSON.stringify(e.person?.properties ?? {}),
      $group_0: groupKey(0),
      $group_1: groupKey(1),
      $group_2: groupKey(2),
      $group_3: groupKey(3),
      $group_4: groupKey(4),
    })
  }

  /** Writes events in chunks straight into the table. */
  async insert(events: Iterable<BoxEvent>, chunkRows = 50_000): Promise<number> {
    let lines: string[] = []
    let n = 0
    const flush = async () => {
      if (lines.length === 0) return
      await this.session.insert({ table: this.table, values: Buffer.from(lines.join('\n')), format: 'JSONEachRow' })
      n += lines.length
      lines = []
    }
    for (const e of events) {
      lines.push(this.rowOf(e))
      if (lines.length >= chunkRows) await flush()
    }
    await flush()
    return n
  }

  /** Runs HogQL as PostHog would: printed, capped, and run on ClickHouse; ClickHouse's errors pass through. */
  async hogql(hogql: string, request: Omit<PrintOptions, 'timezone' | 'eventPropertyTypes' | 'testAccountFilters'> & { async?: boolean } = {}): Promise<BoxResult> {
    const printer = new HogQLPrinter({ eventsTable: this.table, timezone: this.timezone, eventPropertyTypes: this.options.eventPropertyTypes, testAccountFilters: this.options.testAccountFilters, ...request })
    const settings: Record<string, number | string> = { join_use_nulls: 0 }
    const limit = request.async ? this.options.asyncMaxExecutionSeconds : this.options.maxExecutionSeconds
    if (limit) settings.max_execution_time = limit
    if (this.options.maxGroupByRows) Object.assign(settings, { max_rows_to_group_by: this.options.maxGroupByRows, group_by_overflow_mode: `'throw'`, max_bytes_before_external_group_by: 0 })
    const sql = await printer.printSelect(hogql, settings)
    return this.sql(sql)
  }

  /** Plain ClickHouse SQL (the benchmark's baseline), with the rows ClickHouse read. */
  async sql(sql: string): Promise<BoxResult> {
    const t0 = performance.now()
    const out = this.session.query(sql, 'JSONCompact')
    const elapsedMs = performance.now() - t0
    // After a query fails, chdb's session may still hold the start of that query's output: the
    // answer is the last JSON document.
    const parsed = JSON.parse(out.slice(Math.max(0, out.lastIndexOf('{\n\t"meta"')))) as { meta: { name: string; type: string }[]; data: unknown[][]; statistics?: { rows_read?: number } }
    const types = parsed.meta.map((m) => m.type)
    const results = parsed.data.map((row) => row.map((v, i) => valueOf(v, types[i]!)))
    return { columns: parsed.meta.map((m) => m.name), types, results, rowsRead: parsed.statistics?.rows_read ?? 0, elapsedMs, sql }
  }

  close(): void {
    this.session.query(`DROP DATABASE IF EXISTS ${this.database}`)
  }
}

function toClickHouseTime(iso: string): string {
  // Microseconds as the SDKs and PostHog keep them; a Date keeps milliseconds only.
  const micro = /^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}:\d{2})\.(\d{6})Z$/.exec(iso)
  if (micro) return `${micro[1]} ${micro[2]}.${micro[3]}`
  const d = new Date(iso)
  return Number.isNaN(d.getTime()) ? '1970-01-01 00:00:00.000000' : d.toISOString().replace('T', ' ').replace('Z', '000')
}

/**
 * A value as PostHog's query API returns it in JSON: numbers as numbers (ClickHouse quotes 64-bit
 * integers in JSON), date-times as ISO 8601 with their offset, everything else as ClickHouse gives it.
 */
function valueOf(v: unknown, type: string): unknown {
  if (v === null) return null
  const base = type.replace(/^Nullable\((.*)\)$/, '$1').replace(/^LowCardinality\((.*)\)$/, '$1')
  if (/^U?Int(64|128|256)$/.test(base) && typeof v === 'string') return Number(v)
  if (base.startsWith('DateTime') && typeof v === 'string') {
    const zone = /'([^']+)'/.exec(base)?.[1] ?? 'UTC'
    return isoWithOffset(v, zone)
  }
  return v
}

/** "2026-11-20 12:00:00.000000" in `zone` -> "2026-11-20T12:00:00.000000+01:00" ("Z" for UTC). */
function isoWithOffset(local: string, zone: string): string {
  const [date, time = '00:00:00'] = local.split(' ')
  const asUtc = Date.parse(`${date}T${time.slice(0, 12)}Z`)
  if (Number.isNaN(asUtc)) return local
  // The zone's offset at that moment, from Intl (the same tz database ClickHouse uses).
  const parts = new Intl.DateTimeFormat('en-US', { timeZone: zone, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit' }).formatToParts(new Date(asUtc))
  const get = (t: string) => Number(parts.find((p) => p.type === t)?.value)
  const shown = Date.UTC(get('year'), get('month') - 1, get('day'), get('hour'), get('minute'), get('second'))
  const offsetMin = Math.round((shown - Math.floor(asUtc / 1000) * 1000) / 60_000)
  if (offsetMin === 0) return `${date}T${time}Z`
  const sign = offsetMin > 0 ? '+' : '-'
  const abs = Math.abs(offsetMin)
  return `${date}T${time}${sign}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`
}
