import type { Observations } from '../counters/observation.js'
import { auditConfig } from '../definitions/audit-config.js'
import { buildReport, type Report } from '../coverage/report.js'
import { hooksFromDefinitions } from '../plugin/definition-hooks.js'
import { EmbeddedPlugin } from '../plugin/embedded.js'
import { BACKFILL_KEY, type StoredBackfill } from '../posthog/backfill-job.js'
import { configuredGoals, parseSettings } from '../settings/settings.js'
import { simulateDemo, type DemoSpec } from '../sim/demo.js'
import { definitionsOf } from '../sim/simulation.js'
import type { SimEvent } from '../sim/traffic.js'
import { pluginStorage, type HostStore } from './store.js'
import { DAY_MS } from '../time.js'

/** The demo's simulated past: what a connected project's HogQL backfill would have counted, and its daily reviews. */
export interface DemoPast {
  /** whole seconds, as ensureWatermark takes one: events before it are the past's, the live feed sends the rest */
  readonly watermark: number
  /** events counted (redeliveries included, as the feed posts them) */
  readonly events: number
  readonly observations: Observations
  /** one review a day over the simulated days, oldest first */
  readonly reviews: { at: number; report: Report }[]
  /** the window's events from the watermark on, in time order: the live feed posts them as their time comes */
  readonly rest: SimEvent[]
}

/**
 * Counts the demo's events before `nowMs` through the plugin's own onEvent (in memory, the clock
 * following the events), as the served demo would have counted them live, and takes a review
 * each simulated day. The settings' credentials are left out: the past never calls PostHog.
 */
export async function countDemoPast(spec: DemoSpec, projectConfig: Record<string, string>, nowMs: number): Promise<DemoPast> {
  const watermark = Math.floor(nowMs / 1000) * 1000
  const sim = simulateDemo(spec)
  const definitions = definitionsOf(sim.project)
  const { posthogPersonalApiKey: _key, posthogProjectId: _project, ...offline } = projectConfig
  const { config, counted } = auditConfig(offline, definitions)
  const settings = parseSettings(config, { countedEvents: counted })
  let clock = spec.endMs - spec.days * DAY_MS
  const plugin = new EmbeddedPlugin(config, { ...(await hooksFromDefinitions(definitions, configuredGoals(settings))), countedEvents: counted, now: () => clock, log: () => {}, exactlyOnce: false })
  await plugin.setup()
  // A review at this time of day on each simulated day after the first, as the host's scheduled review keeps one.
  const due: number[] = []
  for (let at = watermark - DAY_MS; at > clock + DAY_MS / 2; at -= DAY_MS) due.unshift(at)
  const reviews: DemoPast['reviews'] = []
  const review = async (at: number) => {
    clock = at
    reviews.push({ at, report: buildReport({ definitions, observations: await plugin.observe(), settings, nowMs: at }) })
  }
  let events = 0
  const rest: SimEvent[] = []
  for (const e of sim.events) {
    const ts = Date.parse(e.timestamp)
    if (ts >= watermark) {
      rest.push(e) // the events are in time order: these are the live feed's
      continue
    }
    while (due.length > 0 && ts >= due[0]!) await review(due.shift()!)
    clock = ts
    await plugin.onEvent(e)
    events++
  }
  for (const at of due) await review(at)
  clock = watermark
  const observed = await plugin.observe()
  await plugin.teardown()
  // Stored as a backfill is: the report says the numbers before the watermark were counted there.
  const observations: Observations = { ...observed, flags: observed.flags.map((f) => ({ ...f, source: 'backfill' })) }
  return { watermark, events, observations, reviews, rest }
}

/**
 * Stores the past where a connected project keeps its HogQL backfill (the runtime then counts live
 * from its watermark on), and its reviews in the history. Reviews older than the newest one kept
 * (an earlier start of the demo) are left out, so the history never goes back in time.
 */
export async function storeDemoPast(store: HostStore, project: string, past: DemoPast): Promise<number> {
  const stored: StoredBackfill = { watermark: past.watermark, completedAt: past.watermark, queries: 0, observations: past.observations }
  await pluginStorage(store, project).set(BACKFILL_KEY, stored)
  const newest = (await store.reportHistory(project, 1))[0]?.at ?? -Infinity
  const kept = past.reviews.filter((r) => r.at > newest)
  for (const r of kept) await store.putReport(project, r, true)
  return kept.length
}
