import { meaningsOf, type ChangeMeaning, type FlagChange } from '../../definitions/activity.js'
import { count } from '../context.js'
import { DAY_MS, dayLabel, dayNumber } from '../../time.js'
import { defineCheck, result } from './types.js'

/** A change after the experiment started, with what it did. */
interface RunChange {
  readonly change: FlagChange
  readonly meanings: readonly ChangeMeaning[]
}

const day = (ms: number) => dayLabel(dayNumber(ms))
const when = (ms: number) => new Date(ms).toISOString().slice(0, 16).replace('T', ' ') + ' UTC'

/**
 * What changed in the flag while its experiment ran, from PostHog's activity log: a new split, other
 * release conditions, fewer users rolled in or another unit of assignment put the users assigned
 * before and after the change in different variants, so the results are clean only from the last
 * such change. More users rolled in, a pause, or experience continuity turned on or off are named
 * without that. PostHog's experiment page says nothing of either.
 */
export const flagChanges = defineCheck({
  id: 'flag_changes',
  appliesTo: (ctx) => ctx.kind === 'experiment' && ctx.startMs !== null && ctx.startMs <= ctx.nowMs,
  run(ctx) {
    const start = ctx.startMs as number
    if (ctx.changes === null) {
      return result('not_applicable', "The flag's history was not read: the online audit reads it from PostHog, an offline audit from --activity FILE.", { history_read: false })
    }
    const during: RunChange[] = ctx.changes.filter((c) => c.atMs > start && c.atMs <= ctx.nowMs).map((change) => ({ change, meanings: meaningsOf(change) })).filter((c) => c.meanings.length > 0)
    const reassigning = during.filter((c) => c.meanings.some((m) => m.reassigns))
    const last = reassigning[reassigning.length - 1]
    const cleanFromMs = last ? last.change.atMs : null
    const evidence = {
      history_read: true,
      experiment_start: new Date(start).toISOString(),
      changes_read: ctx.changes.length,
      changes_during_run: during.map(({ change, meanings }) => ({
        at: new Date(change.atMs).toISOString(),
        author: change.author,
        field: change.field,
        what: meanings.map((m) => m.what),
        summary: meanings.map((m) => m.words).join('; '),
        reassigns: meanings.some((m) => m.reassigns),
        before: change.before,
        after: change.after,
      })),
      clean_from: cleanFromMs === null ? null : new Date(cleanFromMs).toISOString(),
    }
    const listed = (cs: readonly RunChange[]) => cs.map(({ change, meanings }) => `${when(change.atMs)} by ${change.author}: ${meanings.map((m) => m.words).join('; ')}`).join('. ')
    if (last && cleanFromMs !== null) {
      const days = Math.max(0, Math.floor((ctx.nowMs - cleanFromMs) / DAY_MS))
      return result(
        'fail',
        `The flag changed ${reassigning.length === 1 ? 'once' : `${count(reassigning.length)} times`} in a way that moves users after the experiment started on ${day(start)}: ${listed(reassigning)}. Results are clean from ${when(cleanFromMs)} (${days === 1 ? '1 day' : `${count(days)} days`} of data).`,
        evidence,
        `Analyse from ${day(cleanFromMs)}: set the experiment's start date to ${when(cleanFromMs)} so only users assigned under the current split and conditions count, or restart the experiment.`,
        [{ category: 'flag_config', action: `Move the experiment's start date to ${day(cleanFromMs)}, after the last change that moved users (${last.meanings.filter((m) => m.reassigns).map((m) => m.what).join(', ')})`, effort: 'low', blocking: false }],
      )
    }
    if (during.length > 0) {
      return result('warn', `The flag changed while the experiment ran, without moving users already assigned: ${listed(during)}.`, evidence, 'Say these changes in the readout: users who joined later, or a pause, change who the results describe.')
    }
    return result('pass', `No change to the flag's split, conditions, rollout or continuity since the experiment started on ${day(start)} (${count(ctx.changes.length)} changes in its history).`, evidence)
  },
})
