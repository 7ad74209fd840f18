/**
 * The site's demo mode without a backend: the demo project's events go through the host's own
 * runtime (the plugin's onEvent, in memory), and what the JSON API answers is written at three
 * moments of the stream into `demo-data.json`, which msw's service worker serves in the browser.
 * Run: tsx scripts/demo-data.ts [OUT_DIR]   (the build writes it into dist/site)
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import { createApp } from '../src/host/app.js'
import { Host } from '../src/host/host.js'
import type { DemoSpec } from '../src/host/project.js'
import { simulate } from '../src/sim/simulation.js'

const HOUR = 3_600_000
const out = process.argv[2] ?? 'dist/site'
const spec: DemoSpec = { seed: 1, flags: 20, users: 500, days: 14, endMs: Math.floor(Date.now() / HOUR) * HOUR }
const events = [...simulate({ ...spec, defects: 'mix', redeliveryShare: 0.005 }).events]
const dataDir = mkdtempSync(join(tmpdir(), 'coverage-demo-data-'))
let now = Date.parse(events[0]!.timestamp)
const host = await Host.open({ dataDir, logger: pino({ level: 'silent' }), processMetrics: false, clock: () => now, secretKey: 'demo-data-build-key-not-a-secret' })
await host.start({ scheduler: false })
await host.addProject({ id: 'demo', demo: spec })
const app = createApp(host)
const get = async (path: string) => (await app.request(path)).json()
const rt = host.runtime('demo')!

const steps: unknown[] = []
const marks = [0.4, 0.7, 1].map((share) => Math.floor(events.length * share))
let done = 0
for (const mark of marks) {
  for (; done < mark; done++) {
    now = Math.max(now, Date.parse(events[done]!.timestamp))
    await rt.ingest([{ event: events[done], person: events[done]!.person ?? null }])
  }
  const flags = (await get('/api/projects/demo/flags')) as { flags: { key: string }[] }
  const details: Record<string, unknown> = {}
  for (const f of flags.flags) details[f.key] = await get(`/api/projects/demo/flags/${encodeURIComponent(f.key)}`)
  steps.push({ events: done, projects: await get('/api/projects'), flags, report: await get('/api/projects/demo/report?fresh=1'), details })
  process.stderr.write(`demo-data: ${done.toLocaleString('en-US')} of ${events.length.toLocaleString('en-US')} events\n`)
}
const settings = await get('/api/projects/demo/settings')
await host.stop()
rmSync(dataDir, { recursive: true, force: true })
writeFileSync(join(out, 'demo-data.json'), JSON.stringify({ generated_at: new Date().toISOString(), settings, steps }))
process.stderr.write(`demo-data: wrote ${join(out, 'demo-data.json')}\n`)
