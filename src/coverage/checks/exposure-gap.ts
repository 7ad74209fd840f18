import { pct } from '../context.js'
import type { Check } from './types.js'
import { result } from './types.js'

export const exposureGap: Check = {
  id: 'exposure_gap',
  appliesTo: (ctx) => (ctx.observation?.sightings.units ?? 0) > 0 && ctx.running,
  run(ctx) {
    const s = ctx.observation!.sightings
    // Units carrying `false` (or nothing) are outside the rollout or its conditions: not exposing
    // them is right. The gap is among units that were given a value.
    const assigned = s.variants.filter((v) => v.value !== false && v.value !== null).reduce((n, v) => n + v.units, 0)
    const carriers = Math.min(s.units, assigned)
    const never = Math.max(0, carriers - s.unitsExposed)
    const share = carriers ? never / carriers : 0
    const evidence = { units_carrying_flag: s.units, units_carrying_a_value: carriers, units_exposed: s.unitsExposed, never_exposed: never, share }
    if (carriers === 0) return result('pass', 'Units carry the flag only as false: none was given a value.', evidence)
    // posthog-js attaches every loaded flag to every event, so many carriers never reach the page
    // that reads the flag; nearly all of them missing an exposure means it is not being sent.
    if (share > ctx.settings.exposureGapShare) {
      return result(
        'fail',
        `${pct(share)} of the ${carriers} units whose events carry a value of the flag never sent an exposure event.`,
        evidence,
        `Send an exposure where the variant is shown; meanwhile the $feature/${ctx.flag.key} property can stand in for it.`,
        [
          { category: 'property', action: `Backfill exposure of "${ctx.flag.key}" from $feature/${ctx.flag.key} on the page that shows it`, effort: 'low', blocking: true },
          { category: 'event', action: `Send $feature_flag_called for "${ctx.flag.key}" where the variant is shown`, effort: 'medium', blocking: false },
        ],
      )
    }
    return result('pass', `${pct(1 - share)} of the units carrying a value of the flag were exposed.`, evidence)
  },
}
