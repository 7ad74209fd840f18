/**
 * Shapes the host's JSON API answers with, shared by the host and the UI (no imports: the
 * browser build type-checks this file too).
 */
export type Verdict = 'trustworthy' | 'needs_backfill' | 'blocked' | 'insufficient_data' | 'inactive'
export type FlagKind = 'experiment' | 'multivariate_flag' | 'boolean_flag'

/** One row of GET /api/projects/:project/flags: PostHog's flag list columns, with the coverage. */
export interface FlagListEntry {
  key: string
  name: string
  kind: FlagKind
  verdict: Verdict
  score: number
  flag_id: number | null
  active: boolean | null
  rollout_percentage: number | null
  variants: { key: string; rollout_percentage: number }[]
  tags: string[]
  created_at: string | null
  experiment: { id: number; name: string; status: string | null } | null
  priority: number
  checks: { id: string; status: 'pass' | 'warn' | 'fail' | 'unknown' | 'not_applicable'; summary: string }[]
}
