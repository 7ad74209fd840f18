import { auditConfig } from '../definitions/audit-config.js'
import type { Definitions } from '../definitions/definitions.js'
import { parseSettings } from '../settings/settings.js'
import type { Observations } from '../counters/observation.js'
import { findUnlistedFlags, observationsFromBackfill, backfillWindow } from './backfill.js'
import { backfillPlanner, planBackfill, type BackfillQuery } from './backfill-queries.js'
import { isQueryTooBig, type PostHogClient, type QueryResult } from './client.js'
import { fetchDefinitions } from './definitions.js'
import { experimentRuns } from '../definitions/windows.js'
import { COUNTERS_LAYOUT } from '../counters/keys.js'
import { STORAGE_KEYS } from '../storage-keys.js'

/** `meta.storage` as the plugin contract gives it. */
export interface Storage {
  get(key: string, defaultValue: unknown): Promise<unknown>
  set(key: string, value: unknown): Promise<void>
  del(key: string): Promise<void>
}

export const WATERMARK_KEY = STORAGE_KEYS.watermark
/** The layout of the live counters the watermark was taken for (KeyScheme's namespace). */
const LAYOUT_KEY = STORAGE_KEYS.countersLayout
export const BACKFILL_KEY = STORAGE_KEYS.backfill
const JOB_KEY = STORAGE_KEYS.backfillJob
const resultKey = (i: number) => `coverage/backfill-query/${i}`

export interface StoredBackfill {
  readonly watermark: number
  readonly completedAt: number
  readonly queries: number
  readonly observations: Observations
}

/** What storage keeps between steps (JSON: the group types as pairs, not a Map). */
interface Job {
  readonly watermark: number
  readonly lookbackDays: number
  /** absent in jobs stored before experiments had windows of their own */
  readonly experimentMaxDays?: number
  readonly project: string
  readonly definitions: Omit<Definitions, 'groupTypes'>
  readonly groupTypes: [number, string][]
  readonly plan: BackfillQuery[]
  readonly done: number[]
  /** flags the exposures named that the flag list did not have (absent in older jobs) */
  readonly unlisted?: string[]
}

/**
 * The moment the live counters start: set once, the first time the plugin runs with PostHog
 * credentials, and kept. Whole seconds, so HogQL's bounds and the ingest agree exactly.
 */
export async function ensureWatermark(storage: Storage, nowMs: number): Promise<number> {
  const [stored, layout] = await Promise.all([storage.get(WATERMARK_KEY, null), storage.get(LAYOUT_KEY, null)])
  const watermark = Number(stored)
  // Live counters of an older layout are not read: they count from a new watermark, and the
  // HogQL backfill covers everything before it, so an upgrade loses nothing.
  if (Number.isFinite(watermark) && watermark > 0 && layout === COUNTERS_LAYOUT) return watermark
  const fresh = Math.floor(nowMs / 1000) * 1000
  await storage.set(WATERMARK_KEY, fresh)
  await storage.set(LAYOUT_KEY, COUNTERS_LAYOUT)
  return fresh
}

/** The planner of a stored job, to split one of its queries as the job planned it. */
function plannerOf(job: Job, nowMs: number) {
  const definitions: Definitions = { ...job.definitions, groupTypes: new Map(job.groupTypes) }
  const window = backfillWindow(nowMs, { lookbackDays: job.lookbackDays, experimentMaxDays: job.experimentMaxDays ?? job.lookbackDays }, job.watermark, experimentRuns(definitions))
  const first = job.plan[0]
  return backfillPlanner(definitions, first?.metrics ?? [], window, { filterTestAccounts: first?.filterTestAccounts ?? false, unlisted: job.unlisted ?? [] })
}

/**
 * One step of the backfill of everything before the watermark: the first step fetches the
 * definitions and plans the queries; each step runs up to `maxQueries` of them (each result kept
 * in storage, so a restart resumes); the last one stores the observations. Small steps fit the
 * plugin-server's 30-second task limit; the host can run steps back to back.
 */
export async function backfillStep(
  storage: Storage,
  client: PostHogClient,
  opts: { nowMs: number; watermark: number; userConfig: Record<string, unknown>; maxQueries?: number },
): Promise<'done' | 'running'> {
  const stored = (await storage.get(BACKFILL_KEY, null)) as StoredBackfill | null
  if (stored && stored.watermark === opts.watermark) return 'done'
  let job = (await storage.get(JOB_KEY, null)) as Job | null
  if (!job || job.watermark !== opts.watermark) {
    const definitions = await fetchDefinitions(client)
    const { config, counted } = auditConfig(opts.userConfig, definitions)
    const settings = parseSettings(config, { countedEvents: counted })
    const window = backfillWindow(opts.nowMs, settings, opts.watermark, experimentRuns(definitions))
    // Flags the exposures name that the flag list does not have: the live counters count them too.
    const unlisted = await findUnlistedFlags(client, definitions, window, settings.filterTestAccounts)
    job = {
      watermark: opts.watermark,
      lookbackDays: settings.lookbackDays,
      experimentMaxDays: settings.experimentMaxDays,
      project: client.options.projectId,
      definitions: { flags: definitions.flags, experiments: definitions.experiments, cohorts: definitions.cohorts },
      groupTypes: [...definitions.groupTypes],
      plan: planBackfill(definitions, settings.metrics, window, { filterTestAccounts: settings.filterTestAccounts, unlisted }),
      done: [],
      unlisted,
    }
    await storage.set(JOB_KEY, job)
  }
  const todo = job.plan.map((_, i) => i).filter((i) => !job!.done.includes(i)).slice(0, opts.maxQueries ?? 3)
  const split: BackfillQuery[] = []
  const finished: number[] = []
  await Promise.all(
    todo.map(async (i) => {
      const q = job!.plan[i]!
      try {
        await storage.set(resultKey(i), await client.query(q.hogql, q.name, { filterTestAccounts: q.filterTestAccounts ?? false }))
        finished.push(i)
      } catch (e) {
        // Too big for PostHog's limits: its parts take its place in the plan, and run in later steps.
        const parts = isQueryTooBig(e) ? plannerOf(job!, opts.nowMs).split(q) : null
        if (!parts) throw e
        split.push(...parts.slice(1))
        job!.plan[i] = parts[0]!
      }
    }),
  )
  job = { ...job, plan: [...job.plan, ...split], done: [...job.done, ...finished] }
  if (job.done.length < job.plan.length) {
    await storage.set(JOB_KEY, job)
    return 'running'
  }
  const runs = await Promise.all(job.plan.map(async (query, i) => ({ query, result: (await storage.get(resultKey(i), null)) as QueryResult, ms: 0 })))
  const definitions: Definitions = { ...job.definitions, groupTypes: new Map(job.groupTypes) }
  // A job stored by an earlier version has no experimentMaxDays: its plan used the lookback alone.
  const window = backfillWindow(opts.nowMs, { lookbackDays: job.lookbackDays, experimentMaxDays: job.experimentMaxDays ?? job.lookbackDays }, job.watermark, experimentRuns(definitions))
  const observations = observationsFromBackfill(definitions, runs, job.project, window, job.lookbackDays)
  const result: StoredBackfill = { watermark: job.watermark, completedAt: opts.nowMs, queries: job.plan.length, observations }
  await storage.set(BACKFILL_KEY, result)
  await storage.del(JOB_KEY)
  await Promise.all(job.plan.map((_, i) => storage.del(resultKey(i))))
  return 'done'
}
