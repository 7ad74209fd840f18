import { setupServer } from 'msw/node'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { auditOnline } from '../../src/audit/online-audit.js'
import { PostHogClient } from '../../src/posthog/client.js'
import { posthogProject } from '../support/posthog-box/index.js'
import { HOST, KEY, PROJECT } from '../support/posthog-api.js'
import { auditJourneys, baseTestExperiment, baseTestFlag, definitionsOf, journeys } from '../support/journeys.js'
import type { BoxEvent } from '../support/posthog-box/index.js'

/**
 * The online audit breaks a mismatched split down by slice on demand: the backfill counts no
 * slices, so for a flag whose split is off it runs the slice query on PostHog (a real ClickHouse
 * here) and names the slice, as the offline audit does from its counters.
 */
const flag = 'test-experiment'
const byPerson: Record<string, { event: string; timestamp: string; properties: Record<string, unknown> }[]> = {}
for (let i = 0; i < 600; i++) {
  const safari = i % 3 === 0
  const variant = i % 2 === 0 ? 'control' : 'test'
  if (safari && variant === 'test' && i % 10 !== 1) continue // the test variant's exposure is lost on Safari
  byPerson[`u${i}`] = [{ event: '$feature_flag_called', timestamp: `2026-11-1${2 + (i % 4)}T10:00:00`, properties: { $feature_flag: flag, $feature_flag_response: variant, $lib: 'web', $lib_version: safari ? '1.130.4' : '1.140.0', $browser: safari ? 'Safari' : 'Chrome', $os: 'Mac OS X', $device_type: 'Desktop' } }]
}
const events = journeys(byPerson) as BoxEvent[]
const flags = [baseTestFlag()]
const experiments = [baseTestExperiment({ start_date: '2026-11-10T00:00:00Z', end_date: '2026-11-30T00:00:00Z' })]
const defs = definitionsOf(flags, experiments)
let ph: Awaited<ReturnType<typeof posthogProject>>
let server: ReturnType<typeof setupServer>
beforeAll(async () => {
  ph = await posthogProject({ flags, experiments, cohorts: [], groupTypes: [] }, events, defs)
  server = setupServer(...ph.handlers)
  server.listen({ onUnhandledRequest: 'error' })
})
afterAll(() => {
  server.close()
  ph?.close()
})

describe('the online audit, a mismatched split', () => {
  it('asks PostHog for the split by slice and names the slice that explains it', { timeout: 60_000 }, async () => {
    const stages: string[] = []
    const client = new PostHogClient({ host: HOST, projectId: PROJECT, personalApiKey: KEY })
    const { report } = await auditOnline(client, {}, { nowMs: Date.parse('2026-11-20T12:00:00Z'), onStage: (m) => stages.push(m) })
    const check = report.flags.find((f) => f.key === flag)!.checks.find((c) => c.id === 'sample_ratio')!
    expect(check.status).toBe('fail')
    expect(stages).toContain('breaking 1 splits down by slice (mismatched, or with units in several variants)')
    expect(check.evidence.slices).toMatchObject({ counted: true, explained_by: { dimension: 'browser', value: 'Safari' } })
    expect(check.summary).toContain('The mismatch is in browser Safari')
    expect(ph.log.some((q) => q.hogql.includes('arrayJoin([') && !q.error)).toBe(true)
    // The same slices, by the same names, as the offline audit counts them: the SDK with its minor version.
    const offline = (await auditJourneys(defs, events, Date.parse('2026-11-20T12:00:00Z'))).report.flags.find((f) => f.key === flag)!.checks.find((c) => c.id === 'sample_ratio')!
    const rows = (c: typeof check) => (c.evidence.slices as { mismatched: { dimension: string; value: string; units_per_variant: unknown; first_bad_day?: string }[] }).mismatched.map((m) => [m.dimension, m.value, m.units_per_variant, m.first_bad_day])
    expect(rows(check)).toEqual(rows(offline))
    expect(rows(check)).toContainEqual(['sdk', 'web 1.130', { control: 100, test: 20 }, '2026-11-12'])
  })
})
