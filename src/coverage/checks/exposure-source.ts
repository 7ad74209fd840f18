import { LIBS } from '../../counters/observation.js'
import { count, pct } from '../context.js'
import { defineCheck, result } from './types.js'

// PostHog's health check needs at least 100 exposures before judging the server-side share.
const MIN_EXPOSURES = 100
// More errored evaluations than this mean some users got the fallback instead of their variant.
const ERROR_SHARE = 0.01
// Units exposed to a value other than the one their page was bootstrapped with saw the wrong variant
// first. PostHog has no threshold for it; one in a hundred already moves a small effect, so it fails.
const BOOTSTRAP_MISMATCH_SHARE = 0.01

export const exposureSource = defineCheck({
  id: 'exposure_source',
  needs: ['exposure'],
  appliesTo: (ctx) => ctx.exposure.exposures > 0,
  run(ctx) {
    const exp = ctx.exposure
    const units = { client: 0, server: 0, unknown: 0 }
    let errored = 0
    let bootstrapped = 0
    let mismatchUnits = 0
    let mismatchEvents = 0
    for (const v of exp.variants) {
      for (const lib of LIBS) units[lib] += v.unitsByLib[lib]
      errored += v.errored
      bootstrapped += v.bootstrapped
      mismatchUnits += v.bootstrapMismatchUnits
      mismatchEvents += v.bootstrapMismatch
    }
    const mismatchShare = exp.units ? mismatchUnits / exp.units : 0
    const total = units.client + units.server + units.unknown
    const serverShare = total ? units.server / total : 0
    // A bootstrap made for another distinct id gives another variant about as often as two random
    // draws differ; stale flag definitions on the server move far fewer users.
    const chanceOfOther = 1 - ctx.expected.reduce((n, v) => n + v.share * v.share, 0)
    const evidence = {
      exposures: exp.exposures,
      units_by_library: units,
      server_side_share: serverShare,
      errored,
      bootstrapped,
      bootstrap_mismatch_exposures: mismatchEvents,
      bootstrap_mismatch_units: mismatchUnits,
      bootstrap_mismatch_share: mismatchShare,
      chance_of_another_variant: chanceOfOther,
    }
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
    if (mismatchShare > BOOTSTRAP_MISMATCH_SHARE) {
      const likely =
        mismatchShare >= 0.8 * chanceOfOther
          ? `about as often as a random draw gives another variant (${pct(chanceOfOther)}), so the server most likely bootstraps with another distinct id than the browser's`
          : `less often than a random draw would (${pct(chanceOfOther)}): the server evaluates with stale flag definitions (local evaluation that has not polled since the flag changed), or bootstraps some pages with another distinct id`
      return result(
        'fail',
        `${pct(mismatchShare)} of exposed units (${count(mismatchUnits)}) were bootstrapped with another variant than PostHog's /flags then gave them: they saw the wrong variant first; ${likely}.`,
        evidence,
        'Bootstrap with the distinct id the browser will use (pass it to posthog.init bootstrap.distinctID) and evaluate with fresh definitions (a short featureFlagsPollingInterval, or no local evaluation for bootstrapping); analyse with first_seen handling or leave those units out.',
        [
          { category: 'flag_config', action: `Bootstrap "${ctx.flag.key}" with the browser's distinct id and current flag definitions`, effort: 'medium', blocking: false },
          { category: 'property', action: `Recount "${ctx.flag.key}" without units whose $feature_flag_bootstrapped_response differs from $feature_flag_response`, effort: 'low', blocking: false },
        ],
      )
    }
    if (exp.exposures > 0 && errored / exp.exposures > ERROR_SHARE) {
      return result('warn', `${pct(errored / exp.exposures)} of exposures report a flag evaluation error ($feature_flag_error).`, evidence, 'Those users got the fallback value; check flag availability and SDK timeouts.')
    }
    const note = units.client === 0 && units.server > 0 ? 'Evaluated on the server only: an exposure means the server evaluated it.' : 'Exposures come from where the flag is shown.'
    return result('pass', note, evidence)
  },
})
