import { surfaceMetrics } from '../../definitions/audit-config.js'
import { carriersOf, count, pct, valueWords } from '../context.js'
import { exposureFromProperty, sendExposure } from './repairs.js'
import { configuredGoals } from '../../settings/settings.js'
import { type CheckContext, defineCheck, result } from './types.js'

// Below this many units at the surface a share says little; the check then falls back to carriers.
const MIN_REACHED = 20

/**
 * The experiment's surface is measured when the counters measure it: by the same rule
 * (surfaceMetrics: its primary goal steps that can be counted live, else the configured goals).
 */
function measuresSurface(ctx: CheckContext): boolean {
  if (ctx.kind !== 'experiment' || !ctx.experiment) return false
  return surfaceMetrics({ experiments: [ctx.experiment] }, configuredGoals(ctx.settings)).has(ctx.flag.key)
}

/**
 * The variants that have a payload: a flag read through getFeatureFlagPayload sends no exposure in
 * posthog-js (it asks with `send_event: false`), the likely reason its carriers go unexposed.
 */
function payloadVariants(ctx: CheckContext): string[] {
  const payloads = (ctx.flag.filters as { payloads?: unknown }).payloads
  if (typeof payloads !== 'object' || payloads === null) return []
  return Object.entries(payloads as Record<string, unknown>)
    .filter(([, v]) => v !== null && v !== undefined && v !== '')
    .map(([k]) => k)
}

function payloadWords(ctx: CheckContext): string {
  const keys = payloadVariants(ctx)
  return keys.length ? ` The flag defines payloads (${keys.slice(0, 5).join(', ')}): posthog-js sends no exposure for getFeatureFlagPayload, so code that reads only the payload exposes nobody.` : ''
}

export const exposureGap = defineCheck({
  id: 'exposure_gap',
  needs: ['observation'],
  appliesTo: (ctx) => ctx.observation.sightings.units > 0 && ctx.running,
  run(ctx) {
    const s = ctx.observation.sightings
    // Units carrying `false` (or nothing) are outside the rollout or its conditions: not exposing
    // them is right. The gap is among units that were given a value.
    const carriers = carriersOf(ctx).withValue
    const words = valueWords(ctx)
    const asFalse = s.units - carriers
    const never = Math.max(0, carriers - s.unitsExposed)
    const share = carriers ? never / carriers : 0
    const reachedNever = Math.max(0, s.reached - s.reachedExposed)
    const surfaceShare = s.reached ? reachedNever / s.reached : 0
    const surface = measuresSurface(ctx) && s.reached >= MIN_REACHED
    const evidence = {
      units_carrying_flag: s.units,
      units_carrying_a_value: carriers,
      units_exposed: s.unitsExposed,
      never_exposed: never,
      // `never_exposed_share`, not `share`: multiple_variants has a share of its own (one name, one number)
      never_exposed_share: share,
      units_at_surface: s.reached,
      units_at_surface_exposed: s.reachedExposed,
      units_at_surface_never_exposed: reachedNever,
      payload_variants: payloadVariants(ctx),
      surface_share: surface ? surfaceShare : null,
      measured: surface ? 'surface' : 'carriers',
    }
    if (carriers === 0 && s.reached === 0) return result('pass', `${count(s.units)} units carry the flag, all as false: none was given a value.`, evidence)
    // The same repairs as exposure_present's, in the same words: the plan lists each once.
    const repairs = [exposureFromProperty(ctx), { ...sendExposure(ctx), blocking: false }]
    if (surface) {
      // The units that did what the experiment measures while carrying a value of the flag: an
      // exposure missing there means the analysis drops people who converted (a payload-only read,
      // `send_event: false`, or a server that evaluates without sending events).
      if (surfaceShare > ctx.settings.surfaceGapShare) {
        return result(
          'fail',
          `${pct(surfaceShare)} of the ${count(s.reached)} units that sent the experiment's metric event while carrying a value of the flag were never exposed: PostHog's analysis leaves them out.${payloadWords(ctx)}`,
          evidence,
          `Send the exposure where the variant is shown (getFeatureFlag or isFeatureEnabled send it; getFeatureFlagPayload and send_event: false do not); meanwhile $feature/${ctx.flag.key} on their events tells their variant.`,
          repairs,
        )
      }
      return result('pass', `${pct(1 - surfaceShare)} of the ${count(s.reached)} units that sent the experiment's metric event while carrying the flag were exposed.`, evidence)
    }
    // Without a metric to mark the surface: posthog-js attaches every loaded flag to every event, so
    // many carriers never reach the page that reads the flag; nearly all of them missing an
    // exposure means it is not being sent.
    if (share > ctx.settings.exposureGapShare) {
      return result(
        'fail',
        `${pct(share)} of the ${count(carriers)} units ${words} never sent an exposure event${asFalse > 0 ? ` (the other ${count(asFalse)} units carrying the flag carry it as false: outside the rollout, nothing to expose)` : ''}.${payloadWords(ctx)}`,
        evidence,
        `Send an exposure where the variant is shown; meanwhile the $feature/${ctx.flag.key} property can stand in for it.`,
        repairs,
      )
    }
    return result('pass', `${pct(1 - share)} of the ${count(carriers)} units ${words} were exposed.`, evidence)
  },
})
