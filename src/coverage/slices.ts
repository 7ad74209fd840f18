/**
 * Where a split goes wrong: a mismatched split broken down by slice (SDK and version, app version,
 * browser, OS, device, country), as Statsig's SRM debugger and Eppo's dimensional imbalance do.
 * Each slice with enough units is tested against the planned split (chi-square goodness of fit),
 * the threshold divided by the number of slices tested (Bonferroni). A slice "explains" the
 * mismatch when the units outside it match the plan.
 */
import chi2gof from '@stdlib/stats-chi2gof'
import { SLICE_DIMS, type SliceDim } from '../events/types.js'
import type { CheckContext } from './checks/types.js'
import { findVariant } from './context.js'

/** A slice is tested from this many units. */
export // The rest of the units, once a slice is left out, must look like the plan at least this plainly.
// A slice holding this share of the units is the whole split, not a part of it.
const WHOLE_SHARE = 0.99
const REST_MATCHES_P = 0.01
const MIN_SLICE_UNITS = 30

const DIM_WORDS: Record<SliceDim, string> = { sdk: 'SDK', app_version: 'app version', browser: 'browser', os: 'OS', device: 'device', country: 'country' }

export interface SliceResult {
  readonly dim: SliceDim
  readonly value: string
  readonly units: number
  /** units per variant, in the order of `variants` */
  readonly counts: readonly number[]
  readonly p: number
  /** the first UTC day a unit's first exposure came from this slice, where counted */
  readonly firstDay?: string
}

export interface SliceBreakdown {
  readonly variants: readonly string[]
  readonly expected: readonly number[]
  readonly tested: number
  /** the threshold each slice is held to: the mismatch threshold over the number tested */
  readonly alpha: number
  /** the slices that do not match the plan, worst first (at most 10) */
  readonly mismatched: readonly SliceResult[]
  /** the one slice whose units explain the mismatch (the rest match the plan), if any */
  readonly explains: (SliceResult & { readonly restShares: readonly number[]; readonly restP: number }) | null
}

/** "browser Safari", "SDK web 1.130". */
export function sliceWords(s: { dim: SliceDim; value: string }): string {
  return `${DIM_WORDS[s.dim]} ${s.value}`
}

function gof(counts: readonly number[], shares: readonly number[]): number {
  if (counts.filter((n) => n > 0).length < 1) return 1
  return chi2gof([...counts], [...shares]).pValue
}

/** The split broken down by slice, or null when the counters kept no slices for the flag. */
export function splitBySlice(ctx: CheckContext): SliceBreakdown | null {
  const arms = ctx.expected.filter((v) => v.role === 'variant' && v.share > 0)
  const sum = arms.reduce((a, v) => a + v.share, 0)
  const expected = arms.map((v) => v.share / sum)
  const perArm = arms.map((v) => findVariant(ctx.exposure, v.value)?.slices)
  if (arms.length < 2 || perArm.every((s) => s === undefined)) return null
  const totals = arms.map((v) => findVariant(ctx.exposure, v.value)?.units ?? 0)
  const allUnits = totals.reduce((a, b) => a + b, 0)
  const slices = new Map<string, number[]>()
  perArm.forEach((s, i) => {
    for (const [slice, n] of Object.entries(s ?? {})) {
      const counts = slices.get(slice) ?? arms.map(() => 0)
      counts[i] = (counts[i] as number) + n
      slices.set(slice, counts)
    }
  })
  const results: SliceResult[] = []
  for (const [slice, counts] of slices) {
    const at = slice.indexOf(':')
    const dim = slice.slice(0, at) as SliceDim
    if (!SLICE_DIMS.includes(dim)) continue
    const units = counts.reduce((a, b) => a + b, 0)
    // A slice of (nearly) every unit, one SDK version say, is the whole split again: it names nothing.
    if (units < MIN_SLICE_UNITS || units >= WHOLE_SHARE * allUnits) continue
    const firstDay = ctx.exposure?.sliceFirstDay?.[slice]
    results.push({ dim, value: slice.slice(at + 1), units, counts, p: gof(counts, expected), ...(firstDay ? { firstDay } : {}) })
  }
  const alpha = ctx.settings.srmPValue / Math.max(1, results.length)
  // Worst first; equal p-values (two slices of the same units) in a fixed order, whatever the source.
  const mismatched = results.filter((r) => r.p < alpha).sort((a, b) => a.p - b.p || (a.dim < b.dim ? -1 : a.dim > b.dim ? 1 : a.value < b.value ? -1 : a.value > b.value ? 1 : 0))
  let explains: SliceBreakdown['explains'] = null
  for (const s of mismatched) {
    const rest = totals.map((t, i) => Math.max(0, t - (s.counts[i] as number)))
    const restUnits = rest.reduce((a, b) => a + b, 0)
    if (restUnits < MIN_SLICE_UNITS) continue
    const restP = gof(rest, expected)
    // The smallest slice whose removal leaves a split that matches the plan: not merely short of a
    // mismatch (a change of split mid-run leaves every slice a little off), but plausible under it.
    if (restP >= Math.max(ctx.settings.srmPValue, REST_MATCHES_P) && (explains === null || s.units < explains.units)) explains = { ...s, restShares: rest.map((n) => n / restUnits), restP }
  }
  return { variants: arms.map((v) => v.key), expected, tested: results.length, alpha, mismatched: mismatched.slice(0, 10), explains }
}
