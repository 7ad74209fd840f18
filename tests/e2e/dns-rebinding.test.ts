import { existsSync, rmSync } from 'node:fs'
import { chromium, type Browser } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createApp } from '../../src/host/app.js'
import { listen, type Bound } from '../../src/host/node.js'
import { testHost } from '../support/host.js'

/**
 * DNS rebinding, in a real browser: a page of `attacker.test` whose name now resolves to this
 * machine (Chromium's host resolver rules stand in for the attacker's DNS) reaches the host as
 * same-origin. The host answers only the names it serves, so the page gets 421, never the API.
 */
const CHROMIUM = '/usr/bin/chromium'
const skip = existsSync(CHROMIUM) ? null : `${CHROMIUM} is missing: skipping the DNS rebinding test in Chromium (apt-get install -y chromium; .ci/run installs it)`
if (skip) console.warn(skip)

let t: Awaited<ReturnType<typeof testHost>>
let bound: Bound
let browser: Browser

beforeAll(async () => {
  if (skip) return
  t = await testHost()
  await t.host.addProject({ id: 'demo', config: {} })
  // As `serve` sets it up on loopback: the loopback names only.
  bound = await listen(createApp(t.host, { allowedHosts: ['127.0.0.1', 'localhost', '::1'] }), t.host, { port: 0, hostname: '127.0.0.1' })
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--host-resolver-rules=MAP attacker.test 127.0.0.1'],
  })
}, 120_000)

afterAll(async () => {
  if (skip) return
  await browser?.close()
  await bound?.close()
  rmSync(t.dataDir, { recursive: true, force: true })
})

describe.skipIf(skip !== null)('DNS rebinding in Chromium', () => {
  it('a page under another name that resolves here gets 421, and reads nothing of the API', async () => {
    const page = await browser.newPage()
    try {
      const attacked = await page.goto(`http://attacker.test:${bound.port}/api/projects`)
      expect(attacked?.status()).toBe(421)
      expect(await attacked?.text()).not.toContain('"demo"')
      // The page's own script, same-origin under the attacker's name, cannot change settings either.
      const put = await page.evaluate(async () => (await fetch('/api/projects/demo/settings', { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ posthogHost: 'http://127.0.0.1:9922' }) })).status)
      expect(put).toBe(421)
      // The host's own name still works.
      const own = await page.goto(`http://127.0.0.1:${bound.port}/api/projects`)
      expect(own?.status()).toBe(200)
      expect(await own?.text()).toContain('"demo"')
    } finally {
      await page.close()
    }
  })
})
