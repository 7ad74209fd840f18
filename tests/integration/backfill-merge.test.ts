import { experimentRuns } from '../../src/definitions/windows.js'
import { setupServer } from 'msw/node'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { countedValues } from '../../src/plugin/definition-hooks.js'
import { createIngestContext, ingestEvent } from '../../src/counters/ingest.js'
import { MemoryCache } from '../../src/counters/memory-cache.js'
import { mergeObservations } from '../../src/counters/merge.js'
import type { Observations } from '../../src/counters/observation.js'
import { readObservations } from '../../src/counters/read.js'
import { MemoryStorage } from '../../src/counters/memory-storage.js'
import { backfillWindow, observationsFromBackfill } from '../../src/posthog/backfill.js'
import { BACKFILL_KEY, backfillStep, type StoredBackfill } from '../../src/posthog/backfill-job.js'
import { planBackfill } from '../../src/posthog/backfill-queries.js'
import { PostHogClient, type RequestInfo } from '../../src/posthog/client.js'
import { posthogProject } from '../support/posthog-box/index.js'
import { simulatedProject } from '../support/sim-project.js'
import { HOST, KEY, PROJECT } from '../support/posthog-api.js'

const DAY = 86_400_000
const END = Date.UTC(2026, 10, 20, 12)
const WATERMARK = END - 5 * DAY // whole seconds
const { events, api, defs, settings } = simulatedProject({ seed: 17, users: 500, days: 12, endMs: END })

const plan = planBackfill(defs, settings.metrics, backfillWindow(END, settings, WATERMARK, experimentRuns(defs)))
// PostHog's side: the project's events in a real ClickHouse, every query printed as PostHog prints it.
let ph: Awaited<ReturnType<typeof posthogProject>>
let server: ReturnType<typeof setupServer>
beforeAll(async () => {
  ph = await posthogProject(api, events, defs)
  server = setupServer(...ph.handlers)
  server.listen({ onUnhandledRequest: 'error' })
})
afterAll(() => {
  server.close()
  ph.close()
})

/** The backfill's queries, run as the API runs them. */
async function backfillRuns(window: ReturnType<typeof backfillWindow>) {
  const runs = []
  for (const query of planBackfill(defs, settings.metrics, window)) {
    const { columns, results } = await ph.box.hogql(query.hogql, { personalApiKey: true })
    runs.push({ query, result: { columns, rows: results }, ms: 0 })
  }
  return runs
}

async function live(watermark: number | null): Promise<Observations> {
  const cache = new MemoryCache(() => END)
  const byKey = new Map(defs.flags.map((f) => [f.key, f]))
  const ctx = createIngestContext({
    cache,
    settings,
    project: PROJECT,
    now: () => END,
    groupTypeOf: (f) => (byKey.get(f)?.filters.aggregation_group_type_index === 0 ? 'company' : null),
    isCountedValue: countedValues(defs),
    watermark: () => watermark,
  })
  for (const e of events) await ingestEvent(ctx, e)
  return readObservations({ cache, project: PROJECT, lookbackDays: settings.lookbackDays, nowMs: END })
}

/** Every exposure event count of an observation (units left out: they cannot be added across the split). */
function eventCounts(o: Observations) {
  return o.flags
    .filter((f) => Object.keys(f.exposure).length > 0)
    .map((f) => ({
      flag: f.flag,
      exposure: Object.values(f.exposure).map((e) => ({
        event: e!.event,
        exposures: e!.exposures,
        variants: e!.variants.map((v) => [v.value, v.exposures, v.exposuresByLib, v.bootstrapped, v.locallyEvaluated, v.errored]),
      })),
    }))
}

const metricEvents = (o: Observations) => new Map(o.flags.flatMap((f) => f.metrics.flatMap((m) => m.variants.map((v) => [`${f.flag}|${m.name}|${String(v.value)}`, v.events] as const))))

describe('the live counters and the backfill split time at the watermark', () => {
  it('count every event exactly once: the merge equals counting everything live', async () => {
    const before = events.filter((e) => Date.parse(e.timestamp) < WATERMARK).length
    expect(before).toBeGreaterThan(1000)
    expect(events.length - before).toBeGreaterThan(1000)
    const window = backfillWindow(END, settings, WATERMARK, experimentRuns(defs))
    const backfill = observationsFromBackfill(defs, await backfillRuns(window), PROJECT, window, settings.lookbackDays)
    const merged = mergeObservations(await live(WATERMARK), backfill)
    const all = await live(null)
    expect(eventCounts(merged)).toEqual(eventCounts(all))
    // A goal event is counted by the side its own timestamp falls on, for the exposures that side
    // saw: never twice, but one sent after the watermark by a unit exposed only before it is missed.
    const everything = metricEvents(all)
    for (const [k, n] of metricEvents(merged)) expect(n, k).toBeLessThanOrEqual(everything.get(k) ?? 0)
  })

  it('marks unit counts that come from both sides as estimated (an upper bound)', async () => {
    const window = backfillWindow(END, settings, WATERMARK, experimentRuns(defs))
    const merged = mergeObservations(await live(WATERMARK), observationsFromBackfill(defs, await backfillRuns(window), PROJECT, window, settings.lookbackDays))
    const all = await live(null)
    const flag = merged.flags.find((f) => f.flag === 'checkout-one-page')!
    expect(flag.estimated).toBe(true)
    expect(flag.exposure.$feature_flag_called!.units).toBeGreaterThanOrEqual(all.flags.find((f) => f.flag === 'checkout-one-page')!.exposure.$feature_flag_called!.units)
  })
})

describe('the stored backfill job', () => {
  it('runs a few queries a step, resumes from storage, stores the observations, then does nothing more', async () => {
    const storage = new MemoryStorage()
    const seen: RequestInfo[] = []
    const client = new PostHogClient({ host: HOST, projectId: PROJECT, personalApiKey: KEY, onRequest: (r) => seen.push(r) })
    const steps: string[] = []
    for (let i = 0; i < 20 && steps.at(-1) !== 'done'; i++) steps.push(await backfillStep(storage, client, { nowMs: END, watermark: WATERMARK, userConfig: {}, maxQueries: 3 }))
    expect(steps.length).toBe(Math.ceil(plan.length / 3))
    const stored = (await storage.get(BACKFILL_KEY, null)) as StoredBackfill
    expect(stored).toMatchObject({ watermark: WATERMARK, queries: plan.length })
    expect(stored.observations.flags.length).toBeGreaterThan(10)
    const requests = seen.length
    expect(await backfillStep(storage, client, { nowMs: END, watermark: WATERMARK, userConfig: {} })).toBe('done')
    expect(seen.length).toBe(requests)
  })
})

describe('the watermark and the counters layout', () => {
  it('is kept across restarts, and taken anew when the live counters were of an older layout', async () => {
    const { ensureWatermark, WATERMARK_KEY } = await import('../../src/posthog/backfill-job.js')
    const storage = new MemoryStorage()
    const first = await ensureWatermark(storage, Date.UTC(2026, 10, 1, 12))
    expect(await ensureWatermark(storage, Date.UTC(2026, 10, 2))).toBe(first)
    // A watermark stored by a version whose counters this one does not read: its live counters
    // are lost to the reader, so the backfill must cover up to now.
    const upgraded = new MemoryStorage()
    await upgraded.set(WATERMARK_KEY, Date.UTC(2026, 9, 1))
    expect(await ensureWatermark(upgraded, Date.UTC(2026, 10, 2, 8, 30))).toBe(Date.UTC(2026, 10, 2, 8, 30))
    expect(await ensureWatermark(upgraded, Date.UTC(2026, 10, 3))).toBe(Date.UTC(2026, 10, 2, 8, 30))
  })
})
