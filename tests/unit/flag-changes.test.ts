import { describe, expect, it } from 'vitest'
import { changesOfFlag, meaningsOf, parseActivity, type FlagChange } from '../../src/definitions/activity.js'
import { runChecks } from '../../src/coverage/checks/registry.js'
import { verdictOf } from '../../src/coverage/verdict.js'
import { NOW, context } from '../support/context.js'

const DAY = 86_400_000
const at = (daysAgo: number) => new Date(NOW - daysAgo * DAY).toISOString()

/** A filters object as PostHog stores it on a flag, and logs it whole in a `filters` change. */
const filters = (split: [string, number][], rollout = 100, properties: unknown[] = []) => ({
  groups: [{ properties, rollout_percentage: rollout, variant: null }],
  multivariate: { variants: split.map(([key, pct]) => ({ key, name: null, rollout_percentage: pct })) },
  aggregation_group_type_index: null,
  payloads: {},
})

/** An entry as GET /api/projects/:id/feature_flags/:id/activity/ returns it (ActivityLogSerializer). */
function entry(daysAgo: number, changes: { field: string; before: unknown; after: unknown }[], over: Record<string, unknown> = {}) {
  return {
    user: { first_name: 'Ada', email: 'ada@example.com' },
    activity: 'updated',
    scope: 'FeatureFlag',
    item_id: '1',
    detail: { id: null, changes: changes.map((c) => ({ type: 'FeatureFlag', action: 'changed', ...c })), merge: null, trigger: null, name: 'exp-flag', short_id: null, type: null },
    created_at: at(daysAgo),
    ...over,
  }
}

const page = (results: unknown[]) => ({ results, next: null, previous: null, total_count: results.length })

describe("a flag's history from PostHog's activity log", () => {
  it('reads a page, a list of pages or a list of entries, keeps feature flags only, oldest first', () => {
    const a = entry(3, [{ field: 'active', before: true, after: false }])
    const b = entry(5, [{ field: 'filters', before: filters([['control', 50], ['test', 50]]), after: filters([['control', 70], ['test', 30]]) }])
    const other = { ...entry(4, [{ field: 'name', before: 'x', after: 'y' }]), scope: 'Experiment', item_id: '7' }
    for (const shape of [page([a, b, other]), [page([a]), page([b, other])], [a, b, other]]) {
      const log = parseActivity('activity.json', shape)
      expect(log.entries).toBe(3)
      expect(log.changes.map((c) => c.field)).toEqual(['filters', 'active'])
      expect(log.changes[0]).toMatchObject({ flagId: '1', flagKey: 'exp-flag', author: 'ada@example.com' })
    }
    expect(changesOfFlag(parseActivity('a', [a, { ...a, item_id: 2 }]), { id: 2 })).toHaveLength(1)
  })

  it('names the entry and the field that are wrong, and reads nothing from such a file', () => {
    expect(() => parseActivity('activity.json', page([entry(1, []), { ...entry(2, []), created_at: 'yesterday' }]))).toThrow(/activity\.json: results\[1\]\.created_at: not a date/)
    expect(() => parseActivity('activity.json', { count: 3 })).toThrow(/activity\.json: expected an activity page/)
  })

  it('says what a change did, and whether it moves users already assigned', () => {
    const change = (field: string, before: unknown, after: unknown): FlagChange => ({ flagId: '1', flagKey: 'exp-flag', atMs: NOW, author: 'a', field, before, after })
    const split = meaningsOf(change('filters', filters([['control', 50], ['test', 50]]), filters([['control', 70], ['test', 30]])))
    expect(split).toEqual([{ what: 'split', words: 'split control 50% / test 50% → control 70% / test 30%', reassigns: true }])
    expect(meaningsOf(change('filters', filters([['control', 50], ['test', 50]], 20), filters([['control', 50], ['test', 50]], 50)))).toMatchObject([{ what: 'rollout', reassigns: false }])
    expect(meaningsOf(change('filters', filters([['control', 50], ['test', 50]], 50), filters([['control', 50], ['test', 50]], 20)))).toMatchObject([{ what: 'rollout', reassigns: true }])
    const where = [{ key: 'country', value: ['DE'], operator: 'exact', type: 'person' }]
    expect(meaningsOf(change('filters', filters([['control', 50], ['test', 50]]), filters([['control', 50], ['test', 50]], 100, where)))).toMatchObject([{ what: 'conditions', reassigns: true }])
    expect(meaningsOf(change('filters', filters([['a', 50], ['b', 50]]), 'masked'))).toMatchObject([{ what: 'configuration', reassigns: true }])
    expect(meaningsOf(change('active', true, false))).toMatchObject([{ what: 'switched', words: 'switched off', reassigns: false }])
    expect(meaningsOf(change('ensure_experience_continuity', false, true))).toMatchObject([{ what: 'continuity', reassigns: false }])
    expect(meaningsOf(change('version', 3, 4))).toEqual([])
    // The same filters again (a save that changed only the payloads) is no change to judge.
    expect(meaningsOf(change('filters', filters([['control', 50], ['test', 50]]), { ...filters([['control', 50], ['test', 50]]), payloads: { test: '{}' } }))).toEqual([])
  })
})

describe('flag_changes', () => {
  const judge = (activity: unknown) => {
    const ctx = context({ changes: activity === null ? null : changesOfFlag(parseActivity('a', activity), { id: 1 }) })
    const results = runChecks(ctx)
    return { check: results.find((r) => r.id === 'flag_changes')!, verdict: verdictOf(ctx, results) }
  }

  it('fails a split changed after the start, and says from when results are clean', () => {
    // The experiment started 10 days ago; the split changed 4 days ago, the rollout rose 2 days ago.
    const { check, verdict } = judge(
      page([
        entry(2, [{ field: 'filters', before: filters([['control', 70], ['test', 30]], 50), after: filters([['control', 70], ['test', 30]], 100) }]),
        entry(4, [{ field: 'filters', before: filters([['control', 50], ['test', 50]], 50), after: filters([['control', 70], ['test', 30]], 50) }], { user: { first_name: 'Grace', email: null } }),
        entry(15, [{ field: 'filters', before: filters([['control', 90], ['test', 10]]), after: filters([['control', 50], ['test', 50]], 50) }]),
      ]),
    )
    expect(check.status).toBe('fail')
    expect(check.evidence.clean_from).toBe(at(4))
    expect(check.summary).toContain('by Grace: split control 50% / test 50% → control 70% / test 30%')
    expect(check.summary).toMatch(/Results are clean from .* \(4 days of data\)/)
    expect((check.evidence.changes_during_run as unknown[]).length).toBe(2)
    expect(check.repairs[0]).toMatchObject({ category: 'flag_config', blocking: false })
    expect(verdict).toBe('needs_backfill')
  })

  it('warns of changes that move nobody already assigned, and passes when nothing changed during the run', () => {
    const warned = judge(page([entry(3, [{ field: 'active', before: true, after: false }]), entry(2, [{ field: 'active', before: false, after: true }])]))
    expect(warned.check.status).toBe('warn')
    expect(warned.check.summary).toMatch(/switched off.*switched on/)
    const quiet = judge(page([entry(15, [{ field: 'filters', before: filters([['control', 90], ['test', 10]]), after: filters([['control', 50], ['test', 50]]) }])]))
    expect(quiet.check.status).toBe('pass')
    expect(quiet.check.evidence.changes_read).toBe(1)
  })

  it('says the history was not read, without a cost to the score, when there is none', () => {
    const { check } = judge(null)
    expect(check.status).toBe('not_applicable')
    expect(check.summary).toMatch(/--activity FILE/)
  })
})
