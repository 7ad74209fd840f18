import Database from 'better-sqlite3'
import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import { STORAGE_KEY_MAX, type CountingPeriod, type GapRow, type GapState, type HostStore, type ProjectRow, type StoredReport } from './store.js'

const SCHEMA = `
CREATE TABLE IF NOT EXISTS coverage_plugin_storage (project TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (project, key));
CREATE TABLE IF NOT EXISTS coverage_projects (id TEXT PRIMARY KEY, row TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS coverage_task_claims (task TEXT NOT NULL, slot INTEGER NOT NULL, holder TEXT NOT NULL, at INTEGER NOT NULL, PRIMARY KEY (task, slot));
CREATE TABLE IF NOT EXISTS coverage_counting (project TEXT NOT NULL, process_id TEXT NOT NULL, started_at INTEGER NOT NULL, alive_at INTEGER NOT NULL, PRIMARY KEY (project, process_id));
CREATE TABLE IF NOT EXISTS coverage_gaps (project TEXT NOT NULL, from_ms INTEGER NOT NULL, to_ms INTEGER NOT NULL, state TEXT NOT NULL, done INTEGER NOT NULL, note TEXT NOT NULL, lease_holder TEXT, lease_until INTEGER, updated_at INTEGER NOT NULL, PRIMARY KEY (project, from_ms));
CREATE TABLE IF NOT EXISTS coverage_reports (project TEXT NOT NULL, at INTEGER NOT NULL, history INTEGER NOT NULL, report TEXT NOT NULL, PRIMARY KEY (project, at));
CREATE TABLE IF NOT EXISTS coverage_host_meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
`

/**
 * The embedded default: one SQLite file (WAL, so several host processes on one machine can share
 * it; a busy timeout instead of "database is locked"). better-sqlite3 is synchronous and fast:
 * each call is one short statement.
 */
export class SqliteStore implements HostStore {
  readonly kind = 'sqlite' as const
  private readonly db: Database.Database

  constructor(readonly file: string) {
    if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true, mode: 0o700 })
    this.db = new Database(file)
    this.db.pragma('journal_mode = WAL')
    this.db.pragma('busy_timeout = 5000')
    this.db.pragma('synchronous = NORMAL')
  }

  get where(): string {
    return `SQLite ${this.file}`
  }

  async migrate(): Promise<void> {
    this.db.exec(SCHEMA)
  }

  async ping(): Promise<void> {
    this.db.prepare('SELECT 1').get()
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close()
  }

  async storageGet(project: string, key: string): Promise<string | undefined> {
    const row = this.db.prepare('SELECT value FROM coverage_plugin_storage WHERE project = ? AND key = ?').get(project, key) as { value: string } | undefined
    return row?.value
  }

  async storageSet(project: string, key: string, json: string): Promise<void> {
    if (key.length > STORAGE_KEY_MAX) throw new RangeError(`storage key longer than ${STORAGE_KEY_MAX} characters: ${key.slice(0, 40)}...`)
    this.db.prepare('INSERT INTO coverage_plugin_storage (project, key, value) VALUES (?, ?, ?) ON CONFLICT (project, key) DO UPDATE SET value = excluded.value').run(project, key, json)
  }

  async storageDel(project: string, key: string): Promise<void> {
    this.db.prepare('DELETE FROM coverage_plugin_storage WHERE project = ? AND key = ?').run(project, key)
  }

  async listProjects(): Promise<ProjectRow[]> {
    return (this.db.prepare('SELECT row FROM coverage_projects ORDER BY id').all() as { row: string }[]).map((r) => JSON.parse(r.row) as ProjectRow)
  }

  async getProject(id: string): Promise<ProjectRow | null> {
    const r = this.db.prepare('SELECT row FROM coverage_projects WHERE id = ?').get(id) as { row: string } | undefined
    return r ? (JSON.parse(r.row) as ProjectRow) : null
  }

  async putProject(row: ProjectRow): Promise<void> {
    this.db.prepare('INSERT INTO coverage_projects (id, row) VALUES (?, ?) ON CONFLICT (id) DO UPDATE SET row = excluded.row').run(row.id, JSON.stringify(row))
  }

  async claim(task: string, slot: number, holder: string, nowMs: number): Promise<boolean> {
    return this.db.prepare('INSERT INTO coverage_task_claims (task, slot, holder, at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING').run(task, slot, holder, nowMs).changes === 1
  }

  async pruneClaims(beforeMs: number): Promise<void> {
    this.db.prepare('DELETE FROM coverage_task_claims WHERE at < ?').run(beforeMs)
  }

  async heartbeat(project: string, p: CountingPeriod): Promise<void> {
    this.db
      .prepare('INSERT INTO coverage_counting (project, process_id, started_at, alive_at) VALUES (?, ?, ?, ?) ON CONFLICT (project, process_id) DO UPDATE SET alive_at = excluded.alive_at')
      .run(project, p.processId, p.startedAt, p.aliveAt)
  }

  async periods(project: string): Promise<CountingPeriod[]> {
    return (this.db.prepare('SELECT process_id, started_at, alive_at FROM coverage_counting WHERE project = ?').all(project) as { process_id: string; started_at: number; alive_at: number }[]).map(
      (r) => ({ processId: r.process_id, startedAt: r.started_at, aliveAt: r.alive_at }),
    )
  }

  async gaps(project: string): Promise<GapRow[]> {
    const rows = this.db.prepare('SELECT * FROM coverage_gaps WHERE project = ? ORDER BY from_ms').all(project) as Record<string, unknown>[]
    return rows.map(gapOf)
  }

  async addGap(g: GapRow): Promise<void> {
    this.db
      .prepare('INSERT INTO coverage_gaps (project, from_ms, to_ms, state, done, note, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING')
      .run(g.project, g.fromMs, g.toMs, g.state, g.done, g.note, g.updatedAt)
  }

  async leaseGap(project: string, fromMs: number, holder: string, nowMs: number, untilMs: number): Promise<boolean> {
    return (
      this.db
        .prepare(
          "UPDATE coverage_gaps SET lease_holder = ?, lease_until = ? WHERE project = ? AND from_ms = ? AND state = 'pending' AND (lease_until IS NULL OR lease_until < ? OR lease_holder = ?)",
        )
        .run(holder, untilMs, project, fromMs, nowMs, holder).changes === 1
    )
  }

  async updateGap(project: string, fromMs: number, c: { state?: GapState; done?: number; note?: string; updatedAt: number }): Promise<void> {
    this.db
      .prepare('UPDATE coverage_gaps SET state = COALESCE(?, state), done = COALESCE(?, done), note = COALESCE(?, note), updated_at = ? WHERE project = ? AND from_ms = ?')
      .run(c.state ?? null, c.done ?? null, c.note ?? null, c.updatedAt, project, fromMs)
  }

  async keyFingerprint(): Promise<string | null> {
    const r = this.db.prepare("SELECT value FROM coverage_host_meta WHERE name = 'key_fingerprint'").get() as { value: string } | undefined
    return r?.value ?? null
  }

  async recordKeyFingerprint(fingerprint: string): Promise<string> {
    this.db.prepare("INSERT INTO coverage_host_meta (name, value) VALUES ('key_fingerprint', ?) ON CONFLICT DO NOTHING").run(fingerprint)
    return (await this.keyFingerprint())!
  }

  async putReport(project: string, r: StoredReport, keepInHistory: boolean): Promise<void> {
    const tx = this.db.transaction(() => {
      // One latest report (history = 0) per project, plus the runs kept in history.
      this.db.prepare('DELETE FROM coverage_reports WHERE project = ? AND history = 0').run(project)
      this.db.prepare('INSERT INTO coverage_reports (project, at, history, report) VALUES (?, ?, ?, ?) ON CONFLICT (project, at) DO UPDATE SET report = excluded.report, history = MAX(history, excluded.history)').run(
        project,
        r.at,
        keepInHistory ? 1 : 0,
        JSON.stringify(r.report),
      )
    })
    tx()
  }

  async latestReport(project: string): Promise<StoredReport | null> {
    const r = this.db.prepare('SELECT at, report FROM coverage_reports WHERE project = ? ORDER BY at DESC LIMIT 1').get(project) as { at: number; report: string } | undefined
    return r ? { at: r.at, report: JSON.parse(r.report) } : null
  }

  async reportHistory(project: string, limit: number): Promise<StoredReport[]> {
    const rows = this.db.prepare('SELECT at, report FROM coverage_reports WHERE project = ? AND history = 1 ORDER BY at DESC LIMIT ?').all(project, limit) as { at: number; report: string }[]
    return rows.map((r) => ({ at: r.at, report: JSON.parse(r.report) }))
  }
}

export function gapOf(r: Record<string, unknown>): GapRow {
  return {
    project: String(r.project),
    fromMs: Number(r.from_ms),
    toMs: Number(r.to_ms),
    state: r.state as GapState,
    done: Number(r.done),
    note: String(r.note ?? ''),
    updatedAt: Number(r.updated_at),
  }
}
