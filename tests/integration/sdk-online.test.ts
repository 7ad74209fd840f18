import { readFileSync, readdirSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { setupServer } from 'msw/node'
import { afterEach, describe, expect, it } from 'vitest'
import { auditEvents } from '../../src/audit/offline-audit.js'
import type { Report } from '../../src/coverage/report.js'
import { PostHogClient } from '../../src/posthog/client.js'
import { auditOnline } from '../../src/audit/online-audit.js'
import { recorderProject } from '../support/recorder-project.js'
import { HOST, KEY, PROJECT } from '../support/posthog-api.js'
import { asIngested, posthogProject } from '../support/posthog-box/index.js'

/**
 * The events the real SDKs sent (tests/fixtures/sdk, recorded by `npm run record:sdk`), ingested
 * as PostHog ingests them (persons merged by $identify and $create_alias), audited twice: offline
 * through the plugin's own counters, and online with every HogQL query run on ClickHouse as
 * PostHog prints it. posthog-node puts `locally_evaluated` on every exposure and posthog-js
 * `$used_bootstrap_value`: untyped, they are strings in ClickHouse.
 */
const DIR = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'sdk')
const fixtures = readdirSync(DIR)
  .filter((f) => f.endsWith('.json'))
  .map((f) => ({ name: f, events: (JSON.parse(readFileSync(join(DIR, f), 'utf8')) as { events: Record<string, unknown>[] }).events }))

/**
 * The project's experiments: checkout-redesign's, and the two signup experiments the web recording's
 * identify page reads (one with experience continuity off, one with it on).
 */
const EXPERIMENTS = [
  { id: 1, name: 'Checkout redesign', flag: 'checkout-redesign', metricEvent: 'checkout_completed' },
  { id: 2, name: 'Signup headline', flag: 'signup-headline', metricEvent: 'signup_completed' },
  { id: 3, name: 'Signup headline (persisted across login)', flag: 'signup-headline-persisted', metricEvent: 'signup_completed' },
]

const servers: (() => void)[] = []
afterEach(() => {
  while (servers.length) servers.pop()!()
})

const normalized = (r: Report) => ({ ...r, project: PROJECT, flags: r.flags.map((f) => ({ ...f, data: { ...f.data, source: 'any' } })) })

describe('every recorded SDK scenario, online and offline', () => {
  it.each(fixtures)('$name: the online audit on ClickHouse gives the offline report', async ({ events: sent }) => {
    const events = asIngested(sent)
    const times = events.map((e) => Date.parse(e.timestamp))
    const now = Math.max(...times) + 3_600_000
    const { api, defs } = recorderProject(Math.min(...times) - 3_600_000, EXPERIMENTS)
    const ph = await posthogProject(api, events, defs)
    const server = setupServer(...ph.handlers)
    server.listen({ onUnhandledRequest: 'error' })
    servers.push(() => (server.close(), ph.close()))

    const config = { filterTestAccounts: 'No' }
    // The online audit reads each experiment flag's history (empty here); the offline one is given the same.
    const offline = (await auditEvents(defs, config, events, { now, activity: { changes: [], entries: 0 } })).report
    const client = new PostHogClient({ host: HOST, projectId: PROJECT, personalApiKey: KEY })
    const online = await auditOnline(client, config, { nowMs: now })
    expect(ph.log.filter((q) => q.error).map((q) => q.error)).toEqual([])
    // Exposures were counted, or equality would prove little.
    expect(offline.flags.reduce((n, f) => n + f.variants.reduce((m, v) => m + v.exposures, 0), 0)).toBeGreaterThan(2)
    expect(normalized(online.report)).toEqual(normalized(offline))
    // posthog-js's identify page: the unit that crossed variants at identify (experience continuity
    // off) is counted online as offline, and none where continuity kept it in one variant.
    if (sent.some((e) => (e.properties as Record<string, unknown> | undefined)?.$feature_flag === 'signup-headline')) {
      const crossed = (r: Report, flag: string) => r.flags.find((f) => f.key === flag)?.checks.find((c) => c.id === 'multiple_variants')?.evidence.identity_crossed_units
      for (const r of [online.report, offline]) {
        expect(crossed(r, 'signup-headline')).toBe(1)
        expect(crossed(r, 'signup-headline-persisted')).toBe(0)
      }
    }
  })
})
