import Table from 'cli-table3'
import type { FlagObservation, Observations } from '../counters/observation.js'
import { showValue } from '../coverage/show-value.js'

function pct(part: number, whole: number): string {
  return whole > 0 ? `${((part / whole) * 100).toFixed(1)}%` : '-'
}

/** The per-variant counters as a plain-text table: one block per flag and exposure event. */
export function formatObservationsTable(obs: Observations): string {
  const table = new Table({
    head: ['flag', 'exposure event', 'value', 'exposures', 'units', 'multi-variant', 'units exposed server-side', 'goal units'],
    style: { head: [], border: [] },
  })
  for (const f of obs.flags) {
    const rows = rowsOf(f)
    if (rows.length === 0) {
      table.push([f.flag, '(none)', '-', 0, 0, '-', '-', '-'])
    }
    for (const r of rows) table.push(r)
    if (f.sightings.units > 0) {
      const never = f.sightings.units - f.sightings.unitsExposed
      table.push([f.flag, '$feature/ on events', 'carried, never exposed', '-', `${never} of ${f.sightings.units}`, '-', '-', '-'])
    }
  }
  const rejected = Object.entries(obs.rejections)
    .map(([reason, n]) => `${reason} ${n}`)
    .join(', ')
  const footer = [
    `window ${obs.window.from} .. ${obs.window.to} (${obs.window.days} days), project ${obs.project}`,
    `redelivered events counted once: ${obs.duplicates}`,
    `rejected events: ${rejected || 'none'}`,
  ]
  return `${table.toString()}\n${footer.join('\n')}\n`
}

function rowsOf(f: FlagObservation): (string | number)[][] {
  const rows: (string | number)[][] = []
  for (const exp of Object.values(f.exposure)) {
    if (!exp) continue
    const sorted = [...exp.variants].sort((a, b) => b.exposures - a.exposures)
    for (const v of sorted) {
      const serverFirst = v.unitsByLib.server
      // The three goals with the most units, so the table stays readable.
      const goals = f.metrics
        .map((m) => ({ name: m.name, units: m.variants.find((x) => x.value === v.value)?.units ?? 0 }))
        .filter((g) => g.units > 0)
        .sort((a, b) => b.units - a.units)
        .slice(0, 3)
        .map((g) => `${g.name} ${g.units}`)
        .join(', ')
      rows.push([
        f.flag,
        exp.event,
        showValue(v.value),
        v.exposures,
        v.units,
        v.multipleVariantUnits ? `${v.multipleVariantUnits} (${pct(v.multipleVariantUnits, v.units)})` : 0,
        serverFirst ? `${serverFirst} (${pct(serverFirst, v.units)})` : 0,
        goals || '-',
      ])
    }
  }
  return rows
}
