import { LIBS } from '../../counters/observation.js'
import { pct } from '../context.js'
import type { Check } from './types.js'
import { result } from './types.js'

// PostHog's health check needs at least 100 exposures before judging the server-side share.
const MIN_EXPOSURES = 100
// More errored evaluations than this mean some users got the fallback instead of their variant.
const ERROR_SHARE = 0.01

export const exposureSource: Check = {
  id: 'exposure_source',
  appliesTo: (ctx) => (ctx.exposure?.exposures ?? 0) > 0,
  run(ctx) {
    const exp = ctx.exposure!
    const units = { client: 0, server: 0, unknown: 0 }
    let errored = 0
    let bootstrapped = 0
    for (const v of exp.variants) {
      for (const lib of LIBS) units[lib] += v.unitsByLib[lib]
      errored += v.errored
      bootstrapped += v.bootstrapped
    }
    const total = units.client + units.server + units.unknown
    const serverShare = total ? units.server / total : 0
    const evidence = { exposures: exp.exposures, units_by_library: units, server_side_share: serverShare, errored, bootstrapped }
    if (exp.exposures >= MIN_EXPOSURES && units.client > 0 && serverShare > ctx.settings.serverSideShare) {
      return result(
        'fail',
        `${pct(serverShare)} of exposed units were exposed by a server-side SDK as well as browsers: the server evaluates the flag for users who may never see the change.`,
        evidence,
        "Send the exposure only where the variant is shown (evaluate on the server without sending events, or with send_feature_flag_events off), and judge the experiment on browser exposures.",
        [
          { category: 'event', action: `Stop server-side exposure events for "${ctx.flag.key}" where nothing is shown`, effort: 'medium', blocking: false },
          { category: 'property', action: `Recount "${ctx.flag.key}" on exposures with a browser $lib only`, effort: 'low', blocking: true },
        ],
      )
    }
    if (exp.exposures > 0 && errored / exp.exposures > ERROR_SHARE) {
      return result('warn', `${pct(errored / exp.exposures)} of exposures report a flag evaluation error ($feature_flag_error).`, evidence, 'Those users got the fallback value; check flag availability and SDK timeouts.')
    }
    const note = units.client === 0 && units.server > 0 ? 'Evaluated on the server only: an exposure means the server evaluated it.' : 'Exposures come from where the flag is shown.'
    return result('pass', note, evidence)
  },
}
