import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import type { Report } from '../../src/coverage/report.js'
import { createApp } from '../../src/host/app.js'
import { signedHeaders, webhookBody } from '../../src/host/demo-feed.js'
import { Host, type HostOptions } from '../../src/host/host.js'
import type { SimEvent } from '../../src/sim/traffic.js'

export const silent = pino({ level: 'silent' })

/** A host on a fresh data directory (SQLite unless a database URL is given), its app, and a cleanup. */
export async function testHost(opts: Partial<HostOptions> = {}) {
  const dataDir = mkdtempSync(join(tmpdir(), 'coverage-host-'))
  const host = await Host.open({ dataDir, logger: silent, processMetrics: false, ...opts })
  await host.start({ scheduler: false })
  const app = createApp(host)
  return {
    host,
    app,
    dataDir,
    async close() {
      await host.stop()
      rmSync(dataDir, { recursive: true, force: true })
    },
  }
}

/** Posts one simulated event to the intake as PostHog's destination does: `{event, person}`, signed. */
export function postSigned(app: { request: (path: string, init: RequestInit) => Response | Promise<Response> }, project: string, secret: string, body: unknown, id = `msg_${Math.random()}`) {
  const text = typeof body === 'string' ? body : JSON.stringify(body)
  return app.request(`/ingest/${project}`, { method: 'POST', body: text, headers: signedHeaders(secret, id, text) })
}

export const asBody = (e: SimEvent) => webhookBody(e)

/** Per flag and variant, what PostHog would count: exposures and units. */
export function variantNumbers(report: Report) {
  return Object.fromEntries(report.flags.map((f) => [f.key, { verdict: f.verdict, variants: f.variants.map((v) => [v.key, v.exposures, v.units]) }]))
}
