/**
 * The experiment flags' history from PostHog's activity log:
 * `GET /api/projects/:id/feature_flags/:flag_id/activity/` for each flag an experiment uses
 * (products/feature_flags/backend/api/feature_flag.py, action `activity`, scope
 * `activity_log:read`; pages `{results, next, previous, total_count}`, newest first, followed to
 * the end).
 */
import { parseActivity, type ActivityLog } from '../definitions/activity.js'
import { DefinitionsError, type Definitions } from '../definitions/definitions.js'
import { PostHogApiError, type PostHogClient } from './client.js'

/**
 * The history of every experiment's flag, or null when PostHog does not give it (a key without
 * `activity_log:read`, an older PostHog): the audit goes on, and flag_changes says it was not read.
 */
export async function fetchExperimentActivity(client: PostHogClient, defs: Definitions, onStage?: (message: string) => void): Promise<ActivityLog | null> {
  const keys = new Set(defs.experiments.map((e) => e.feature_flag_key))
  const flags = defs.flags.filter((f) => keys.has(f.key) && f.id >= 0)
  if (flags.length === 0) return { changes: [], entries: 0 }
  onStage?.(`reading the history of ${flags.length} experiment flags`)
  try {
    const pages = await Promise.all(flags.map(async (f) => ({ results: await client.list(`feature_flags/${f.id}/activity/`) })))
    return parseActivity('PostHog activity log', pages)
  } catch (e) {
    if (!(e instanceof PostHogApiError) && !(e instanceof DefinitionsError)) throw e
    const why = e instanceof PostHogApiError && (e.status === 401 || e.status === 403) ? `the personal API key may lack the activity_log:read scope (${e.status})` : e.message
    onStage?.(`the flags' history could not be read, so what changed while each experiment ran is not judged: ${why}`)
    return null
  }
}
