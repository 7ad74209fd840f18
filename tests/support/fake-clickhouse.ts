import type { BackfillQuery, BackfillWindow } from '../../src/posthog/backfill-queries.js'
import { countedRawValues, rangeOf } from '../../src/posthog/backfill-queries.js'
import type { Definitions } from '../../src/coverage/definitions.js'
import { surfaceMetrics } from '../../src/coverage/audit-config.js'
import { configuredGoals } from '../../src/settings/settings.js'
import { classifyLib } from '../../src/events/lib-class.js'
import type { SimEvent } from '../../src/sim/traffic.js'

/**
 * What ClickHouse would answer to the backfill's HogQL over a list of events: the same
 * aggregation, computed in JavaScript, so msw can serve PostHog-shaped query responses for data
 * the test also feeds to the offline audit. It follows the SQL of backfill-queries.ts clause by
 * clause (JSONExtractRaw values, the '*' rows, DISTINCT units, min/max days).
 */
type Row = unknown[]
const own = (o: Record<string, unknown>, k: string) => Object.prototype.hasOwnProperty.call(o, k)
const day = (ts: string) => ts.slice(0, 10)

export function makeFakeClickHouse(events: readonly SimEvent[], defs: Definitions, window: BackfillWindow) {
  const groupTypes = defs.groupTypes
  // Each flag's own range (an experiment's run, or the lookback), as the queries' multiIf reads it.
  const inRange = (flag: string, ts: string) => {
    const r = rangeOf(window, flag)
    const t = Date.parse(ts)
    return t >= r.fromMs && t < r.toMs
  }
  const unitOf = (e: SimEvent, column: string): string => {
    if (column === 'person_id') return e.person?.id ?? e.distinct_id
    const type = groupTypes.get(Number(column.replace('$group_', '')))
    const groups = (e.properties.$groups ?? {}) as Record<string, string>
    return type ? (groups[type] ?? '') : ''
  }
  const response = (e: SimEvent): string => {
    const p = e.properties
    if (own(p, '$feature_flag_response')) return JSON.stringify(p.$feature_flag_response ?? null)
    const sighting = `$feature/${String(p.$feature_flag)}`
    if (e.event === '$experiment_exposure' && own(p, sighting)) return JSON.stringify(p[sighting] ?? null)
    return 'null'
  }
  const counted = new Map(defs.flags.map((f) => [f.key, new Set(countedRawValues(f))]))
  const exposures = (q: BackfillQuery) =>
    events.filter(
      (e) =>
        (e.event === '$feature_flag_called' || e.event === '$experiment_exposure') &&
        q.flags.includes(String(e.properties.$feature_flag)) &&
        inRange(String(e.properties.$feature_flag), e.timestamp) &&
        unitOf(e, q.unitColumn) !== '',
    )
  const valid = (flag: string, value: string) => counted.get(flag)?.has(value) ?? false

  function exposuresRows(q: BackfillQuery): { columns: string[]; results: Row[] } {
    const groups = new Map<string, { row: Row; units: Set<string>; mismatched: Set<string> }>()
    for (const e of exposures(q)) {
      const p = e.properties
      const key = [p.$feature_flag, e.event, response(e), classifyLib(p.$lib)]
      const id = JSON.stringify(key)
      let g = groups.get(id)
      if (!g) groups.set(id, (g = { row: [...key, 0, 0, 0, 0, 0, day(e.timestamp), day(e.timestamp), 0, 0], units: new Set(), mismatched: new Set() }))
      const booted = own(p, '$feature_flag_bootstrapped_response') ? JSON.stringify(p.$feature_flag_bootstrapped_response ?? null) : ''
      if (booted !== '' && booted !== 'null' && booted !== response(e)) {
        ;(g.row as number[])[11] = ((g.row as number[])[11] as number) + 1
        g.mismatched.add(unitOf(e, q.unitColumn))
      }
      const r = g.row as (string | number)[]
      r[4] = (r[4] as number) + 1
      if (p.$used_bootstrap_value === true) r[5] = (r[5] as number) + 1
      if (p.locally_evaluated === true) r[6] = (r[6] as number) + 1
      if (p.$feature_flag_error != null && String(p.$feature_flag_error) !== '') r[7] = (r[7] as number) + 1
      g.units.add(unitOf(e, q.unitColumn))
      if (day(e.timestamp) < (r[9] as string)) r[9] = day(e.timestamp)
      if (day(e.timestamp) > (r[10] as string)) r[10] = day(e.timestamp)
    }
    const results = [...groups.values()].map((g) => ((g.row[8] = g.units.size), (g.row[12] = g.mismatched.size), g.row))
    return { columns: ['flag', 'event', 'value', 'lib', 'exposures', 'bootstrapped', 'locally_evaluated', 'errored', 'units', 'first_day', 'last_day', 'bootstrap_mismatch', 'bootstrap_mismatch_units'], results }
  }

  function unitsRows(q: BackfillQuery): { columns: string[]; results: Row[] } {
    const perUnit = new Map<string, { flag: string; event: string; vals: Set<string> }>()
    for (const e of exposures(q)) {
      const flag = String(e.properties.$feature_flag)
      const value = response(e)
      if (!valid(flag, value)) continue
      const id = JSON.stringify([flag, e.event, unitOf(e, q.unitColumn)])
      let u = perUnit.get(id)
      if (!u) perUnit.set(id, (u = { flag, event: e.event, vals: new Set() }))
      u.vals.add(value)
    }
    const out = new Map<string, Row>()
    for (const u of perUnit.values()) {
      for (const value of [...u.vals, '*']) {
        const id = JSON.stringify([u.flag, u.event, value])
        const r = out.get(id) ?? [u.flag, u.event, value, 0, 0]
        r[3] = (r[3] as number) + 1
        if (u.vals.size > 1) r[4] = (r[4] as number) + 1
        out.set(id, r)
      }
    }
    return { columns: ['flag', 'event', 'value', 'units', 'multiple_units'], results: [...out.values()] }
  }

  function exposedUnits(q: BackfillQuery): Map<string, Map<string, number>> {
    // flag -> unit:value -> first exposure ms (valid values only)
    const out = new Map<string, Map<string, number>>()
    for (const e of exposures(q)) {
      const flag = String(e.properties.$feature_flag)
      const value = response(e)
      if (!valid(flag, value)) continue
      const m = out.get(flag) ?? new Map<string, number>()
      const id = `${unitOf(e, q.unitColumn)}\u0000${value}`
      const t = Date.parse(e.timestamp)
      if (!m.has(id) || t < m.get(id)!) m.set(id, t)
      out.set(flag, m)
    }
    return out
  }

  function sightingsRows(q: BackfillQuery): { columns: string[]; results: Row[] } {
    const exposed = exposedUnits(q)
    const exposedUnit = (flag: string, unit: string) => [...(exposed.get(flag)?.keys() ?? [])].some((k) => k.startsWith(`${unit}\u0000`))
    const firstSeen = new Map<string, string>() // flag, unit, value -> first day
    for (const e of events) {
      const unit = unitOf(e, q.unitColumn)
      if (q.unitColumn !== 'person_id' && unit === '') continue
      for (const flag of q.flags) {
        const k = `$feature/${flag}`
        if (!own(e.properties, k) || !inRange(flag, e.timestamp)) continue
        const id = JSON.stringify([flag, unit, JSON.stringify(e.properties[k] ?? null)])
        if (!firstSeen.has(id) || day(e.timestamp) < firstSeen.get(id)!) firstSeen.set(id, day(e.timestamp))
      }
    }
    const perUnit = new Map<string, { flag: string; unit: string; vals: Set<string>; first: string; last: string }>()
    for (const [id, d] of firstSeen) {
      const [flag, unit, value] = JSON.parse(id) as [string, string, string]
      const uid = JSON.stringify([flag, unit])
      const u = perUnit.get(uid) ?? { flag, unit, vals: new Set<string>(), first: d, last: d }
      u.vals.add(value)
      if (d < u.first) u.first = d
      if (d > u.last) u.last = d
      perUnit.set(uid, u)
    }
    const out = new Map<string, Row>()
    for (const u of perUnit.values()) {
      for (const value of [...u.vals, '*']) {
        const id = JSON.stringify([u.flag, value])
        const r = (out.get(id) ?? [u.flag, value, 0, 0, u.first, u.last]) as (string | number)[]
        r[2] = (r[2] as number) + 1
        if (exposedUnit(u.flag, u.unit)) r[3] = (r[3] as number) + 1
        if (u.first < (r[4] as string)) r[4] = u.first
        if (u.last > (r[5] as string)) r[5] = u.last
        out.set(id, r)
      }
    }
    return { columns: ['flag', 'value', 'units', 'units_exposed', 'first_day', 'last_day'], results: [...out.values()] }
  }

  function metricsRows(q: BackfillQuery): { columns: string[]; results: Row[] } {
    const exposed = exposedUnits(q)
    const metricEvents = new Map<string, { metric: string; ts: number; d: string; at: string }[]>() // unit -> events
    for (const e of events) {
      for (const m of q.metrics) {
        if (m.event !== e.event || m.filter) continue
        const unit = unitOf(e, q.unitColumn)
        metricEvents.set(unit, [...(metricEvents.get(unit) ?? []), { metric: m.name, ts: Date.parse(e.timestamp), d: day(e.timestamp), at: e.timestamp }])
      }
    }
    const out = new Map<string, { row: Row; units: Set<string> }>()
    for (const [flag, pairs] of exposed) {
      for (const [id, firstTs] of pairs) {
        const [unit, value] = id.split('\u0000') as [string, string]
        for (const m of metricEvents.get(unit) ?? []) {
          if (!inRange(flag, m.at)) continue
          const key = JSON.stringify([flag, value, m.metric])
          const g = out.get(key) ?? { row: [flag, value, m.metric, 0, 0, 0, m.d, m.d], units: new Set<string>() }
          const r = g.row as (string | number)[]
          r[3] = (r[3] as number) + 1
          if (m.ts < firstTs) r[5] = (r[5] as number) + 1
          if (m.d < (r[6] as string)) r[6] = m.d
          if (m.d > (r[7] as string)) r[7] = m.d
          g.units.add(unit)
          out.set(key, g)
        }
      }
    }
    const results = [...out.values()].map((g) => ((g.row[4] = g.units.size), g.row))
    return { columns: ['flag', 'value', 'metric', 'events', 'units', 'events_before_exposure', 'first_day', 'last_day'], results }
  }

  function reachRows(q: BackfillQuery): { columns: string[]; results: Row[] } {
    const surface = surfaceMetrics(defs, configuredGoals({ metrics: q.metrics }))
    const exposed = exposedUnits(q)
    const carried = new Set<string>() // flag, unit: carried a value (not false) inside the flag's range
    const reached = new Set<string>() // flag, unit: sent a surface metric event inside the range
    for (const e of events) {
      const unit = unitOf(e, q.unitColumn)
      if (q.unitColumn !== 'person_id' && unit === '') continue
      for (const flag of q.flags) {
        const names = surface.get(flag)
        if (!names || !inRange(flag, e.timestamp)) continue
        const k = `$feature/${flag}`
        if (own(e.properties, k) && e.properties[k] !== false && e.properties[k] !== null) carried.add(`${flag}\u0000${unit}`)
        if (q.metrics.some((m) => names.includes(m.name) && m.event === e.event && !m.filter)) reached.add(`${flag}\u0000${unit}`)
      }
    }
    const out = new Map<string, Row>()
    for (const id of reached) {
      if (!carried.has(id)) continue
      const [flag, unit] = id.split('\u0000') as [string, string]
      const r = (out.get(flag) ?? [flag, 0, 0]) as (string | number)[]
      r[1] = (r[1] as number) + 1
      if ([...(exposed.get(flag)?.keys() ?? [])].some((k) => k.startsWith(`${unit}\u0000`))) r[2] = (r[2] as number) + 1
      out.set(flag, r)
    }
    return { columns: ['flag', 'units', 'units_exposed'], results: [...out.values()] }
  }

  return (q: BackfillQuery) => {
    switch (q.kind) {
      case 'reach':
        return reachRows(q)
      case 'exposures':
        return exposuresRows(q)
      case 'units':
        return unitsRows(q)
      case 'sightings':
        return sightingsRows(q)
      case 'metrics':
        return metricsRows(q)
    }
  }
}
