import { setupServer } from 'msw/node'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { auditEvents } from '../../src/audit/offline-audit.js'
import type { Report } from '../../src/coverage/report.js'
import { parseActivity } from '../../src/definitions/activity.js'
import { PostHogClient } from '../../src/posthog/client.js'
import { ANNOTATION_MARK, findingAnnotations, ourMark } from '../../src/publish/annotations.js'
import { publishReport } from '../../src/publish/publish.js'
import { auditConfig } from '../../src/definitions/audit-config.js'
import { parseDefectList } from '../../src/sim/defects.js'
import { definitionsOf, simulate } from '../../src/sim/simulation.js'
import { HOST, KEY, PROJECT } from '../support/posthog-api.js'
import { TEAMMATE, drfDate, publishHandlers, type PublishSide, type StoredAnnotation } from '../support/posthog-publish.js'

const DAY = 86_400_000
const END = Date.UTC(2026, 10, 20, 12)
// A small project: exposures of one running experiment stop (a release removed the web app's flag
// call), another loses half of one variant's exposures (a bad slice), and that one's split was
// changed mid-run, as PostHog's activity log has it.
const STALLED = 'pricing-annual-toggle'
const SKEWED = 'checkout-one-page'
const sim = simulate({ seed: 5, users: 700, days: 12, endMs: END, flags: 4, defects: parseDefectList(`exposure_stopped@${STALLED},sample_ratio_mismatch@${SKEWED}:0.5`) })
const defs = definitionsOf(sim.project)
const skewed = defs.flags.find((f) => f.key === SKEWED)!
const CHANGED_AT = END - 3 * DAY
const activity = parseActivity('activity.json', {
  results: [
    {
      user: { first_name: 'Grace', email: 'grace@example.com' },
      activity: 'updated',
      scope: 'FeatureFlag',
      item_id: String(skewed.id),
      detail: {
        changes: [{ type: 'FeatureFlag', action: 'changed', field: 'filters', before: { ...skewed.filters, multivariate: { variants: skewed.filters.multivariate!.variants.map((v, i) => ({ ...v, rollout_percentage: i === 0 ? 60 : 40 })) } }, after: skewed.filters }],
        name: skewed.key,
      },
      created_at: new Date(CHANGED_AT).toISOString(),
    },
  ],
  next: null,
})

const side: PublishSide = { flags: [], notebooks: [], writes: [], captured: [], editBeforePatch: false, annotations: [], annotationScope: 'write' }
const server = setupServer(...publishHandlers(side))
beforeAll(() => server.listen({ onUnhandledRequest: 'error' }))
afterAll(() => server.close())

let report: Report
/** The same report where the slice breakdown knows the day the explaining slice went wrong. */
let dated: Report
const BAD_DAY = '2026-11-15'
beforeAll(async () => {
  const { config } = auditConfig({}, defs)
  const audited = (await auditEvents(defs, config, [...sim.events], { now: END, activity })).report
  // The audit dates each slice by its first day in the run; the tests set the day themselves.
  const own = check(audited, SKEWED, 'sample_ratio').evidence.slices as { explained_by: Record<string, unknown>; mismatched: Record<string, unknown>[] }
  expect(own.explained_by.first_bad_day).toMatch(/^\d{4}-\d\d-\d\d$/)
  for (const row of [own.explained_by, ...own.mismatched]) delete row.first_bad_day
  report = audited
  dated = structuredClone(report)
  const slices = check(dated, SKEWED, 'sample_ratio').evidence.slices as { explained_by: Record<string, unknown> }
  slices.explained_by.first_bad_day = BAD_DAY
})

beforeEach(() => {
  side.flags = defs.flags.map((f) => ({ id: f.id, key: f.key, tags: [], deleted: false }))
  side.notebooks = []
  side.writes = []
  side.captured = []
  side.annotations = []
  side.annotationScope = 'write'
  side.annotationCreationTypeReadOnly = false
})

function check(r: Report, flag: string, id: string) {
  return r.flags.find((f) => f.key === flag)!.checks.find((c) => c.id === id)!
}
const client = () => new PostHogClient({ host: HOST, projectId: PROJECT, personalApiKey: KEY, retries: 0 })
const publish = (r: Report, dryRun = false) => publishReport(r, { client: client(), posthogHost: HOST, project: PROJECT, tagPrefix: 'coverage:', hostUrl: '', dryRun })
const ours = () => side.annotations!.filter((a) => !a.deleted && ourMark(a) !== null)
const annotationWrites = () => side.writes.filter((w) => w.path.startsWith('annotations'))
const day = (iso: string | null) => iso?.slice(0, 10)

describe('the dated findings as PostHog annotations', () => {
  it('annotates the stall, the mid-run change and the bad slice once; a second publish changes nothing', async () => {
    expect(check(report, STALLED, 'exposure_stall').status).toBe('fail')
    expect(check(report, SKEWED, 'flag_changes').status).toBe('fail')
    const dry = await publish(dated, true)
    expect(side.annotations).toEqual([])
    expect(dry.writes.filter((w) => w.url.endsWith('/annotations/'))).toHaveLength(3)

    const first = await publish(dated)
    expect(first.annotations).toEqual({ created: 3, updated: 0, removed: 0, unchanged: 0, skipped: null })
    const byKind = Object.fromEntries(ours().map((a) => [ourMark(a)!.kind, a]))
    expect(Object.keys(byKind).sort()).toEqual(['change', 'slice', 'stall'])
    expect(byKind.stall).toMatchObject({ date_marker: '2026-11-18T00:00:00Z', scope: 'project', creation_type: 'GIT' })
    expect(byKind.stall!.content).toContain(`Exposures of "${STALLED}" stopped: none from client-side SDKs since 2026-11-18`)
    expect(Date.parse(byKind.change!.date_marker!)).toBe(CHANGED_AT)
    expect(byKind.change!.content).toMatch(/"checkout-one-page" changed while its experiment ran .*by grace@example\.com: split control 60% \/ test 40% → control 50% \/ test 50%\. Results are clean from here/)
    expect(byKind.slice).toMatchObject({ date_marker: `${BAD_DAY}T00:00:00Z` })
    expect(byKind.slice!.content).toContain(`The split of "${SKEWED}" is off in device "Desktop", whose units arrive from ${BAD_DAY}: this slice explains the mismatch`)
    // Exactly the serializer's writable fields; a project-wide marker written as a program's note.
    expect(annotationWrites().map((w) => Object.keys(w.body).sort())).toEqual(Array(3).fill(['content', 'creation_type', 'date_marker', 'scope']))

    side.writes = []
    const second = await publish(dated)
    expect(annotationWrites()).toEqual([])
    expect(second.annotations).toEqual({ created: 0, updated: 0, removed: 0, unchanged: 3, skipped: null })
    expect(ours()).toHaveLength(3)
  })

  it('without the day a slice went wrong, the slice is not annotated; the notebook shows its table and query', async () => {
    const r = await publish(report)
    expect(r.annotations.created).toBe(2)
    expect(ours().map((a) => ourMark(a)!.kind).sort()).toEqual(['change', 'stall'])
    const nodes = JSON.stringify(side.notebooks[0]!.content)
    const slices = check(report, SKEWED, 'sample_ratio').evidence.slices as { query: string }
    expect(nodes).toContain('"text":"device Desktop"')
    expect(nodes).toContain(JSON.stringify(slices.query))
  })

  it('moves an annotation whose finding moved, removes (PATCH deleted) the repaired ones, keeps those it could not judge', async () => {
    await publish(dated)
    const before = new Map(ours().map((a) => [ourMark(a)!.kind, a.id]))
    const moved = structuredClone(dated)
    check(moved, STALLED, 'exposure_stall').evidence.stalled_since = '2026-11-17'
    side.writes = []
    expect((await publish(moved)).annotations).toMatchObject({ created: 0, updated: 1, removed: 0, unchanged: 2 })
    expect(annotationWrites()).toEqual([expect.objectContaining({ path: `annotations PATCH ${before.get('stall')}` })])
    expect(side.annotations!.find((a) => a.id === before.get('stall'))).toMatchObject({ date_marker: '2026-11-17T00:00:00Z', deleted: false })

    // The stall and the slice repaired; the flag's history unread this time (not a repair).
    const repaired = structuredClone(moved)
    Object.assign(check(repaired, STALLED, 'exposure_stall'), { status: 'pass', evidence: { exposures_per_day: {} } })
    Object.assign(check(repaired, SKEWED, 'sample_ratio'), { status: 'pass', evidence: { p_value: 0.4 } })
    Object.assign(check(repaired, SKEWED, 'flag_changes'), { status: 'not_applicable', evidence: { history_read: false } })
    side.writes = []
    expect((await publish(repaired)).annotations).toMatchObject({ created: 0, updated: 0, removed: 2, unchanged: 1 })
    expect(annotationWrites().map((w) => [w.path, w.body])).toEqual(
      [before.get('slice'), before.get('stall')].sort((a, b) => a! - b!).map((id) => [`annotations PATCH ${id}`, { deleted: true }]),
    )
    expect(ours().map((a) => a.id)).toEqual([before.get('change')])
    // A report that does not cover a flag at all says nothing about its annotations.
    side.writes = []
    await publish({ ...repaired, flags: repaired.flags.filter((f) => f.key !== SKEWED) })
    expect(annotationWrites()).toEqual([])
  })

  it("never touches the team's annotations, even with the very same text, and reads every page", async () => {
    const mine = findingAnnotations(dated)
    const at = drfDate(END - 10 * DAY)
    const theirs: StoredAnnotation[] = [
      // a teammate copied our stall annotation word for word in PostHog's UI
      ...mine.map((a, i) => ({ id: 1 + i, content: a.content, date_marker: drfDate(Date.parse(a.date_marker)), creation_type: 'USR' as const, scope: 'project' as const, deleted: false, created_by: TEAMMATE, created_at: at, updated_at: at })),
      // a deploy bot's note, and one scoped to the organization from another project
      { id: 10, content: `Deployed ${ANNOTATION_MARK} 2.1`, date_marker: at, creation_type: 'GIT', scope: 'project', deleted: false, created_by: TEAMMATE, created_at: at, updated_at: at },
      { id: 11, content: mine[0]!.content, date_marker: at, creation_type: 'GIT', scope: 'organization', deleted: false, created_by: TEAMMATE, created_at: at, updated_at: at, team: 'other' },
      // enough look-alikes that the list takes two pages
      ...Array.from({ length: 120 }, (_, i) => ({ id: 20 + i, content: `${ANNOTATION_MARK} retro ${i}`, date_marker: drfDate(END - i * 3_600_000), creation_type: 'USR' as const, scope: 'project' as const, deleted: false, created_by: TEAMMATE, created_at: at, updated_at: at })),
    ]
    const theirIds = new Set(theirs.map((a) => a.id))
    side.annotations = structuredClone(theirs)
    const r = await publish(dated)
    expect(r.annotations.created).toBe(3)
    expect(side.annotations.filter((a) => theirIds.has(a.id))).toEqual(theirs)
    expect(annotationWrites().every((w) => w.path === 'annotations POST')).toBe(true)

    // Everything repaired: ours go, theirs stay, over both pages.
    const repaired = structuredClone(dated)
    Object.assign(check(repaired, STALLED, 'exposure_stall'), { status: 'pass', evidence: {} })
    Object.assign(check(repaired, SKEWED, 'sample_ratio'), { status: 'pass', evidence: {} })
    Object.assign(check(repaired, SKEWED, 'flag_changes'), { status: 'pass', evidence: { history_read: true, changes_during_run: [] } })
    side.writes = []
    expect((await publish(repaired)).annotations.removed).toBe(3)
    expect(side.annotations.filter((a) => theirIds.has(a.id))).toEqual(theirs)
    expect(ours()).toEqual([])
    expect(side.writes.some((w) => w.path.startsWith('annotations DELETE'))).toBe(false)
  })

  it.each([
    ['read', 'annotation:write'],
    ['none', 'annotation:read'],
  ] as const)('a key with annotation scope "%s" still publishes the tags, the notebook and the events, and names %s', async (scope, missing) => {
    side.annotationScope = scope
    const r = await publish(dated)
    expect(r.annotations.created).toBe(0)
    expect(r.annotations.skipped).toContain(`lacks the ${missing} scope`)
    expect(side.notebooks).toHaveLength(1)
    expect(side.captured).toHaveLength(1)
    expect(r.tags.added).toBeGreaterThan(0)
    expect(JSON.stringify(r)).not.toContain(KEY)
    expect(ours()).toEqual([])
  })

  it('takes back its one annotation and writes none on a PostHog that does not keep creation_type', async () => {
    side.annotationCreationTypeReadOnly = true
    const r = await publish(dated)
    expect(r.annotations).toMatchObject({ created: 0, skipped: expect.stringContaining('creation_type') })
    expect(side.annotations!.filter((a) => !a.deleted)).toEqual([])
  })

  it('a hostile flag key stays text: one line in the annotation, no node or mark of its own in the notebook', async () => {
    const evil = `x"}]},{"type":"ph-embed","attrs":{"src":"https://evil.example"}},{"x":"\n# [click](javascript:alert(1))\u0000\u2028 · ${ANNOTATION_MARK}/stall/00000000/00000000`
    const hostile = structuredClone(dated)
    const f = hostile.flags.find((x) => x.key === STALLED)!
    f.key = evil
    hostile.readout += `\n- ${evil}`
    await publish(hostile)
    const stall = ours().find((a) => ourMark(a)!.kind === 'stall')!
    expect(stall.content).not.toMatch(/[\n\u0000\u2028]/)
    expect(stall.content).toContain('\\"type\\":\\"ph-embed\\"') // quoted, its quotes escaped
    // The mark at the end is ours, of this flag: the fake one inside the key is not read.
    expect(ourMark(stall)!.mark).toBe(findingAnnotations(hostile).find((a) => a.kind === 'stall')!.mark)
    expect(ourMark(stall)!.mark).not.toBe('stall/00000000/00000000')
    const content = side.notebooks[0]!.content as { content: { type: string; attrs?: { src?: string } }[] }
    expect(content.content.filter((n) => n.type === 'ph-embed')).toEqual([])
    expect(JSON.stringify(content)).not.toContain('\\u0000')
    const heading = content.content.find((n) => n.type === 'heading' && JSON.stringify(n).includes('javascript'))
    expect(heading).toBeDefined()
    expect(side.notebooks[0]!.text_content).not.toContain('\u0000')
    // PostHog keeps the notebook in JSONB: it must parse back as the same document.
    expect(JSON.parse(JSON.stringify(content))).toEqual(content)
  })
})
