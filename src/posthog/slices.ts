/**
 * The split by slice for the online audit, asked for on demand: the HogQL backfill counts no
 * slices, so for each flag whose split is mismatched the audit runs that flag's slice query (the
 * one sample_ratio's evidence carries) and puts its units per variant and slice into the flag's
 * observation, as the live counters keep them.
 */
import type { Observations, VariantExposure } from '../counters/observation.js'
import type { Report } from '../coverage/report.js'
import { SLICE_DIMS, type SliceDim } from '../events/types.js'
import { PostHogApiError, type PostHogClient } from './client.js'

/**
 * The flags whose split is mismatched and whose slices were not counted, with their slice query.
 * Only those: a query a flag, and PostHog rate-limits queries. A slice far off while the whole split
 * matches is found where the slices are counted (the host's counters, an offline audit).
 */
export function slicesToAsk(report: Report): { flag: string; query: string }[] {
  const out: { flag: string; query: string }[] = []
  for (const f of report.flags) {
    // A mismatched split, or units in several variants: one query answers both.
    for (const c of f.checks) {
      const slices = c.evidence.slices as { counted?: unknown; query?: unknown } | undefined
      const fired = c.id === 'sample_ratio' ? c.status === 'fail' : c.id === 'multiple_variants' && (c.status === 'fail' || c.status === 'warn')
      if (fired && slices?.counted === false && typeof slices.query === 'string') {
        out.push({ flag: f.key, query: slices.query })
        break
      }
    }
  }
  return out
}

/**
 * Runs each slice query and adds its rows (dimension, value, variant, units, first day, units in
 * several variants) to the flag's
 * exposure observation; true when any was added. A query PostHog refuses leaves that flag without
 * a breakdown, said through `onStage`.
 */
export async function askSlices(client: Pick<PostHogClient, 'query'>, report: Report, observations: Observations, event: (flag: string) => string | null, onStage?: (message: string) => void): Promise<boolean> {
  let added = false
  for (const { flag, query } of slicesToAsk(report)) {
    const kind = event(flag)
    const exp = kind === null ? undefined : observations.flags.find((f) => f.flag === flag)?.exposure[kind as keyof (typeof observations.flags)[number]['exposure']]
    if (!exp) continue
    let rows: unknown[][]
    try {
      rows = (await client.query(query, `experiment-coverage slices (${flag})`)).rows
    } catch (e) {
      if (!(e instanceof PostHogApiError)) throw e
      onStage?.(`the split of "${flag}" by slice could not be read: ${e.message}`)
      continue
    }
    for (const row of rows) {
      const [dim, value, variant, units, firstDay, multiple] = row as [unknown, unknown, unknown, unknown, unknown, unknown]
      if (typeof dim !== 'string' || !SLICE_DIMS.includes(dim as SliceDim) || typeof value !== 'string' || value === '' || typeof variant !== 'string' || typeof units !== 'number') continue
      // Units that saw a second value, by the slice of the exposure that brought it.
      if (variant === '') {
        if (typeof multiple === 'number' && multiple > 0) {
          exp.multipleSlices ??= {}
          exp.multipleSlices[`${dim}:${value}`] = (exp.multipleSlices[`${dim}:${value}`] ?? 0) + multiple
          added = true
        }
        continue
      }
      let parsed: unknown
      try {
        parsed = JSON.parse(variant)
      } catch {
        continue // `$multiple`: no variant's slice
      }
      const v = exp.variants.find((x: VariantExposure) => x.value === parsed)
      if (!v) continue
      v.slices ??= {}
      v.slices[`${dim}:${value}`] = (v.slices[`${dim}:${value}`] ?? 0) + units
      // The slice's first day in the run, as the counters keep it (a UTC day).
      if (typeof firstDay === 'string' && /^\d{4}-\d\d-\d\d/.test(firstDay)) {
        const day = firstDay.slice(0, 10)
        exp.sliceFirstDay ??= {}
        if (!(exp.sliceFirstDay[`${dim}:${value}`]! <= day)) exp.sliceFirstDay[`${dim}:${value}`] = day
      }
      added = true
    }
  }
  return added
}
