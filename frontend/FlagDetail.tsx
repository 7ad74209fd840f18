import { useEffect, useState } from 'preact/hooks'
import { api, posthogUrl, safeHref, type FlagDetail as Detail, type LiveVariant } from './api.js'
import { CHECK_NAMES, StatusWord, VerdictBadge } from './badges.js'
import { navigate } from './url-state.js'

const pct = (x: number) => `${(x * 100).toFixed(1)}%`
const n = (x: number) => x.toLocaleString('en-US')
const show = (v: unknown) => (typeof v === 'string' ? v : JSON.stringify(v))

/** Planned against observed split of units, as bars: each variant's two shares side by side. */
function SplitChart({ rows }: { rows: { key: string; planned: number; observed: number }[] }) {
  const h = 22
  return (
    <svg class="split" role="img" aria-label="Planned and observed split of units by variant" viewBox={`0 0 320 ${rows.length * (h * 2 + 10)}`} width="100%">
      {rows.map((r, i) => {
        const y = i * (h * 2 + 10)
        return (
          <g key={r.key}>
            <text x="0" y={y + 15} class="chart-label">
              {r.key.length > 18 ? `${r.key.slice(0, 17)}…` : r.key}
            </text>
            <rect x="120" y={y + 2} width={Math.max(1, r.planned * 190)} height={h - 6} class="bar-planned" />
            <text x={126 + r.planned * 190} y={y + 15} class="chart-value">
              planned {pct(r.planned)}
            </text>
            <rect x="120" y={y + h} width={Math.max(1, r.observed * 190)} height={h - 6} class="bar-observed" />
            <text x={126 + r.observed * 190} y={y + h + 13} class="chart-value">
              observed {pct(r.observed)}
            </text>
          </g>
        )
      })}
    </svg>
  )
}

/** Exposure events per day, as bars (the live counters' day buckets). */
function DailyChart({ byDay }: { byDay: Record<string, number> }) {
  const days = Object.keys(byDay).sort()
  if (days.length === 0) return <p class="muted small">No exposure counted live yet.</p>
  const max = Math.max(1, ...days.map((d) => byDay[d]!))
  const w = 320
  const bar = w / days.length
  return (
    <svg class="daily" role="img" aria-label={`Exposures per day, ${days[0]} to ${days.at(-1)}, at most ${n(max)} a day`} viewBox={`0 0 ${w} 110`} width="100%">
      {days.map((d, i) => {
        const h = (byDay[d]! / max) * 90
        return (
          <rect key={d} x={i * bar + 1} y={95 - h} width={Math.max(1, bar - 2)} height={h} class="bar-observed">
            <title>
              {d}: {n(byDay[d]!)}
            </title>
          </rect>
        )
      })}
      <text x="0" y="108" class="chart-value">
        {days[0]}
      </text>
      <text x={w} y="108" text-anchor="end" class="chart-value">
        {days.at(-1)}
      </text>
    </svg>
  )
}

export function FlagDetail({ project, flagKey }: { project: string; flagKey: string }) {
  const [detail, setDetail] = useState<Detail | null>(null)
  const [error, setError] = useState<string | null>(null)
  useEffect(() => {
    let alive = true
    const load = () =>
      api.flag(project, flagKey).then(
        (d) => alive && (setDetail(d), setError(null)),
        (e: Error) => alive && setError(e.message),
      )
    void load()
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
  if (error && !detail) return <section>{back}<p role="alert" class="error">{error}</p></section>
  if (!detail?.flag) return <section>{back}<p class="muted">Loading {flagKey}…</p></section>
  const f = detail.flag
  const event = f.experiment?.exposure_event ?? '$feature_flag_called'
  // The live counters keep an experiment's own exposure event (`$pageview`, say) under `custom`.
  const kind = event === '$feature_flag_called' || event === '$experiment_exposure' ? event : 'custom'
  const live = detail.live?.exposure[kind] ?? Object.values(detail.live?.exposure ?? {})[0]
  const liveOf = (key: string): LiveVariant | undefined => live?.variants.find((v) => String(v.value) === key)
  const outside = (live?.variants ?? []).filter((v) => !f.variants.some((x) => x.key === String(v.value)))
  const totalUnits = f.variants.reduce((a, v) => a + v.units, 0)
  const flagLink = posthogUrl(detail.posthog, 'feature_flags')
  const experimentLink = f.experiment ? posthogUrl(detail.posthog, `experiments/${f.experiment.id}`) : undefined
  return (
    <section aria-labelledby="flag-title" class="detail">
      {back}
      <header class="detail-head">
        <h2 id="flag-title" class="flag-key">
          {f.key}
        </h2>
        <VerdictBadge verdict={f.verdict} />
        <span class="muted">score {f.score}</span>
      </header>
      {f.name && f.name !== f.key && <p>{f.name}</p>}
      <p class="muted small">
        Numbers from {new Date(f.window.from).toUTCString()} to {new Date(f.window.to).toUTCString()} ({f.window.basis === 'experiment' ? "the experiment's run" : 'the lookback window'}
        {f.window.truncated ? ', truncated' : ''}); source: {f.data.source}
        {f.data.estimated ? ', unit counts estimated' : ''}. Updated {new Date(detail.generated_at).toLocaleTimeString()}.
      </p>
      <p class="links">
        {flagLink && <a href={flagLink}>Feature flags in PostHog</a>}
        {experimentLink && <a href={experimentLink}>Experiment “{f.experiment!.name}” in PostHog</a>}
      </p>

      <div class="grid-2">
        <div class="card">
          <h3>Variants</h3>
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
        <div class="card">
          <h3>Split of units</h3>
          <SplitChart rows={f.variants.map((v) => ({ key: v.key, planned: v.expected_share, observed: totalUnits ? v.units / totalUnits : 0 }))} />
          <h3>Exposures per day</h3>
          <DailyChart byDay={live?.byDay ?? {}} />
        </div>
      </div>

      <h3>Checks</h3>
      <ul class="check-list">
        {f.checks.map((c) => (
          <li key={c.id} class={`card check-item status-${c.status}`} data-check={c.id} data-status={c.status}>
            <div class="check-head">
              <strong>{CHECK_NAMES[c.id] ?? c.id}</strong> <StatusWord status={c.status} />
            </div>
            <p>{c.summary}</p>
            {c.fix && (
              <p>
                <strong>Fix:</strong> {c.fix}
              </p>
            )}
            {Object.keys(c.evidence).length > 0 && (
              <details>
                <summary>Evidence</summary>
                <dl class="evidence">
                  {Object.entries(c.evidence).map(([k, v]) => (
                    <div key={k}>
                      <dt>{k}</dt>
                      <dd>{show(v)}</dd>
                    </div>
                  ))}
                </dl>
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
        ))}
      </ul>

      {f.backfill.length > 0 && (
        <>
          <h3>Backfill and repairs</h3>
          <ol class="plan">
            {f.backfill.map((b, i) => (
              <li key={i}>
                <span class="badge">{b.priority}</span> {b.action} <span class="muted small">({b.category}, {b.effort}{b.blocking ? ', blocks the readout' : ''})</span>
              </li>
            ))}
          </ol>
        </>
      )}
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
