/**
 * The views the host's JSON API answers with, built from a report and the project's definitions.
 */
import type { Report } from '../coverage/report.js'
import type { Definitions } from '../definitions/definitions.js'
import type { FlagListEntry } from './api-types.js'

/**
 * GET /api/projects/:project/flags: each flag with PostHog's flag-list columns (rollout, variants,
 * tags, creation) beside its coverage, and the highest priority of its repairs.
 */
export function flagListOf(report: Report, defs: Definitions): FlagListEntry[] {
  const byKey = new Map(defs.flags.filter((f) => !f.deleted).map((f) => [f.key, f]))
  return report.flags.map((f) => {
    const d = byKey.get(f.key)
    const variants = d?.filters.multivariate?.variants ?? []
    const groups = d?.filters.groups ?? []
    return {
      key: f.key,
      name: f.name,
      kind: f.kind,
      verdict: f.verdict,
      score: f.score,
      flag_id: d?.id ?? null,
      active: d ? d.active : null,
      rollout_percentage: groups.length ? Math.max(...groups.map((g) => g.rollout_percentage ?? 100)) : null,
      variants: variants.map((v) => ({ key: v.key, rollout_percentage: v.rollout_percentage })),
      tags: d?.tags ?? [],
      created_at: d?.created_at ?? null,
      experiment: f.experiment ? { id: f.experiment.id, name: f.experiment.name, status: f.experiment.status } : null,
      priority: Math.max(0, ...f.backfill.map((b) => b.priority)),
      checks: f.checks.map((c) => ({ id: c.id, status: c.status, summary: c.summary })),
    }
  })
}
