import { randomBytes, randomUUID } from 'node:crypto'
import { join } from 'node:path'
import { Redis, type Cluster } from 'ioredis'
import pino, { type Logger } from 'pino'
import pluginJson from '../../plugin.json' with { type: 'json' }
import type { ContractCache } from '../counters/cache.js'
import { MemoryCache } from '../counters/memory-cache.js'
import { RedisCache, clusterOf, pluginKeyPrefix } from '../counters/redis-cache.js'
import { SETTING_KEYS, SettingsError, parseSettings } from '../settings/settings.js'
import { compileMatcherFilters } from '../hog/matchers.js'
import { diskProblem, readFreeBytes, type FreeSpaceReader } from './disk.js'
import { HEARTBEAT_MS } from './gaps.js'
import { settleKeyFingerprint } from './key-check.js'
import { createMetrics, type HostMetrics } from './metrics.js'
import { DEMO_SPEC_KEY, ProjectRuntime, type DemoSpec } from './project.js'
import { SecretBox, SecretBoxError } from './secrets.js'
import { PostgresStore } from './store-postgres.js'
import { SqliteStore } from './store-sqlite.js'
import { guardedStore, pluginStorage, type HostStore, type ProjectRow } from './store.js'

/** What PostHog shows in place of a secret setting that is set (posthog/api/plugin.py, scenes/plugins/utils). */
export const SECRET_MASK = '**************** POSTHOG SECRET FIELD ****************'
export const SECRET_KEYS: ReadonlySet<string> = new Set(pluginJson.config.filter((f) => (f as { secret?: boolean }).secret && f.key).map((f) => f.key as string))
const PROJECT_ID = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/

export interface HostOptions {
  /** SQLite's directory (the embedded default), also where the secret key file is generated */
  readonly dataDir: string
  /** PostgreSQL instead of SQLite */
  readonly databaseUrl?: string
  /** Redis instead of the memory cache */
  readonly redisUrl?: string
  /** a Redis Cluster instead (its nodes, host:port), when one Redis is not enough */
  readonly redisClusterNodes?: readonly string[]
  /** COVERAGE_SECRET_KEY */
  readonly secretKey?: string
  readonly clock?: () => number
  readonly logger?: Logger
  readonly tickMs?: number
  readonly fillDelayMs?: number
  readonly reportMaxAgeMs?: number
  /** collect the process's default metrics (off in tests that run several hosts in one process) */
  readonly processMetrics?: boolean
  /** reads the free bytes of the data directory's disk (statfs; tests inject a full disk) */
  readonly freeSpace?: FreeSpaceReader
}

export class ProjectError extends Error {
  constructor(
    message: string,
    readonly status: 400 | 404 | 409,
    readonly problems: { key: string; message: string }[] = [],
  ) {
    super(message)
    this.name = 'ProjectError'
  }
}

/** A new Standard Webhooks secret: `whsec_` and 32 random bytes in base64 (PostHog requires at least 24). */
export function newSigningSecret(): string {
  return `whsec_${randomBytes(32).toString('base64')}`
}

/**
 * The host: every project's plugin runtime over the shared parts (the store, the cache, the
 * secret box), and a scheduler that ticks each project (heartbeat, gaps, the plugin's tasks,
 * each claimed once across processes).
 */
/** The origin a posthogHost setting names (plugin.json's default when empty); the text itself when it is no URL. */
export function posthogOrigin(value: string | undefined): string {
  const text = value === undefined || value.trim() === '' ? 'https://us.posthog.com' : value.trim()
  try {
    return new URL(text).origin
  } catch {
    return text
  }
}

export class Host {
  readonly processId = randomUUID()
  readonly metrics: HostMetrics
  readonly log: Logger
  readonly clock: () => number
  private readonly runtimes = new Map<string, ProjectRuntime>()
  /** The projects as this process last read them: the intake answers from here, without a database read. */
  private readonly rows = new Map<string, ProjectRow>()
  private readonly memoryCaches = new Map<string, MemoryCache>()
  private readonly openedCaches = new Set<string>()
  private timer: ReturnType<typeof setInterval> | null = null
  /** The last storage query that failed while its ping answered; null once a round succeeds. */
  private storeError: string | null = null
  private ticking: Promise<void> | null = null
  storeHealthy = true
  /** Projects whose stored secrets this process cannot decrypt, and why: not started, their intake answers 503. */
  private readonly undecryptable = new Map<string, string>()
  /** Whether the last round found a project's cache unavailable (logged when it changes, not every round). */
  private cacheDown = false
  /** The last round's disk problem (logged when it changes). */
  private diskDown: string | null = null

  private constructor(
    readonly store: HostStore,
    readonly box: SecretBox,
    readonly keySource: string,
    private readonly redis: Redis | Cluster | null,
    readonly opts: HostOptions,
  ) {
    this.clock = opts.clock ?? Date.now
    this.log = opts.logger ?? pino({ level: process.env.LOG_LEVEL ?? 'info' })
    this.metrics = createMetrics({ defaults: opts.processMetrics ?? true })
  }

  static async open(opts: HostOptions): Promise<Host> {
    const store: HostStore = opts.databaseUrl ? new PostgresStore(opts.databaseUrl) : new SqliteStore(join(opts.dataDir, 'coverage.sqlite'))
    await store.migrate()
    const { box, source } = SecretBox.load({ envKey: opts.secretKey, keyFile: join(opts.dataDir, 'secret.key') })
    // A process with another key than the storage's secrets were sealed with is refused here, not at every request.
    let fingerprint: 'recorded' | 'same'
    try {
      fingerprint = await settleKeyFingerprint(store, box, source)
    } catch (e) {
      await store.close().catch(() => {})
      throw e
    }
    const redis = opts.redisClusterNodes?.length
      ? clusterOf(opts.redisClusterNodes, { maxRetriesPerRequest: 1 })
      : opts.redisUrl
        ? new Redis(opts.redisUrl, { enableAutoPipelining: true, maxRetriesPerRequest: 1, connectTimeout: 2000 })
        : null
    // A Redis that is down must not crash the host: the intake answers 503 until it is back.
    redis?.on('error', () => {})
    // Every storage call that fails is one error the routes answer with 503, and /readyz names.
    let host: Host | null = null
    const guarded = guardedStore(store, (e) => host?.noteStorageError(e))
    host = new Host(guarded, box, source, redis, opts)
    if (fingerprint === 'recorded') host.log.info({ storage: store.where, key: source }, "recorded the secret key's fingerprint in the storage: every process sharing it needs this key")
    return host
  }

  get cacheKind(): 'memory' | 'redis' {
    return this.redis ? 'redis' : 'memory'
  }

  private cacheFor(project: string): { cache: ContractCache; fresh: boolean } {
    const fresh = !this.openedCaches.has(project)
    this.openedCaches.add(project)
    if (this.redis) return { cache: new RedisCache(this.redis, pluginKeyPrefix('experiment-coverage', project)), fresh }
    let m = this.memoryCaches.get(project)
    if (!m) this.memoryCaches.set(project, (m = new MemoryCache(this.clock)))
    return { cache: m, fresh }
  }

  // ---- projects -------------------------------------------------------------------------------

  /** A project's settings in the clear (secrets opened): for this process's plugin only. */
  private plainConfig(row: ProjectRow): Record<string, string> {
    const out: Record<string, string> = {}
    for (const [k, v] of Object.entries(row.config)) out[k] = SecretBox.isSealed(v) ? this.box.open(v) : v
    return out
  }

  private sealConfig(config: Record<string, string>): Record<string, string> {
    const out: Record<string, string> = {}
    for (const [k, v] of Object.entries(config)) out[k] = SECRET_KEYS.has(k) && v !== '' ? this.box.seal(v) : v
    return out
  }

  /** The settings as the API shows them: secrets that are set as PostHog's mask, never their value. */
  maskedConfig(row: ProjectRow): Record<string, string> {
    const out: Record<string, string> = {}
    for (const [k, v] of Object.entries(row.config)) out[k] = SECRET_KEYS.has(k) && v !== '' ? SECRET_MASK : v
    return out
  }

  private readonly opened = new Map<string, string>()
  /** The project's intake secret in the clear (kept in memory once opened: the intake needs it on every request). */
  ingestSecret(row: ProjectRow): string {
    let plain = this.opened.get(row.ingestSecret)
    if (plain === undefined) {
      try {
        plain = this.box.open(row.ingestSecret)
      } catch (e) {
        if (e instanceof SecretBoxError) this.noteUndecryptable(row.id, e)
        throw e
      }
      this.opened.set(row.ingestSecret, plain)
    }
    return plain
  }

  /**
   * Whether this process can decrypt the row's secrets (its intake secret, its secret settings).
   * When it cannot, it says why once in the log and in /readyz until the row changes.
   */
  private secretsOpen(row: ProjectRow): boolean {
    try {
      this.ingestSecret(row)
      this.plainConfig(row)
    } catch (e) {
      if (!(e instanceof SecretBoxError)) throw e
      this.noteUndecryptable(row.id, e)
      return false
    }
    this.undecryptable.delete(row.id)
    return true
  }

  private noteUndecryptable(project: string, e: SecretBoxError): void {
    if (this.undecryptable.get(project) === e.message) return
    this.undecryptable.set(project, e.message)
    this.log.error({ project, key: this.keySource, err: e.message }, 'cannot decrypt the project\'s stored secrets: it is not started, and its intake answers 503 until every process sharing the storage has the same COVERAGE_SECRET_KEY')
  }

  async projects(): Promise<ProjectRow[]> {
    return this.store.listProjects()
  }

  async project(id: string): Promise<ProjectRow | null> {
    return this.store.getProject(id)
  }

  /** The project as this process knows it (kept in step with the store every scheduler round). */
  knownProject(id: string): ProjectRow | null {
    return this.rows.get(id) ?? null
  }

  runtime(id: string): ProjectRuntime | null {
    return this.runtimes.get(id) ?? null
  }

  /**
   * Adds a project (or updates the settings of an existing one with that id). Settings are
   * validated by the plugin's own settings code; each problem names its field.
   */
  async addProject(input: { id: string; name?: string; config?: Record<string, unknown>; demo?: DemoSpec; enabled?: boolean; ingestSecret?: string; start?: boolean }): Promise<ProjectRow> {
    if (!PROJECT_ID.test(input.id)) throw new ProjectError('a project id is 1 to 64 letters, digits, "-" or "_", starting with a letter or digit', 400, [{ key: 'id', message: 'not a valid project id' }])
    const existing = await this.store.getProject(input.id)
    const now = this.clock()
    const config = await this.validatedConfig(existing ? this.plainConfig(existing) : {}, input.config ?? {})
    const row: ProjectRow = {
      id: input.id,
      name: input.name ?? existing?.name ?? (input.demo ? 'Demo project (simulated)' : `PostHog project ${input.id}`),
      enabled: input.enabled ?? existing?.enabled ?? true,
      demo: existing?.demo ?? Boolean(input.demo),
      config: this.sealConfig(config),
      ingestSecret: input.ingestSecret ? this.box.seal(input.ingestSecret) : (existing?.ingestSecret ?? this.box.seal(newSigningSecret())),
      createdAt: existing?.createdAt ?? now,
      updatedAt: existing ? this.nextStamp(existing) : now,
    }
    if (input.demo && !existing) await pluginStorage(this.store, row.id).set(DEMO_SPEC_KEY, input.demo)
    await this.store.putProject(row)
    if (input.start ?? true) await this.restart(row)
    return row
  }

  /** Merges a settings change into the current settings and validates the result as the plugin would (see posthogOrigin). */
  private async validatedConfig(current: Record<string, string>, change: Record<string, unknown>): Promise<Record<string, string>> {
    const problems: { key: string; message: string }[] = []
    const merged = { ...current }
    for (const [key, value] of Object.entries(change)) {
      if (!SETTING_KEYS.includes(key)) {
        problems.push({ key, message: 'is not a setting of this plugin' })
        continue
      }
      if (SECRET_KEYS.has(key) && value === SECRET_MASK) continue // the form sends the mask back: keep the secret
      if (value === null || value === undefined) delete merged[key]
      else merged[key] = typeof value === 'string' ? value : JSON.stringify(value)
    }
    // The personal API key belongs to the PostHog it was given for: moving posthogHost to another
    // origin drops the stored key unless the same change sends a new one. Otherwise anyone who can
    // change a setting (a token holder, or a page reaching the API) could send the key elsewhere.
    const sentKey = change.posthogPersonalApiKey
    const newKey = typeof sentKey === 'string' && sentKey !== '' && sentKey !== SECRET_MASK
    if ('posthogHost' in change && !newKey && posthogOrigin(current.posthogHost) !== posthogOrigin(merged.posthogHost)) delete merged.posthogPersonalApiKey
    if (problems.length) throw new ProjectError('invalid settings', 400, problems)
    try {
      const settings = parseSettings(merged)
      // HogQL matcher filters must compile (PostHog's parser), or setup would fail later.
      if (settings.metrics.some((m) => m.filter)) await compileMatcherFilters(settings)
    } catch (e) {
      if (e instanceof SettingsError) throw new ProjectError('invalid settings', 400, [...e.problems])
      throw new ProjectError('invalid settings', 400, [{ key: 'goalEvents', message: (e as Error).message }])
    }
    return merged
  }

  async updateSettings(id: string, change: Record<string, unknown>): Promise<ProjectRow> {
    const row = await this.store.getProject(id)
    if (!row) throw new ProjectError(`no project ${id}`, 404)
    return this.addProject({ id, config: change })
  }

  async setEnabled(id: string, enabled: boolean): Promise<ProjectRow> {
    const row = await this.store.getProject(id)
    if (!row) throw new ProjectError(`no project ${id}`, 404)
    const next = { ...row, enabled, updatedAt: this.nextStamp(row) }
    await this.store.putProject(next)
    await this.restart(next)
    return next
  }

  /** Stops the project's runtime and starts it again with the stored row (when enabled). */
  private async restart(row: ProjectRow): Promise<void> {
    this.rows.set(row.id, row)
    const old = this.runtimes.get(row.id)
    if (old) {
      this.runtimes.delete(row.id)
      await old.stop()
    }
    if (!this.secretsOpen(row)) return
    if (!row.enabled) return
    const { cache, fresh } = this.cacheFor(row.id)
    const rt = new ProjectRuntime({ id: row.id, demo: row.demo, config: this.plainConfig(row) }, cache, this.deps(), fresh)
    await rt.start()
    this.runtimes.set(row.id, rt)
  }

  private deps() {
    return {
      store: this.store,
      clock: this.clock,
      processId: this.processId,
      log: this.log,
      metrics: this.metrics,
      volatileCache: this.redis === null,
      fillDelayMs: this.opts.fillDelayMs,
      reportMaxAgeMs: this.opts.reportMaxAgeMs,
    }
  }

  // ---- lifecycle ------------------------------------------------------------------------------

  /** Starts every enabled project and the scheduler. */
  async start(opts: { scheduler?: boolean } = {}): Promise<void> {
    for (const row of await this.store.listProjects()) await this.restart(row)
    if (this.opts.databaseUrl && !this.redis) this.log.warn('PostgreSQL is shared, but the counters are in this process\'s memory: several host processes need --redis too, or each counts only what reaches it')
    if (opts.scheduler ?? true) {
      // A round that fails is logged; it never becomes an unhandled rejection that ends the process.
      this.timer = setInterval(() => void this.tick().catch((e: Error) => this.log.error({ err: e.message }, 'scheduler round failed')), this.opts.tickMs ?? HEARTBEAT_MS)
    }
  }

  /** One scheduler round over every project; rounds never overlap. */
  tick(): Promise<void> {
    if (this.ticking) return this.ticking
    this.ticking = (async () => {
      try {
        await this.store.ping()
        this.storeHealthy = true
      } catch (e) {
        if (this.storeHealthy) this.log.error({ err: (e as Error).message }, 'storage is unavailable')
        this.storeHealthy = false
        return
      }
      try {
        await this.syncProjects()
        if (this.storeError) this.log.info('storage answers queries again')
        this.storeError = null
      } catch (e) {
        // The storage answers its ping but a query fails (a table renamed, a database recreated):
        // said once in the log and in /readyz; the projects already running go on counting.
        const message = (e as Error).message
        if (this.storeError !== message) this.log.error({ err: message }, 'storage failed a query; the projects already running keep counting')
        this.storeError = message
      }
      for (const rt of this.runtimes.values()) {
        try {
          await rt.tick()
        } catch (e) {
          this.log.warn({ project: rt.id, err: (e as Error).message }, 'scheduler round failed')
        }
      }
      this.noteCacheHealth()
      this.noteDisk()
      if (Math.random() < 0.01) await this.store.pruneClaims(this.clock() - 3 * 86_400_000).catch(() => {})
    })().finally(() => {
      this.ticking = null
    })
    return this.ticking
  }

  /** A change's stamp: the time, and always later than the row's last one, so other processes see each change. */
  private nextStamp(row: ProjectRow): number {
    return Math.max(this.clock(), row.updatedAt + 1)
  }

  /** Picks up projects added, changed, disabled or enabled by another process (or its API). */
  private async syncProjects(): Promise<void> {
    for (const row of await this.store.listProjects()) {
      const known = this.rows.get(row.id)
      if (!known || known.updatedAt !== row.updatedAt) await this.restart(row)
    }
  }

  /** One log line when the cache becomes unavailable to the running projects, one when it answers again: not one a round. */
  private noteCacheHealth(): void {
    const down = [...this.runtimes.values()].filter((rt) => !rt.cacheHealthy)
    if (down.length > 0 && !this.cacheDown) {
      this.log.error({ projects: down.map((rt) => rt.id), err: down[0]!.cacheError }, `the ${this.cacheKind} cache is unavailable: the intake answers 503 (PostHog retries) until it is back`)
    } else if (down.length === 0 && this.cacheDown) {
      this.log.info(`the ${this.cacheKind} cache answers again`)
    }
    this.cacheDown = down.length > 0
  }

  /** The data directory's disk (SQLite's): full or nearly, or unreadable; null when it takes writes, or when the storage is elsewhere. */
  private diskProblem(): string | null {
    // With PostgreSQL nothing is written to the data directory after start (the key file is read once).
    if (this.store.kind !== 'sqlite') return null
    return diskProblem(this.opts.dataDir, this.opts.freeSpace ?? readFreeBytes)
  }

  private noteDisk(): void {
    const problem = this.diskProblem()
    if (problem && !this.diskDown) this.log.error({ dataDir: this.opts.dataDir }, problem)
    else if (!problem && this.diskDown) this.log.info({ dataDir: this.opts.dataDir }, 'the data directory\'s disk has room again')
    this.diskDown = problem
  }

  /** A storage call failed (a route's, or a task's): /readyz says so until a scheduler round succeeds. */
  noteStorageError(e: Error): void {
    if (this.storeError !== e.message) this.log.error({ err: e.message }, 'storage failed a query')
    this.storeError = e.message
  }

  /**
   * Ready to count: storage answers and its disk has room, the cache of every running project
   * answers, and every project's secrets open with this process's key.
   */
  ready(): { ready: boolean; reasons: string[] } {
    const reasons: string[] = []
    if (!this.storeHealthy) reasons.push(`${this.store.kind} storage is unavailable`)
    else if (this.storeError) reasons.push(`${this.store.kind} storage failed a query: ${this.storeError.slice(0, 200)}`)
    const disk = this.diskProblem()
    if (disk) reasons.push(disk)
    for (const [id, why] of this.undecryptable) reasons.push(`the secrets of project ${id} cannot be decrypted with this process's key (${this.keySource}): ${why}`)
    for (const rt of this.runtimes.values()) if (!rt.cacheHealthy) reasons.push(`the ${this.cacheKind} cache of project ${rt.id} is unavailable`)
    return { ready: reasons.length === 0, reasons }
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer)
    this.timer = null
    await this.ticking
    for (const rt of this.runtimes.values()) await rt.stop().catch(() => {})
    this.runtimes.clear()
    this.redis?.disconnect()
    await this.store.close()
  }
}
