import { EXPOSURE_EVENTS } from '../../events/types.js'
import { exposureCriterionOf } from '../../definitions/definitions.js'
import { metricObservation } from '../metric-data.js'
import { count, pct } from '../context.js'
import { checkLabel } from '../labels.js'
import { exposureFromProperty, setExposureEvent } from './repairs.js'
import { defineCheck, result } from './types.js'

// When most of a goal's events come before the unit's exposure, the experiment's numbers
// lose a visible part of the conversions (PostHog counts metric events after exposure only).
const BEFORE_EXPOSURE_SHARE = 0.5

export const exposureEvent = defineCheck({
  id: 'exposure_event',
  appliesTo: (ctx) => ctx.kind === 'experiment' || ctx.deFactoExperiment || ((ctx.exposure?.exposures ?? 0) > 0 && (ctx.otherExposure?.exposures ?? 0) > 0),
  run(ctx) {
    const counted = ctx.exposure?.exposures ?? 0
    const other = ctx.otherExposure?.exposures ?? 0
    const criterion = exposureCriterionOf(ctx.experiment)
    // beside a custom exposure event, the other is `$feature_flag_called` (context.ts)
    const otherName = criterion.kind === 'custom' ? '$feature_flag_called' : (EXPOSURE_EVENTS.find((e) => e !== ctx.exposureEvent) ?? '$experiment_exposure')
    const evidence: Record<string, unknown> = { exposure_event: ctx.exposureEvent, exposures: counted, [otherName]: other }
    if (criterion.kind === 'action') {
      return result('unknown', `The experiment counts exposures on ${criterion.label}, which this audit cannot count.`, evidence)
    }
    // Without an experiment no exposure event is configured: exposure_present says what arrives and what to send.
    if (counted === 0 && other > 0 && ctx.kind !== 'experiment') {
      return result('not_applicable', `Without an experiment no exposure event is configured; ${checkLabel('exposure_present')} says which one to send.`, evidence)
    }
    if (counted === 0 && other > 0) {
      return result('fail', `The experiment counts ${ctx.exposureEvent}, but only ${otherName} arrives.`, evidence, `Change the experiment's exposure event to ${otherName}.`, [
        setExposureEvent(ctx, otherName),
      ])
    }
    // An experiment that counts $experiment_exposure receives PostHog's ingestion copy of each call:
    // both events are expected. The other way round, a second event means someone sends it by hand.
    if (other > 0 && ctx.exposureEvent === '$feature_flag_called') {
      return result(
        'fail',
        `Both $feature_flag_called (${count(counted)}) and $experiment_exposure (${count(other)}) arrive for this flag: anything that adds them up counts each exposure twice.`,
        { ...evidence, ratio: other / Math.max(1, counted) },
        'PostHog counts only $feature_flag_called here; make dashboards and exports count one event, and stop sending the manual $experiment_exposure.',
        [
          { category: 'dashboard', action: `Make dashboards of "${ctx.flag.key}" count only $feature_flag_called`, effort: 'low', blocking: true },
          { category: 'event', action: `Stop capturing $experiment_exposure by hand for "${ctx.flag.key}"`, effort: 'low', blocking: false },
        ],
      )
    }
    for (const m of ctx.metrics.filter((x) => x.role === 'primary')) {
      const data = metricObservation(ctx, m)
      if (!data) continue
      const events = data.variants.reduce((n, v) => n + v.events, 0)
      const before = data.variants.reduce((n, v) => n + v.eventsBeforeExposure, 0)
      evidence.goal_events = events
      evidence.goal_events_before_exposure = before
      if (events >= 20 && before / events > BEFORE_EXPOSURE_SHARE) {
        return result(
          'fail',
          `${pct(before / events)} of ${m.name} events happen before the unit's exposure event: the exposure is sent too late, and PostHog will not count those conversions.`,
          evidence,
          'Send the exposure where the variant is first shown, before the user can convert.',
          [
            { category: 'event', action: `Move the exposure of "${ctx.flag.key}" to where the variant first renders`, effort: 'medium', blocking: true },
            exposureFromProperty(ctx, false),
          ],
        )
      }
    }
    const note = other > 0 ? ` (PostHog's ingestion copy to ${otherName} also arrives; it is counted once)` : ''
    return result('pass', `Exposure is counted from ${ctx.exposureEvent}${note}.`, evidence)
  },
})
