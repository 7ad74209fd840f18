import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { chromium } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { runDemo } from '../../src/cli/demo.js'
import type { Report } from '../../src/coverage/report.js'
import { createApp } from '../../src/host/app.js'
import { feedDemo, type FeedProgress } from '../../src/host/demo-feed.js'
import { countDemoPast, storeDemoPast, type DemoPast } from '../../src/host/demo-past.js'
import { listen, type Bound } from '../../src/host/node.js'
import { DEMO_PROJECT, demoSpec } from '../../src/sim/demo.js'
import { testHost } from '../support/host.js'
import { killAll, spawnHost } from '../support/host-process.js'
import { builtSite } from '../support/site.js'

/**
 * Issue 20, item 1: the served demo is right from its first report. Its past is counted before it
 * starts and stored as a connected project's HogQL backfill is (a watermark at "now"); the rest of
 * the window arrives live over HTTP. The first report, the settled one and the CLI `demo` agree.
 */

type Verdicts = Record<string, string>
const verdicts = (r: { flags: readonly { key: string; verdict: string }[] }): Verdicts => Object.fromEntries(r.flags.map((f) => [f.key, f.verdict]))
/** Exposures per flag and variant: event counts add up exactly across the watermark (units do not). */
const exposures = (r: Report) => Object.fromEntries(r.flags.map((f) => [f.key, f.variants.map((v) => [v.key, v.exposures])]))

/** `experiment-coverage demo --format json` with its defaults, at `nowMs`: its report, and the events its last line says it counted. */
async function cliDemo(nowMs: number): Promise<{ report: Report; events: number }> {
  const said: string[] = []
  const spy = vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => (said.push(String(chunk)), true))
  try {
    const report = JSON.parse(await runDemo({ ...DEMO_PROJECT, format: 'json', nowMs })) as Report
    const m = /demo: ([\d,]+) simulated events/.exec(said.join(''))
    expect(m, said.join('')).not.toBeNull()
    return { report, events: Number(m![1]!.replace(/,/g, '')) }
  } finally {
    spy.mockRestore()
  }
}

describe('the served demo starts with its past counted', () => {
  const started = Date.now()
  const spec = demoSpec(started)
  let now = started
  let t: Awaited<ReturnType<typeof testHost>>
  let bound: Bound
  let past: DemoPast
  let kept: number
  const get = async <T>(path: string): Promise<T> => {
    // A kept-alive connection the server closed while the CLI demo ran: asked again on a new one.
    const res = await fetch(`${bound.url}${path}`).catch(() => fetch(`${bound.url}${path}`))
    expect(res.status).toBe(200)
    return (await res.json()) as T
  }

  beforeAll(async () => {
    t = await testHost({ clock: () => now })
    await t.host.addProject({ id: 'demo', demo: spec, start: false })
    past = await countDemoPast(spec, {}, started)
    kept = await storeDemoPast(t.host.store, 'demo', past)
    await t.host.setEnabled('demo', true) // starts the runtime, as `serve` does once the past is stored
    bound = await listen(createApp(t.host), t.host, { port: 0, hostname: '127.0.0.1' })
  }, 400_000)

  afterAll(async () => {
    await new Promise<void>((r) => bound?.server.close(() => r()))
    await t?.close()
  })

  it('the first report, its live feed run out and the CLI demo give every flag the same verdict, and count the same events', { timeout: 300_000 }, async () => {
    const first = await get<Report>('/api/projects/demo/report?fresh=1')
    expect(first.flags).toHaveLength(DEMO_PROJECT.flags)
    await t.host.runtime('demo')!.review(now) // the review the scheduler takes at start

    // The rest of the window, as its time comes: the feed's clock and the host's stand at its end.
    now = spec.endMs
    let fed: FeedProgress | null = null
    fed = await feedDemo({ url: `${bound.url}/ingest/demo`, secret: t.host.ingestSecret((await t.host.project('demo'))!), events: past.rest, perSecond: 1000, clock: () => spec.endMs })
    expect(fed.done).toBe(true)
    expect(fed.refused).toBe(0)
    expect(fed.total).toBeGreaterThan(0) // badges still move after the start
    const settled = await get<Report>('/api/projects/demo/report?fresh=1')

    const { report: cli, events: cliEvents } = await cliDemo(started)
    expect(verdicts(first)).toEqual(verdicts(settled))
    expect(verdicts(settled)).toEqual(verdicts(cli))
    expect(exposures(settled)).toEqual(exposures(cli))
    expect(past.events + fed.sent).toBe(cliEvents)
    expect(first.summary.trustworthy).toBeGreaterThan(0)
  })

  it('History holds a review for each simulated day, and its newest agrees with the flag list', { timeout: 60_000 }, async () => {
    expect(kept).toBe(DEMO_PROJECT.days - 1)
    const history = await get<{ runs: { generated_at: string; flags: { key: string; verdict: string }[] }[]; changes: unknown; recurring_gaps: unknown[] }>('/api/projects/demo/history?limit=100')
    expect(history.runs.length).toBeGreaterThanOrEqual(DEMO_PROJECT.days)
    const times = history.runs.map((r) => Date.parse(r.generated_at))
    expect(times).toEqual([...times].sort((a, b) => b - a))
    expect(Date.parse(history.runs.at(-1)!.generated_at)).toBeLessThan(started - (DEMO_PROJECT.days - 2) * 86_400_000)
    expect(history.changes).not.toBeNull()
    expect(history.recurring_gaps.length).toBeGreaterThan(0)
    const list = await get<{ flags: { key: string; verdict: string }[] }>('/api/projects/demo/flags')
    expect(verdicts(history.runs[0]!)).toEqual(verdicts(list))
  })
})

const CHROMIUM = '/usr/bin/chromium'

/** The served demo's flag list and History, as Chromium shows them the moment the host listens. */
async function firstScreen(url: string) {
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'] })
  try {
    const page = await browser.newPage()
    await page.goto(`${url}/`)
    await page.waitForSelector('tbody tr[data-flag-key]')
    const rows: Verdicts = {}
    const findings: Record<string, string> = {}
    for (const row of await page.locator('tbody tr[data-flag-key]').all()) {
      const key = (await row.getAttribute('data-flag-key'))!
      rows[key] = (await row.locator('[data-verdict]').first().getAttribute('data-verdict'))!
      findings[key] = ((await row.locator('.worst-finding').textContent()) ?? '').trim()
    }
    await page.goto(`${url}/?project=demo&view=history`)
    await page.waitForSelector('table.history tbody tr[data-flag-key]')
    const historyNewest: Verdicts = {}
    for (const row of await page.locator('table.history tbody tr[data-flag-key]').all()) {
      historyNewest[(await row.getAttribute('data-flag-key'))!] = (await row.locator('td [data-verdict]').last().getAttribute('data-verdict'))!
    }
    const historyReviews = await page.locator('table.history thead th').count() - 1
    return { rows, findings, historyNewest, historyReviews }
  } finally {
    await browser.close()
  }
}

describe('`serve` with no project serves that demo', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'coverage-demo-serve-'))
  afterAll(() => {
    killAll()
    rmSync(dataDir, { recursive: true, force: true })
  })
  it('its first report, right after it listens, has the CLI demo\'s verdicts, and History its past; so does its first screen in Chromium', { timeout: 480_000 }, async () => {
    const siteDir = existsSync(CHROMIUM) ? await builtSite() : null
    if (!siteDir) console.warn(`${CHROMIUM} is missing: the demo's first screen is not opened in a browser (apt-get install -y chromium; .ci/run installs it)`)
    const at = Date.now()
    const h = await spawnHost(['--port', '0', '--data-dir', dataDir, ...(siteDir ? ['--site-dir', siteDir] : [])], { REDIS_URL: '', DATABASE_URL: '', COVERAGE_SECRET_KEY: '', POSTHOG_PROJECT_ID: '', POSTHOG_PERSONAL_API_KEY: '', COVERAGE_API_TOKEN: '', COVERAGE_INGEST_SECRET: '' })
    const first = (await (await fetch(`${h.url}/api/projects/demo/report`)).json()) as Report
    const history = (await (await fetch(`${h.url}/api/projects/demo/history?limit=100`)).json()) as { runs: unknown[] }
    const screen = siteDir ? await firstScreen(h.url) : null
    await h.stop()
    if (screen) {
      // What a newcomer sees first: the settled verdicts, each row that is not trustworthy with its finding in words.
      expect(screen.rows).toEqual(verdicts(first))
      for (const [key, finding] of Object.entries(screen.findings)) {
        if (first.flags.find((f) => f.key === key)!.verdict !== 'trustworthy') expect(finding, key).toMatch(/\w{3,}/)
      }
      // History has a stretch per verdict over the simulated days, and its newest is the list's verdict.
      expect(screen.historyNewest).toEqual(verdicts(first))
      expect(screen.historyReviews).toBeGreaterThanOrEqual(DEMO_PROJECT.days - 1)
    }
    expect(h.stderr()).toMatch(/demo: [\d,]+ past events counted and 13 daily reviews kept/)
    expect(history.runs.length).toBeGreaterThanOrEqual(DEMO_PROJECT.days - 1)
    // The CLI at a moment of the hour serve started in (an hour may have turned since `at`): the same window.
    const end = Date.parse(/events from now to (\S+) to/.exec(h.stderr())![1]!)
    expect(end - at).toBeGreaterThanOrEqual(3_600_000)
    const { report: cli } = await cliDemo(end - 3_600_000 - 1)
    expect(verdicts(first)).toEqual(verdicts(cli))
  })
})
