import pg from 'pg'
import { gapOf } from './store-sqlite.js'
import { STORAGE_KEY_MAX, type CountingPeriod, type GapRow, type GapState, type HostStore, type ProjectRow, type StoredReport } from './store.js'

const SCHEMA = `
CREATE TABLE IF NOT EXISTS coverage_plugin_storage (project TEXT NOT NULL, key VARCHAR(200) NOT NULL, value TEXT NOT NULL, PRIMARY KEY (project, key));
CREATE TABLE IF NOT EXISTS coverage_projects (id TEXT PRIMARY KEY, row TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS coverage_task_claims (task TEXT NOT NULL, slot BIGINT NOT NULL, holder TEXT NOT NULL, at BIGINT NOT NULL, PRIMARY KEY (task, slot));
CREATE TABLE IF NOT EXISTS coverage_counting (project TEXT NOT NULL, process_id TEXT NOT NULL, started_at BIGINT NOT NULL, alive_at BIGINT NOT NULL, PRIMARY KEY (project, process_id));
CREATE TABLE IF NOT EXISTS coverage_gaps (project TEXT NOT NULL, from_ms BIGINT NOT NULL, to_ms BIGINT NOT NULL, state TEXT NOT NULL, done BIGINT NOT NULL, note TEXT NOT NULL, lease_holder TEXT, lease_until BIGINT, updated_at BIGINT NOT NULL, PRIMARY KEY (project, from_ms));
CREATE TABLE IF NOT EXISTS coverage_reports (project TEXT NOT NULL, at BIGINT NOT NULL, history BOOLEAN NOT NULL, report TEXT NOT NULL, PRIMARY KEY (project, at));
CREATE TABLE IF NOT EXISTS coverage_host_meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
`

/** A DATABASE_URL without its password, for logs. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url)
    if (u.password) u.password = '***'
    return u.toString()
  } catch {
    return '(a database URL that does not parse)'
  }
}

/**
 * Shared mode: PostgreSQL, where plugin-server kept plugin storage. Several host processes share
 * it; claims and leases are single statements, so they hold across processes without locks held open.
 */
export class PostgresStore implements HostStore {
  readonly kind = 'postgres' as const
  readonly pool: pg.Pool

  constructor(readonly url: string) {
    this.pool = new pg.Pool({ connectionString: url, max: 8, connectionTimeoutMillis: 5000, idleTimeoutMillis: 30_000 })
    // An idle client losing its connection (the database restarted) must not crash the host.
    this.pool.on('error', () => {})
  }

  get where(): string {
    return `PostgreSQL ${redactUrl(this.url)}`
  }

  private async q<T extends pg.QueryResultRow = Record<string, unknown>>(text: string, values: unknown[] = []): Promise<pg.QueryResult<T>> {
    return this.pool.query<T>(text, values)
  }

  async migrate(): Promise<void> {
    // Two processes starting at once: one creates the tables, the other waits on the lock.
    const client = await this.pool.connect()
    try {
      await client.query('SELECT pg_advisory_lock(727001)')
      await client.query(SCHEMA)
    } finally {
      await client.query('SELECT pg_advisory_unlock(727001)').catch(() => {})
      client.release()
    }
  }

  async ping(): Promise<void> {
    await this.q('SELECT 1')
  }

  async close(): Promise<void> {
    await this.pool.end()
  }

  async storageGet(project: string, key: string): Promise<string | undefined> {
    const r = await this.q<{ value: string }>('SELECT value FROM coverage_plugin_storage WHERE project = $1 AND key = $2', [project, key])
    return r.rows[0]?.value
  }

  async storageSet(project: string, key: string, json: string): Promise<void> {
    if (key.length > STORAGE_KEY_MAX) throw new RangeError(`storage key longer than ${STORAGE_KEY_MAX} characters: ${key.slice(0, 40)}...`)
    await this.q('INSERT INTO coverage_plugin_storage (project, key, value) VALUES ($1, $2, $3) ON CONFLICT (project, key) DO UPDATE SET value = EXCLUDED.value', [project, key, json])
  }

  async storageDel(project: string, key: string): Promise<void> {
    await this.q('DELETE FROM coverage_plugin_storage WHERE project = $1 AND key = $2', [project, key])
  }

  async listProjects(): Promise<ProjectRow[]> {
    return (await this.q<{ row: string }>('SELECT row FROM coverage_projects ORDER BY id')).rows.map((r) => JSON.parse(r.row) as ProjectRow)
  }

  async getProject(id: string): Promise<ProjectRow | null> {
    const r = await this.q<{ row: string }>('SELECT row FROM coverage_projects WHERE id = $1', [id])
    return r.rows[0] ? (JSON.parse(r.rows[0].row) as ProjectRow) : null
  }

  async putProject(row: ProjectRow): Promise<void> {
    await this.q('INSERT INTO coverage_projects (id, row) VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET row = EXCLUDED.row', [row.id, JSON.stringify(row)])
  }

  async claim(task: string, slot: number, holder: string, nowMs: number): Promise<boolean> {
    const r = await this.q('INSERT INTO coverage_task_claims (task, slot, holder, at) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING', [task, slot, holder, nowMs])
    return r.rowCount === 1
  }

  async pruneClaims(beforeMs: number): Promise<void> {
    await this.q('DELETE FROM coverage_task_claims WHERE at < $1', [beforeMs])
  }

  async heartbeat(project: string, p: CountingPeriod): Promise<void> {
    await this.q(
      'INSERT INTO coverage_counting (project, process_id, started_at, alive_at) VALUES ($1, $2, $3, $4) ON CONFLICT (project, process_id) DO UPDATE SET alive_at = EXCLUDED.alive_at',
      [project, p.processId, p.startedAt, p.aliveAt],
    )
  }

  async periods(project: string): Promise<CountingPeriod[]> {
    const r = await this.q<{ process_id: string; started_at: string; alive_at: string }>('SELECT process_id, started_at, alive_at FROM coverage_counting WHERE project = $1', [project])
    return r.rows.map((x) => ({ processId: x.process_id, startedAt: Number(x.started_at), aliveAt: Number(x.alive_at) }))
  }

  async gaps(project: string): Promise<GapRow[]> {
    return (await this.q('SELECT * FROM coverage_gaps WHERE project = $1 ORDER BY from_ms', [project])).rows.map(gapOf)
  }

  async addGap(g: GapRow): Promise<void> {
    await this.q('INSERT INTO coverage_gaps (project, from_ms, to_ms, state, done, note, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING', [
      g.project,
      g.fromMs,
      g.toMs,
      g.state,
      g.done,
      g.note,
      g.updatedAt,
    ])
  }

  async leaseGap(project: string, fromMs: number, holder: string, nowMs: number, untilMs: number): Promise<boolean> {
    const r = await this.q(
      "UPDATE coverage_gaps SET lease_holder = $1, lease_until = $2 WHERE project = $3 AND from_ms = $4 AND state = 'pending' AND (lease_until IS NULL OR lease_until < $5 OR lease_holder = $1)",
      [holder, untilMs, project, fromMs, nowMs],
    )
    return r.rowCount === 1
  }

  async updateGap(project: string, fromMs: number, c: { state?: GapState; done?: number; note?: string; updatedAt: number }): Promise<void> {
    await this.q('UPDATE coverage_gaps SET state = COALESCE($1, state), done = COALESCE($2, done), note = COALESCE($3, note), updated_at = $4 WHERE project = $5 AND from_ms = $6', [
      c.state ?? null,
      c.done ?? null,
      c.note ?? null,
      c.updatedAt,
      project,
      fromMs,
    ])
  }

  async keyFingerprint(): Promise<string | null> {
    const r = await this.q<{ value: string }>("SELECT value FROM coverage_host_meta WHERE name = 'key_fingerprint'")
    return r.rows[0]?.value ?? null
  }

  async recordKeyFingerprint(fingerprint: string): Promise<string> {
    // One statement decides between processes starting at once: the first insert wins, the others read it.
    await this.q("INSERT INTO coverage_host_meta (name, value) VALUES ('key_fingerprint', $1) ON CONFLICT DO NOTHING", [fingerprint])
    return (await this.keyFingerprint())!
  }

  async putReport(project: string, r: StoredReport, keepInHistory: boolean): Promise<void> {
    const client = await this.pool.connect()
    try {
      await client.query('BEGIN')
      await client.query('DELETE FROM coverage_reports WHERE project = $1 AND history = false', [project])
      await client.query(
        'INSERT INTO coverage_reports (project, at, history, report) VALUES ($1, $2, $3, $4) ON CONFLICT (project, at) DO UPDATE SET report = EXCLUDED.report, history = coverage_reports.history OR EXCLUDED.history',
        [project, r.at, keepInHistory, JSON.stringify(r.report)],
      )
      await client.query('COMMIT')
    } catch (e) {
      await client.query('ROLLBACK').catch(() => {})
      throw e
    } finally {
      client.release()
    }
  }

  async latestReport(project: string): Promise<StoredReport | null> {
    const r = await this.q<{ at: string; report: string }>('SELECT at, report FROM coverage_reports WHERE project = $1 ORDER BY at DESC LIMIT 1', [project])
    return r.rows[0] ? { at: Number(r.rows[0].at), report: JSON.parse(r.rows[0].report) } : null
  }

  async reportHistory(project: string, limit: number): Promise<StoredReport[]> {
    const r = await this.q<{ at: string; report: string }>('SELECT at, report FROM coverage_reports WHERE project = $1 AND history ORDER BY at DESC LIMIT $2', [project, limit])
    return r.rows.map((x) => ({ at: Number(x.at), report: JSON.parse(x.report) }))
  }
}
