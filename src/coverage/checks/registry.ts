import { audience } from './audience.js'
import { linkCauses } from './causes.js'
import { exposureEvent } from './exposure-event.js'
import { exposureBias } from './exposure-bias.js'
import { exposureGap } from './exposure-gap.js'
import { exposurePresent } from './exposure-present.js'
import { exposureStall } from './exposure-stall.js'
import { exposureSource } from './exposure-source.js'
import { flagChanges } from './flag-changes.js'
import { flagState } from './flag-state.js'
import { guardrails } from './guardrails.js'
import { multipleVariants } from './multiple-variants.js'
import { primaryMetric } from './primary-metric.js'
import { sampleRatio } from './sample-ratio.js'
import { sampleSize } from './sample-size.js'
import { type Check, type CheckContext, type CheckResult, missingInputs } from './types.js'
import { variantValues } from './variant-values.js'

/** Every check, in the order the report lists them (DESIGN.md's check ids). */
export const CHECKS: readonly Check[] = [
  exposurePresent,
  exposureStall,
  exposureEvent,
  variantValues,
  sampleRatio,
  multipleVariants,
  exposureSource,
  exposureGap,
  exposureBias,
  primaryMetric,
  guardrails,
  audience,
  sampleSize,
  flagState,
  flagChanges,
]

/**
 * Runs every check on one context. A check that does not apply, or whose declared inputs are
 * missing, is `not_applicable`; a check that
 * throws becomes `unknown` with the error and never hides the others. Then each finding that
 * another explains is marked as following from it (checks/causes.ts).
 */
export function runChecks(ctx: CheckContext, checks: readonly Check[] = CHECKS): CheckResult[] {
  const results = checks.map((check): CheckResult => {
    try {
      // a check whose inputs are missing is skipped, as one that does not apply
      if (missingInputs(ctx, check.needs).length > 0 || !check.appliesTo(ctx)) return { id: check.id, status: 'not_applicable', summary: 'Does not apply to this flag.', evidence: {}, fix: null, repairs: [], follows_from: null }
      return { id: check.id, ...check.run(ctx), follows_from: null }
    } catch (e) {
      const message = e instanceof Error ? e.message : String(e)
      return { id: check.id, status: 'unknown', summary: `The check could not run: ${message}`, evidence: { error: message }, fix: null, repairs: [], follows_from: null }
    }
  })
  return linkCauses(ctx, results)
}
