import type { CheckContext, CheckResult, Effort } from './checks/types.js'
import type { BackfillItem } from './report-schema.js'
import type { Verdict } from './verdict.js'
import { DAY_MS } from '../time.js'

/** A repair of the plan: its shape is the report schema's (report-schema.ts). */
export type { BackfillItem } from './report-schema.js'

/** How much a repair matters now: the parts add up to at most 100. */
export function priorityOf(ctx: CheckContext, blocking: boolean, effort: Effort, verdict: Verdict): number {
  let p = blocking ? 40 : 15
  if (ctx.kind === 'experiment' && ctx.running) p += 15
  else if (ctx.deFactoExperiment && ctx.running) p += 8
  if (ctx.deadlineMs !== null) {
    const days = (ctx.deadlineMs - ctx.nowMs) / DAY_MS
    p += days <= 3 ? 20 : days <= 7 ? 14 : days <= 14 ? 8 : 3
  }
  // More exposed traffic, more decisions riding on it: log scale, up to 12.
  p += Math.min(12, Math.round(Math.log10((ctx.exposure?.units ?? 0) + 1) * 3))
  p += effort === 'low' ? 8 : effort === 'medium' ? 4 : 0
  // A flag rolled out to most but not all users is close to its rollout decision.
  const rollout = Math.max(0, ...ctx.flag.filters.groups.filter((g) => !g.variant).map((g) => g.rollout_percentage ?? 100))
  if (ctx.kind !== 'experiment' && rollout >= 50 && rollout < 100) p += 5
  if (verdict === 'inactive') p -= 30
  return Math.max(0, Math.min(100, p))
}

/**
 * A flag's repairs, each once: several findings can call for the same repair (no exposure sent
 * fails exposure_present and exposure_gap alike), and the checks word a shared repair the same
 * (checks/repairs.ts). The first finding that asks for it gives the reason; it blocks when any of
 * them says it does. A finding that follows from another (`follows_from`) brings no repair: its
 * cause's repair is the one to make.
 */
export function backfillItems(ctx: CheckContext, results: readonly CheckResult[], verdict: Verdict): BackfillItem[] {
  const daysLeft = ctx.deadlineMs === null ? null : Math.round(((ctx.deadlineMs - ctx.nowMs) / DAY_MS) * 10) / 10
  const items: BackfillItem[] = []
  for (const r of results) {
    if (r.status !== 'fail' && r.status !== 'warn') continue
    for (const repair of r.repairs) {
      const same = items.findIndex((i) => i.category === repair.category && i.action === repair.action)
      const earlier = same >= 0 ? items[same] : undefined
      if (earlier) {
        if (repair.blocking && !earlier.blocking) items[same] = { ...earlier, blocking: true, priority: priorityOf(ctx, true, earlier.effort, verdict) }
        continue
      }
      items.push({
        flag: ctx.flag.key,
        category: repair.category,
        action: repair.action,
        priority: priorityOf(ctx, repair.blocking, repair.effort, verdict),
        check: r.id,
        effort: repair.effort,
        blocking: repair.blocking,
        reason: r.summary,
        days_to_deadline: daysLeft,
      })
    }
  }
  return items.sort((a, b) => b.priority - a.priority)
}

/** The cross-flag plan: every repair, most urgent first (ties: blocking, then the flag key). */
export function planOf(items: readonly BackfillItem[]): BackfillItem[] {
  return [...items].sort((a, b) => b.priority - a.priority || Number(b.blocking) - Number(a.blocking) || (a.flag < b.flag ? -1 : a.flag > b.flag ? 1 : 0))
}
