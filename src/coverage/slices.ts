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
export const MIN_SLICE_UNITS = 30
// A slice holding this share of the units is the whole split, not a part of it.
const WHOLE_SHARE = 0.99
// The rest of the units, once a slice is left out, must look like the plan at least this plainly.
const REST_MATCHES_P = 0.01
// Units in several variants a slice needs before its share of them is tested.
const MIN_SLICE_MULTIPLE = 5

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

/** A slice that holds more of the units in several variants than of all units. */
export interface MultipleSlice {
  readonly dim: SliceDim
  readonly value: string
  /** units in several variants whose second value came from this slice */
  readonly multiple: number
  /** units whose first exposure to a value came from this slice (a unit in several variants counts in each) */
  readonly units: number
  readonly multipleShare: number
  readonly unitShare: number
  readonly p: number
}

/**
 * Where units cross variants (multiple_variants' breakdown): per dimension, each slice's share of
 * the units in several variants (by the exposure that brought their second value) against its share
 * of all units, tested as goodness of fit (chi-square, one degree of freedom) at the mismatch
 * threshold over the number of slices tested; only slices over-represented among them. Null where
 * the source counted no such slices.
 */
export function multipleBySlice(ctx: CheckContext): { tested: number; alpha: number; over: MultipleSlice[] } | null {
  const multi = ctx.exposure?.multipleSlices
  if (!multi || !ctx.exposure) return null
  const all = new Map<string, number>()
  for (const v of ctx.exposure.variants) for (const [slice, n] of Object.entries(v.slices ?? {})) all.set(slice, (all.get(slice) ?? 0) + n)
  // Each dimension's total, over its slices ("browser:Safari" is of "browser").
  const byDim = (entries: Iterable<[string, number]>) => {
    const out = new Map<string, number>()
    for (const [slice, n] of entries) {
      const dim = slice.slice(0, slice.indexOf(':'))
      out.set(dim, (out.get(dim) ?? 0) + n)
    }
    return out
  }
  const multiTotal = byDim(Object.entries(multi))
  const allTotal = byDim(all)
  const rows: Omit<MultipleSlice, 'p'>[] = []
  for (const [slice, m] of Object.entries(multi)) {
    const at = slice.indexOf(':')
    const dim = slice.slice(0, at) as SliceDim
    if (!SLICE_DIMS.includes(dim) || m < MIN_SLICE_MULTIPLE) continue
    const M = multiTotal.get(dim) ?? 0
    const T = allTotal.get(dim) ?? 0
    const units = all.get(slice) ?? 0
    if (M === 0 || T === 0 || units === 0 || units >= WHOLE_SHARE * T) continue
    rows.push({ dim, value: slice.slice(at + 1), multiple: m, units, multipleShare: m / M, unitShare: units / T })
  }
  const alpha = ctx.settings.srmPValue / Math.max(1, rows.length)
  const over = rows
    .filter((r) => r.multipleShare > r.unitShare)
    .map((r) => ({ ...r, p: gof([r.multiple, (multiTotal.get(r.dim) ?? 0) - r.multiple], [r.unitShare, 1 - r.unitShare]) }))
    .filter((r) => r.p < alpha)
    .sort((a, b) => a.p - b.p || (a.dim < b.dim ? -1 : a.dim > b.dim ? 1 : a.value < b.value ? -1 : a.value > b.value ? 1 : 0))
  return { tested: rows.length, alpha, over: over.slice(0, 10) }
}
