/// <reference lib="dom" />
// page.evaluate callbacks run in the browser: they use its DOM types.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { transformAsync } from '@babel/core'
import { chromium, type Browser } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildLegacyScene } from '../../scripts/build-legacy-scene.mjs'
import { createApp } from '../../src/host/app.js'
import { listen, type Bound } from '../../src/host/node.js'
import type { DemoSpec } from '../../src/host/project.js'
import { simulate } from '../../src/sim/simulation.js'
import { asBody, postSigned, testHost } from '../support/host.js'

/**
 * PostHog's plugin frontends (POSTHOG-FACTS §2): PostHog transpiled `frontend.tsx` with Babel
 * (the typescript and env presets, React's classic JSX), evaluated it with a `require` that knows
 * react (and PostHog's own kea and lemon-ui, which a self-contained file does not use), and
 * rendered `<scene.component {...{pluginId, pluginConfigId, name, url, config}} />` with React.
 */
const CHROMIUM = '/usr/bin/chromium'
const skip = existsSync(CHROMIUM) ? null : `${CHROMIUM} is missing: skipping the legacy scene test (apt-get install -y chromium; .ci/run installs it)`
if (skip) console.warn(skip)
const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const END = Date.UTC(2026, 10, 20, 12)
const spec: DemoSpec = { seed: 9, flags: 20, users: 200, days: 3, endMs: END }

let dir: string
let transpiled: string
let t: Awaited<ReturnType<typeof testHost>>
let bound: Bound
let browser: Browser

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'coverage-scene-'))
  const file = await buildLegacyScene(join(dir, 'frontend.tsx'))
  const source = readFileSync(file, 'utf8')
  const out = await transformAsync(source, {
    filename: 'frontend.tsx',
    babelrc: false,
    configFile: false,
    presets: [['@babel/preset-typescript', { isTSX: true, allExtensions: true }], ['@babel/preset-env', { modules: 'commonjs' }], ['@babel/preset-react', { runtime: 'classic' }]],
  })
  transpiled = out!.code!
  if (skip) return
  t = await testHost({ clock: () => END })
  const secret = t.host.ingestSecret(await t.host.addProject({ id: 'demo', demo: spec }))
  for (const e of simulate({ ...spec, defects: 'mix' }).events) await postSigned(t.app, 'demo', secret, asBody(e))
  bound = await listen(createApp(t.host), t.host, { port: 0, hostname: '127.0.0.1' })
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'] })
}, 120_000)

afterAll(async () => {
  rmSync(dir, { recursive: true, force: true })
  if (skip) return
  await browser?.close()
  await new Promise<void>((r) => bound.server.close(() => r()))
  await t.close()
})

describe('the legacy frontend.tsx scene', () => {
  it('is one self-contained file: after Babel, its only require is react', () => {
    const required = [...transpiled.matchAll(/require\(["']([^"']+)["']\)/g)].map((m) => m[1])
    expect(new Set(required)).toEqual(new Set(['react']))
    expect(transpiled).toMatch(/exports\.scene\s*=/)
  })

  it.skipIf(skip !== null)('renders with React as PostHog rendered plugin scenes, with the badges beside each flag', async () => {
    const page = await browser.newPage()
    const errors: string[] = []
    page.on('pageerror', (e) => errors.push(e.message))
    // A page standing in for PostHog's /app/:id, on the host's origin (so no CORS is involved here).
    await page.route(`${bound.url}/posthog-app`, (route) => route.fulfill({ contentType: 'text/html', body: '<!doctype html><html><body><div id="root"></div></body></html>' }))
    await page.goto(`${bound.url}/posthog-app`)
    await page.addScriptTag({ content: readFileSync(join(ROOT, 'node_modules/react/umd/react.production.min.js'), 'utf8') })
    await page.addScriptTag({ content: readFileSync(join(ROOT, 'node_modules/react-dom/umd/react-dom.production.min.js'), 'utf8') })
    const title = await page.evaluate(
      ({ code, hostUrl }) => {
        const w = window as unknown as { React: unknown; ReactDOM: { createRoot: (el: Element) => { render: (x: unknown) => void } } }
        const known: Record<string, unknown> = { react: w.React }
        const module = { exports: {} as Record<string, unknown> }
        const require = (name: string) => {
          if (!(name in known)) throw new Error(`require of ${name}: PostHog offers only react, kea and lemon-ui`)
          return known[name]
        }
        new Function('module', 'exports', 'require', code)(module, module.exports, require)
        const scene = module.exports.scene as { title: string; component: unknown }
        const React = w.React as { createElement: (c: unknown, p: unknown) => unknown }
        w.ReactDOM.createRoot(document.getElementById('root')!).render(
          React.createElement(scene.component, { pluginId: 1, pluginConfigId: 2, name: 'Experiment Coverage', url: '', config: { coverageHostUrl: hostUrl } }),
        )
        return scene.title
      },
      { code: transpiled, hostUrl: bound.url },
    )
    expect(title).toBe('Experiment coverage')
    // The views live in the scene's shadow root; playwright's locators pierce it.
    await page.waitForSelector('.experiment-coverage-scene tbody tr[data-flag-key]')
    expect(await page.locator('tbody tr[data-flag-key]').count()).toBe(20)
    expect(await page.locator('tbody tr[data-flag-key] [data-verdict]').count()).toBe(20)
    // The list's own styles (flag.css) reach the shadow root too: each row's checks sit in a fixed grid.
    expect(await page.locator('tbody tr[data-flag-key] .check-strip').first().evaluate((el) => getComputedStyle(el).display)).toBe('inline-grid')
    // The scene leaves PostHog's own page alone: its URL and its styles.
    await page.locator('tbody tr[data-flag-key] a.flag-key').first().click()
    await page.waitForSelector('li[data-check]')
    expect(new URL(page.url()).search).toBe('')
    expect(await page.evaluate(() => getComputedStyle(document.body).backgroundColor)).toBe('rgba(0, 0, 0, 0)')
    expect(errors).toEqual([])
    await page.close()
  })
})
