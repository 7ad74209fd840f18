import { EXPOSURE_KINDS, REJECT_REASONS, type ExposureKind } from '../events/types.js'
import type { ContractCache } from './cache.js'
import { CAPS } from './ingest.js'
import { KeyScheme, tokenToVariant } from './keys.js'
import { DAY, EXPOSURE, FLAG, FLAG_FIELDS, KIND_BY_TOKEN, METRIC, RATE, SERIES_TYPE, SIGHTING, SLICE_PREFIX, SDK_PREFIX, MULTI_SLICE_PREFIX, fieldsOfSeries } from './schema.js'
import { dayLabel, dayNumber } from '../time.js'
import {
  LIBS,
  emptyFlagObservation,
  type ExposureObservation,
  type FlagObservation,
  type LibCounts,
  type Observations,
  type VariantExposure,
} from './observation.js'
import { storeFor, toCount, type CounterStore } from './store.js'
import { flagWindow, windowDays, type ExperimentRun } from '../definitions/windows.js'

export interface ReadObservationsInput {
  readonly cache: ContractCache
  readonly project: string
  readonly lookbackDays: number
  /** How long experiments' day buckets are kept (the `experimentMaxDays` setting); the lookback by default. */
  readonly experimentMaxDays?: number
  /** Each experiment's run: its flag is read over the run, every other flag over the lookback. */
  readonly experimentRunOf?: (flag: string) => ExperimentRun | null
  readonly nowMs: number
}

/**
 * An exposure series' fields, read into a variant's numbers: unit counts are scaled up by the day's
 * sample rate, event counts are not. Exposure events and the libraries are read apart (they also
 * add up per exposure event and per day).
 */
const EXPOSURE_READ: readonly [keyof VariantExposure & ('units' | 'multipleVariantUnits' | 'bootstrapped' | 'bootstrapMismatch' | 'bootstrapMismatchUnits' | 'locallyEvaluated' | 'errored'), string, boolean][] = [
  ['units', EXPOSURE.units, true],
  ['multipleVariantUnits', EXPOSURE.multi, true],
  ['bootstrapped', EXPOSURE.bootstrapped, false],
  ['bootstrapMismatch', EXPOSURE.bootstrapMismatch, false],
  ['bootstrapMismatchUnits', EXPOSURE.bootstrapMismatchUnits, true],
  ['locallyEvaluated', EXPOSURE.locallyEvaluated, false],
  ['errored', EXPOSURE.errored, false],
]

/** A flag's own fields, read into its sightings (all unit counts, scaled). */
const SIGHTINGS_READ: readonly [keyof FlagObservation['sightings'] & ('units' | 'unitsExposed' | 'reached' | 'reachedExposed'), string][] = [
  ['units', FLAG.sightingUnits],
  ['unitsExposed', FLAG.sightingExposed],
  ['reached', FLAG.reached],
  ['reachedExposed', FLAG.reachedExposed],
]

const zeroLibs = (): LibCounts => ({ client: 0, server: 0, unknown: 0 })


/**
 * One flag's counters of one day, in one read: the series (named by the group's fields where the
 * store lists them, by the day's set of series otherwise, at most the cap) and their counters.
 */
async function readFlagDay(store: CounterStore, base: string): Promise<{ names: string[]; num: (field: string) => number; rate: number; unlisted: number; all: Map<string, unknown> | null }> {
  const all = await store.readAll(base)
  if (all) {
    const seen = new Set<string>()
    for (const field of all.keys()) {
      const i = field.indexOf(':')
      if (i > 0) seen.add(field.slice(0, i))
    }
    const names = [...seen].sort()
    return {
      names: names.slice(0, CAPS.seriesPerFlagDay),
      unlisted: Math.max(0, names.length - CAPS.seriesPerFlagDay),
      num: (field) => toCount(all.get(field) ?? 0),
      rate: Number(all.get(RATE)) || 1,
      all,
    }
  }
  const [rate, seriesList] = await Promise.all([store.read(base, RATE), store.readMembers(`${base}:series`, CAPS.seriesPerFlagDay)])
  const names = seriesList.values as string[]
  const fields: string[] = [...FLAG_FIELDS]
  for (const name of names) {
    for (const k of fieldsOfSeries(name.split('|')[0]!)) fields.push(`${name}:${k}`)
  }
  const values = await store.readCounts(base, fields)
  const at = new Map(fields.map((f, i) => [f, i]))
  return { names, num: (field) => values[at.get(field) ?? -1] ?? 0, rate: Number(rate) || 1, unlisted: seriesList.overflow, all: null }
}

/** Finds or adds the entry whose value is the same response (by token, so "true" and true stay apart). */
function entryFor<T extends { value: unknown }>(list: T[], tokens: Map<object, string>, token: string, make: () => T): T {
  for (const item of list) if (tokens.get(item) === token) return item
  const item = make()
  tokens.set(item, token)
  list.push(item)
  return item
}

/**
 * Reads the counters back into one observation per flag, over the flag's own window: its
 * experiment's run, or the lookback for a flag without one. Day buckets are summed; distinct units
 * are exact because each unit is counted on the day it was first seen within its TTL (as long as
 * the window). Sampled unit counts are scaled up and rounded.
 */
export async function readObservations(input: ReadObservationsInput): Promise<Observations> {
  const store = storeFor(input.cache)
  const keys = new KeyScheme(input.project)
  const today = dayNumber(input.nowMs)
  const firstDay = today - input.lookbackDays + 1
  const settings = { lookbackDays: input.lookbackDays, experimentMaxDays: input.experimentMaxDays ?? input.lookbackDays }
  const oldestDay = today - Math.max(settings.lookbackDays, settings.experimentMaxDays) + 1
  const daysOf = new Map<string, { first: number; last: number }>()
  const inWindow = (flag: string, day: number) => {
    let w = daysOf.get(flag)
    if (!w) daysOf.set(flag, (w = windowDays(flagWindow(input.experimentRunOf?.(flag) ?? null, settings, input.nowMs))))
    return day >= w.first && day <= w.last
  }
  const flags = new Map<string, FlagObservation>()
  const tokens = new Map<object, string>()
  const rejections: Observations['rejections'] = {}
  let duplicates = 0
  let unlistedFlags = 0

  for (let day = oldestDay; day <= today; day++) {
    const label = dayLabel(day)
    if (day >= firstDay) {
      const counts = await store.readCounts(keys.day(day), [...REJECT_REASONS.map(DAY.rejected), DAY.redelivered])
      REJECT_REASONS.forEach((reason, i) => {
        const n = counts[i] ?? 0
        if (n > 0) rejections[reason] = (rejections[reason] ?? 0) + n
      })
      duplicates += counts[REJECT_REASONS.length] ?? 0
    }
    const dayFlags = await store.readMembers(keys.flagsOfDay(day), CAPS.flagsPerDay)
    unlistedFlags += dayFlags.overflow

    await Promise.all(
      (dayFlags.values as string[]).filter((flag) => inWindow(flag, day)).map(async (flag) => {
        const obs = flags.get(flag) ?? emptyFlagObservation(flag, 'live', label, label)
        flags.set(flag, obs)
        obs.lastDay = label
        const base = keys.flagDay(day, flag)
        const day_ = await readFlagDay(store, base)
        const { names, num } = day_
        const rate = day_.rate
        obs.sampleRate = Math.min(obs.sampleRate, rate)
        const scale = 1 / rate
        obs.unlistedSeries += day_.unlisted
        // The slice fields of the day's exposure series, in one pass over its fields.
        const slicesBySeries = new Map<string, [string, number][]>()
        const sdksBySeries = new Map<string, [string, number][]>()
        const multiBySeries = new Map<string, [string, number][]>()
        if (day_.all) {
          for (const [field, n] of day_.all) {
            for (const [prefix, into] of [[SLICE_PREFIX, slicesBySeries], [SDK_PREFIX, sdksBySeries], [MULTI_SLICE_PREFIX, multiBySeries]] as const) {
              const at = field.indexOf(`:${prefix}`)
              if (at < 0) continue
              const series = field.slice(0, at)
              const list = into.get(series) ?? []
              list.push([field.slice(at + 1 + prefix.length), toCount(n)])
              into.set(series, list)
            }
          }
        }

        for (const name of names) {
          const [type, a, b] = name.split('|') as [string, string, string | undefined]
          if (type === SERIES_TYPE.exposure && b !== undefined) {
            const kind = KIND_BY_TOKEN.get(a)
            if (!kind) continue
            const exp = (obs.exposure[kind] ??= { event: kind, exposures: 0, units: 0, multipleVariantUnits: 0, variants: [] })
            const v = entryFor<VariantExposure>(exp.variants, tokens, b, () => ({
              value: tokenToVariant(b),
              exposures: 0,
              units: 0,
              multipleVariantUnits: 0,
              exposuresByLib: zeroLibs(),
              unitsByLib: zeroLibs(),
              bootstrapped: 0,
              bootstrapMismatch: 0,
              bootstrapMismatchUnits: 0,
              locallyEvaluated: 0,
              errored: 0,
            }))
            const c = (field: string) => num(`${name}:${field}`)
            const events = c(EXPOSURE.events)
            v.exposures += events
            exp.exposures += events
            exp.byDay ??= {}
            exp.byDay[label] = (exp.byDay[label] ?? 0) + events
            for (const [into, field, scaled] of EXPOSURE_READ) v[into] += c(field) * (scaled ? scale : 1)
            // units that saw this value first (`first_seen` experiments only: see countExposure)
            const firstSeen = c(EXPOSURE.firstSeen)
            const movedOff = c(EXPOSURE.firstSeenOut)
            if (firstSeen > 0 || movedOff > 0) v.firstSeenUnits = (v.firstSeenUnits ?? 0) + (firstSeen - movedOff) * scale
            // Units by slice (listed fields only): `sl:<dim>:<value>` after the series' name.
            for (const [slice, n] of slicesBySeries.get(name) ?? []) {
              v.slices ??= {}
              v.slices[slice] = (v.slices[slice] ?? 0) + n * scale
              exp.sliceFirstDay ??= {}
              if (n > 0 && !(exp.sliceFirstDay[slice]! <= label)) exp.sliceFirstDay[slice] = label
            }
            for (const [slice, n] of multiBySeries.get(name) ?? []) {
              exp.multipleSlices ??= {}
              exp.multipleSlices[slice] = (exp.multipleSlices[slice] ?? 0) + n * scale
            }
            // Exposure events by SDK and minor version (listed fields only): `sd:<sdk>`.
            for (const [sdk, n] of sdksBySeries.get(name) ?? []) {
              exp.byDayBySdk ??= {}
              const daySdks = (exp.byDayBySdk[label] ??= {})
              daySdks[sdk] = (daySdks[sdk] ?? 0) + n
            }
            exp.byDayByLib ??= {}
            const dayLibs = (exp.byDayByLib[label] ??= zeroLibs())
            for (const lib of LIBS) {
              const events = c(EXPOSURE.eventsByLib(lib))
              dayLibs[lib] += events
              v.exposuresByLib[lib] += events
              v.unitsByLib[lib] += c(EXPOSURE.unitsByLib(lib)) * scale
            }
          } else if (type === SERIES_TYPE.sighting) {
            const s = entryFor(obs.sightings.variants, tokens, a, () => ({ value: tokenToVariant(a), units: 0 }))
            s.units += num(`${name}:${SIGHTING.units}`) * scale
          } else if (type === SERIES_TYPE.metric && b !== undefined) {
            const metricName = decodeURIComponent(a)
            let metric = obs.metrics.find((m) => m.name === metricName)
            if (!metric) obs.metrics.push((metric = { name: metricName, variants: [] }))
            const v = entryFor(metric.variants, tokens, b, () => ({ value: tokenToVariant(b), events: 0, units: 0, eventsBeforeExposure: 0 }))
            v.events += num(`${name}:${METRIC.events}`) * scale
            metric.byDay ??= {}
            metric.byDay[label] = (metric.byDay[label] ?? 0) + num(`${name}:${METRIC.events}`) * scale
            v.eventsBeforeExposure += num(`${name}:${METRIC.beforeExposure}`) * scale
            v.units += num(`${name}:${METRIC.units}`) * scale
          }
        }
        for (const [into, field] of SIGHTINGS_READ) obs.sightings[into] += num(field) * scale
        for (const kind of EXPOSURE_KINDS) {
          const exp = obs.exposure[kind]
          if (!exp) continue
          exp.units += num(FLAG.units(kind)) * scale
          exp.multipleVariantUnits += num(FLAG.multi(kind)) * scale
          // Counted where a unit's fields can be listed (not on one cache key per field).
          if (store.listsFields) exp.identityCrossedUnits = (exp.identityCrossedUnits ?? 0) + num(FLAG.identityCrossed(kind)) * scale
        }
      }),
    )
  }

  const list = [...flags.values()].sort((a, b) => (a.flag < b.flag ? -1 : a.flag > b.flag ? 1 : 0))
  for (const obs of list) roundUnits(obs)
  return {
    schema: 'experiment-coverage/observations@1',
    project: input.project,
    generatedAt: new Date(input.nowMs).toISOString(),
    window: { from: dayLabel(firstDay), to: dayLabel(today), days: input.lookbackDays },
    flags: list,
    rejections,
    duplicates,
    unlistedFlags,
  }
}

/** A stable order for values: the registry lists them in arrival order, which differs between runs. */
export function byValueOrder(a: { value: unknown }, b: { value: unknown }): number {
  const ka = `${typeof a.value}:${String(a.value)}`
  const kb = `${typeof b.value}:${String(b.value)}`
  return ka < kb ? -1 : ka > kb ? 1 : 0
}

/** Unit counts were scaled per day by the sample rate; report whole units, in a stable order. */
function roundUnits(obs: FlagObservation): void {
  obs.estimated = obs.sampleRate < 1
  for (const exp of Object.values(obs.exposure) as ExposureObservation[]) {
    exp.units = Math.round(exp.units)
    exp.multipleVariantUnits = Math.round(exp.multipleVariantUnits)
    if (exp.identityCrossedUnits !== undefined) exp.identityCrossedUnits = Math.round(exp.identityCrossedUnits)
    exp.variants.sort(byValueOrder)
    // Where first-seen units are counted, a value no unit saw first has 0 of them.
    const firstSeen = exp.variants.some((v) => v.firstSeenUnits !== undefined)
    for (const v of exp.variants) {
      if (firstSeen) v.firstSeenUnits = Math.round(v.firstSeenUnits ?? 0)
      v.units = Math.round(v.units)
      v.multipleVariantUnits = Math.round(v.multipleVariantUnits)
      v.bootstrapMismatchUnits = Math.round(v.bootstrapMismatchUnits)
      for (const lib of LIBS) v.unitsByLib[lib] = Math.round(v.unitsByLib[lib])
    }
  }
  obs.sightings.units = Math.round(obs.sightings.units)
  obs.sightings.unitsExposed = Math.round(obs.sightings.unitsExposed)
  obs.sightings.reached = Math.round(obs.sightings.reached)
  obs.sightings.reachedExposed = Math.round(obs.sightings.reachedExposed)
  for (const s of obs.sightings.variants) s.units = Math.round(s.units)
  obs.sightings.variants.sort(byValueOrder)
  obs.metrics.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
  for (const m of obs.metrics) {
    m.variants.sort(byValueOrder)
    for (const v of m.variants) {
      v.events = Math.round(v.events)
      v.units = Math.round(v.units)
      v.eventsBeforeExposure = Math.round(v.eventsBeforeExposure)
    }
  }
}

