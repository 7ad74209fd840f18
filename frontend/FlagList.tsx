import { useEffect, useState } from 'preact/hooks'
import type { FlagEntry, FlagList as FlagListData } from './api.js'
import { CheckLegend, CheckStrip, checkName, countText, decidingCheck, firstSentence, VERDICT_WORDS, VerdictBadge } from './badges.js'
import { FlagKey } from './FlagLink.js'
import { FLAG_PAGE } from './paging.js'
import { navigate, type Route } from './url-state.js'
import './flag.css'

const KINDS: Record<FlagEntry['kind'], string> = { experiment: 'Experiment', multivariate_flag: 'Multivariate flag', boolean_flag: 'Boolean flag' }
// One formatter for every row: building one per call costs more than the rest of the row.
const DATE = new Intl.DateTimeFormat('en-GB', { year: 'numeric', month: 'short', day: 'numeric' })
const SORTS: Record<string, string> = { priority: 'Priority', key: 'Key', created: 'Newest', score: 'Lowest score' }

/** The row's worst finding in words: the check that decides its verdict and what it found. */
function WorstFinding({ f }: { f: FlagEntry }) {
  const c = decidingCheck(f.verdict, f.checks)
  if (!c) return <p class="worst-finding small">All checks pass.</p>
  const text = firstSentence(c.summary)
  // "Sample ratio mismatch: …" already names its check: no "Sample ratio:" before it.
  const named = text.toLowerCase().startsWith(checkName(c.id).toLowerCase())
  return (
    <p class={`worst-finding small status-${c.status}`} data-check={c.id} data-status={c.status} title={c.summary}>
      {!named && <strong>{checkName(c.id)}: </strong>}
      {text}
    </p>
  )
}

function rollout(f: FlagEntry): string {
  if (f.variants.length) return f.variants.map((v) => `${v.key} ${v.rollout_percentage}%`).join(' · ')
  return f.rollout_percentage === null ? '–' : `${f.rollout_percentage}%`
}

/** The flags the URL's search, filters and sort select, in order. */
export function selectFlags(flags: readonly FlagEntry[], route: Route): FlagEntry[] {
  const q = (route.q ?? '').trim().toLowerCase()
  const out = flags.filter(
    (f) =>
      (!q || f.key.toLowerCase().includes(q) || f.name.toLowerCase().includes(q) || f.tags.some((t) => t.toLowerCase().includes(q))) &&
      (!route.verdict || f.verdict === route.verdict) &&
      (!route.kind || f.kind === route.kind) &&
      (!route.tag || f.tags.includes(route.tag)),
  )
  const sort = route.sort ?? 'priority'
  const by: Record<string, (a: FlagEntry, b: FlagEntry) => number> = {
    priority: (a, b) => b.priority - a.priority || a.score - b.score || a.key.localeCompare(b.key),
    key: (a, b) => a.key.localeCompare(b.key),
    created: (a, b) => (b.created_at ?? '').localeCompare(a.created_at ?? '') || a.key.localeCompare(b.key),
    score: (a, b) => a.score - b.score || a.key.localeCompare(b.key),
  }
  return out.sort(by[sort] ?? by.priority!)
}

function Select(props: { label: string; name: string; value: string; options: Record<string, string>; all?: string }) {
  return (
    <label class="field-inline">
      <span>{props.label}</span>
      <select name={props.name} value={props.value} onChange={(e) => navigate({ [props.name]: (e.target as HTMLSelectElement).value })}>
        {props.all !== undefined && <option value="">{props.all}</option>}
        {Object.entries(props.options).map(([v, words]) => (
          <option key={v} value={v}>
            {words}
          </option>
        ))}
      </select>
    </label>
  )
}

export function FlagList({ data, route }: { data: FlagListData; route: Route }) {
  const tags = [...new Set(data.flags.flatMap((f) => f.tags))].sort()
  const shown = selectFlags(data.flags, route)
  // Rows drawn: a page at first, more on request; a new search or filter starts again at one page.
  const [limit, setLimit] = useState(FLAG_PAGE)
  useEffect(() => setLimit(FLAG_PAGE), [route.q, route.verdict, route.kind, route.tag, route.sort])
  const drawn = shown.length > limit ? shown.slice(0, limit) : shown
  const left = shown.length - drawn.length
  const count = countText
  return (
    <section aria-labelledby="flags-title">
      <div class="toolbar" role="search">
        <h2 id="flags-title" class="sr-only">
          Feature flags
        </h2>
        <label class="field-inline grow">
          <span class="sr-only">Search flags</span>
          <input type="search" name="q" placeholder="Search by key, name or tag" value={route.q ?? ''} onInput={(e) => navigate({ q: (e.target as HTMLInputElement).value })} />
        </label>
        <Select label="Coverage" name="verdict" value={route.verdict ?? ''} options={VERDICT_WORDS} all="Any" />
        <Select label="Type" name="kind" value={route.kind ?? ''} options={KINDS} all="Any" />
        <Select label="Tag" name="tag" value={route.tag ?? ''} options={Object.fromEntries(tags.map((t) => [t, t]))} all="Any" />
        <Select label="Sort" name="sort" value={route.sort ?? 'priority'} options={SORTS} />
      </div>
      <p class="muted" aria-live="polite" data-shown={drawn.length} data-matching={shown.length}>
        {left > 0 ? `Showing ${count(drawn.length)} of ${count(shown.length)} matching flags (${count(data.flags.length)} in all)` : `${count(shown.length)} of ${count(data.flags.length)} flags`}
      </p>
      <CheckLegend />
      <div class="table-wrap">
        <table class="flags">
          <thead>
            <tr>
              <th scope="col">Key</th>
              <th scope="col">Coverage and worst finding</th>
              <th scope="col">Checks</th>
              <th scope="col" class="wide">Status</th>
              <th scope="col" class="wide">Rollout</th>
              <th scope="col" class="wide">Tags</th>
              <th scope="col" class="wide">Experiment</th>
              <th scope="col" class="wide">Created</th>
            </tr>
          </thead>
          <tbody>
            {drawn.map((f) => (
              <tr key={f.key} data-flag-key={f.key}>
                <td>
                  <a
                    href={`?${new URLSearchParams({ ...route, view: 'flag', flag: f.key })}`}
                    class="flag-key"
                    onClick={(e) => {
                      e.preventDefault()
                      navigate({ view: 'flag', flag: f.key }, { push: true })
                    }}
                  >
                    <FlagKey value={f.key} />
                  </a>
                  {f.name && f.name !== f.key && <div class="muted small">{f.name}</div>}
                </td>
                <td class="coverage-cell">
                  <VerdictBadge verdict={f.verdict} />
                  <WorstFinding f={f} />
                </td>
                <td class="checks-cell">
                  <CheckStrip checks={f.checks} />
                </td>
                <td class="wide">{f.active === null ? '–' : f.active ? 'Active' : 'Disabled'}</td>
                <td class="wide small">{rollout(f)}</td>
                <td class="wide">
                  {f.tags.map((t) => (
                    <span key={t} class="tag">
                      {t}
                    </span>
                  ))}
                </td>
                <td class="wide small">{f.experiment ? f.experiment.name : '–'}</td>
                <td class="wide small">{f.created_at ? DATE.format(new Date(f.created_at)) : '–'}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {left > 0 && (
        <p class="more-rows">
          <button type="button" onClick={() => setLimit(limit + FLAG_PAGE)}>
            Show {count(Math.min(FLAG_PAGE, left))} more
          </button>{' '}
          <button type="button" onClick={() => setLimit(shown.length)}>
            Show all {count(shown.length)}
          </button>
        </p>
      )}
    </section>
  )
}
