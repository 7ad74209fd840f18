import type { Logger } from 'pino'
import { FlagHistory } from './flag-history.js'
import type { ContractCache } from '../counters/cache.js'
import type { FillingPeriod } from '../counters/ingest.js'
import type { FlagObservation } from '../counters/observation.js'
import { auditConfig } from '../definitions/audit-config.js'
import type { Definitions } from '../definitions/definitions.js'
import { buildReportInSlices, type Report } from '../coverage/report.js'
import { SettingsError, configuredGoals, parseSettings, type CountedEvent } from '../settings/settings.js'
import { hooksFromDefinitions } from '../plugin/definition-hooks.js'
import {
  DEFINITIONS_STORAGE_KEY,
  canBackfill,
  collectObservations,
  observeStored,
  type PluginHooks,
  type PluginState,
} from '../plugin/state.js'
import { countEvent, runMinute, setUp, tearDown, type CountOutcome, type PluginParts } from '../plugin/service.js'
import { BACKFILL_KEY, WATERMARK_KEY, type StoredBackfill } from '../posthog/backfill-job.js'
import type { Alert } from '../alerts/alerts.js'
import type { PublishResult } from '../publish/publish.js'
import { publishIfEnabled, monthlySummary, sendAlerts, syncDestination, type ReviewParts } from './review.js'
import { flagListOf } from './views.js'
import { simulateDemo, type DemoSpec } from '../sim/demo.js'
import { definitionsOf } from '../sim/simulation.js'
import { FILL_DELAY_MS, STALE_MS, fillDueGaps, recordGap, type GapParts } from './gaps.js'
import type { HostMetrics } from './metrics.js'
import type { FlagListEntry } from './api-types.js'
import { pluginStorage, type GapRow, type HostStore } from './store.js'
import { CACHE_KEYS, STORAGE_KEYS } from '../storage-keys.js'

export type { FlagListEntry } from './api-types.js'

export type { DemoSpec } from '../sim/demo.js'
export const DEMO_SPEC_KEY = STORAGE_KEYS.demoSpec
export { ALERT_STATE_KEY, PUBLISHED_KEY } from './review.js'

export interface RuntimeDeps {
  readonly store: HostStore
  readonly clock: () => number
  readonly processId: string
  readonly log: Logger
  readonly metrics: HostMetrics
  /** the memory cache: counters live as long as the process */
  readonly volatileCache: boolean
  readonly fillDelayMs?: number
  /** a report older than this is rebuilt when asked for (the minute task stores one anyway) */
  readonly reportMaxAgeMs?: number
}

export interface ProjectConfig {
  readonly id: string
  readonly demo: boolean
  /** plugin settings as strings, secrets in the clear (only ever in this process's memory) */
  readonly config: Record<string, string>
}

/** The plugin service's parts for one project: its settings, its cache, its storage, its state. */
interface Parts extends PluginParts {
  config: Record<string, string>
  readonly storage: ReturnType<typeof pluginStorage>
  global: { hooks?: PluginHooks; state?: PluginState }
}


export { intakeEvents } from './intake-events.js'

/**
 * One project in the host: the plugin's service (src/plugin/service.ts) over that project's parts
 * (its settings, its cache prefix, its storage, its state), plus what only a host can do:
 * heartbeats, outage gaps and their fill, reports.
 */
export class ProjectRuntime {
  readonly meta: Parts
  private readonly startedAt: number
  private definitions: Definitions | null = null
  /** pending gaps, left out of the live intake */
  private filling: FillingPeriod[] = []
  private gapRows: GapRow[] = []
  private lastBeat: number | null = null
  /** the last time the cache answered; null: it did not at the last look */
  cacheHealthy = true
  /** why the cache probe last failed (for the host's log line) */
  cacheError: string | null = null
  setupError: string | null = null
  problems: { key: string; message: string }[] = []
  private fresh: { at: number; report: Report } | null = null
  private readonly flagHistory = new FlagHistory(() => this.deps.clock(), (level, msg) => this.log(level, msg))

  constructor(
    readonly project: ProjectConfig,
    cache: ContractCache,
    private readonly deps: RuntimeDeps,
    /** true the first time this process opens the project's cache (a memory cache is then empty) */
    private readonly freshCache: boolean,
  ) {
    this.startedAt = deps.clock()
    this.meta = { config: { ...project.config }, cache, storage: pluginStorage(deps.store, project.id), global: {} }
  }

  get id(): string {
    return this.project.id
  }

  get state(): PluginState | null {
    return this.meta.global.state ?? null
  }

  get gaps(): readonly GapRow[] {
    return this.gapRows
  }

  private log(level: 'debug' | 'info' | 'warn' | 'error', msg: string, extra: Record<string, unknown> = {}): void {
    this.deps.log[level]({ project: this.id, ...extra }, msg)
  }

  async start(): Promise<void> {
    const now = this.deps.clock()
    const hooks: PluginHooks = {
      now: this.deps.clock,
      log: (level, message) => this.log(level, message),
      filling: () => this.filling,
      onRejected: (reason) => this.deps.metrics.rejected.inc({ project: this.id, reason }),
    }
    let config = this.meta.config
    if (this.project.demo) {
      const spec = (await this.meta.storage.get(DEMO_SPEC_KEY, null)) as DemoSpec | null
      if (spec) {
        this.definitions = definitionsOf(simulateDemo(spec).project)
        const audit = auditConfig(config, this.definitions)
        config = audit.config
        const settings = safeSettings(config, audit.counted)
        Object.assign(hooks, await hooksFromDefinitions(this.definitions, settings ? configuredGoals(settings) : []), { countedEvents: audit.counted })
      }
    }
    this.meta.config = config
    this.meta.global = { hooks }
    // A memory cache starts empty: the live counters begin again now, and the HogQL backfill
    // covers everything before (a new watermark), so nothing is missed and nothing doubled.
    if (this.deps.volatileCache && this.freshCache && canBackfillConfig(config)) await this.meta.storage.del(WATERMARK_KEY)
    try {
      await setUp(this.meta)
      this.setupError = null
      this.problems = []
    } catch (e) {
      this.setupError = e instanceof Error ? e.message : String(e)
      this.problems = e instanceof SettingsError ? [...e.problems] : [{ key: 'config', message: this.setupError }]
      this.log('warn', `the plugin did not set up: ${this.setupError}`)
      return
    }
    // The served demo's past, counted before it started (demo-past.ts), stands where a connected
    // project's HogQL backfill stands: the live counters count from its watermark on.
    if (this.project.demo) {
      const past = (await this.meta.storage.get(BACKFILL_KEY, null)) as StoredBackfill | null
      if (past && this.state) this.state.backfill.watermark = past.watermark
    }
    if (!this.deps.volatileCache) await this.detectGap(now)
    await this.loadGaps()
    await this.beat(now)
  }

  async stop(): Promise<void> {
    if (this.meta.global.state) await tearDown(this.meta)
  }

  /**
   * Counts the events of one intake request, in order. `deliveryId` (a signed request's webhook-id)
   * marks the deliveries of events without a uuid: the request's own for one event, with the
   * event's place for a list.
   */
  async ingest(events: readonly unknown[], deliveryId?: string): Promise<CountOutcome[]> {
    const out: CountOutcome[] = []
    for (const [i, e] of events.entries()) {
      const via = deliveryId === undefined ? {} : { deliveryId: events.length === 1 ? deliveryId : `${deliveryId}#${i}` }
      const outcome = await countEvent(this.meta, e, via)
      this.deps.metrics.events.inc({ project: this.id, outcome })
      out.push(outcome)
      if (outcome === 'failed') this.cacheHealthy = false
    }
    return out
  }

  /** Every few seconds: the cache probe and heartbeat, gaps, and the scheduled tasks this process claims. */
  async tick(): Promise<void> {
    const now = this.deps.clock()
    if (!this.state) return
    try {
      await this.meta.cache.set(CACHE_KEYS.hostAlive, now, 60)
      this.cacheHealthy = true
      this.cacheError = null
    } catch (e) {
      this.cacheHealthy = false
      this.cacheError = e instanceof Error ? e.message : String(e)
    }
    if (this.cacheHealthy) {
      // This process's own silence (its cache was gone): what PostHog gave up retrying is a gap too.
      if (!this.deps.volatileCache && this.lastBeat !== null && now - this.lastBeat >= STALE_MS) await this.detectGap(now)
      await this.beat(now)
    }
    await this.loadGaps()
    await this.runTasks(now)
    if (this.cacheHealthy) await this.fillGaps(now)
  }

  private async beat(now: number): Promise<void> {
    await this.deps.store.heartbeat(this.id, { processId: this.deps.processId, startedAt: this.startedAt, aliveAt: now })
    this.lastBeat = now
  }

  private async detectGap(now: number): Promise<void> {
    if (this.state) await recordGap(this.gapParts(this.state), now, this.lastBeat)
  }

  private gapParts(state: PluginState): GapParts {
    return { project: this.id, state, storage: this.meta.storage, store: this.deps.store, metrics: this.deps.metrics, processId: this.deps.processId, clock: this.deps.clock, log: (level, msg) => this.log(level, msg), definitions: () => this.currentDefinitions() }
  }

  private async loadGaps(): Promise<void> {
    this.gapRows = await this.deps.store.gaps(this.id)
    this.filling = this.gapRows.filter((g) => g.state === 'pending').map((g) => ({ fromMs: g.fromMs, toMs: g.toMs }))
  }

  private async runTasks(now: number): Promise<void> {
    const tasks: [string, number, () => Promise<void>][] = [
      ['minute', 60_000, () => runMinute(this.meta)],
      // The scheduled review (hourly): the report kept in history, alerts, and publishing when enabled.
      ['review', 3_600_000, async () => void (await this.review(now))],
    ]
    for (const [name, every, run] of tasks) {
      const slot = Math.floor(now / every)
      if (!(await this.deps.store.claim(`${name}:${this.id}`, slot, this.deps.processId, now))) continue
      const t0 = performance.now()
      try {
        await run()
        if (name === 'minute') await this.storeReport(now, false)
        this.deps.metrics.schedulerRuns.inc({ task: name, result: 'ok' })
      } catch (e) {
        this.deps.metrics.schedulerRuns.inc({ task: name, result: 'failed' })
        this.log('warn', `${name} task failed: ${(e as Error).message}`)
      } finally {
        this.deps.metrics.schedulerSeconds.observe({ task: name }, (performance.now() - t0) / 1000)
      }
    }
  }

  private async storeReport(now: number, keepInHistory: boolean): Promise<void> {
    const report = await this.buildReport()
    await this.deps.store.putReport(this.id, { at: now, report }, keepInHistory)
    this.fresh = { at: now, report }
    const job = (await this.meta.storage.get(STORAGE_KEYS.backfillJob, null)) as { plan?: unknown[]; done?: unknown[] } | null
    this.deps.metrics.backfillQueries.set({ project: this.id, state: 'planned' }, job?.plan?.length ?? 0)
    this.deps.metrics.backfillQueries.set({ project: this.id, state: 'done' }, job?.done?.length ?? 0)
  }

  /**
   * One review: the report is kept in history; alerts for what broke since the last review go to
   * the webhook (without waiting: a failing receiver never holds the host); with publishing
   * enabled, the results are written into the PostHog project.
   */
  async review(now = this.deps.clock()): Promise<{ report: Report; alerts: Alert[]; published: PublishResult | null }> {
    const state = this.state
    if (!state) throw new Error(`project ${this.id} is not set up`)
    const report = await this.buildReport()
    await this.deps.store.putReport(this.id, { at: now, report }, true)
    this.fresh = { at: now, report }
    const parts: ReviewParts = { project: this.id, state, storage: this.meta.storage, store: this.deps.store, metrics: this.deps.metrics, log: (level, msg) => this.log(level, msg), definitions: () => this.currentDefinitions() }
    const alerts = await sendAlerts(parts, report, now)
    if (state.settings.alertWebhookUrl) await monthlySummary(parts, report, now)
    await syncDestination(parts)
    const published = await publishIfEnabled(parts, report, now)
    return { report, alerts, published }
  }

  /** The reports kept in history, newest first. */
  history(limit: number): Promise<{ at: number; report: unknown }[]> {
    return this.deps.store.reportHistory(this.id, limit)
  }

  /** The project's definitions: the demo's own, or the ones the plugin fetched and stored. */
  private async currentDefinitions(): Promise<Definitions> {
    if (this.definitions) return this.definitions
    const stored = (await this.meta.storage.get(DEFINITIONS_STORAGE_KEY, null)) as { flags: Definitions['flags']; experiments: Definitions['experiments']; cohorts: Definitions['cohorts']; groupTypes: [number, string][] } | null
    if (!stored) return { flags: [], experiments: [], cohorts: [], groupTypes: new Map() }
    return { flags: stored.flags, experiments: stored.experiments, cohorts: stored.cohorts, groupTypes: new Map(stored.groupTypes) }
  }

  async buildReport(): Promise<Report> {
    const state = this.state
    if (!state) throw new Error(`project ${this.id} is not set up: ${this.setupError ?? 'unknown reason'}`)
    const observations = await observeStored(state, this.meta.cache, this.meta.storage)
    // in slices: the intake keeps answering while hundreds of flags are judged
    const definitions = await this.currentDefinitions()
    const report = await buildReportInSlices({ definitions, observations, settings: state.settings, nowMs: this.deps.clock(), activity: this.flagHistory.current(state, definitions) })
    // A period no host counted, not (yet) filled from HogQL: the numbers of the flags it touches miss it, and say so.
    for (const gap of this.gapRows.filter((g) => g.state !== 'filled')) {
      const period = `${new Date(gap.fromMs).toISOString()} to ${new Date(gap.toMs).toISOString()}`
      const words =
        gap.state === 'pending'
          ? `No host counted from ${period}; the events of that period are being read back from HogQL and are not in these numbers yet.`
          : `No host counted from ${period}, and without PostHog credentials those events cannot be read back: these numbers miss them.`
      for (const f of report.flags) {
        if (Date.parse(f.window.from) < gap.toMs && Date.parse(f.window.to) >= gap.fromMs) f.assumptions.push(words)
      }
    }
    return report
  }

  /** The latest report: the stored one, or a fresh one when that is older than reportMaxAgeMs. */
  async report(opts: { fresh?: boolean } = {}): Promise<{ at: number; report: unknown }> {
    const now = this.deps.clock()
    const maxAge = opts.fresh ? 0 : (this.deps.reportMaxAgeMs ?? 10_000)
    if (this.fresh && now - this.fresh.at < maxAge) return this.fresh
    const stored = await this.deps.store.latestReport(this.id)
    if (stored && now - stored.at < maxAge) return stored
    this.fresh = { at: now, report: await this.buildReport() }
    return this.fresh
  }

  /**
   * The flag list as PostHog's feature flags page shows it (key, name, status, rollout, tags,
   * experiment, created), each flag with its verdict and check statuses from the report, and the
   * project's PostHog address for links (null without a project id).
   */
  async flagList(): Promise<FlagListEntry[]> {
    const { report } = await this.report()
    const defs = await this.currentDefinitions()
    return flagListOf(report as Report, defs)
  }

  /** Where the project's flags and experiments are in PostHog (no secret in it), or null. */
  posthogLinks(): { host: string; project_id: string } | null {
    const s = this.state?.settings
    return s && s.posthogProjectId ? { host: s.posthogHost, project_id: s.posthogProjectId } : null
  }

  /** One flag: its report entry and its live counters as they are now. */
  async flag(key: string): Promise<{ report: unknown; live: FlagObservation | null; at: number } | null> {
    const state = this.state
    if (!state) return null
    const { report, at } = await this.report()
    const entry = (report as Report).flags.find((f) => f.key === key) ?? null
    const live = (await collectObservations(state, this.meta.cache)).flags.find((f) => f.flag === key) ?? null
    if (!entry && !live) return null
    return { report: entry, live, at }
  }

  /** Replays pending gaps whose end is FILL_DELAY_MS old, one lease at a time, resuming where a fill stopped. */
  private async fillGaps(now: number): Promise<void> {
    const state = this.state
    if (!state || !canBackfill(state)) return
    if (await fillDueGaps(this.gapParts(state), this.gapRows, now, this.deps.fillDelayMs ?? FILL_DELAY_MS)) await this.loadGaps()
  }
}

function safeSettings(config: Record<string, string>, counted: readonly CountedEvent[]) {
  try {
    return parseSettings(config, { countedEvents: counted })
  } catch {
    return null
  }
}

function canBackfillConfig(config: Record<string, string>): boolean {
  return Boolean(config.posthogProjectId && config.posthogPersonalApiKey)
}
