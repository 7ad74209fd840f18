import { exposureCriterionOf } from '../../definitions/definitions.js'
import { carriersOf, count, valueWords } from '../context.js'
import { exposureFromProperty, sendExposure, setExposureEvent } from './repairs.js'
import { defineCheck, result } from './types.js'
import { HOUR_MS } from '../../time.js'

export const exposurePresent = defineCheck({
  id: 'exposure_present',
  appliesTo: (ctx) => ctx.running,
  run(ctx) {
    const counted = ctx.exposure?.exposures ?? 0
    const { carrying: carriers, withValue } = carriersOf(ctx)
    const other = ctx.otherExposure?.exposures ?? 0
    const hours = ctx.startMs === null ? null : (ctx.nowMs - ctx.startMs) / HOUR_MS
    const evidence = {
      exposure_event: ctx.exposureEvent,
      exposures: counted,
      units: ctx.exposure?.units ?? 0,
      units_carrying_flag: carriers,
      units_carrying_a_value: withValue,
      other_exposure_event_count: other,
      hours_since_start: hours === null ? null : Math.round(hours),
    }
    const criterion = exposureCriterionOf(ctx.experiment)
    if (criterion.kind === 'action') {
      return result('unknown', `The experiment counts exposures on ${criterion.label}, which this audit cannot count.`, evidence, "PostHog counts them from the action's events: judge the exposures on the experiment's page.")
    }
    // A custom exposure event counts only where it carries the flag's value (`$feature/<key>`), as PostHog reads it.
    const carrying = criterion.kind === 'custom' ? ` carrying $feature/${ctx.flag.key}` : ''
    if (counted > 0) return result('pass', `${count(counted)} ${ctx.exposureEvent} events${carrying} from ${count(ctx.exposure?.units ?? 0)} units.`, evidence)
    if (other > 0) {
      const otherName = ctx.otherExposure?.event ?? 'the other exposure event'
      // Only an experiment has exposure criteria to point elsewhere; a flag's own page counts $feature_flag_called.
      if (ctx.kind !== 'experiment') {
        return result('fail', `No ${ctx.exposureEvent} arrives for this flag, only ${count(other)} ${otherName}: PostHog's flag page counts ${ctx.exposureEvent}.`, evidence, `Read the flag with getFeatureFlag or isFeatureEnabled, which send ${ctx.exposureEvent}.`, [sendExposure(ctx)])
      }
      return result('fail', `No ${ctx.exposureEvent}${carrying} arrives, but ${count(other)} of the other exposure event do: the experiment counts the wrong event.`, evidence, `Point the experiment's exposure criteria at the event that arrives.`, [
        setExposureEvent(ctx, otherName),
      ])
    }
    // PostHog warns about zero exposures only 24 hours after launch (noExposureHours).
    if (hours !== null && hours < ctx.settings.noExposureHours) {
      return result('unknown', `No exposure yet, ${Math.max(0, Math.round(hours))} hours after launch; give it ${ctx.settings.noExposureHours} hours.`, evidence)
    }
    if (carriers > 0) {
      return result(
        'fail',
        `${count(carriers)} units carry the flag on their events (${count(withValue)} of them ${valueWords(ctx)}), but no exposure event was ever sent: the code reads it without reporting (a payload-only read or a bulk evaluation).`,
        evidence,
        `Read the flag with getFeatureFlag or isFeatureEnabled where the change is shown; until then, count exposure from the $feature/${ctx.flag.key} property.`,
        [sendExposure(ctx), exposureFromProperty(ctx, false)],
      )
    }
    return result('fail', 'No exposure event and no unit carrying the flag: the code that reads it may not be live.', evidence, 'Check that the code reading the flag is deployed, and that the SDK sends $feature_flag_called.', [
      { category: 'event', action: `Deploy or fix the code that reads "${ctx.flag.key}" so it sends ${ctx.exposureEvent}`, effort: 'high', blocking: ctx.kind === 'experiment' },
    ])
  },
})
