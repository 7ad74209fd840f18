import { useEffect, useState } from 'preact/hooks'
import { api, type FlagList as FlagListData, type Project, type Report } from './api.js'
import { VERDICT_WORDS } from './badges.js'
import { CoverageTable } from './CoverageTable.js'
import { FlagDetail } from './FlagDetail.js'
import { FlagList } from './FlagList.js'
import { History } from './History.js'
import { Plan } from './Plan.js'
import { Readout } from './Readout.js'
import { Settings } from './Settings.js'
import { navigate, useRoute } from './url-state.js'

const VIEWS: Record<string, string> = { '': 'Feature flags', table: 'Coverage table', plan: 'Backfill plan', readout: 'Readout', history: 'History', settings: 'Settings' }

/** Data that refreshes itself while the view shows it (the counters move as events arrive). */
function usePolled<T>(load: (() => Promise<T>) | null, everyMs: number, deps: unknown[]): { data: T | null; error: string | null } {
  const [data, setData] = useState<T | null>(null)
  const [error, setError] = useState<string | null>(null)
  useEffect(() => {
    if (!load) return
    let alive = true
    const run = () =>
      load().then(
        (d) => alive && (setData(d), setError(null)),
        (e: Error) => alive && setError(e.message),
      )
    void run()
    const timer = setInterval(run, everyMs)
    return () => {
      alive = false
      clearInterval(timer)
    }
  }, deps)
  return { data, error }
}

/** The element whose data-theme the styles follow: the page, or (inside PostHog) the scene's own host element. */
let themeRoot: () => HTMLElement = () => document.documentElement
export function setThemeRoot(el: HTMLElement): void {
  themeRoot = () => el
}

function ThemeToggle() {
  const [dark, setDark] = useState(() => themeRoot().dataset.theme === 'dark')
  useEffect(() => {
    themeRoot().dataset.theme = dark ? 'dark' : 'light'
    try {
      localStorage.setItem('coverage-theme', dark ? 'dark' : 'light')
    } catch {
      // private mode: the choice lasts for this page
    }
  }, [dark])
  return (
    <button type="button" class="ghost" aria-pressed={dark} onClick={() => setDark(!dark)}>
      {dark ? 'Light theme' : 'Dark theme'}
    </button>
  )
}

export function App({ demo = false }: { demo?: boolean }) {
  const route = useRoute()
  const [projects, setProjects] = useState<Project[] | null>(null)
  const [error, setError] = useState<string | null>(null)
  useEffect(() => {
    api.projects().then(setProjects, (e: Error) => setError(e.message))
  }, [])
  const project = projects?.find((p) => p.id === route.project) ?? projects?.[0] ?? null
  const view = route.view ?? ''
  const flags = usePolled<FlagListData>(project && view === '' ? () => api.flags(project.id) : null, 5000, [project?.id, view])
  const report = usePolled<Report>(project && ['table', 'plan', 'readout'].includes(view) ? () => api.report(project.id) : null, 10_000, [project?.id, view])

  return (
    <div class="app">
      <a href="#main" class="skip">
        Skip to the content
      </a>
      <header class="top">
        <h1>Experiment coverage</h1>
        {projects && projects.length > 0 && (
          <label class="field-inline">
            <span>Project</span>
            <select value={project?.id} onChange={(e) => navigate({ project: (e.target as HTMLSelectElement).value, flag: '', view: '' }, { push: true })}>
              {projects.map((p) => (
                <option key={p.id} value={p.id}>
                  {p.name}
                </option>
              ))}
            </select>
          </label>
        )}
        <ThemeToggle />
      </header>
      {demo && (
        <p class="notice" data-demo="true">
          Demo: simulated data counted by the plugin, served in your browser; no backend, no PostHog account. Run <code>npm start</code> for the live host.
        </p>
      )}
      <nav aria-label="Views" class="tabs">
        {Object.entries(VIEWS).map(([v, words]) => (
          <a
            key={v}
            href={`?${new URLSearchParams({ ...(project ? { project: project.id } : {}), ...(v ? { view: v } : {}) })}`}
            aria-current={view === v || (view === 'flag' && v === '') ? 'page' : undefined}
            onClick={(e) => (e.preventDefault(), navigate({ view: v, flag: '' }, { push: true }))}
          >
            {words}
          </a>
        ))}
      </nav>
      <main id="main" tabIndex={-1}>
        {error && (
          <p role="alert" class="error">
            {error}
          </p>
        )}
        {projects && projects.length === 0 && <p>No project yet: add one with `experiment-coverage connect` or POST /api/projects.</p>}
        {project && !project.enabled && view !== 'settings' && <p class="notice">The plugin is disabled for this project; enable it in Settings.</p>}
        {project && view === '' && flags.data && (
          <>
            <p class="summary">
              {Object.entries(VERDICT_WORDS).map(([v, words]) => (
                <span key={v} class={`badge verdict-${v}`}>
                  {words}: {flags.data!.summary[v] ?? 0}
                </span>
              ))}
            </p>
            <FlagList data={flags.data} route={route} />
          </>
        )}
        {project && view === '' && !flags.data && <p class="muted">{flags.error ?? 'Loading the flags…'}</p>}
        {project && view === 'flag' && route.flag && <FlagDetail project={project.id} flagKey={route.flag} />}
        {project && view === 'table' && report.data && <CoverageTable report={report.data} />}
        {project && view === 'plan' && report.data && <Plan report={report.data} />}
        {project && view === 'readout' && report.data && <Readout report={report.data} />}
        {project && ['table', 'plan', 'readout'].includes(view) && !report.data && <p class="muted">{report.error ?? 'Loading the report…'}</p>}
        {project && view === 'history' && <History project={project.id} />}
        {project && view === 'settings' && <Settings project={project} onProject={(p) => setProjects(projects!.map((x) => (x.id === p.id ? { ...x, ...p } : x)))} />}
      </main>
    </div>
  )
}
