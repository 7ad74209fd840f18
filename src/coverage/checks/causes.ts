import { count, pct } from '../context.js'
import { checkLabel } from '../labels.js'
import { sliceWords } from '../slices.js'
import type { SliceDim } from '../../events/types.js'
import type { FlagStateFinding } from './flag-state.js'
import type { OutsideKind } from './variant-values.js'
import type { CheckContext, CheckId, CheckResult } from './types.js'

/**
 * When one cause explains several findings, the report names the cause once: the findings that
 * follow from it say so (`follows_from`), lose their own advice (a switched-off flag sends
 * exposures without a value, and "find the old app version that sends them" sends a team looking
 * for a client that does not exist) and bring no repair of their own. The cause keeps its finding
 * and its repairs. Issue 20, item 3.
 *
 * Each rule names a finding and the cause that explains it, and holds only when the evidence
 * shows that cause: a mismatched split follows from a pinned release condition only when the
 * variant with too many units is the pinned one.
 */
interface Consequence {
  readonly effect: CheckId
  readonly cause: CheckId
  readonly holds: (effect: CheckResult, cause: CheckResult, ctx: CheckContext) => boolean
  /** The finding's words once its cause is known: what it sees, and why. */
  readonly restate: (effect: CheckResult, cause: CheckResult, ctx: CheckContext) => { summary: string; fix: string }
}

const OFF: readonly FlagStateFinding[] = ['switched_off', 'deleted', 'zero_rollout']

function findingOf(r: CheckResult): FlagStateFinding | null {
  const f = r.evidence.finding
  return typeof f === 'string' ? (f as FlagStateFinding) : null
}

const isOff = (flagState: CheckResult) => OFF.includes(findingOf(flagState) as FlagStateFinding)

/** The flag's state in a few words: "switched off", "deleted", "rolled out to 0%". */
function offWords(flagState: CheckResult): string {
  const f = findingOf(flagState)
  return f === 'deleted' ? 'deleted' : f === 'zero_rollout' ? 'rolled out to 0%' : 'switched off'
}

// The carriers' split counts as the plan within this many points of share.
const CARRIED_SPLIT_TOLERANCE = 0.02

const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : 0)

/** The summary's first sentence (up to the first full stop followed by a space and a capital). */
function firstSentence(s: string): string {
  const m = /^(.+?[.!?])\s+(?=[A-Z"])/.exec(s)
  return (m?.[1] ?? s).trim()
}

/** The slice that explains a mismatched split ("SDK web 1.130", with its units), from sample_ratio's evidence. */
function sliceOf(sampleRatio: CheckResult): string | null {
  const slices = sampleRatio.evidence.slices as { explained_by?: { dimension?: unknown; value?: unknown; units?: unknown } | null } | undefined
  const by = slices?.explained_by
  if (!by || typeof by.dimension !== 'string' || typeof by.value !== 'string') return null
  return `${sliceWords({ dim: by.dimension as SliceDim, value: by.value })} (${count(num(by.units))} units)`
}

const follows = (cause: CheckId, why: string) => `It follows from ${checkLabel(cause)}: ${why}`

export const CONSEQUENCES: readonly Consequence[] = [
  {
    // A flag that is off gives the SDK no variant: the exposures it still sends carry none.
    effect: 'variant_values',
    cause: 'flag_state',
    holds: (effect, cause) => {
      const kinds = effect.evidence.kinds
      return isOff(cause) && Array.isArray(kinds) && kinds.length > 0 && kinds.every((k: OutsideKind) => k === 'empty')
    },
    restate: (effect, cause) => ({
      summary: `${pct(num(effect.evidence.outside_share))} of exposures (${count(num(effect.evidence.outside_exposures))}) carry no value of the flag. ${follows('flag_state', `the flag is ${offWords(cause)}, so the SDK has no variant to send.`)}`,
      fix: `Nothing to change in the app: switching the flag back on stops them (see ${checkLabel('flag_state')}). PostHog leaves them out of the results.`,
    }),
  },
  {
    // No exposure at all while the flag is off is the switch, not code that is not live.
    effect: 'exposure_present',
    cause: 'flag_state',
    holds: (effect, cause) => isOff(cause) && num(effect.evidence.exposures) === 0 && num(effect.evidence.other_exposure_event_count) === 0,
    restate: (_effect, cause) => ({
      summary: `No exposure event arrives. ${follows('flag_state', `the flag is ${offWords(cause)}, so nobody is given a variant to expose.`)}`,
      fix: `Switch the flag back on (see ${checkLabel('flag_state')}); exposures resume with it.`,
    }),
  },
  {
    // Nobody new is exposed while the flag is off: waiting or widening the rollout adds no unit.
    effect: 'sample_size',
    cause: 'flag_state',
    holds: (_effect, cause) => isOff(cause),
    restate: (effect, cause) => ({
      summary: `${firstSentence(effect.summary)} ${follows('flag_state', `the flag is ${offWords(cause)}, so no new user is exposed.`)}`,
      fix: `Switch the flag back on (see ${checkLabel('flag_state')}); the sample grows again from then.`,
    }),
  },
  {
    // A variant at 100%, or release conditions that pin users to a variant, give it more units than planned.
    effect: 'sample_ratio',
    cause: 'flag_state',
    holds: (effect, cause) => {
      const f = findingOf(cause)
      if (f === 'one_variant_at_full' || f === 'all_pinned') return true
      if (f !== 'some_pinned') return false
      // Pinned users explain the mismatch when a pinned variant has more units than planned.
      const forced = cause.evidence.forced_variants
      const variants = effect.evidence.variants
      if (!Array.isArray(forced) || !Array.isArray(variants)) return false
      return variants.some((v: { key?: unknown; observed_share?: unknown; expected_share?: unknown }) => forced.includes(v.key) && num(v.observed_share) > num(v.expected_share))
    },
    restate: (effect, cause) => ({
      summary: `${firstSentence(effect.summary)} ${follows('flag_state', firstSentence(cause.summary))}`,
      fix: `Fix what ${checkLabel('flag_state')} names, then test the split again on the users assigned at random.`,
    }),
  },
  {
    // A split or conditions changed mid-run moved users between variants: the whole run's units do
    // not split as either plan did. The change is the cause; from its date the split can be tested again.
    effect: 'sample_ratio',
    cause: 'flag_changes',
    holds: (_effect, cause) => cause.status === 'fail' && typeof cause.evidence.clean_from === 'string',
    restate: (effect, cause) => {
      const from = String(cause.evidence.clean_from).slice(0, 16).replace('T', ' ')
      return {
        summary: `${firstSentence(effect.summary)} ${follows('flag_changes', `the flag changed on ${from} UTC in a way that moves users, so users assigned under the old and the new split are counted together.`)}`,
        fix: `Test the split again on the users assigned from ${from} UTC, once the experiment starts there (see ${checkLabel('flag_changes')}).`,
      }
    },
  },
  {
    // The carriers split as planned, but one variant's carriers are exposed more often: the exposed
    // units mismatch because the exposure depends on the variant, not because assignment broke.
    effect: 'sample_ratio',
    cause: 'exposure_bias',
    holds: (effect, cause) => {
      const planned = effect.evidence.variants
      const carried = cause.evidence.variants
      if (!Array.isArray(planned) || !Array.isArray(carried)) return false
      const all = carried.reduce((n: number, c: { carrying?: unknown }) => n + num(c.carrying), 0)
      return all > 0 && planned.every((v: { key?: unknown; expected_share?: unknown }) => {
        const c = carried.find((x: { key?: unknown }) => x.key === v.key) as { carrying?: unknown } | undefined
        return c !== undefined && Math.abs(num(c.carrying) / all - num(v.expected_share)) < CARRIED_SPLIT_TOLERANCE
      })
    },
    restate: (effect) => {
      // Where the exposures go missing, when one slice explains the mismatch (an outdated SDK, say).
      const slice = sliceOf(effect)
      return {
        summary: `${firstSentence(effect.summary)} ${follows('exposure_bias', "the units carrying the flag split as planned; one variant's carriers are exposed more often than another's.")}${slice ? ` The exposures go missing in ${slice}; the rest split as planned.` : ''}`,
        fix: `${slice ? `Look at ${slice} first: an SDK or page there that does not send the exposure for one variant. ` : ''}Count exposure as ${checkLabel('exposure_bias')} says (from the first event carrying the flag), then test the split again.`,
      }
    },
  },
  {
    // When no exposure is ever sent, every unit with a value is a unit never exposed.
    effect: 'exposure_gap',
    cause: 'exposure_present',
    holds: (_effect, cause) => num(cause.evidence.exposures) === 0 && num(cause.evidence.units_carrying_flag) > 0,
    restate: (effect) => ({
      summary: `${firstSentence(effect.summary)} ${follows('exposure_present', 'no exposure event is sent at all.')}`,
      fix: `Send the exposure (see ${checkLabel('exposure_present')}).`,
    }),
  },
  {
    // The experiment counting the other exposure event is why none of its own arrives.
    effect: 'exposure_present',
    cause: 'exposure_event',
    holds: (effect, cause) => num(effect.evidence.exposures) === 0 && num(effect.evidence.other_exposure_event_count) > 0 && num(cause.evidence.exposures) === 0,
    restate: (_effect, cause, ctx) => ({
      summary: `No ${ctx.exposureEvent} arrives. ${follows('exposure_event', firstSentence(cause.summary))}`,
      fix: `Point the experiment's exposure at the event that arrives (see ${checkLabel('exposure_event')}).`,
    }),
  },
]

const finding = (r: CheckResult | undefined): r is CheckResult => r !== undefined && (r.status === 'fail' || r.status === 'warn')

/**
 * Marks each finding another one explains with the check that explains it (its words name the
 * same check). Pure; results keep their order.
 */
export function linkCauses(ctx: CheckContext, results: readonly CheckResult[], rules: readonly Consequence[] = CONSEQUENCES): CheckResult[] {
  const byId = new Map(results.map((r) => [r.id, r]))
  const direct = new Map<CheckId, { cause: CheckId; rule: Consequence }>()
  for (const rule of rules) {
    const effect = byId.get(rule.effect)
    const cause = byId.get(rule.cause)
    if (direct.has(rule.effect) || !finding(effect) || !finding(cause)) continue
    if (rule.holds(effect, cause, ctx)) direct.set(rule.effect, { cause: rule.cause, rule })
  }
  return results.map((r) => {
    const link = direct.get(r.id)
    const cause = link ? byId.get(link.cause) : undefined
    if (!link || !cause) return r
    const { summary, fix } = link.rule.restate(r, cause, ctx)
    return { ...r, summary, fix, repairs: [], follows_from: link.cause }
  })
}
