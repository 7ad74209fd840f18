/**
 * Reports from a running host, over its JSON API (src/host/app.ts): `GET /api/projects`, a
 * project's `report` (`?fresh=1` builds it from the counters now), `flags` (with PostHog's tags)
 * and `history` (what changed between its two latest reviews, and the recurring gaps). The API
 * token comes from the environment or a file, never from the command line.
 */
import type { Changes, RecurringGap } from '../coverage/compare.js'
import { parseReport } from './runs.js'
import { SourceError, type History, type ProjectInfo, type ReportSource, type RunOutcome } from './source.js'
import type { Report } from '../coverage/report.js'

export interface HostApiSourceOptions {
  /** the host's address, e.g. http://127.0.0.1:8787 */
  readonly url: string
  /** COVERAGE_API_TOKEN, when the host asks for one */
  readonly token?: string
  readonly fetch?: typeof fetch
  /** per request, ms */
  readonly timeoutMs?: number
}

const TIMEOUT_MS = 30_000

export function hostApiSource(opts: HostApiSourceOptions): ReportSource {
  const base = opts.url.replace(/\/+$/, '')
  const doFetch = opts.fetch ?? fetch
  const get = async (path: string): Promise<unknown> => {
    let res: Response
    try {
      res = await doFetch(`${base}${path}`, {
        headers: { accept: 'application/json', ...(opts.token ? { authorization: `Bearer ${opts.token}` } : {}) },
        signal: AbortSignal.timeout(opts.timeoutMs ?? TIMEOUT_MS),
      })
    } catch (e) {
      throw new SourceError(`the host at ${base} did not answer ${path}: ${(e as Error).message}`)
    }
    const text = await res.text()
    let body: unknown = null
    try {
      body = JSON.parse(text)
    } catch {
      // said below with the status
    }
    if (res.status === 401) throw new SourceError(`the host at ${base} refused the API token: set COVERAGE_API_TOKEN (or --api-token-file) to the token it was started with`)
    if (!res.ok) {
      const why = body && typeof body === 'object' && typeof (body as { error?: unknown }).error === 'string' ? (body as { error: string }).error : `HTTP ${res.status}`
      throw new SourceError(`the host at ${base} answered ${path} with ${res.status}: ${why.slice(0, 500)}`)
    }
    if (body === null) throw new SourceError(`the host at ${base} answered ${path} with something other than JSON`)
    return body
  }
  const enc = encodeURIComponent
  const listProjects = async (): Promise<ProjectInfo[]> => {
    const body = (await get('/api/projects')) as { projects?: { id: string; name?: string }[] }
    return (body.projects ?? []).map((p) => ({ id: String(p.id), name: String(p.name ?? p.id) }))
  }
  const projectOf = async (project: string | undefined): Promise<string> => {
    if (project !== undefined) return project
    const all = await listProjects()
    if (all.length === 1) return all[0]!.id
    if (all.length === 0) throw new SourceError(`the host at ${base} has no project`)
    throw new SourceError(`the host at ${base} has ${all.length} projects (${all.map((p) => JSON.stringify(p.id)).join(', ')}): say which one with \`project\``)
  }
  const reportOf = async (project: string | undefined, fresh = false): Promise<Report> => {
    const id = await projectOf(project)
    return parseReport(`the report of project ${JSON.stringify(id)}`, await get(`/api/projects/${enc(id)}/report${fresh ? '?fresh=1' : ''}`)).report
  }

  return {
    info: () => ({ kind: 'host', where: base, refresh: 'reread' }),
    projects: listProjects,
    resolve: projectOf,
    report: (project) => reportOf(project),
    async tags(project) {
      const id = await projectOf(project)
      const body = (await get(`/api/projects/${enc(id)}/flags`)) as { flags?: { key: string; tags?: string[] }[] }
      return new Map((body.flags ?? []).map((f) => [f.key, f.tags ?? []]))
    },
    async history(project, since): Promise<History> {
      const id = await projectOf(project)
      const body = (await get(`/api/projects/${enc(id)}/history?limit=12`)) as { runs?: { generated_at: string }[]; changes?: Changes | null; recurring_gaps?: RecurringGap[] }
      const runs = (body.runs ?? []).map((r) => r.generated_at)
      const note =
        since !== undefined && since !== runs[1]
          ? `The host's API compares its two latest reviews (${runs[1] ?? 'none before the latest'}); a comparison with ${since} is not available from it.`
          : body.changes
            ? null
            : 'The host has kept one review so far: nothing to compare yet.'
      return { runs, changes: body.changes ?? null, recurringGaps: body.recurring_gaps ?? [], note }
    },
    async run(project, inputs, onProgress): Promise<RunOutcome> {
      onProgress(1, 2, 'asking the host for a report built from its counters now')
      const report = await reportOf(project, true)
      onProgress(2, 2, 'report read')
      const asked = inputs.lookbackDays !== undefined || inputs.deadlines !== undefined
      return {
        report,
        mode: 'reread',
        inputsApplied: false,
        note: `The host counts live and has no route to run a review on demand: this is its report built from the counters now (?fresh=1).${asked ? " The lookback and deadlines given were not applied: they are the project's settings on the host (PUT /api/projects/:project/settings, or its settings page)." : ''}`,
      }
    },
    secrets: () => (opts.token ? [opts.token] : []),
  }
}
