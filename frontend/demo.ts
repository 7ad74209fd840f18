/**
 * Demo mode: the site alone, with no backend. msw's service worker answers the JSON API in the
 * browser from `demo-data.json` (the demo project counted by the plugin at build time as `serve`
 * counts it: its past, then its last hours at two more moments), so the badges move as the
 * "events arrive". Settings are validated by the plugin's own settings code, here in the browser.
 */
import { http, HttpResponse } from 'msw'
import { setupWorker } from 'msw/browser'
import { SettingsError, parseSettings } from '../src/settings/settings.js'

interface Step {
  events: number
  projects: { projects: { id: string; enabled: boolean }[] }
  flags: Record<string, unknown>
  report: Record<string, unknown>
  /** what the host's History answered at this moment: the demo's daily reviews */
  history: Record<string, unknown>
  details: Record<string, Record<string, unknown>>
}
interface DemoData {
  settings: { settings: Record<string, string>; schema: unknown[]; problems: unknown[] }
  steps: Step[]
}

const STEP_MS = 20_000

export async function startDemo(): Promise<void> {
  const res = await fetch(new URL('demo-data.json', document.baseURI))
  if (!res.ok) throw new Error('the demo data is missing from this build (npm run build writes it)')
  const data = (await res.json()) as DemoData
  const started = Date.now()
  const step = () => data.steps[Math.min(data.steps.length - 1, Math.floor((Date.now() - started) / STEP_MS))]!
  let settings = { ...data.settings.settings }
  let enabled = true
  const project = () => ({ ...step().projects.projects[0], enabled, status: enabled ? 'counting' : 'disabled' })
  const worker = setupWorker(
    http.get('/api/projects', () => HttpResponse.json({ projects: [project()] })),
    http.get('/api/projects/:project', () => HttpResponse.json(project())),
    http.get('/api/projects/:project/flags', () => HttpResponse.json(step().flags)),
    http.get('/api/projects/:project/report', () => HttpResponse.json(step().report)),
    http.get('/api/projects/:project/flags/:key', ({ params }) => {
      const d = step().details[String(params.key)]
      return d ? HttpResponse.json(d) : HttpResponse.json({ error: `no flag ${String(params.key)}` }, { status: 404 })
    }),
    http.get('/api/projects/:project/history', () => HttpResponse.json(step().history)),
    http.get('/api/projects/:project/settings', () => HttpResponse.json({ ...data.settings, settings })),
    http.put('/api/projects/:project/settings', async ({ request }) => {
      const body = (await request.json()) as { settings?: Record<string, string> }
      const next = { ...settings, ...(body.settings ?? {}) }
      try {
        parseSettings(next)
      } catch (e) {
        if (e instanceof SettingsError) return HttpResponse.json({ error: 'invalid settings', problems: e.problems }, { status: 400 })
        throw e
      }
      settings = next
      return HttpResponse.json({ ...data.settings, settings, problems: [] })
    }),
    http.post('/api/projects/:project/:action', ({ params }) => {
      enabled = params.action === 'enable'
      return HttpResponse.json(project())
    }),
  )
  await worker.start({ serviceWorker: { url: new URL('mockServiceWorker.js', document.baseURI).pathname }, onUnhandledRequest: 'bypass', quiet: true })
}
