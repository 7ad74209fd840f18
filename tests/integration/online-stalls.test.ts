/**
 * The stalls online: the exposures per day by SDK and the primary metric's events per day come from
 * HogQL (the exposure_days and metrics queries, on a real ClickHouse as PostHog prints them), so a
 * metric that went silent while exposures go on is found online as offline, with the same report.
 */
import { setupServer } from 'msw/node'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { auditEvents } from '../../src/audit/offline-audit.js'
import { auditOnline } from '../../src/audit/online-audit.js'
import { parseActivity } from '../../src/definitions/activity.js'
import type { Report } from '../../src/coverage/report.js'
import { PostHogClient } from '../../src/posthog/client.js'
import { posthogProject } from '../support/posthog-box/index.js'
import { HOST, KEY, PROJECT } from '../support/posthog-api.js'
import { simulatedProject } from '../support/sim-project.js'

const END = Date.UTC(2026, 10, 20, 12)
// A release stopped sending one experiment's primary metric event for the last 35% of its run.
const project = simulatedProject({ seed: 5, users: 700, days: 14, endMs: END, defects: 'metric_stopped' })
const silenced = project.sim.project.injected[0]!.flag
let ph: Awaited<ReturnType<typeof posthogProject>>
let server: ReturnType<typeof setupServer>
beforeAll(async () => {
  ph = await posthogProject(project.api, project.events, project.defs)
  server = setupServer(...ph.handlers)
  server.listen({ onUnhandledRequest: 'error' })
}, 120_000)
afterAll(() => {
  server?.close()
  ph?.close()
})

const normalized = (r: Report) => ({ ...r, flags: r.flags.map((f) => ({ ...f, data: { ...f.data, source: 'any' } })) })

describe('a primary metric gone silent, online', () => {
  it('is found from HogQL as the offline audit finds it from the events, with the same report', { timeout: 120_000 }, async () => {
    // The flags' history as the online audit reads it from PostHog (empty here).
    const offline = await auditEvents(project.defs, {}, project.events, { now: END, activity: parseActivity('activity', project.api.activity) })
    const online = await auditOnline(new PostHogClient({ host: HOST, projectId: PROJECT, personalApiKey: KEY }), {}, { nowMs: END })
    expect(ph.log.filter((q) => q.error).map((q) => q.error)).toEqual([])
    const check = (r: Report) => r.flags.find((f) => f.key === silenced)!.checks.find((c) => c.id === 'exposure_stall')!
    expect(check(offline.report).status).toBe('fail')
    expect(check(offline.report).evidence.metric_silent_since).toEqual(expect.any(String))
    expect(check(online.report)).toEqual(check(offline.report))
    expect(normalized(online.report)).toEqual(normalized({ ...offline.report, project: PROJECT }))
  })
})
