/**
 * The host's own reports, for the tools it serves at `/mcp`: the same runtimes and stored history
 * its JSON API answers from, asked in process.
 */
import type { AppHost } from '../host/app.js'
import { ProjectError } from '../host/host.js'
import type { Report } from '../coverage/report.js'
import { historyOf, RECURRING_RUNS } from './runs.js'
import { SourceError, type ProjectInfo, type ReportSource, type RunOutcome } from './source.js'

export function inHostSource(host: AppHost, where = 'this host'): ReportSource {
  const seen = new Set<string>()
  const projectOf = async (project: string | undefined): Promise<string> => {
    if (project !== undefined) {
      if (!(await host.project(project))) throw new SourceError(`no project ${JSON.stringify(project)} on this host`)
      seen.add(project)
      return project
    }
    const all = await host.projects()
    for (const p of all) seen.add(p.id)
    if (all.length === 1) return all[0]!.id
    if (all.length === 0) throw new SourceError('this host has no project yet')
    throw new SourceError(`this host has ${all.length} projects (${all.map((p) => JSON.stringify(p.id)).join(', ')}): say which one with \`project\``)
  }
  const reportOf = async (project: string | undefined, fresh = false): Promise<Report> => {
    const id = await projectOf(project)
    const rt = host.runtime(id)
    if (rt?.state) return (await rt.report({ fresh })).report as Report
    const stored = await host.store.latestReport(id)
    if (stored) return stored.report as Report
    throw new SourceError(`project ${JSON.stringify(id)} is not counting: ${rt?.setupError ?? 'it is starting or disabled'}`)
  }
  const runsOf = async (id: string): Promise<Report[]> => {
    const rt = host.runtime(id)
    const kept = rt ? await rt.history(RECURRING_RUNS) : await host.store.reportHistory(id, RECURRING_RUNS)
    return kept.map((r) => r.report as Report)
  }

  return {
    info: () => ({ kind: 'host', where, refresh: 'reread' }),
    projects: async (): Promise<ProjectInfo[]> => (await host.projects()).map((p) => ({ id: p.id, name: p.name })),
    resolve: projectOf,
    report: (project) => reportOf(project),
    async tags(project) {
      const id = await projectOf(project)
      const rt = host.runtime(id)
      if (!rt?.state) return null
      return new Map((await rt.flagList()).map((f) => [f.key, f.tags]))
    },
    async history(project, since) {
      const id = await projectOf(project)
      const runs = await runsOf(id)
      // The current report leads, as the tools read it, even before the minute's review stored it.
      return historyOf([await reportOf(id), ...runs], since)
    },
    async run(project, inputs, onProgress): Promise<RunOutcome> {
      onProgress(1, 2, 'building the report from the counters now')
      let report: Report
      try {
        report = await reportOf(project, true)
      } catch (e) {
        if (e instanceof ProjectError) throw new SourceError(e.message)
        throw e
      }
      onProgress(2, 2, 'report built')
      const asked = inputs.lookbackDays !== undefined || inputs.deadlines !== undefined
      return {
        report,
        mode: 'reread',
        inputsApplied: false,
        note: `The host counts live: this report was built from its counters now; its scheduled review stores one every minute.${asked ? " The lookback and deadlines given were not applied: they are the project's settings on the host (its settings page, or PUT /api/projects/:project/settings)." : ''}`,
      }
    },
    secrets() {
      // What a project holds in the clear once set up (its personal API key, its alert webhook):
      // never in an answer, whatever a message quotes.
      return [...seen].flatMap((id) => {
        const s = host.runtime(id)?.state?.settings
        return s ? [s.posthogPersonalApiKey, s.alertWebhookUrl] : []
      })
    },
  }
}
