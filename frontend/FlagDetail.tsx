import type { ComponentChildren, JSX } from 'preact'
import { useEffect, useState } from 'preact/hooks'
import { api, posthogUrl, safeHref, type BackfillItem, type FlagDetail as Detail, type FlagReport, type LiveVariant } from './api.js'
import { bySeverity, checkName, countText, decidingCheck, StatusWord, VERDICT_WORDS, VerdictBadge } from './badges.js'
import { repairCategoryLabel } from '../src/coverage/labels.js'
import { FlagKey } from './FlagLink.js'
import { navigate } from './url-state.js'
import './flag.css'

const pct = (x: number) => `${(x * 100).toFixed(1)}%`
const n = countText
const show = (v: unknown) => (typeof v === 'string' ? v : JSON.stringify(v))
const DAY = new Intl.DateTimeFormat('en-GB', { day: 'numeric', month: 'short', timeZone: 'UTC' })

type Check = FlagReport['checks'][number]

// ---- Evidence as a person would say it ------------------------------------------------------

/** `units_carrying_flag` → "Units carrying flag", `pValue` → "P value"; an event name stays as it is. */
export function humanizeKey(key: string): string {
  if (key.startsWith('$')) return key
  const words = key
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .replace(/[_-]+/g, ' ')
    .trim()
    .toLowerCase()
    .replace(/\bp value\b/, 'p-value')
  return words.charAt(0).toUpperCase() + words.slice(1)
}

/** A share in [0, 1] is said as a percentage; the key tells it is one. */
const isShare = (key: string) => /(^|_)(share|rate|fraction)$|^chance_of|_share_|^share/i.test(key)
const isPValue = (key: string) => /p_?value$/i.test(key)

/** One value of evidence in words: %, thousands separators, p-values in scientific form when tiny. */
export function formatValue(key: string, v: unknown): string {
  if (v === null || v === undefined) return '–'
  if (typeof v === 'boolean') return v ? 'Yes' : 'No'
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) return String(v)
    if (isPValue(key)) return v !== 0 && v < 0.001 ? v.toExponential(1) : String(Number(v.toPrecision(3)))
    if (isShare(key) && v >= 0 && v <= 1) return `${Number((v * 100).toPrecision(3))}%`
    if (Number.isInteger(v)) return n(v)
    return Number(v.toPrecision(3)).toLocaleString('en-US', { maximumFractionDigits: 3 })
  }
  if (typeof v === 'string') return v === '' ? '(empty string)' : v
  return JSON.stringify(v)
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)

/** A value of any shape: a list of records as a table, a list of words as a list, a record as pairs. */
function EvidenceValue({ name, value }: { name: string; value: unknown }): JSX.Element {
  if (Array.isArray(value)) {
    if (value.length === 0) return <span class="muted">none</span>
    if (value.every(isRecord)) {
      const cols = [...new Set(value.flatMap((r) => Object.keys(r)))]
      return (
        <div class="evidence-table-wrap">
          <table class="evidence-table">
            <thead>
              <tr>
                {cols.map((c) => (
                  <th key={c} scope="col">
                    {humanizeKey(c)}
                  </th>
                ))}
              </tr>
            </thead>
            <tbody>
              {value.map((r, i) => (
                <tr key={i}>
                  {cols.map((c) => (
                    <td key={c}>
                      <EvidenceValue name={c} value={r[c]} />
                    </td>
                  ))}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )
    }
    return <span>{value.map((x) => formatValue(name, x)).join(', ')}</span>
  }
  if (isRecord(value)) {
    const entries = Object.entries(value)
    if (entries.length === 0) return <span class="muted">none</span>
    return (
      <div class="evidence-table-wrap">
        <table class="evidence-table">
          <tbody>
            {entries.map(([k, v]) => (
              <tr key={k}>
                <th scope="row">{humanizeKey(k)}</th>
                <td>
                  <EvidenceValue name={k} value={v} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    )
  }
  // A breakdown's own HogQL (sample_ratio's split by slice), shown as the check's query is.
  if (name === 'query' && typeof value === 'string') {
    return (
      <pre class="evidence-query">
        <code>{value}</code>
      </pre>
    )
  }
  if (name === 'query_url') {
    const href = typeof value === 'string' ? safeHref(value) : undefined
    return href ? <a href={href}>Open in PostHog's SQL editor</a> : <span class="muted">no project configured</span>
  }
  return <span>{formatValue(name, value)}</span>
}

function Evidence({ evidence }: { evidence: Record<string, unknown> }) {
  return (
    <dl class="evidence-list">
      {Object.entries(evidence).map(([k, v]) => (
        <div key={k} class={Array.isArray(v) && v.length > 0 && v.every(isRecord) ? 'evidence-wide' : undefined}>
          <dt>{humanizeKey(k)}</dt>
          <dd>
            <EvidenceValue name={k} value={v} />
          </dd>
        </div>
      ))}
    </dl>
  )
}

// ---- Charts ------------------------------------------------------------------------------------

/**
 * Planned against observed split of units: each variant's name on its own line, then its two bars.
 * The bars use at most 60% of the width, so a value written after the longest one still fits.
 */
function SplitChart({ rows }: { rows: { key: string; planned: number; observed: number }[] }) {
  const W = 360
  const barMax = 200
  const step = 62
  return (
    <svg class="split chart" role="img" aria-label="Planned and observed split of units by variant" viewBox={`0 0 ${W} ${rows.length * step}`} width={W} height={rows.length * step}>
      {rows.map((r, i) => {
        const y = i * step
        return (
          <g key={r.key}>
            <text x="0" y={y + 13} class="chart-label">
              {r.key.length > 44 ? `${r.key.slice(0, 43)}…` : r.key}
            </text>
            <rect x="0" y={y + 19} width={Math.max(1, r.planned * barMax)} height="16" class="bar-planned" />
            <text x={Math.max(1, r.planned * barMax) + 6} y={y + 31} class="chart-value">
              planned {pct(r.planned)}
            </text>
            <rect x="0" y={y + 39} width={Math.max(1, r.observed * barMax)} height="16" class="bar-observed" />
            <text x={Math.max(1, r.observed * barMax) + 6} y={y + 51} class="chart-value">
              observed {pct(r.observed)}
            </text>
          </g>
        )
      })}
    </svg>
  )
}

/** A round top for an axis: 1, 2 or 5 times a power of ten, at least the largest value. */
function niceMax(x: number): number {
  const p = 10 ** Math.floor(Math.log10(Math.max(1, x)))
  return ([1, 2, 5, 10].map((m) => m * p).find((m) => m >= x) ?? 10 * p)
}

/** The exposure_stall finding's days for the chart: through the report's day, shaded from the stall's first. */
function stallOf(f: { checks: { id: string; status: string; evidence: Record<string, unknown> }[] }): { until?: string; stalledSince?: string } {
  const c = f.checks.find((x) => x.id === 'exposure_stall')
  const perDay = c?.evidence.exposures_per_day
  const until = perDay && typeof perDay === 'object' ? Object.keys(perDay).sort().at(-1) : undefined
  const since = c?.status === 'fail' && typeof c.evidence.stalled_since === 'string' ? c.evidence.stalled_since : undefined
  return { ...(until ? { until } : {}), ...(since ? { stalledSince: since } : {}) }
}

/** Every date from `from` to `to` (YYYY-MM-DD, UTC), both included. */
function datesBetween(from: string, to: string): string[] {
  const out: string[] = []
  for (let t = Date.parse(`${from}T00:00:00Z`), end = Date.parse(`${to}T00:00:00Z`); t <= end && out.length < 400; t += 86_400_000) out.push(new Date(t).toISOString().slice(0, 10))
  return out
}

/**
 * Exposure events per day (the live counters' day buckets), with a value axis and dated ends. Days
 * without exposures show as empty, through `until`; a stall (exposure_stall) is shaded from its first day.
 */
function DailyChart({ byDay: counted, until, stalledSince }: { byDay: Record<string, number>; until?: string; stalledSince?: string }) {
  const listed = Object.keys(counted).sort()
  if (listed.length === 0) return <p class="muted small">No exposure counted live yet.</p>
  const last = until && until > listed.at(-1)! ? until : listed.at(-1)!
  const days = datesBetween(listed[0]!, last)
  const byDay: Record<string, number> = Object.fromEntries(days.map((d) => [d, counted[d] ?? 0]))
  const top = niceMax(Math.max(1, ...days.map((d) => byDay[d]!)))
  const W = 360
  const left = 44
  const plotTop = 8
  const plotH = 110
  const base = plotTop + plotH
  const bar = (W - left) / days.length
  const ticks = [0, top / 2, top]
  const date = (d: string) => (/^\d{4}-\d{2}-\d{2}$/.test(d) ? DAY.format(new Date(`${d}T00:00:00Z`)) : d)
  return (
    <svg class="daily chart" role="img" aria-label={`Exposures per day, ${days[0]} to ${days.at(-1)}, at most ${n(Math.max(...days.map((d) => byDay[d]!)))} a day`} viewBox={`0 0 ${W} ${base + 24}`} width={W} height={base + 24}>
      {ticks.map((t) => {
        const y = base - (t / top) * plotH
        return (
          <g key={t} class="axis">
            <line x1={left} x2={W} y1={y} y2={y} class="grid-line" />
            <text x={left - 6} y={y + 4} text-anchor="end" class="axis-value">
              {n(t)}
            </text>
          </g>
        )
      })}
      {stalledSince && days.includes(stalledSince) && (
        <g class="stall">
          <rect x={left + days.indexOf(stalledSince) * bar} y={plotTop} width={(days.length - days.indexOf(stalledSince)) * bar} height={plotH} class="stall-band">
            <title>No exposure since {stalledSince}</title>
          </rect>
          <text x={left + days.indexOf(stalledSince) * bar + 4} y={plotTop + 14} class="stall-label">
            stalled since {date(stalledSince)}
          </text>
        </g>
      )}
      {days.map((d, i) => {
        const h = (byDay[d]! / top) * plotH
        return (
          <rect key={d} x={left + i * bar + 1} y={base - h} width={Math.max(1, bar - 2)} height={h} class="bar-observed">
            <title>
              {d}: {n(byDay[d]!)}
            </title>
          </rect>
        )
      })}
      <text x={left} y={base + 18} class="axis-date">
        {date(days[0]!)}
      </text>
      {days.length > 1 && (
        <text x={W} y={base + 18} text-anchor="end" class="axis-date">
          {date(days.at(-1)!)}
        </text>
      )}
    </svg>
  )
}

// ---- The page ----------------------------------------------------------------------------------

const EFFORT: Record<string, string> = { low: 'low effort', medium: 'medium effort', high: 'high effort' }

/** What a repair's priority is made of, in the parts the report gives (src/coverage/backfill.ts priorityOf). */
function PriorityParts({ b }: { b: BackfillItem }) {
  const parts = [
    b.blocking ? 'blocks the readout' : 'does not block the readout',
    EFFORT[b.effort] ?? `${b.effort} effort`,
    b.days_to_deadline === null ? 'no deadline set' : `${formatValue('days', b.days_to_deadline)} days to the deadline`,
    'whether the experiment is running',
    'how many units are exposed',
  ]
  return (
    <span class="priority" data-priority={b.priority}>
      <span class="badge">Priority {b.priority} of 100</span> <span class="muted small">from: {parts.join(' · ')}</span>
    </span>
  )
}

function Banner({ f }: { f: FlagReport }) {
  const decider = decidingCheck(f.verdict, f.checks, f.backfill)
  const repair = decider ? [...f.backfill].filter((b) => b.check === decider.id).sort((a, b) => b.priority - a.priority)[0] : undefined
  const fix = repair?.action ?? decider?.fix ?? null
  const tone = f.verdict === 'trustworthy' ? 'ok' : f.verdict === 'blocked' ? 'bad' : f.verdict === 'inactive' ? 'neutral' : 'warn'
  return (
    <section class={`verdict-banner tone-${tone}`} data-verdict={f.verdict} aria-labelledby="banner-title">
      <h3 id="banner-title" class="banner-verdict">
        {VERDICT_WORDS[f.verdict]}
        {decider ? `: ${checkName(decider.id)} ${decider.status === 'fail' ? 'fails' : decider.status === 'warn' ? 'warns' : 'is unknown'}` : ': every check passes'}
      </h3>
      {decider ? (
        <p class="banner-finding" data-check={decider.id}>
          {decider.summary}
        </p>
      ) : (
        <p class="banner-finding">Nothing in the exposure data stands in the way of reading this {f.kind === 'experiment' ? 'experiment' : 'flag'}.</p>
      )}
      {fix && (
        <p class="banner-fix">
          <strong>Fix:</strong> {fix}
        </p>
      )}
      {repair && (
        <p class="banner-priority">
          <PriorityParts b={repair} />
        </p>
      )}
    </section>
  )
}

function CheckItem({ c }: { c: Check }) {
  return (
    <li class={`card check-item status-${c.status}`} data-check={c.id} data-status={c.status}>
      <div class="check-head">
        <strong>{checkName(c.id)}</strong> <StatusWord status={c.status} />
      </div>
      {c.follows_from && (
        <p class="follows-from muted small" data-follows-from={c.follows_from}>
          Follows from {checkName(c.follows_from)}: repairing that repairs this too.
        </p>
      )}
      <p>{c.summary}</p>
      {c.fix && (
        <p>
          <strong>Fix:</strong> {c.fix}
        </p>
      )}
      {Object.keys(c.evidence).length > 0 && (
        <details class="evidence-details">
          <summary>Evidence</summary>
          <Evidence evidence={c.evidence} />
        </details>
      )}
      {c.query && (
        <details>
          <summary>HogQL query</summary>
          <pre>
            <code>{c.query}</code>
          </pre>
          {safeHref(c.query_url) && <a href={safeHref(c.query_url)}>Open in PostHog's SQL editor</a>}
        </details>
      )}
    </li>
  )
}

function Links({ detail, flagId }: { detail: Detail; flagId: number | null | undefined }) {
  const f = detail.flag!
  if (!detail.posthog) {
    return <p class="links muted small" data-links="none">This project is not connected to PostHog (the demo runs on simulated events), so there is no flag or experiment there to open.</p>
  }
  const flagLink = posthogUrl(detail.posthog, flagId ? `feature_flags/${flagId}` : 'feature_flags')
  const experimentLink = f.experiment ? posthogUrl(detail.posthog, `experiments/${f.experiment.id}`) : undefined
  const items: ComponentChildren[] = []
  if (flagLink)
    items.push(
      <a key="flag" href={flagLink} data-link="flag">
        {flagId ? 'Open the flag in PostHog' : 'Feature flags in PostHog'}
      </a>,
    )
  if (experimentLink)
    items.push(
      <a key="experiment" href={experimentLink} data-link="experiment">
        Open the experiment “{f.experiment!.name}” in PostHog
      </a>,
    )
  return <p class="links">{items}</p>
}

export function FlagDetail({ project, flagKey }: { project: string; flagKey: string }) {
  const [detail, setDetail] = useState<Detail | null>(null)
  const [error, setError] = useState<string | null>(null)
  const [flagId, setFlagId] = useState<number | null | undefined>(undefined)
  useEffect(() => {
    let alive = true
    const load = () =>
      api.flag(project, flagKey).then(
        (d) => alive && (setDetail(d), setError(null)),
        (e: Error) => alive && setError(e.message),
      )
    void load()
    // The flag's id in PostHog is on the list's row, not in the report: read once, for the link.
    api.flags(project).then(
      (l) => alive && setFlagId(l.flags.find((x) => x.key === flagKey)?.flag_id ?? null),
      () => alive && setFlagId(null),
    )
    // Live counters refresh by themselves; the layout keeps its rows, only numbers change.
    const timer = setInterval(load, 5000)
    return () => {
      alive = false
      clearInterval(timer)
    }
  }, [project, flagKey])

  const back = (
    <a href="?" class="back" onClick={(e) => (e.preventDefault(), navigate({ view: '', flag: '' }, { push: true }))}>
      ← All flags
    </a>
  )
  if (error && !detail) return <section class="detail">{back}<p role="alert" class="error">{error}</p></section>
  if (!detail?.flag) return <section class="detail">{back}<p class="muted">Loading <FlagKey value={flagKey} />…</p></section>
  const f = detail.flag
  const event = f.experiment?.exposure_event ?? '$feature_flag_called'
  // The live counters keep an experiment's own exposure event (`$pageview`, say) under `custom`.
  const kind = event === '$feature_flag_called' || event === '$experiment_exposure' ? event : 'custom'
  const live = detail.live?.exposure[kind] ?? Object.values(detail.live?.exposure ?? {})[0]
  const liveOf = (key: string): LiveVariant | undefined => live?.variants.find((v) => String(v.value) === key)
  const outside = (live?.variants ?? []).filter((v) => !f.variants.some((x) => x.key === String(v.value)))
  const totalUnits = f.variants.reduce((a, v) => a + v.units, 0)
  const ordered = bySeverity(f.checks)
  const open = ordered.filter((c) => c.status === 'fail' || c.status === 'warn' || c.status === 'unknown')
  const settled = ordered.filter((c) => c.status === 'pass' || c.status === 'not_applicable')
  const passes = settled.filter((c) => c.status === 'pass').length
  return (
    <section aria-labelledby="flag-title" class="detail flag-page">
      {back}
      <header class="detail-head">
        <h2 id="flag-title" class="flag-key">
          <FlagKey value={f.key} />
        </h2>
        <VerdictBadge verdict={f.verdict} />
        <span class="muted">score {f.score} of 100</span>
      </header>
      {f.name && f.name !== f.key && <p>{f.name}</p>}
      <Banner f={f} />
      <Links detail={detail} flagId={flagId} />
      <p class="muted small">
        Numbers from {new Date(f.window.from).toUTCString()} to {new Date(f.window.to).toUTCString()} ({f.window.basis === 'experiment' ? "the experiment's run" : 'the lookback window'}
        {f.window.truncated ? ', truncated' : ''}); source: {f.data.source}
        {f.data.estimated ? ', unit counts estimated' : ''}. Updated {new Date(detail.generated_at).toLocaleTimeString()}.
      </p>

      <h3>Checks</h3>
      {open.length > 0 && (
        <ul class="check-list">
          {open.map((c) => (
            <CheckItem key={c.id} c={c} />
          ))}
        </ul>
      )}
      {settled.length > 0 && (
        <details class="passed-checks">
          <summary>
            {passes} {passes === 1 ? 'check passes' : 'checks pass'}
            {settled.length > passes ? `, ${settled.length - passes} not applicable` : ''}
          </summary>
          <ul class="check-list">
            {settled.map((c) => (
              <CheckItem key={c.id} c={c} />
            ))}
          </ul>
        </details>
      )}

      {f.backfill.length > 0 && (
        <>
          <h3>Backfill and repairs</h3>
          <ol class="plan repairs">
            {[...f.backfill]
              .sort((a, b) => b.priority - a.priority)
              .map((b, i) => (
                <li key={i}>
                  <p>
                    {b.action} <span class="muted small">({checkName(b.check)}; {repairCategoryLabel(b.category)})</span>
                  </p>
                  <PriorityParts b={b} />
                </li>
              ))}
          </ol>
        </>
      )}

      <div class="grid-2 flag-grid">
        <div class="card">
          <h3>Variants</h3>
          <div class="evidence-table-wrap">
            <table class="numbers">
              <thead>
                <tr>
                  <th scope="col">Variant</th>
                  <th scope="col">Planned</th>
                  <th scope="col">Exposures</th>
                  <th scope="col">Units</th>
                  <th scope="col">
                    <abbr title="Units that saw more than one variant">$multiple</abbr>
                  </th>
                </tr>
              </thead>
              <tbody>
                {f.variants.map((v) => (
                  <tr key={v.key} data-variant={v.key}>
                    <th scope="row">{v.key}</th>
                    <td>{pct(v.expected_share)}</td>
                    <td>{n(v.exposures)}</td>
                    <td>{n(v.units)}</td>
                    <td>{n(liveOf(v.key)?.multipleVariantUnits ?? 0)}</td>
                  </tr>
                ))}
                {outside.map((v) => (
                  <tr key={`x-${String(v.value)}`} class="outside">
                    <th scope="row">
                      {show(v.value)} <span class="muted small">(not a variant)</span>
                    </th>
                    <td>–</td>
                    <td>{n(v.exposures)}</td>
                    <td>{n(v.units)}</td>
                    <td>{n(v.multipleVariantUnits)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </div>
        <div class="card">
          <h3>Split of units</h3>
          <SplitChart rows={f.variants.map((v) => ({ key: v.key, planned: v.expected_share, observed: totalUnits ? v.units / totalUnits : 0 }))} />
          <h3>Exposures per day</h3>
          <DailyChart byDay={live?.byDay ?? {}} {...stallOf(f)} />
        </div>
      </div>

      {f.assumptions.length > 0 && (
        <>
          <h3>Assumptions</h3>
          <ul>
            {f.assumptions.map((a, i) => (
              <li key={i}>{a}</li>
            ))}
          </ul>
        </>
      )}
    </section>
  )
}
