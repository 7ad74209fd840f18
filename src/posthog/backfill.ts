import { experimentsByFlag, type Definitions } from '../definitions/definitions.js'
import { dayLabel, dayNumber } from '../time.js'
import { LIBS, emptyFlagObservation, type ExposureObservation, type FlagObservation, type LibCounts, type Observations, type VariantExposure } from '../counters/observation.js'
import { byValueOrder } from '../counters/read.js'
import { EXPOSURE_KINDS, type ExposureKind, type LibClass, type VariantValue } from '../events/types.js'
import { countedRawValues, unlistedFlagsQuery, type BackfillQuery, type BackfillWindow, type TimeRange } from './backfill-queries.js'
import { isFlagKey } from '../events/read-event.js'
import type { Settings } from '../settings/settings.js'
import { flagWindow, type ExperimentRun } from '../definitions/windows.js'
import { isQueryTooBig, PostHogApiError, type PostHogClient, type QueryResult } from './client.js'

export interface BackfillRun {
  readonly query: BackfillQuery
  readonly result: QueryResult
  readonly ms: number
}

/**
 * The flags exposures name over the window that the flag list does not have (unlistedFlagsQuery),
 * keeping only keys the event reader accepts: the live counters count those, and the report names them.
 */
export async function findUnlistedFlags(client: PostHogClient, defs: Pick<Definitions, 'flags'>, window: TimeRange, filterTestAccounts: boolean): Promise<string[]> {
  const found = await client.query(unlistedFlagsQuery(defs, window), 'experiment-coverage unlisted flags', { filterTestAccounts })
  const at = found.columns.indexOf('flag')
  return found.rows.map((r) => r[at]).filter(isFlagKey)
}

export interface RunOptions {
  /** How a query that did not fit PostHog's limits is split (backfillPlanner's split); none: it fails. */
  readonly split?: (q: BackfillQuery) => BackfillQuery[] | null
  readonly onDone?: (run: BackfillRun, done: number, total: number) => void
  /** A query was split: which, and into how many. */
  readonly onSplit?: (q: BackfillQuery, parts: number) => void
}

/**
 * Runs the plan (the client keeps to 3 queries at once and 240 requests a minute). A query that
 * hits PostHog's time or memory limit is split and its parts run in its place: their rows are the
 * query's rows (the observations add rows up). One that cannot be split further fails, naming it.
 */
export async function runBackfill(client: PostHogClient, plan: readonly BackfillQuery[], opts: RunOptions | ((run: BackfillRun, done: number) => void) = {}): Promise<BackfillRun[]> {
  const o: RunOptions = typeof opts === 'function' ? { onDone: (run, done) => opts(run, done) } : opts
  let done = 0
  let total = plan.length
  const runOne = async (query: BackfillQuery): Promise<BackfillRun[]> => {
    const t0 = Date.now()
    try {
      const result = await client.query(query.hogql, query.name, { filterTestAccounts: query.filterTestAccounts ?? false })
      const run = { query, result, ms: Date.now() - t0 }
      o.onDone?.(run, ++done, total)
      return [run]
    } catch (e) {
      if (!isQueryTooBig(e)) throw e
      const parts = o.split?.(query) ?? null
      if (!parts || parts.length === 0) {
        throw new PostHogApiError(`${(e as Error).message} The query "${query.name}" was split as far as it goes (one flag, ${query.part?.of ?? 1} shares of its units); shorten the lookback (lookbackDays) or ask PostHog for a longer query limit.`, (e as PostHogApiError).status, (e as PostHogApiError).path, (e as PostHogApiError).detail)
      }
      total += parts.length - 1
      o.onSplit?.(query, parts.length)
      return (await Promise.all(parts.map(runOne))).flat()
    }
  }
  return (await Promise.all(plan.map(runOne))).flat()
}

/**
 * The window the backfill covers: for flags without an experiment, whole UTC days back from today;
 * for an experiment's flag, its run (see flagWindow). Up to now (the end is exclusive and whole
 * seconds, so "now" is rounded up to the next second), or up to a watermark.
 */
export function backfillWindow(
  nowMs: number,
  settings: Pick<Settings, 'lookbackDays' | 'experimentMaxDays'>,
  watermarkMs: number | null = null,
  runs: ReadonlyMap<string, ExperimentRun> = new Map(),
): BackfillWindow {
  const end = watermarkMs ?? Math.floor(nowMs / 1000) * 1000 + 1000
  const byFlag = new Map<string, TimeRange>()
  for (const [flag, run] of runs) {
    const w = flagWindow(run, settings, nowMs)
    // The window's end is inclusive to the millisecond; HogQL's is exclusive in whole seconds.
    byFlag.set(flag, { fromMs: w.fromMs, toMs: Math.max(w.fromMs, Math.min(end, Math.floor(w.toMs / 1000) * 1000 + 1000)) })
  }
  return { fromMs: (dayNumber(nowMs) - settings.lookbackDays + 1) * 86_400_000, toMs: end, byFlag }
}

function parseRaw(raw: unknown): { ok: true; value: VariantValue } | { ok: false } {
  if (typeof raw !== 'string') return { ok: false }
  try {
    const v = JSON.parse(raw) as unknown
    if (v === null || typeof v === 'string' || typeof v === 'boolean' || (typeof v === 'number' && Number.isFinite(v))) return { ok: true, value: v }
  } catch {
    // not JSON: not a value the reader would accept either
  }
  return { ok: false }
}

const zeroLibs = (): LibCounts => ({ client: 0, server: 0, unknown: 0 })
const num = (v: unknown) => (typeof v === 'number' ? v : Number(v) || 0)
const key = (v: VariantValue) => `${typeof v}:${String(v)}`

/**
 * The same observation model the live counters read back, from the backfill's rows. A check
 * never knows which source a number came from; the observation says it (`source: 'backfill'`).
 */
export function observationsFromBackfill(defs: Definitions, runs: readonly BackfillRun[], project: string, window: BackfillWindow, lookbackDays: number): Observations {
  const experiments = experimentsByFlag(defs.experiments)
  const firstSeen = new Set([...experiments].filter(([, e]) => e.exposure_criteria?.multiple_variant_handling === 'first_seen').map(([k]) => k))
  const counted = new Map(defs.flags.map((f) => [f.key, new Set(countedRawValues(f, experiments.get(f.key) ?? null))]))
  const flags = new Map<string, FlagObservation>()
  const flag = (k: string): FlagObservation => {
    let f = flags.get(k)
    if (!f) {
      f = emptyFlagObservation(k, 'backfill', '9999-12-31', '0000-01-01')
      flags.set(k, f)
    }
    return f
  }
  const days = (f: FlagObservation, first: unknown, last: unknown) => {
    if (typeof first === 'string' && first < f.firstDay) f.firstDay = first.slice(0, 10)
    if (typeof last === 'string' && last > f.lastDay) f.lastDay = last.slice(0, 10)
  }
  const exposureOf = (f: FlagObservation, event: ExposureKind): ExposureObservation => (f.exposure[event] ??= { event, exposures: 0, units: 0, multipleVariantUnits: 0, variants: [] })
  const variantOf = (exp: ExposureObservation, value: VariantValue): VariantExposure => {
    let v = exp.variants.find((x) => key(x.value) === key(value))
    if (!v) {
      v = { value, exposures: 0, units: 0, multipleVariantUnits: 0, exposuresByLib: zeroLibs(), unitsByLib: zeroLibs(), bootstrapped: 0, bootstrapMismatch: 0, bootstrapMismatchUnits: 0, locallyEvaluated: 0, errored: 0 }
      exp.variants.push(v)
    }
    return v
  }

  let invalidRows = 0
  let groupKeyMissing = 0
  for (const { query, result } of runs) {
    const col = (name: string) => result.columns.indexOf(name)
    const at = (row: unknown[], name: string) => row[col(name)]
    for (const row of result.rows) {
      const rawFlag = Array.isArray(row) ? at(row, 'flag') : undefined
      if (typeof rawFlag !== 'string' || rawFlag.length === 0 || !query.flags.includes(rawFlag)) {
        invalidRows++ // not one of the flags the query asked about: a broken or hostile answer
        continue
      }
      const k = rawFlag
      if (query.kind === 'exposure_days') {
        const event = at(row, 'event') as ExposureKind
        const day = at(row, 'day')
        if (!(EXPOSURE_KINDS as readonly string[]).includes(event) || typeof day !== 'string') continue
        const exp = exposureOf(flag(k), event)
        const label = day.slice(0, 10)
        const lib = at(row, 'lib') as LibClass
        const n = num(at(row, 'exposures'))
        exp.byDay ??= {}
        exp.byDay[label] = (exp.byDay[label] ?? 0) + n
        // By SDK and minor version, as the counters name it ('' where the event has no $lib).
        const sdk = at(row, 'sdk')
        if (typeof sdk === 'string' && sdk !== '') {
          exp.byDayBySdk ??= {}
          const sdks = (exp.byDayBySdk[label] ??= {})
          sdks[sdk] = (sdks[sdk] ?? 0) + n
        }
        if ((LIBS as readonly string[]).includes(lib)) {
          exp.byDayByLib ??= {}
          const libs = (exp.byDayByLib[label] ??= zeroLibs())
          libs[lib] += n
        }
      } else if (query.kind === 'exposures' || query.kind === 'units') {
        const event = at(row, 'event') as ExposureKind
        if (!(EXPOSURE_KINDS as readonly string[]).includes(event)) continue
        const f = flag(k)
        const exp = exposureOf(f, event)
        if (query.kind === 'units' && at(row, 'value') === '*') {
          exp.units += num(at(row, 'units'))
          exp.multipleVariantUnits += num(at(row, 'multiple_units'))
          exp.identityCrossedUnits = (exp.identityCrossedUnits ?? 0) + num(at(row, 'identity_crossed_units'))
          continue
        }
        const parsed = parseRaw(at(row, 'value'))
        if (!parsed.ok) continue
        const v = variantOf(exp, parsed.value)
        if (query.kind === 'units') {
          v.units += num(at(row, 'units'))
          v.multipleVariantUnits += num(at(row, 'multiple_units'))
          // Units whose earliest exposure had this value: kept for `first_seen` experiments, as the counters keep them.
          if (firstSeen.has(k)) v.firstSeenUnits = (v.firstSeenUnits ?? 0) + num(at(row, 'first_seen_units'))
          continue
        }
        const lib = at(row, 'lib') as LibClass
        const n = num(at(row, 'exposures'))
        v.exposures += n
        exp.exposures += n
        if ((LIBS as readonly string[]).includes(lib)) {
          v.exposuresByLib[lib] += n
          // Values outside the flag's variants are exposure events, not units (PostHog's filter).
          if (counted.get(k)?.has(String(at(row, 'value'))) ?? true) v.unitsByLib[lib] += num(at(row, 'units'))
        }
        v.bootstrapped += num(at(row, 'bootstrapped'))
        v.bootstrapMismatch += num(at(row, 'bootstrap_mismatch'))
        if (counted.get(k)?.has(String(at(row, 'value'))) ?? true) v.bootstrapMismatchUnits += num(at(row, 'bootstrap_mismatch_units'))
        v.locallyEvaluated += num(at(row, 'locally_evaluated'))
        v.errored += num(at(row, 'errored'))
        days(f, at(row, 'first_day'), at(row, 'last_day'))
      } else if (query.kind === 'sightings') {
        const f = flag(k)
        if (at(row, 'value') === '*') {
          f.sightings.units += num(at(row, 'units'))
          f.sightings.unitsExposed += num(at(row, 'units_exposed'))
          days(f, at(row, 'first_day'), at(row, 'last_day'))
          continue
        }
        const parsed = parseRaw(at(row, 'value'))
        if (!parsed.ok) continue
        // A split query's parts each have a row for the value: their units are disjoint and add up.
        const seen = f.sightings.variants.find((x) => key(x.value) === key(parsed.value))
        if (seen) seen.units += num(at(row, 'units'))
        else f.sightings.variants.push({ value: parsed.value, units: num(at(row, 'units')) })
      } else if (query.kind === 'group_key_missing') {
        groupKeyMissing += num(at(row, 'group_key_missing'))
      } else if (query.kind === 'reach') {
        const f = flag(k)
        f.sightings.reached += num(at(row, 'units'))
        f.sightings.reachedExposed += num(at(row, 'units_exposed'))
      } else if (query.kind === 'metrics') {
        const f = flag(k)
        const parsed = parseRaw(at(row, 'value'))
        if (!parsed.ok) continue
        const name = String(at(row, 'metric'))
        let m = f.metrics.find((x) => x.name === name)
        if (!m) f.metrics.push((m = { name, variants: [] }))
        const mv = m.variants.find((x) => key(x.value) === key(parsed.value))
        if (mv) {
          mv.events += num(at(row, 'events'))
          mv.units += num(at(row, 'units'))
          mv.eventsBeforeExposure += num(at(row, 'events_before_exposure'))
        } else m.variants.push({ value: parsed.value, events: num(at(row, 'events')), units: num(at(row, 'units')), eventsBeforeExposure: num(at(row, 'events_before_exposure')) })
        // Events per UTC day ([[days], [counts]] from sumMap), as the counters' day buckets keep them.
        const byDay = at(row, 'events_by_day')
        if (Array.isArray(byDay) && Array.isArray(byDay[0]) && Array.isArray(byDay[1])) {
          m.byDay ??= {}
          byDay[0].forEach((d: unknown, i: number) => {
            if (typeof d !== 'string') return
            const label = d.slice(0, 10)
            m.byDay![label] = (m.byDay![label] ?? 0) + num((byDay[1] as unknown[])[i])
          })
        }
        days(f, at(row, 'first_day'), at(row, 'last_day'))
      }
    }
  }
  const list = [...flags.values()].sort((a, b) => (a.flag < b.flag ? -1 : a.flag > b.flag ? 1 : 0))
  for (const f of list) {
    // ClickHouse returns rows in no set order: exposure events in the reader's own order.
    const exposure = f.exposure
    f.exposure = {}
    const order = (k: string) => ((EXPOSURE_KINDS as readonly string[]).indexOf(k) + 1 || 99)
    for (const k of Object.keys(exposure).sort((a, b) => order(a) - order(b))) (f.exposure as Record<string, unknown>)[k] = (exposure as Record<string, unknown>)[k]
    for (const exp of Object.values(f.exposure)) {
      exp?.variants.sort(byValueOrder)
      // Where first-seen units are counted, a value no unit saw first has 0 of them (as the counters read it).
      if (exp?.variants.some((v) => v.firstSeenUnits !== undefined)) for (const v of exp.variants) v.firstSeenUnits ??= 0
    }
    f.sightings.variants.sort(byValueOrder)
    f.metrics.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    for (const m of f.metrics) m.variants.sort(byValueOrder)
  }
  return {
    schema: 'experiment-coverage/observations@1',
    project,
    generatedAt: new Date(window.toMs).toISOString(),
    window: { from: dayLabel(dayNumber(window.fromMs)), to: dayLabel(dayNumber(window.toMs)), days: lookbackDays },
    flags: list,
    rejections: { ...(groupKeyMissing ? { group_key_missing: groupKeyMissing } : {}), ...(invalidRows ? { backfill_row_invalid: invalidRows } : {}) },
    duplicates: 0,
    unlistedFlags: 0,
  }
}

