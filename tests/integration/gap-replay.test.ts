import { setupServer } from 'msw/node'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { cursorAfter, replayQuery, rowToWebhookBody, utcText, type ReplayCursor } from '../../src/host/gaps.js'
import { PostHogClient } from '../../src/posthog/client.js'
import { HOST, KEY, PROJECT } from '../support/posthog-api.js'
import { posthogProject, type BoxEvent } from '../support/posthog-box/index.js'

/**
 * The outage fill reads a gap's events back page by page. PostHog refuses OFFSET in a query sent
 * with a personal API key (posthog/hogql/user_query_validator.py: "OFFSET is not supported on
 * queries made with a personal API key... use keyset pagination"), so pages follow the sort key.
 * Here on a real ClickHouse, in a project outside UTC, with many events sharing a timestamp.
 */
const FROM = Date.UTC(2026, 10, 20, 10)
const TO = FROM + 10 * 60_000
const hex = (n: number, width: number) => n.toString(16).padStart(width, '0')
// 45 events on 6 distinct microsecond timestamps: pages of 7 must break inside runs of equal time.
const events: BoxEvent[] = Array.from({ length: 45 }, (_, i) => ({
  uuid: `0190b5a8-${hex((i * 7919) % 65536, 4)}-7${hex(i, 3)}-8000-${hex(i * 104729, 12)}`,
  event: i % 5 === 0 ? '$pageview' : '$feature_flag_called',
  distinct_id: `user-${i % 9}`,
  // the first of each eight a microsecond earlier than the seven that share a time
  timestamp: new Date(FROM + Math.floor(i / 8) * 61_000).toISOString().replace('.000Z', i % 8 === 0 ? '.123455Z' : '.123456Z'),
  properties: { $feature_flag: 'checkout', $feature_flag_response: i % 2 ? 'test' : 'control', $lib: 'web' },
  person: { id: `person-${i % 9}`, properties: { email: `user-${i % 9}@example.com`, plan: i % 3 ? 'pro' : 'free' } },
}))

let ph: Awaited<ReturnType<typeof posthogProject>>
let server: ReturnType<typeof setupServer>
beforeAll(async () => {
  ph = await posthogProject({ flags: [], experiments: [], cohorts: [], groupTypes: [] }, events, { groupTypes: new Map() }, { timezone: 'Europe/Berlin' })
  server = setupServer(...ph.handlers)
  server.listen({ onUnhandledRequest: 'error' })
})
afterAll(() => {
  server.close()
  ph.close()
})

describe('the outage fill, paged by the sort key', () => {
  it('reads every event of the gap exactly once, in time order, with its person, across ties', async () => {
    const client = new PostHogClient({ host: HOST, projectId: PROJECT, personalApiKey: KEY })
    const wanted = events.filter((e) => e.event === '$feature_flag_called')
    // More than one page, and timestamps shared across a page's edge.
    expect(wanted.length).toBeGreaterThan(21)
    const read: ReturnType<typeof rowToWebhookBody>[] = []
    let after: ReplayCursor | null = null
    for (let page = 0; page < 20; page++) {
      const { columns, rows } = await client.query(replayQuery({ fromMs: FROM, toMs: TO }, ['$feature_flag_called'], after, 7), 'outage fill')
      read.push(...rows.map((r) => rowToWebhookBody(columns, r)))
      after = cursorAfter(columns, rows) ?? after
      if (rows.length < 7) break
    }
    expect(ph.log.filter((q) => q.error)).toEqual([])
    expect(read.map((b) => b.event.uuid).sort()).toEqual(wanted.map((e) => e.uuid).sort())
    expect(new Set(read.map((b) => b.event.uuid)).size).toBe(read.length)
    // Time order (ClickHouse's, the project's zone shown as an offset), and each person's own properties.
    const times = read.map((b) => Date.parse(String(b.event.timestamp)))
    expect(times).toEqual([...times].sort((a, b) => a - b))
    expect(String(read[0]!.event.timestamp)).toMatch(/\+01:00$/)
    for (const b of read) {
      const source = events.find((e) => e.uuid === b.event.uuid)!
      expect(b.person).toEqual({ id: expect.any(String), properties: source.person!.properties })
      expect(b.event.properties).toEqual(source.properties)
      expect(b.event.distinct_id).toBe(source.distinct_id)
    }
  })

  it("is refused by PostHog when paged with OFFSET, with PostHog's reason", async () => {
    const client = new PostHogClient({ host: HOST, projectId: PROJECT, personalApiKey: KEY, retries: 0 })
    await expect(client.query('SELECT uuid FROM events ORDER BY timestamp ASC LIMIT 5 OFFSET 5', 'paged')).rejects.toThrow(/OFFSET is not supported on queries made with a personal API key/)
  })

  it.each([
    ['2026-11-20T10:00:00.123456Z', '2026-11-20 10:00:00.123456'],
    ['2026-11-20T11:00:00.123456+01:00', '2026-11-20 10:00:00.123456'],
    ['2026-11-20T05:30:00-04:30', '2026-11-20 10:00:00.000000'],
    ['2026-11-20T10:00:00.5Z', '2026-11-20 10:00:00.500000'],
    ['not a time', null],
  ])('reads %s back as the UTC text %s', (iso, utc) => {
    expect(utcText(iso)).toBe(utc)
  })
})
