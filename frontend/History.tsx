import { Fragment } from 'preact'
import { useEffect, useState } from 'preact/hooks'
import { api, type HistoryView, type Verdict } from './api.js'
import { verdictLabel } from '../src/coverage/labels.js'
import { checkName, VerdictBadge } from './badges.js'
import { FlagLink } from './FlagLink.js'

// A verdict's words (labels.ts); an unknown value (a newer report) shows as it is.
const words = verdictLabel

interface Stretch {
  readonly verdict: string | null
  readonly failing: readonly string[]
  readonly reviews: number
  readonly first: string
}

/**
 * A flag's row as stretches of one verdict: reviews in a row with the same verdict (and the same
 * failing checks) share one cell, so the verdict reads in words, as in every other view.
 */
function stretches(runs: readonly HistoryView['runs'][number][], key: string): Stretch[] {
  const out: Stretch[] = []
  for (const r of runs) {
    const x = r.flags.find((y) => y.key === key)
    const verdict = x?.verdict ?? null
    const failing = x?.failing ?? []
    const last = out[out.length - 1]
    if (last && last.verdict === verdict && last.failing.join() === failing.join()) {
      out[out.length - 1] = { ...last, reviews: last.reviews + 1 }
    } else {
      out.push({ verdict, failing, reviews: 1, first: r.generated_at })
    }
  }
  return out
}

/** Coverage over time: each flag's verdict per review, what changed since the last one, and the gaps that recur. */
export function History({ project }: { project: string }) {
  const [data, setData] = useState<HistoryView | null>(null)
  const [error, setError] = useState<string | null>(null)
  useEffect(() => {
    api.history(project).then(setData, (e: Error) => setError(e.message))
  }, [project])
  if (error) return <p role="alert" class="error">{error}</p>
  if (!data) return <p class="muted">Loading the history…</p>
  if (data.runs.length === 0) return <p class="muted">No review kept yet: the host keeps one each hour.</p>
  const runs = [...data.runs].reverse().slice(-24)
  const latest = data.runs[0]!
  const time = (iso: string) => new Date(iso).toLocaleString('en-GB', { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' })
  return (
    <section aria-labelledby="history-title">
      <h2 id="history-title">History</h2>
      {data.changes && (
        <div class="card">
          <h3>Since the previous review</h3>
          <ul>
            {data.changes.verdictChanges.map((v) => (
              <li key={`v-${v.flag}`}>
                <FlagLink flag={v.flag} />: {words(v.from)} → {words(v.to)}
                {v.worse ? ' (worse)' : ''}
              </li>
            ))}
            {data.changes.newFailures.map((f) => (
              <li key={`f-${f.flag}-${f.check}`}>
                New failure: <FlagLink flag={f.flag} /> {checkName(f.check)}
              </li>
            ))}
            {data.changes.repaired.map((r) => (
              <li key={`r-${r.flag}`}>
                Repaired: <FlagLink flag={r.flag} />
              </li>
            ))}
            {data.changes.verdictChanges.length + data.changes.newFailures.length + data.changes.repaired.length === 0 && <li>Nothing changed.</li>}
          </ul>
        </div>
      )}
      {data.recurring_gaps.length > 0 && (
        <div class="card">
          <h3>Recurring gaps</h3>
          <ul>
            {data.recurring_gaps.map((g) => (
              <li key={`${g.area}-${g.check}`} data-area={g.area} data-check={g.check}>
                <strong>{g.area}</strong>: {checkName(g.check)} failed in {g.runs} reviews (
                {g.flags.map((k, i) => (
                  <Fragment key={k}>
                    {i > 0 && ', '}
                    <FlagLink flag={k} />
                  </Fragment>
                ))}
                )
              </li>
            ))}
          </ul>
        </div>
      )}
      <h3>Verdicts per review</h3>
      <div class="table-wrap">
        <table class="history">
          <thead>
            <tr>
              <th scope="col">Flag</th>
              {runs.map((r) => (
                <th key={r.generated_at} scope="col" class="small">
                  {time(r.generated_at)}
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {latest.flags.map((f) => (
              <tr key={f.key} data-flag-key={f.key}>
                <th scope="row">
                  <FlagLink flag={f.key} />
                </th>
                {stretches(runs, f.key).map((st) => (
                  <td key={st.first} colSpan={st.reviews} data-reviews={st.reviews}>
                    {st.verdict ? (
                      <VerdictBadge
                        verdict={st.verdict as Verdict}
                        title={`${words(st.verdict)} in ${st.reviews} review${st.reviews === 1 ? '' : 's'} from ${time(st.first)}${st.failing.length ? `; failing: ${st.failing.map(checkName).join(', ')}` : ''}`}
                      />
                    ) : (
                      <span class="muted" title="Not in this review">–</span>
                    )}
                  </td>
                ))}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  )
}
