/**
 * The site's demo mode without a backend: the same demo project `serve` serves and `demo` prints
 * (src/sim/demo.ts), counted the way `serve` counts it: its past before the first screen (the daily
 * reviews in History included), then its last hours as they arrive. What the JSON API answers is
 * written at three moments into `demo-data.json`, which msw's service worker serves in the browser:
 * the first screen already shows the verdicts the demo settles on, and the badges still move.
 * Run: tsx scripts/demo-data.ts [OUT_DIR]   (the build writes it into dist/site)
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import { createApp } from '../src/host/app.js'
import { countDemoPast, storeDemoPast } from '../src/host/demo-past.js'
import { Host } from '../src/host/host.js'
import { demoSpec } from '../src/sim/demo.js'

const out = process.argv[2] ?? 'dist/site'
const started = Date.now()
const spec = demoSpec(started)
const dataDir = mkdtempSync(join(tmpdir(), 'coverage-demo-data-'))
let now = started
const host = await Host.open({ dataDir, logger: pino({ level: 'silent' }), processMetrics: false, clock: () => now, secretKey: 'demo-data-build-key-not-a-secret' })
const row = await host.addProject({ id: 'demo', demo: spec, start: false })
const past = await countDemoPast(spec, host.maskedConfig(row), now)
await storeDemoPast(host.store, 'demo', past)
await host.start({ scheduler: false })
const app = createApp(host)
const get = async (path: string) => (await app.request(path)).json()
const rt = host.runtime('demo')!

const steps: unknown[] = []
// the first screen (the past counted), half of the hours still to come, and all of them
const marks = [0, 0.5, 1].map((share) => Math.floor(past.rest.length * share))
let done = 0
for (const mark of marks) {
  for (; done < mark; done++) {
    const e = past.rest[done]!
    now = Math.max(now, Date.parse(e.timestamp))
    await rt.ingest([{ event: e, person: e.person ?? null }])
  }
  const flags = (await get('/api/projects/demo/flags')) as { flags: { key: string }[] }
  const details: Record<string, unknown> = {}
  for (const f of flags.flags) details[f.key] = await get(`/api/projects/demo/flags/${encodeURIComponent(f.key)}`)
  steps.push({
    events: past.events + done,
    projects: await get('/api/projects'),
    flags,
    report: await get('/api/projects/demo/report?fresh=1'),
    history: await get('/api/projects/demo/history?limit=100'),
    details,
  })
  process.stderr.write(`demo-data: ${(past.events + done).toLocaleString('en-US')} of ${(past.events + past.rest.length).toLocaleString('en-US')} events\n`)
}
const settings = await get('/api/projects/demo/settings')
await host.stop()
rmSync(dataDir, { recursive: true, force: true })
mkdirSync(out, { recursive: true })
writeFileSync(join(out, 'demo-data.json'), JSON.stringify({ generated_at: new Date().toISOString(), settings, steps }))
process.stderr.write(`demo-data: wrote ${join(out, 'demo-data.json')}\n`)
