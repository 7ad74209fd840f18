import type { CheckContext, CheckId, CheckResult } from './checks/types.js'

export type Verdict = 'trustworthy' | 'needs_backfill' | 'blocked' | 'insufficient_data' | 'inactive'

/**
 * Checks whose failure blocks a readout whatever else passes: no backfill can repair them, since
 * the assignment itself is broken (a flag that does not split, a mismatched split, users in several
 * variants). The decision must wait for a fix and new data. In the order a reader is told of them:
 * a switched-off flag explains the other two.
 */
export const BLOCKING_ORDER: readonly CheckId[] = ['flag_state', 'sample_ratio', 'multiple_variants']
export const BLOCKING: ReadonlySet<CheckId> = new Set(BLOCKING_ORDER)

// Weights of the 0-100 score: a blocking failure costs most, a warning a little, an unknown less.
const PENALTY = { blockingFail: 35, fail: 25, warn: 8, unknown: 3 } as const

export function verdictOf(ctx: CheckContext, results: readonly CheckResult[]): Verdict {
  if (!ctx.running) return 'inactive'
  const fails = results.filter((r) => r.status === 'fail')
  // A blocking finding explained by a cause that does not block (exposure that depends on the
  // variant makes the exposed split mismatch; the assignment is fine) is repaired with its cause.
  if (fails.some((r) => BLOCKING.has(r.id) && (r.follows_from === null || BLOCKING.has(r.follows_from)))) return 'blocked'
  if (fails.some((r) => r.id !== 'sample_size')) return 'needs_backfill'
  if (fails.length) return 'insufficient_data'
  // Launched too recently to judge exposure at all.
  if (results.some((r) => r.id === 'exposure_present' && r.status === 'unknown')) return 'insufficient_data'
  return 'trustworthy'
}

/** One cause costs once: a finding that follows from another (`follows_from`) takes nothing off. */
export function scoreOf(results: readonly CheckResult[]): number {
  let score = 100
  for (const r of results) {
    if (r.follows_from !== null) continue
    if (r.status === 'fail') score -= BLOCKING.has(r.id) ? PENALTY.blockingFail : PENALTY.fail
    else if (r.status === 'warn') score -= PENALTY.warn
    else if (r.status === 'unknown') score -= PENALTY.unknown
  }
  return Math.max(0, score)
}
