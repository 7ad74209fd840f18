/**
 * What the host keeps durably, in SQLite (the embedded default) or PostgreSQL (shared by several
 * host processes, where plugin-server kept plugin storage): each project's `meta.storage`, the
 * projects and their settings, task claims (each scheduled task runs once across processes), the
 * periods each process was counting (to find what an outage missed), the gaps being filled, and
 * the reports.
 */
export interface ProjectRow {
  readonly id: string
  readonly name: string
  readonly enabled: boolean
  /** the demo project: simulated definitions, fed by the demo feed */
  readonly demo: boolean
  /** plugin settings as strings, secret fields sealed (SecretBox) */
  readonly config: Record<string, string>
  /** the Standard Webhooks signing secret of the intake, sealed */
  readonly ingestSecret: string
  readonly createdAt: number
  readonly updatedAt: number
}

export interface CountingPeriod {
  readonly processId: string
  readonly startedAt: number
  readonly aliveAt: number
}

export type GapState = 'pending' | 'filled' | 'unfillable'

export interface GapRow {
  readonly project: string
  readonly fromMs: number
  readonly toMs: number
  readonly state: GapState
  /** rows already replayed (the fill resumes from here) */
  readonly done: number
  readonly note: string
  readonly updatedAt: number
}

export interface StoredReport {
  readonly at: number
  readonly report: unknown
}

export interface HostStore {
  readonly kind: 'sqlite' | 'postgres'
  /** where it is, without credentials (for logs) */
  readonly where: string
  migrate(): Promise<void>
  ping(): Promise<void>
  close(): Promise<void>

  storageGet(project: string, key: string): Promise<string | undefined>
  storageSet(project: string, key: string, json: string): Promise<void>
  storageDel(project: string, key: string): Promise<void>

  listProjects(): Promise<ProjectRow[]>
  getProject(id: string): Promise<ProjectRow | null>
  putProject(row: ProjectRow): Promise<void>

  /** True for exactly one caller per (task, slot), across every process sharing this store. */
  claim(task: string, slot: number, holder: string, nowMs: number): Promise<boolean>
  pruneClaims(beforeMs: number): Promise<void>

  heartbeat(project: string, period: CountingPeriod): Promise<void>
  periods(project: string): Promise<CountingPeriod[]>

  gaps(project: string): Promise<GapRow[]>
  addGap(gap: GapRow): Promise<void>
  /** Takes the fill of a gap for `holder` until `untilMs`, unless another holder's lease runs. */
  leaseGap(project: string, fromMs: number, holder: string, nowMs: number, untilMs: number): Promise<boolean>
  updateGap(project: string, fromMs: number, change: { state?: GapState; done?: number; note?: string; updatedAt: number }): Promise<void>

  /** The fingerprint of the key this storage's secrets are sealed with (SecretBox.fingerprint); null until a process records one. */
  keyFingerprint(): Promise<string | null>
  /** Records the fingerprint unless one is recorded already, and returns the recorded one: the first process's, when several start at once. */
  recordKeyFingerprint(fingerprint: string): Promise<string>

  putReport(project: string, report: StoredReport, keepInHistory: boolean): Promise<void>
  latestReport(project: string): Promise<StoredReport | null>
  /** the reports kept in history, newest first */
  reportHistory(project: string, limit: number): Promise<StoredReport[]>
}

/** `meta.storage` of one project over the host store: the plugin-server contract (JSON values, `undefined` deletes). */
export function pluginStorage(store: Pick<HostStore, 'storageGet' | 'storageSet' | 'storageDel'>, project: string) {
  return {
    async get(key: string, defaultValue: unknown): Promise<unknown> {
      const v = await store.storageGet(project, key)
      return v === undefined ? defaultValue : JSON.parse(v)
    },
    async set(key: string, value: unknown): Promise<void> {
      if (value === undefined) return store.storageDel(project, key)
      const text = JSON.stringify(value)
      if (text === undefined) throw new TypeError(`storage.set: ${typeof value} cannot be stored as JSON`)
      await store.storageSet(project, key, text)
    },
    async del(key: string): Promise<void> {
      await store.storageDel(project, key)
    },
  }
}

/** The storage key limit of plugin-server's table (posthog_pluginstorage.key is 200 characters). */
export const STORAGE_KEY_MAX = 200

/** A storage query that failed: the host answers 503 (PostHog retries) and /readyz names it. */
export class StorageUnavailableError extends Error {
  constructor(readonly method: string, cause: unknown) {
    super(`storage failed (${method}): ${cause instanceof Error ? cause.message : String(cause)}`, { cause })
    this.name = 'StorageUnavailableError'
  }
}

/**
 * The store with every failing call turned into a StorageUnavailableError (and reported to
 * `onError`), so a route or a scheduled task meets one error it knows how to answer.
 */
export function guardedStore(store: HostStore, onError: (e: StorageUnavailableError) => void): HostStore {
  return new Proxy(store, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver) as unknown
      if (typeof value !== 'function' || prop === 'close' || prop === 'kind') return value
      return (...args: unknown[]) => {
        const fail = (e: unknown): never => {
          const err = e instanceof StorageUnavailableError ? e : new StorageUnavailableError(String(prop), e)
          onError(err)
          throw err
        }
        try {
          const out = (value as (...a: unknown[]) => unknown).apply(target, args)
          return out instanceof Promise ? out.catch(fail) : out
        } catch (e) {
          return fail(e)
        }
      }
    },
  })
}
