/**
 * The experiment flags' history for the host's reviews (flag_changes): read from PostHog's activity
 * log in the background, at most every REFRESH_MS, and never waited for. A review judges with the
 * history last read; until the first read ends, flag_changes says the history was not read.
 */
import type { ActivityLog } from '../definitions/activity.js'
import type { Definitions } from '../definitions/definitions.js'
import { fetchExperimentActivity } from '../posthog/activity.js'
import { canBackfill, clientOf, type PluginState } from '../plugin/state.js'

export const HISTORY_REFRESH_MS = 15 * 60_000

export class FlagHistory {
  private log: ActivityLog | null = null
  private readAt: number | null = null
  private reading: Promise<void> | null = null

  constructor(
    private readonly clock: () => number,
    private readonly say: (level: 'info' | 'warn', message: string) => void,
  ) {}

  /** The history last read (null before any, or without PostHog credentials); starts a read when it is due. */
  current(state: PluginState, defs: Definitions): ActivityLog | null {
    if (!canBackfill(state)) return null
    const now = this.clock()
    if (this.reading === null && (this.readAt === null || now - this.readAt >= HISTORY_REFRESH_MS)) {
      this.readAt = now
      this.reading = fetchExperimentActivity(clientOf(state), defs, (m) => this.say('warn', m))
        .then((log) => {
          // An unreadable history keeps the last one read.
          if (log !== null) this.log = log
        })
        .catch((e: unknown) => this.say('warn', `the flags' history could not be read: ${e instanceof Error ? e.message : String(e)}`))
        .finally(() => {
          this.reading = null
        })
    }
    return this.log
  }

  /** Waits for a read under way (tests, and a stopping host). */
  async settled(): Promise<void> {
    await this.reading
  }
}
