import { exposureCriterionOf } from '../../definitions/definitions.js'
import type { CheckContext, Repair } from './types.js'

/**
 * Repairs that several checks propose, written once: the same repair reads the same wherever it
 * comes from, so the plan lists it once per flag (backfill.ts merges equal actions). Each fits the
 * flag's kind: only an experiment has an analysis that leaves unexposed units out, so only there
 * does a missing exposure block the readout; a flag without one is compared (if at all) by its
 * `$feature/<key>` property, which every event already carries.
 */

/** A missing exposure keeps units out of the readout only where an experiment's analysis counts exposures. */
const exposureBlocks = (ctx: CheckContext) => ctx.kind === 'experiment'

/** Send the counted exposure where the variant is shown. */
export function sendExposure(ctx: CheckContext): Repair {
  const key = ctx.flag.key
  const custom = exposureCriterionOf(ctx.experiment).kind === 'custom' ? ` carrying $feature/${key}` : ''
  return {
    category: 'event',
    action: `Send ${ctx.exposureEvent}${custom} for "${key}" where the variant is shown (getFeatureFlag / isFeatureEnabled, not the payload or bulk getters)`,
    effort: 'medium',
    blocking: exposureBlocks(ctx),
  }
}

/** Count each unit exposed from its first event carrying the flag's value, until the exposure is sent. */
export function exposureFromProperty(ctx: CheckContext, blocking = exposureBlocks(ctx)): Repair {
  const key = ctx.flag.key
  return { category: 'property', action: `Backfill exposure of "${key}" from the first event carrying $feature/${key} per unit`, effort: 'low', blocking: blocking && exposureBlocks(ctx) }
}

/** Point the experiment's exposure criteria at the event that arrives. */
export function setExposureEvent(ctx: CheckContext, event: string): Repair {
  return { category: 'flag_config', action: `Set the exposure event of "${ctx.flag.key}" to ${event}, the one the app sends`, effort: 'low', blocking: true }
}
