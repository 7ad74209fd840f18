import { mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import vm from 'node:vm'
import { beforeAll, describe, expect, it } from 'vitest'
import { MemoryCache } from '../../src/counters/memory-cache.js'
import { OBSERVATIONS_STORAGE_KEY } from '../../src/plugin/state.js'
import type { Observations } from '../../src/counters/observation.js'
import { buildPlugin } from '../../scripts/build-plugin.mjs'
import { customEvent, flagCalled } from '../support/events.js'
import { setupServer } from 'msw/node'
import { posthogProject } from '../support/posthog-box/index.js'
import { afterAll } from 'vitest'
import { auditEvents } from '../../src/audit/offline-audit.js'
import { buildReport, type Report } from '../../src/coverage/report.js'
import { simulatedProject } from '../support/sim-project.js'
import { HOST, KEY, PROJECT } from '../support/posthog-api.js'

const DAY = 86_400_000

interface PluginModule {
  setupPlugin(meta: unknown): Promise<void>
  onEvent(event: unknown, meta: unknown): Promise<void>
  runEveryMinute(meta: unknown): Promise<void>
  teardownPlugin(meta: unknown): Promise<void>
}

let code = ''
beforeAll(async () => {
  const out = await buildPlugin(join(mkdtempSync(join(tmpdir(), 'ec-plugin-')), 'plugin.js'))
  code = readFileSync(out, 'utf8')
})

/**
 * Loads dist/plugin.js the way plugin-server's VM did: a fresh context with `exports` and a console,
 * no setTimeout/setInterval, no `require`, no `process`.
 */
function loadInPluginVm(extra: Record<string, unknown> = {}): { plugin: PluginModule; context: vm.Context; logs: unknown[][] } {
  const logs: unknown[][] = []
  const sandbox = {
    ...extra,
    console: { log: (...a: unknown[]) => logs.push(a), info: (...a: unknown[]) => logs.push(a), warn: (...a: unknown[]) => logs.push(a), error: (...a: unknown[]) => logs.push(a), debug: () => {} },
    module: { exports: {} as Record<string, unknown> },
    exports: {} as Record<string, unknown>,
  }
  sandbox.exports = sandbox.module.exports
  const context = vm.createContext(sandbox)
  vm.runInContext(code, context, { filename: 'plugin.js' })
  return { plugin: sandbox.module.exports as unknown as PluginModule, context, logs }
}

/** A cache offering exactly the contract's four calls and nothing else. */
function contractOnlyCache() {
  const inner = new MemoryCache()
  const used = new Set<string>()
  const cache = Object.freeze({
    incr: (k: string) => (used.add('incr'), inner.incr(k)),
    expire: (k: string, t: number) => (used.add('expire'), inner.expire(k, t)),
    get: (k: string, d: unknown) => (used.add('get'), inner.get(k, d)),
    set: (k: string, v: unknown, t?: number) => (used.add('set'), inner.set(k, v, t)),
  })
  return { cache, used }
}

function storage() {
  const map = new Map<string, unknown>()
  return {
    map,
    get: async (k: string, d: unknown) => (map.has(k) ? map.get(k) : d),
    set: async (k: string, v: unknown) => void (v === undefined ? map.delete(k) : map.set(k, v)),
    del: async (k: string) => void map.delete(k),
  }
}

describe('dist/plugin.js in a plugin-server-like VM', () => {
  it('the VM really lacks setTimeout and require (the test would prove nothing otherwise)', () => {
    const { context } = loadInPluginVm()
    expect(vm.runInContext('typeof setTimeout + typeof require + typeof process', context)).toBe('undefinedundefinedundefined')
  })

  it('loads, counts exposures through a contract-only cache, and stores observations', async () => {
    const { plugin } = loadInPluginVm()
    const { cache, used } = contractOnlyCache()
    const store = storage()
    const meta = { config: { goalEvents: '["checkout_completed"]' }, cache, storage: store, global: {}, attachments: {} }
    await plugin.setupPlugin(meta)
    const now = Date.now()
    const events = [
      flagCalled('exp', 'control', { distinct_id: 'u1', ts: now - 60_000 }),
      flagCalled('exp', 'test', { distinct_id: 'u2', ts: now - 60_000 }),
      flagCalled('exp', 'test', { distinct_id: 'u3', ts: now - 60_000, props: { $lib: 'posthog-node' } }),
      customEvent('checkout_completed', { distinct_id: 'u2', ts: now - 30_000 }),
      customEvent('$pageview', { distinct_id: 'u9', ts: now - 30_000, props: { '$feature/exp': 'test' } }),
    ]
    for (const e of events) await plugin.onEvent(e, meta)
    await plugin.onEvent({ event: 42 }, meta) // bad input must not throw inside the VM either
    await plugin.runEveryMinute(meta)
    const obs = store.map.get(OBSERVATIONS_STORAGE_KEY) as Observations
    const exp = obs.flags.find((f) => f.flag === 'exp')!
    expect(exp.exposure.$feature_flag_called).toMatchObject({ exposures: 3, units: 3 })
    expect(exp.sightings).toMatchObject({ units: 4, unitsExposed: 3 }) // u9 carries the flag but was never exposed
    expect(exp.metrics[0]?.variants).toEqual([{ value: 'test', events: 1, units: 1, eventsBeforeExposure: 0 }])
    expect(obs.rejections).toEqual({ event_name_invalid: 1 })
    expect([...used].sort()).toEqual(['expire', 'get', 'incr', 'set'])
    await plugin.teardownPlugin(meta)
  })

  it('runs HogQL goal filters inside the VM (parser and Hog VM bundled), counting only matching events', async () => {
    const { plugin } = loadInPluginVm()
    const { cache } = contractOnlyCache()
    const store = storage()
    const goals = [{ name: 'pro checkout', event: 'checkout_completed', filter: "properties.plan = 'pro' and properties.amount > 10" }]
    const meta = { config: { goalEvents: JSON.stringify(goals) }, cache, storage: store, global: {}, attachments: {} }
    await plugin.setupPlugin(meta)
    const now = Date.now()
    await plugin.onEvent(flagCalled('exp', 'test', { distinct_id: 'u1', ts: now - 60_000 }), meta)
    for (const [plan, amount] of [['pro', 20], ['free', 20], ['pro', 5]] as const) {
      await plugin.onEvent(customEvent('checkout_completed', { distinct_id: 'u1', ts: now - 30_000, props: { plan, amount } }), meta)
    }
    await plugin.runEveryMinute(meta)
    const obs = store.map.get(OBSERVATIONS_STORAGE_KEY) as Observations
    // Per day too: the one event, on the day it was sent.
    expect(obs.flags[0]!.metrics).toEqual([{ name: 'pro checkout', variants: [{ value: 'test', events: 1, units: 1, eventsBeforeExposure: 0 }], byDay: { [new Date(now - 30_000).toISOString().slice(0, 10)]: 1 } }])
  })

  it('refuses a goal filter that does not compile, naming the setting and the position', async () => {
    const { plugin } = loadInPluginVm()
    const meta = { config: { goalEvents: JSON.stringify([{ event: 'x', filter: 'properties.a = 1 and nope(2)' }]) }, cache: contractOnlyCache().cache, storage: storage(), global: {} }
    await expect(plugin.setupPlugin(meta)).rejects.toThrow(/goalEvents: the filter of "x": The function nope\(\) is not available in real-time filters \(at character 22/)
  })

  it('refuses invalid settings at setup with an error that names the field', async () => {
    const { plugin } = loadInPluginVm()
    const meta = { config: { srmPValue: 'often' }, cache: contractOnlyCache().cache, storage: storage(), global: {} }
    await expect(plugin.setupPlugin(meta)).rejects.toThrow(/srmPValue/)
  })
})

describe('dist/plugin.js with PostHog credentials, in the VM', () => {
  const END = Date.UTC(2026, 10, 20, 12)
  const p = simulatedProject({ seed: 19, users: 500, days: 12, endMs: END })
  const requests: string[] = []
  // Every HogQL query the plugin sends from the VM runs on ClickHouse as PostHog prints it. All the
  // events come after the watermark (set at setup), so the backfill of what came before is empty.
  let ph: Awaited<ReturnType<typeof posthogProject>>
  let server: ReturnType<typeof setupServer>
  beforeAll(async () => {
    ph = await posthogProject(p.api, p.events, p.defs)
    server = setupServer(...ph.handlers)
    server.events.on('request:start', ({ request }) => void requests.push(`${request.method} ${new URL(request.url).pathname}`))
    server.listen({ onUnhandledRequest: 'error' })
  })
  afterAll(() => {
    server.close()
    ph.close()
  })

  it("reads the project's definitions through the API and counts, live, what the offline audit counts: the same report", async () => {
    // plugin-server's VM (plugin-server/src/worker/vm/vm.ts) offered `fetch` and `URL`, nothing more
    // of the web platform; the clock is the VM's own Date, moved with the events as a live stream
    // would move it (the watermark is set at setup, before the first event).
    const clock = { now: END - 12 * DAY }
    const { plugin, context, logs } = loadInPluginVm({ fetch, URL, __clock: clock })
    vm.runInContext('Date.now = () => __clock.now', context)
    expect(vm.runInContext('[typeof Request, typeof Response, typeof performance, typeof TextDecoder, typeof AbortController].join()', context)).toBe('undefined,undefined,undefined,undefined,undefined')
    const store = storage()
    const config = { posthogHost: HOST, posthogProjectId: PROJECT, posthogPersonalApiKey: KEY }
    const meta = { config, cache: new MemoryCache(() => clock.now), storage: store, global: {}, attachments: {} }
    await plugin.setupPlugin(meta)
    expect(logs.filter((l) => String(l[0]).includes('could not'))).toEqual([])
    expect(requests).toContain(`GET /api/projects/${PROJECT}/feature_flags/`)
    expect(requests.some((r) => /experiments\/\d+\/$/.test(r))).toBe(true)
    for (const e of p.events) {
      clock.now = Math.max(clock.now, Date.parse(e.timestamp))
      await plugin.onEvent(JSON.parse(JSON.stringify(e)), meta)
    }
    clock.now = END
    await plugin.runEveryMinute(meta)
    // The backfill's queries ran on ClickHouse, synchronously (the VM has no timers to poll with), and none was refused.
    expect(ph.log.length).toBeGreaterThan(0)
    expect(ph.log.filter((q) => q.error).map((q) => q.error)).toEqual([])
    const observations = store.map.get(OBSERVATIONS_STORAGE_KEY) as Observations
    const live = buildReport({ definitions: p.defs, observations, settings: p.settings, nowMs: END })
    const offline = (await auditEvents(p.defs, {}, p.events, { now: END })).report
    const flags = (r: Report) => r.flags.map((f) => ({ ...f, data: { ...f.data, source: 'any' } }))
    // The project has experiments with metrics and runs, so equality means the definitions were used.
    expect(live.flags.filter((f) => f.kind === 'experiment' && f.checks.some((c) => c.id === 'primary_metric' && c.status === 'pass')).length).toBeGreaterThan(3)
    expect(flags(live)).toEqual(flags(offline))
    await plugin.teardownPlugin(meta)
  })
})
