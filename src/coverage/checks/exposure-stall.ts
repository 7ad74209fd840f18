import type { LibCounts } from '../../counters/observation.js'
import { LIBS } from '../../counters/observation.js'
import { DAY_MS, HOUR_MS, dayLabel, dayNumber } from '../../time.js'
import { count } from '../context.js'
import { metricObservation } from '../metric-data.js'
import { type CheckContext, defineCheck, result } from './types.js'

/**
 * When exposure tracking broke. PostHog's experiments scout calls a running experiment whose
 * exposures stop for 48 hours after a healthy baseline dormant (products/signals/skills/
 * signals-scout-experiments); a fall far below the trailing level is the same fault caught earlier,
 * while part of the traffic (one app, one SDK) still sends.
 */
export const STALL = {
  /** no exposure for this long after the last one: a stall */
  hours: 48,
  /** a fall: the last `recentDays` complete days average below this share of the `trailingDays` before them */
  dropShare: 0.2,
  recentDays: 2,
  trailingDays: 7,
  /** ... when those trailing days averaged at least this many exposures a day (below, a fall is noise) */
  minTrailingPerDay: 20,
  /** the primary metric is silent only after averaging at least this many events a day */
  minMetricPerDay: 5,
  /** one SDK stopped while others send: it averaged at least this many exposures a day before */
  minSdkPerDay: 10,
} as const

/**
 * The SDKs ($lib) that sent exposures on these days, each with the versions seen ("web 1.130,
 * 1.140"), from the counters' or the backfill's exposures by SDK and minor version.
 */
function sdksOn(bySdk: Record<string, Record<string, number>> | undefined, days: readonly string[]): Map<string, { n: number; versions: Set<string> }> {
  const out = new Map<string, { n: number; versions: Set<string> }>()
  for (const d of days) {
    for (const [sdk, n] of Object.entries(bySdk?.[d] ?? {})) {
      if (n <= 0) continue
      const at = sdk.lastIndexOf(' ')
      const name = at > 0 ? sdk.slice(0, at) : sdk
      const entry = out.get(name) ?? { n: 0, versions: new Set<string>() }
      entry.n += n
      if (at > 0) entry.versions.add(sdk.slice(at + 1))
      out.set(name, entry)
    }
  }
  return out
}

/** "web 1.130 and posthog-node 5.70": SDKs quoted as data would be, each with its versions. */
function sdkWords(sdks: ReadonlyMap<string, { versions: Set<string> }>, names: readonly string[]): string {
  return names.map((name) => `${JSON.stringify(name)}${sdks.get(name)?.versions.size ? ` ${[...(sdks.get(name)?.versions ?? [])].sort().join(', ')}` : ''}`).join(' and ')
}

const LIB_WORDS: Record<keyof LibCounts, string> = { client: 'client-side SDKs (posthog-js, mobile)', server: 'server-side SDKs', unknown: 'senders without $lib' }

function libsOf(byLib: Record<string, LibCounts> | undefined, days: readonly string[]): LibCounts {
  const out: LibCounts = { client: 0, server: 0, unknown: 0 }
  for (const d of days) for (const lib of LIBS) out[lib] += byLib?.[d]?.[lib] ?? 0
  return out
}

const mean = (xs: readonly number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : 0)

/**
 * The primary metric silent for STALL.hours among exposed units while exposures go on: no event
 * since its last day, after averaging at least `minMetricPerDay` a day over the week before it,
 * with at least `minTrailingPerDay` exposures since. From the live counters' day buckets (the
 * HogQL backfill has none, so the online audit does not judge it).
 */
function metricSilence(ctx: CheckContext, days: readonly { day: number; label: string; n: number }[], today: number): { metric: string; since: string; hours: number; level: number; exposuresSince: number } | null {
  // A switched-off flag silences its metric too: flag_state says so.
  if (!ctx.flag.active) return null
  const primary = ctx.metrics.find((m) => m.role === 'primary')
  const obs = primary ? metricObservation(ctx, primary) : null
  if (!primary || !obs?.byDay) return null
  const active = days.filter((d) => (obs.byDay?.[d.label] ?? 0) > 0)
  const last = active[active.length - 1]
  if (!last) return null
  const hours = Math.floor((ctx.nowMs - (last.day + 1) * DAY_MS) / HOUR_MS)
  if (hours < STALL.hours) return null
  const level = mean(days.filter((d) => d.day <= last.day && d.day > last.day - STALL.trailingDays).map((d) => obs.byDay?.[d.label] ?? 0))
  const exposuresSince = days.filter((d) => d.day > last.day && d.day <= today).reduce((n, d) => n + d.n, 0)
  // Too few events before to call a silence, or no exposure since: nothing went silent that was expected to speak.
  if (level < STALL.minMetricPerDay || exposuresSince < STALL.minTrailingPerDay) return null
  return { metric: primary.name, since: dayLabel(last.day + 1), hours, level, exposuresSince }
}

/**
 * An SDK ($lib) silent for STALL.hours after averaging at least STALL.minSdkPerDay exposures a day
 * over the STALL.trailingDays before its last, while the flag's exposures go on (from other SDKs).
 * Versions are folded into their SDK: users moving to a newer version of the same SDK are no stop.
 */
function stoppedSdk(ctx: CheckContext, days: readonly { day: number; label: string; n: number }[], today: number): { name: string; versions: string[]; since: string; hours: number; level: number } | null {
  const bySdk = ctx.exposure?.byDayBySdk
  if (!bySdk) return null
  const names = [...sdksOn(bySdk, days.map((d) => d.label)).keys()].sort()
  if (names.length < 2) return null // the only SDK stopping is the whole flag stalling
  // Each day's SDKs, read once for every SDK tried below.
  const daySdks = days.map((d) => sdksOn(bySdk, [d.label]))
  for (const name of names) {
    const perDay = days.map((d, i) => ({ ...d, n: daySdks[i]?.get(name)?.n ?? 0 }))
    const active = perDay.filter((d) => d.n > 0)
    const last = active[active.length - 1]
    if (!last) continue
    const hours = Math.floor((ctx.nowMs - (last.day + 1) * DAY_MS) / HOUR_MS)
    if (hours < STALL.hours) continue
    const trailing = perDay.filter((d) => d.day <= last.day && d.day > last.day - STALL.trailingDays)
    const level = trailing.reduce((a, d) => a + d.n, 0) / Math.max(1, trailing.length)
    if (trailing.length < 3 || level < STALL.minSdkPerDay) continue
    // Others still send after this SDK's last day.
    if (!days.some((d) => d.day > last.day && d.day <= today && d.n > 0)) continue
    return { name, versions: [...(sdksOn(bySdk, trailing.map((d) => d.label)).get(name)?.versions ?? [])].sort(), since: dayLabel(last.day + 1), hours, level }
  }
  return null
}

export const exposureStall = defineCheck({
  id: 'exposure_stall',
  needs: ['exposure'],
  appliesTo: (ctx) => ctx.kind === 'experiment' && ctx.running && ctx.exposure.byDay !== undefined && ctx.exposure.exposures > 0 && ctx.startMs !== null,
  run(ctx) {
    const byDay = ctx.exposure.byDay ?? {}
    const start = dayNumber(ctx.startMs as number)
    const today = dayNumber(ctx.nowMs)
    // Every day of the run so far, the days without exposures included (the counters list only days with some).
    const days: { day: number; label: string; n: number }[] = []
    for (let d = start; d <= today; d++) days.push({ day: d, label: dayLabel(d), n: byDay[dayLabel(d)] ?? 0 })
    const active = days.filter((d) => d.n > 0)
    const last = active[active.length - 1]
    const evidence: Record<string, unknown> = { thresholds: STALL, exposures_per_day: Object.fromEntries(days.map((d) => [d.label, d.n])) }
    if (!last) return result('pass', 'No exposure counted inside the run yet: Exposure present judges that.', evidence)
    const silentHours = Math.floor((ctx.nowMs - (last.day + 1) * DAY_MS) / HOUR_MS)
    const before = days.filter((d) => d.day <= last.day && d.day > last.day - STALL.trailingDays).map((d) => d.label)
    const level = mean(days.filter((d) => before.includes(d.label)).map((d) => d.n))

    if (silentHours >= STALL.hours) {
      const since = dayLabel(last.day + 1)
      const libs = libsOf(ctx.exposure.byDayByLib, before)
      const stopped = LIBS.filter((l) => libs[l] > 0)
      // By name where the source counted exposures by SDK: which SDKs (and versions) were sending.
      const sdks = sdksOn(ctx.exposure.byDayBySdk, before)
      const stoppedSdks = [...sdks.keys()].sort()
      Object.assign(evidence, { stalled_since: since, silent_hours: silentHours, last_exposure_day: last.label, trailing_per_day: level, stopped_libraries: stopped })
      if (ctx.exposure.byDayBySdk) evidence.stopped_sdks = stoppedSdks.map((name) => ({ sdk: name, versions: [...(sdks.get(name)?.versions ?? [])].sort() }))
      const from = stoppedSdks.length ? ` from ${sdkWords(sdks, stoppedSdks)}` : stopped.length ? ` from ${stopped.map((l) => LIB_WORDS[l]).join(' and ')}` : ''
      return result(
        'fail',
        `No exposure since ${since} (${count(silentHours)} hours), while the experiment still runs; before that, ${count(Math.round(level))} a day${from}. Units reaching the experiment since then are not in its results.`,
        evidence,
        `Find what changed on ${since}: a release that removed or moved the flag call, an SDK upgrade, a new exposure event or a changed exposure filter. Until it is fixed the experiment gains no one; say the stall in the readout.`,
        [{ category: 'event', action: `Restore the exposure event: none has arrived since ${since}`, effort: 'medium', blocking: false }],
      )
    }

    // A fall: complete days only (today is not over).
    const complete = days.filter((d) => d.day < today)
    const recent = complete.slice(-STALL.recentDays)
    const trailing = complete.slice(-STALL.recentDays - STALL.trailingDays, -STALL.recentDays)
    const trailingLevel = mean(trailing.map((d) => d.n))
    const recentLevel = mean(recent.map((d) => d.n))
    Object.assign(evidence, { recent_per_day: recentLevel, trailing_per_day: trailingLevel })
    if (recent.length === STALL.recentDays && trailing.length >= 3 && trailingLevel >= STALL.minTrailingPerDay && recentLevel < STALL.dropShare * trailingLevel) {
      const was = libsOf(ctx.exposure.byDayByLib, trailing.map((d) => d.label))
      const now = libsOf(ctx.exposure.byDayByLib, recent.map((d) => d.label))
      const stopped = LIBS.filter((l) => was[l] > 0 && now[l] === 0)
      const from = recent[0] as { label: string }
      Object.assign(evidence, { fell_on: from.label, stopped_libraries: stopped })
      // By name where the source counted exposures by SDK.
      const sdksWas = sdksOn(ctx.exposure.byDayBySdk, trailing.map((d) => d.label))
      const sdksNow = sdksOn(ctx.exposure.byDayBySdk, recent.map((d) => d.label))
      const stoppedSdks = [...sdksWas.keys()].filter((name) => !sdksNow.has(name)).sort()
      if (ctx.exposure.byDayBySdk) evidence.stopped_sdks = stoppedSdks.map((name) => ({ sdk: name, versions: [...(sdksWas.get(name)?.versions ?? [])].sort() }))
      const which = stoppedSdks.length ? `: ${sdkWords(sdksWas, stoppedSdks)} stopped sending them` : stopped.length ? `: the ${stopped.map((l) => LIB_WORDS[l]).join(' and ')} stopped sending them` : ''
      return result(
        'warn',
        `Exposures fell to ${count(Math.round(recentLevel))} a day from ${from.label} (${count(Math.round(trailingLevel))} a day the ${trailing.length} days before)${which}.`,
        evidence,
        `Find what changed on ${from.label} (a release, an SDK upgrade, a changed page); if traffic itself fell, nothing is broken, but the sample grows slower.`,
      )
    }
    // One SDK stopped while the others still send (an app release that lost the flag call, an SDK
    // that no longer sends the exposure): named from the exposures by SDK, where the source counted them.
    const sdkStop = stoppedSdk(ctx, days, today)
    if (sdkStop) {
      Object.assign(evidence, { stopped_sdks: [{ sdk: sdkStop.name, versions: sdkStop.versions }], sdk_stalled_since: sdkStop.since, sdk_trailing_per_day: sdkStop.level })
      const versions = sdkStop.versions.length ? ` ${sdkStop.versions.join(', ')}` : ''
      return result(
        'warn',
        `${JSON.stringify(sdkStop.name)}${versions} sent no exposure since ${sdkStop.since} (${count(sdkStop.hours)} hours; ${count(Math.round(sdkStop.level))} a day before), while other SDKs still send. Its users reaching the experiment since then are not in its results.`,
        evidence,
        `Find what changed for ${JSON.stringify(sdkStop.name)} on ${sdkStop.since}: an app release or SDK upgrade that removed the flag call or stopped sending $feature_flag_called.`,
        [{ category: 'event', action: `Restore the exposure from ${sdkStop.name}: none since ${sdkStop.since}`, effort: 'medium', blocking: false }],
      )
    }
    // Exposures arrive: did the primary metric go silent among exposed units meanwhile?
    const silent = metricSilence(ctx, days, today)
    if (silent) {
      Object.assign(evidence, { metric: silent.metric, metric_silent_since: silent.since, metric_silent_hours: silent.hours, metric_trailing_per_day: silent.level, exposures_since: silent.exposuresSince })
      return result(
        'fail',
        `The primary metric ${silent.metric} went silent: no event from exposed units since ${silent.since} (${count(silent.hours)} hours; ${count(Math.round(silent.level))} a day before), while ${count(silent.exposuresSince)} exposures arrived since. The experiment is no longer measuring its goal.`,
        evidence,
        `Find what changed on ${silent.since}: the metric's event renamed, moved or no longer sent, or a filter that no longer matches. Exposed users since then cannot convert in the results.`,
        [{ category: 'event', action: `Restore ${silent.metric}: no event from exposed users since ${silent.since}`, effort: 'medium', blocking: false }],
      )
    }
    return result('pass', `Exposures arrive: the last on ${last.label}, ${count(Math.round(recentLevel))} a day over the last ${recent.length} complete days.`, evidence)
  },
})
