/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
// page.evaluate callbacks run in the browser: they use its DOM types.
import { CHECK_IDS } from '../../src/coverage/checks/types.js'
import { existsSync, mkdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { serve } from '@hono/node-server'
import { serveStatic } from '@hono/node-server/serve-static'
import { Hono } from 'hono'
import { setupServer } from 'msw/node'
import { chromium, type Browser, type Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { VERDICT_LABELS } from '../../src/coverage/labels.js'
import { createApp } from '../../src/host/app.js'
import { listen, type Bound } from '../../src/host/node.js'
import type { DemoSpec } from '../../src/host/project.js'
import { simulate } from '../../src/sim/simulation.js'
import { asBody, postSigned, testHost } from '../support/host.js'
import { builtSite } from '../support/site.js'
import { HOST, KEY, PROJECT, posthogHandlers } from '../support/posthog-api.js'

// A real browser: Debian's Chromium driven by playwright-core (.ci/run installs it when missing).
const CHROMIUM = '/usr/bin/chromium'
const skip = existsSync(CHROMIUM) ? null : `${CHROMIUM} is missing: skipping the UI tests (apt-get install -y chromium; .ci/run installs it)`
if (skip) console.warn(skip)
const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const SHOTS = join(ROOT, 'test-results', 'screenshots')
const END = Date.UTC(2026, 10, 20, 12)
const spec: DemoSpec = { seed: 7, flags: 20, users: 300, days: 3, endMs: END }

// A hostile project: a flag, its tags and variant keys written as HTML that would run if rendered as such.
const XSS_KEY = '<img src=x onerror=alert(1)>'
const XSS_TAG = '<script>alert(2)</script>'
const XSS_VARIANT = '<b onmouseover=alert(3)>bold</b>'
const hostileFlag = {
  id: 901,
  key: XSS_KEY,
  name: '"><svg onload=alert(4)>',
  active: true,
  deleted: false,
  tags: [XSS_TAG, 'growth'],
  created_at: '2026-11-01T10:00:00Z',
  filters: { groups: [{ properties: [], rollout_percentage: 100 }], multivariate: { variants: [{ key: 'control', rollout_percentage: 50 }, { key: XSS_VARIANT, rollout_percentage: 50 }] } },
}
const server = setupServer(...posthogHandlers({ flags: [hostileFlag], experiments: [], cohorts: [], groupTypes: [] }))

let t: Awaited<ReturnType<typeof testHost>>
let bound: Bound
let browser: Browser
let siteDir: string
let demoSecret: string

beforeAll(async () => {
  if (skip) return
  server.listen({ onUnhandledRequest: 'bypass' })
  siteDir = await builtSite()
  t = await testHost({ clock: () => END })
  demoSecret = t.host.ingestSecret(await t.host.addProject({ id: 'demo', demo: spec }))
  for (const e of simulate({ ...spec, defects: 'mix' }).events) expect((await postSigned(t.app, 'demo', demoSecret, asBody(e))).status).toBe(200)
  // Two scheduled reviews, an hour apart, for the history view.
  await t.host.runtime('demo')!.review(END - 3_600_000)
  await t.host.runtime('demo')!.review(END)
  // The hostile project reads its definitions from PostHog (msw), and gets a few exposures.
  const row = await t.host.addProject({ id: PROJECT, name: 'Hostile names', config: { posthogHost: HOST, posthogProjectId: PROJECT, posthogPersonalApiKey: KEY } })
  const secret = t.host.ingestSecret(row)
  for (let i = 0; i < 40; i++) {
    const variant = i % 2 ? 'control' : XSS_VARIANT
    const e = { uuid: `0190-${String(i).padStart(4, '0')}`, event: '$feature_flag_called', distinct_id: `u${i}`, timestamp: new Date(END - 3_600_000 + i * 1000).toISOString(), properties: { $feature_flag: XSS_KEY, $feature_flag_response: variant, [`$feature/${XSS_KEY}`]: variant, $lib: 'web' } }
    expect((await postSigned(t.app, PROJECT, secret, asBody(e))).status).toBe(200)
  }
  bound = await listen(createApp(t.host, { siteDir }), t.host, { port: 0, hostname: '127.0.0.1' })
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'] })
  mkdirSync(SHOTS, { recursive: true })
}, 180_000)

afterAll(async () => {
  if (skip) return
  await browser?.close()
  await new Promise<void>((r) => bound.server.close(() => r()))
  await t.close()
  server.close()
})

/** A page that fails the test on any dialog (an alert would mean data ran as code) and records all traffic. */
async function open(path: string, opts: { width?: number; height?: number; dark?: boolean } = {}) {
  const context = await browser.newContext({ viewport: { width: opts.width ?? 1280, height: opts.height ?? 900 }, colorScheme: opts.dark ? 'dark' : 'light' })
  const page = await context.newPage()
  const dialogs: string[] = []
  const traffic: string[] = []
  page.on('dialog', (d) => {
    dialogs.push(d.message())
    void d.dismiss()
  })
  page.on('request', (r) => traffic.push(`${r.url()} ${JSON.stringify(r.headers())} ${r.postData() ?? ''}`))
  page.on('response', async (r) => {
    traffic.push(`${r.url()} ${JSON.stringify(r.headers())}`)
    try {
      traffic.push(await r.text())
    } catch {
      // a redirect or an aborted request has no body
    }
  })
  await page.goto(`${bound.url}${path}`)
  return { page, dialogs, traffic, close: () => context.close() }
}

const rows = (page: Page) => page.locator('tbody tr[data-flag-key]')

describe.skipIf(skip !== null)('the UI in Chromium', () => {
  it('lists every flag with a verdict badge in words and its check badges', async () => {
    const { page, close } = await open('/?project=demo')
    await page.waitForSelector('tbody tr[data-flag-key]')
    expect(await rows(page).count()).toBe(20)
    expect(await page.locator('[data-demo]').count()).toBe(0) // the host answers: live data, no demo
    for (const row of await rows(page).all()) {
      const badge = row.locator('[data-verdict]')
      expect(await badge.count()).toBe(1)
      // the words every output uses for its verdict (labels.ts), never a word of the UI's own
      const verdict = (await badge.getAttribute('data-verdict')) as keyof typeof VERDICT_LABELS
      expect((await badge.textContent())?.trim()).toBe(VERDICT_LABELS[verdict].label)
      expect(await row.locator('[data-check][data-status]').count()).toBeGreaterThan(3)
    }
    await close()
  })

  it('filters and sorts, keeping the state in the URL so the view can be shared', async () => {
    const { page, close } = await open('/?project=demo')
    await page.waitForSelector('tbody tr[data-flag-key]')
    await page.selectOption('select[name=verdict]', 'blocked')
    expect(page.url()).toContain('verdict=blocked')
    const verdicts = await page.locator('tbody tr[data-flag-key] [data-verdict]').evaluateAll((els) => els.map((e) => e.getAttribute('data-verdict')))
    expect(verdicts.length).toBeGreaterThan(0)
    expect(new Set(verdicts)).toEqual(new Set(['blocked']))
    // Shared: the same URL opened afresh shows the same rows.
    const shared = await open(new URL(page.url()).pathname + new URL(page.url()).search)
    await shared.page.waitForSelector('tbody tr[data-flag-key]')
    expect(await rows(shared.page).count()).toBe(verdicts.length)
    await shared.close()
    await page.selectOption('select[name=verdict]', '')
    await page.selectOption('select[name=sort]', 'key')
    const keys = await rows(page).evaluateAll((els) => els.map((e) => e.getAttribute('data-flag-key')!))
    expect(keys).toEqual([...keys].sort((a, b) => a.localeCompare(b)))
    await page.fill('input[name=q]', 'checkout')
    await page.waitForFunction(() => [...document.querySelectorAll('tbody tr[data-flag-key]')].every((r) => r.getAttribute('data-flag-key')!.includes('checkout')))
    expect(page.url()).toContain('q=checkout')
    await close()
  })

  it('opens a flag with the keyboard: per-variant numbers, each check with its evidence and query, links back', async () => {
    const { page, close } = await open('/?project=demo&sort=key')
    await page.waitForSelector('tbody tr[data-flag-key]')
    const first = await rows(page).first().getAttribute('data-flag-key')
    await page.locator('tbody tr[data-flag-key] a.flag-key').first().focus()
    await page.keyboard.press('Enter')
    await page.waitForSelector('#flag-title')
    expect(await page.textContent('#flag-title')).toBe(first)
    expect(page.url()).toContain('view=flag')
    expect(await page.locator('table.numbers tbody tr[data-variant]').count()).toBeGreaterThanOrEqual(2)
    expect(await page.locator('li[data-check][data-status]').count()).toBe(CHECK_IDS.length)
    expect(await page.locator('svg.split rect').count()).toBeGreaterThanOrEqual(4)
    expect(await page.locator('svg.daily rect').count()).toBeGreaterThanOrEqual(2) // exposures per day
    await page.goBack()
    await page.waitForSelector('tbody tr[data-flag-key]')
    await close()
  })

  it('renders hostile flag keys, tags, names and variant keys as text, running nothing', async () => {
    const { page, dialogs, close } = await open(`/?project=${PROJECT}`)
    await page.waitForSelector('tbody tr[data-flag-key]')
    const row = page.locator('tbody tr[data-flag-key]').first()
    expect(await row.getAttribute('data-flag-key')).toBe(XSS_KEY)
    expect(await row.locator('a.flag-key').textContent()).toBe(XSS_KEY)
    expect(await row.textContent()).toContain(XSS_TAG)
    await row.locator('a.flag-key').click()
    await page.waitForSelector('#flag-title')
    expect(await page.textContent('table.numbers')).toContain(XSS_VARIANT)
    await page.locator('li[data-check] summary').first().click()
    await page.hover('table.numbers')
    expect(await page.locator('img[src="x"], svg[onload], b[onmouseover], script:not([src])').count()).toBe(0)
    // With PostHog credentials, each check's query opens in the project's SQL editor.
    expect(await page.locator(`a[href^="${HOST}/project/${PROJECT}/sql?open_query="]`).count()).toBeGreaterThan(0)
    expect(dialogs).toEqual([])
    await close()
  })

  it('shows each flag\'s verdict per review in the history view', async () => {
    const { page, close } = await open('/?project=demo&view=history')
    await page.waitForSelector('table.history tbody tr[data-flag-key]')
    expect(await page.locator('table.history thead th').count()).toBe(3) // the flag column and two reviews
    expect(await page.locator('table.history tbody tr[data-flag-key]').count()).toBe(20)
    // Each row covers both reviews: one cell per stretch of one verdict, in the list's words.
    for (const row of await page.locator('table.history tbody tr[data-flag-key]').all()) {
      const spans = await row.locator('td[data-reviews]').evaluateAll((tds) => tds.map((td) => Number(td.getAttribute('data-reviews'))))
      expect(spans.reduce((a, b) => a + b, 0)).toBe(2)
      for (const badge of await row.locator('[data-verdict]').all()) {
        const verdict = (await badge.getAttribute('data-verdict')) as keyof typeof VERDICT_LABELS
        expect((await badge.textContent())?.trim()).toBe(VERDICT_LABELS[verdict].label)
      }
    }
    await close()
  })

  it('rejects a bad setting beside its field and saves a good one; secrets stay masked', async () => {
    const { page, close } = await open('/?project=demo&view=settings')
    await page.waitForSelector('#setting-srmPValue')
    await page.fill('#setting-srmPValue', '2')
    await page.click('button[type=submit]')
    const error = page.locator('[data-field=srmPValue] .field-error')
    await error.waitFor()
    expect(await error.textContent()).toMatch(/less than 1/)
    expect(await page.getAttribute('#setting-srmPValue', 'aria-invalid')).toBe('true')
    await page.fill('#setting-srmPValue', '0.01')
    await page.click('button[type=submit]')
    await page.waitForFunction(() => document.body.textContent!.includes('Saved.'), undefined, { timeout: 10_000 }).catch(async (e: Error) => {
      throw new Error(`${e.message}; the form says: ${await page.textContent('form.settings [role=status]')}; errors: ${await page.locator('.field-error').allTextContents()}`)
    })
    expect(await page.locator('.field-error').count()).toBe(0)
    const saved = (await (await fetch(`${bound.url}/api/projects/demo/settings`)).json()) as { settings: Record<string, string> }
    expect(saved.settings.srmPValue).toBe('0.01')
    await close()
    // The hostile project's key: the form shows PostHog's mask, never the key.
    const other = await open(`/?project=${PROJECT}&view=settings`)
    await other.page.waitForSelector('#setting-posthogPersonalApiKey')
    expect(await other.page.getAttribute('#setting-posthogPersonalApiKey', 'type')).toBe('password')
    expect(await other.page.inputValue('#setting-posthogPersonalApiKey')).not.toContain(KEY)
    await other.close()
  })

  it('no request or response of the page carries the PostHog API key', async () => {
    const { page, traffic, close } = await open(`/?project=${PROJECT}`)
    await page.waitForSelector('tbody tr[data-flag-key]')
    for (const view of ['table', 'plan', 'readout', 'settings']) {
      await page.click(`nav a[href*="view=${view}"]`)
      await page.waitForLoadState('networkidle')
    }
    await page.click('nav a[href*="view=settings"]')
    await page.waitForSelector('#setting-posthogPersonalApiKey')
    expect(traffic.length).toBeGreaterThan(5)
    expect(traffic.filter((x) => x.includes(KEY))).toEqual([])
    await close()
  })

  it('asks for the API token of a host started with one, never showing the demo instead, and sends it only to that host', async () => {
    const token = 'a-host-api-token-of-at-least-32-characters'
    const locked = await listen(createApp(t.host, { siteDir, apiToken: token }), t.host, { port: 0, hostname: '127.0.0.1' })
    const context = await browser.newContext()
    const page = await context.newPage()
    const sent: { url: string; auth: string | undefined }[] = []
    page.on('request', (r) => sent.push({ url: r.url(), auth: r.headers().authorization }))
    try {
      await page.goto(`${locked.url}/?project=demo`)
      await page.waitForSelector('form[data-token-gate]')
      expect(await page.locator('[data-demo]').count()).toBe(0)
      expect(await rows(page).count()).toBe(0)
      await page.fill('#api-token', 'not-the-token')
      await page.click('form[data-token-gate] button[type=submit]')
      await page.locator('#api-token-error').waitFor()
      expect(await page.locator('#api-token-error').textContent()).toMatch(/refused this token/)
      await page.fill('#api-token', token)
      await page.click('form[data-token-gate] button[type=submit]')
      await page.waitForSelector('tbody tr[data-flag-key]')
      expect(await rows(page).count()).toBe(20)
      expect(await page.locator('[data-demo]').count()).toBe(0)
      // every API call after that carries it, and only to this host
      const api = sent.filter((r) => new URL(r.url).pathname.startsWith('/api/'))
      expect(api.at(-1)!.auth).toBe(`Bearer ${token}`)
      expect(sent.filter((r) => r.auth?.includes(token) && !r.url.startsWith(locked.url))).toEqual([])
    } finally {
      await context.close()
      await new Promise<void>((r) => locked.server.close(() => r()))
    }
  })

  it('runs its demo in the browser alone when no backend answers (msw service worker, simulator data)', async () => {
    // A plain static file server: the built site and nothing else.
    const files = new Hono()
    files.use('/*', serveStatic({ root: siteDir }))
    const plain = await new Promise<ReturnType<typeof serve>>((resolve) => {
      const s = serve({ fetch: files.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(s))
    })
    const url = `http://127.0.0.1:${(plain.address() as { port: number }).port}`
    const context = await browser.newContext()
    const page = await context.newPage()
    const elsewhere: string[] = []
    page.on('request', (r) => {
      if (!r.url().startsWith(url)) elsewhere.push(r.url())
    })
    await page.goto(`${url}/`)
    await page.waitForSelector('[data-demo]')
    await page.waitForSelector('tbody tr[data-flag-key]')
    expect(await rows(page).count()).toBe(20)
    expect(await page.locator('tbody tr[data-flag-key] [data-verdict]').count()).toBe(20)
    // The first screen is the served demo's: its past already counted (the verdicts the demo settles
    // on, not a stream's first minutes), and History has its simulated days.
    const data = JSON.parse(readFileSync(join(siteDir, 'demo-data.json'), 'utf8')) as { steps: { flags: { flags: { key: string; verdict: string }[] } }[] }
    const first = Object.fromEntries(data.steps[0]!.flags.flags.map((f) => [f.key, f.verdict]))
    const shown = Object.fromEntries(await rows(page).evaluateAll((trs) => trs.map((tr) => [tr.getAttribute('data-flag-key'), tr.querySelector('[data-verdict]')!.getAttribute('data-verdict')])))
    expect(shown).toEqual(first)
    await page.click('nav a[href*="view=history"]')
    await page.waitForSelector('table.history tbody tr[data-flag-key]')
    expect(await page.locator('table.history thead th').count()).toBeGreaterThanOrEqual(13) // the flag column and a review per simulated day
    await page.locator('nav.tabs a').first().click()
    await page.waitForSelector('tbody tr[data-flag-key]')
    await page.locator('tbody tr[data-flag-key] a.flag-key').first().click()
    await page.waitForSelector('li[data-check][data-status]')
    await page.click('nav a[href*="view=settings"]')
    await page.fill('#setting-lookbackDays', '0')
    await page.click('button[type=submit]')
    await page.locator('[data-field=lookbackDays] .field-error').waitFor()
    expect(elsewhere).toEqual([])
    await context.close()
    await new Promise<void>((r) => plain.close(() => r()))
  })

  // One test per theme and width, so none comes near its time limit on a busy machine.
  it.each([
    [false, 1280, 900, 'desktop'],
    [true, 1280, 900, 'desktop'],
    [false, 390, 844, 'phone'],
    [true, 390, 844, 'phone'],
  ] as const)('has no serious accessibility violations (axe-core) and writes screenshots of each view: dark %s, %i px', async (dark, width, height, device) => {
    const axe = readFileSync(join(ROOT, 'node_modules/axe-core/axe.min.js'), 'utf8')
    const views = [
      ['list', '/?project=demo'],
      ['detail', `/?project=demo&view=flag&flag=${encodeURIComponent(spec && 'checkout-one-page')}`],
      ['table', '/?project=demo&view=table'],
      ['plan', '/?project=demo&view=plan'],
      ['readout', '/?project=demo&view=readout'],
      ['history', '/?project=demo&view=history'],
      ['settings', '/?project=demo&view=settings'],
    ] as const
    const problems: string[] = []
    for (const [name, path] of views) {
      const { page, close } = await open(path, { width, height, dark })
      await page.waitForSelector('main h2, main table, main form, main pre')
      await page.waitForLoadState('networkidle')
      await page.screenshot({ path: join(SHOTS, `${name}-${dark ? 'dark' : 'light'}-${device}.png`), fullPage: true })
      if (device === 'desktop') {
        // Evaluated through the DevTools protocol: the page's CSP forbids injected scripts, rightly.
        await page.evaluate(axe)
        const result = (await page.evaluate(() => (window as unknown as { axe: { run: (o: unknown) => Promise<unknown> } }).axe.run({ resultTypes: ['violations'] }))) as {
          violations: { id: string; impact: string; nodes: { target: string[] }[] }[]
        }
        for (const v of result.violations.filter((x) => x.impact === 'serious' || x.impact === 'critical')) problems.push(`${name} ${dark ? 'dark' : 'light'}: ${v.id} (${v.impact}) at ${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(', ')}`)
      }
      await close()
    }
    expect(problems).toEqual([])
    expect(existsSync(join(SHOTS, `list-${dark ? 'dark' : 'light'}-${device}.png`))).toBe(true)
  }, 180_000)
})
