import { LIBS, withCurrentFields, type ExposureObservation, type FlagObservation, type Observations } from './observation.js'
import { byValueOrder } from './read.js'

/**
 * Live counters and the HogQL backfill split time at the watermark: the backfill counts events
 * before it, the live counters only events at or after it (the ingest ignores earlier ones once a
 * watermark is set). So every event is counted once, and event counts add up exactly. Distinct
 * units cannot be added exactly: a unit active on both sides of the watermark is in both sums.
 * Merged unit counts are therefore an upper bound, and the flag is marked `estimated`. A goal
 * event is counted by the side its own timestamp falls on, for the exposures that side saw: never
 * twice, but one sent after the watermark by a unit exposed only before it is missed (a lower bound).
 */
export function mergeObservations(live: Observations, backfill: Observations | null): Observations {
  if (!backfill) return live
  const flags = new Map<string, FlagObservation>()
  for (const f of backfill.flags) flags.set(f.flag, withCurrentFields(structuredClone(f)))
  for (const f of live.flags) {
    const into = flags.get(f.flag)
    flags.set(f.flag, into ? mergeFlag(into, f) : structuredClone(f))
  }
  const rejections = { ...backfill.rejections }
  for (const [k, v] of Object.entries(live.rejections)) rejections[k as keyof typeof rejections] = (rejections[k as keyof typeof rejections] ?? 0) + (v ?? 0)
  return {
    ...live,
    flags: [...flags.values()].sort((a, b) => (a.flag < b.flag ? -1 : a.flag > b.flag ? 1 : 0)),
    rejections,
    duplicates: live.duplicates + backfill.duplicates,
    unlistedFlags: live.unlistedFlags + backfill.unlistedFlags,
  }
}

const same = (a: unknown, b: unknown) => typeof a === typeof b && a === b

function mergeFlag(a: FlagObservation, b: FlagObservation): FlagObservation {
  const unitsOnBothSides =
    Object.values(a.exposure).some((e) => (e?.units ?? 0) > 0) && Object.values(b.exposure).some((e) => (e?.units ?? 0) > 0)
  const out: FlagObservation = {
    ...a,
    source: 'live',
    firstDay: a.firstDay < b.firstDay ? a.firstDay : b.firstDay,
    lastDay: a.lastDay > b.lastDay ? a.lastDay : b.lastDay,
    sampleRate: Math.min(a.sampleRate, b.sampleRate),
    estimated: a.estimated || b.estimated || unitsOnBothSides,
    unlistedSeries: a.unlistedSeries + b.unlistedSeries,
  }
  for (const exp of Object.values(b.exposure)) {
    if (!exp) continue
    const into = (out.exposure[exp.event] ??= { event: exp.event, exposures: 0, units: 0, multipleVariantUnits: 0, variants: [] }) as ExposureObservation
    into.exposures += exp.exposures
    into.units += exp.units
    into.multipleVariantUnits += exp.multipleVariantUnits
    if (exp.identityCrossedUnits !== undefined) into.identityCrossedUnits = (into.identityCrossedUnits ?? 0) + exp.identityCrossedUnits
    if (exp.byDay) {
      into.byDay ??= {}
      for (const [day, n] of Object.entries(exp.byDay)) into.byDay[day] = (into.byDay[day] ?? 0) + n
    }
    for (const [slice, n] of Object.entries(exp.multipleSlices ?? {})) {
      into.multipleSlices ??= {}
      into.multipleSlices[slice] = (into.multipleSlices[slice] ?? 0) + n
    }
    for (const [slice, day] of Object.entries(exp.sliceFirstDay ?? {})) {
      into.sliceFirstDay ??= {}
      if (!(into.sliceFirstDay[slice]! <= day)) into.sliceFirstDay[slice] = day
    }
    if (exp.byDayBySdk) {
      into.byDayBySdk ??= {}
      for (const [day, sdks] of Object.entries(exp.byDayBySdk)) {
        const to = (into.byDayBySdk[day] ??= {})
        for (const [sdk, n] of Object.entries(sdks)) to[sdk] = (to[sdk] ?? 0) + n
      }
    }
    if (exp.byDayByLib) {
      into.byDayByLib ??= {}
      for (const [day, libs] of Object.entries(exp.byDayByLib)) {
        const to = (into.byDayByLib[day] ??= { client: 0, server: 0, unknown: 0 })
        for (const lib of LIBS) to[lib] += libs[lib]
      }
    }
    for (const v of exp.variants) {
      const t = into.variants.find((x) => same(x.value, v.value))
      if (!t) {
        into.variants.push(structuredClone(v))
        continue
      }
      t.exposures += v.exposures
      t.units += v.units
      t.multipleVariantUnits += v.multipleVariantUnits
      if (t.firstSeenUnits !== undefined || v.firstSeenUnits !== undefined) t.firstSeenUnits = (t.firstSeenUnits ?? 0) + (v.firstSeenUnits ?? 0)
      t.bootstrapped += v.bootstrapped
      t.bootstrapMismatch += v.bootstrapMismatch
      t.bootstrapMismatchUnits += v.bootstrapMismatchUnits
      t.locallyEvaluated += v.locallyEvaluated
      t.errored += v.errored
      for (const lib of LIBS) {
        t.exposuresByLib[lib] += v.exposuresByLib[lib]
        t.unitsByLib[lib] += v.unitsByLib[lib]
      }
      if (v.slices) {
        t.slices ??= {}
        for (const [slice, n] of Object.entries(v.slices)) t.slices[slice] = (t.slices[slice] ?? 0) + n
      }
    }
    into.variants.sort(byValueOrder)
  }
  out.sightings = {
    units: a.sightings.units + b.sightings.units,
    unitsExposed: a.sightings.unitsExposed + b.sightings.unitsExposed,
    reached: a.sightings.reached + b.sightings.reached,
    reachedExposed: a.sightings.reachedExposed + b.sightings.reachedExposed,
    variants: [...a.sightings.variants.map((v) => ({ ...v }))],
  }
  for (const v of b.sightings.variants) {
    const t = out.sightings.variants.find((x) => same(x.value, v.value))
    if (t) t.units += v.units
    else out.sightings.variants.push({ ...v })
  }
  out.sightings.variants.sort(byValueOrder)
  out.metrics = a.metrics.map((m) => ({ name: m.name, variants: m.variants.map((v) => ({ ...v })), ...(m.byDay ? { byDay: { ...m.byDay } } : {}) }))
  for (const m of b.metrics) {
    let t = out.metrics.find((x) => x.name === m.name)
    if (!t) out.metrics.push((t = { name: m.name, variants: [] }))
    if (m.byDay) {
      const into = (t.byDay ??= {})
      for (const [day, n] of Object.entries(m.byDay)) into[day] = (into[day] ?? 0) + n
    }
    for (const v of m.variants) {
      const tv = t.variants.find((x) => same(x.value, v.value))
      if (!tv) t.variants.push({ ...v })
      else {
        tv.events += v.events
        tv.units += v.units
        tv.eventsBeforeExposure += v.eventsBeforeExposure
      }
    }
    t.variants.sort(byValueOrder)
  }
  out.metrics.sort((x, y) => (x.name < y.name ? -1 : x.name > y.name ? 1 : 0))
  return out
}
