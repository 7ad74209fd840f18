import { setupServer } from 'msw/node'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { MemoryCache } from '../../src/counters/memory-cache.js'
import { MemoryStorage } from '../../src/counters/memory-storage.js'
import { DEFINITIONS_REFRESH_MS, DEFINITIONS_STORAGE_KEY, createPluginState, lookForDefinitions, refreshDefinitions } from '../../src/plugin/state.js'
import { simulatedProject } from '../support/sim-project.js'
import { HOST, KEY, PROJECT, base, http, HttpResponse, posthogHandlers } from '../support/posthog-api.js'

const END = Date.UTC(2026, 10, 20, 12)
const p = simulatedProject({ seed: 23, users: 50, days: 7, endMs: END })
const server = setupServer(...posthogHandlers(p.api))
beforeAll(() => server.listen({ onUnhandledRequest: 'error' }))
afterAll(() => server.close())

const config = { posthogHost: HOST, posthogProjectId: PROJECT, posthogPersonalApiKey: KEY }
const experimentFlag = (p.api.experiments[0] as { feature_flag_key: string }).feature_flag_key

describe("the plugin's definitions, shared by its workers", () => {
  it('one worker fetches them, the others pick them up from storage within a minute', async () => {
    const storage = new MemoryStorage()
    const cache = new MemoryCache()
    const a = await createPluginState(config, cache, { log: () => {} })
    const b = await createPluginState(config, cache, { log: () => {} })
    expect(a.ingest.runOf(experimentFlag)).toBeNull() // nothing known before the fetch
    await refreshDefinitions(a, storage, { fetch: true })
    expect(a.ingest.runOf(experimentFlag)).not.toBeNull()
    expect(a.settings.metrics.length).toBeGreaterThan(b.settings.metrics.length) // experiments' metric events now counted
    await lookForDefinitions(b, storage)
    expect(b.ingest.runOf(experimentFlag)).toEqual(a.ingest.runOf(experimentFlag))
    expect(b.definitionsAt).toBe(a.definitionsAt)
    // A worker that just looked does not read storage again for a minute.
    const stored = (await storage.get(DEFINITIONS_STORAGE_KEY, null)) as { fetchedAt: number }
    await storage.set(DEFINITIONS_STORAGE_KEY, { ...stored, fetchedAt: stored.fetchedAt + 1, experiments: [] })
    await lookForDefinitions(b, storage)
    expect(b.ingest.runOf(experimentFlag)).not.toBeNull()
    b.nextDefinitionsLook = 0
    await lookForDefinitions(b, storage)
    expect(b.ingest.runOf(experimentFlag)).toBeNull()
  })

  it('refetches only when older than the refresh interval, and keeps counting with the old ones when PostHog fails', async () => {
    const storage = new MemoryStorage()
    const logs: string[] = []
    const a = await createPluginState(config, new MemoryCache(), { log: (_l, m) => logs.push(m) })
    await refreshDefinitions(a, storage, { fetch: true })
    const first = a.definitionsAt
    await refreshDefinitions(a, storage, { fetch: true })
    expect(a.definitionsAt).toBe(first) // fresh: not fetched again
    const stored = (await storage.get(DEFINITIONS_STORAGE_KEY, null)) as { fetchedAt: number }
    await storage.set(DEFINITIONS_STORAGE_KEY, { ...stored, fetchedAt: stored.fetchedAt - DEFINITIONS_REFRESH_MS })
    server.use(http.get(`${base}/feature_flags/`, () => HttpResponse.json({ type: 'server_error', detail: 'boom' }, { status: 500 })))
    try {
      await refreshDefinitions(a, storage, { fetch: true })
    } finally {
      server.resetHandlers()
    }
    expect(logs.some((m) => /could not fetch the project's flags and experiments, counting with the ones fetched before/.test(m))).toBe(true)
    expect(a.ingest.runOf(experimentFlag)).not.toBeNull()
  })

  it('never fetches without a personal API key', async () => {
    const storage = new MemoryStorage()
    const a = await createPluginState({ posthogProjectId: PROJECT }, new MemoryCache(), { log: () => {} })
    await refreshDefinitions(a, storage, { fetch: true })
    expect(await storage.get(DEFINITIONS_STORAGE_KEY, null)).toBeNull()
  })
})
