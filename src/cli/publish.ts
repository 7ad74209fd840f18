import type { Report } from '../coverage/report.js'
import { PostHogApiError, PostHogClient } from '../posthog/client.js'
import { publishReport, type PublishResult } from '../publish/publish.js'
import { readJsonFile, runOnlineAudit } from './audit.js'
import { ExitError } from './errors.js'
import { forTerminal } from './terminal.js'

export interface PublishCliOptions {
  readonly report?: string
  readonly tagPrefix: string
  readonly hostUrl?: string
  readonly config?: string
  readonly dryRun: boolean
}

const say = (m: string) => process.stderr.write(`${forTerminal(m)}\n`)

/**
 * `experiment-coverage publish`: the review written where teams look in PostHog. `--dry-run`
 * prints every request (the reads it needs are made; nothing is written).
 */
export async function runPublish(opts: PublishCliOptions): Promise<void> {
  const host = process.env.POSTHOG_HOST ?? 'https://us.posthog.com'
  const projectId = process.env.POSTHOG_PROJECT_ID
  const key = process.env.POSTHOG_PERSONAL_API_KEY
  if (!projectId || !key) throw new ExitError('set POSTHOG_PROJECT_ID and POSTHOG_PERSONAL_API_KEY (scopes: feature_flag:write for the tags, notebook:write for the notebook, project:read for the project token, annotation:write for the annotations), and POSTHOG_HOST (default https://us.posthog.com)', 2)
  if (!/^[^\s,]{1,40}$/.test(opts.tagPrefix)) throw new ExitError('--tag-prefix: 1 to 40 characters, no spaces or commas', 2)
  let report: Report
  if (opts.report) {
    report = readJsonFile(opts.report) as Report
    if (!Array.isArray(report?.flags) || typeof report.readout !== 'string') throw new ExitError(`${opts.report}: not a report of this tool (audit --format json writes one)`, 2)
  } else {
    const config = opts.config ? (readJsonFile(opts.config) as Record<string, unknown>) : {}
    report = await runOnlineAudit(config, Date.now(), say)
  }
  const client = new PostHogClient({ host, projectId, personalApiKey: key, onWait: (w) => say(`publish: PostHog asks to wait ${w.seconds} s before retrying ${w.path}; waiting`) })
  try {
    const result = await publishReport(report, { client, posthogHost: host, project: projectId, tagPrefix: opts.tagPrefix, hostUrl: opts.hostUrl ?? '', dryRun: opts.dryRun })
    if (opts.dryRun) for (const w of result.writes) process.stdout.write(`# ${w.what}\n${w.method} ${w.url}\n${JSON.stringify(w.body, null, 2)}\n\n`)
    say(
      `publish${opts.dryRun ? ' (dry run: nothing written)' : ''}: tags ${result.tags.added} added and ${result.tags.removed} removed in ${result.tags.requests} requests; notebook "${'Experiment coverage'}" ${opts.dryRun && result.notebook.action !== 'unchanged' ? `would be ${result.notebook.action}` : result.notebook.action}; ${result.events} events${opts.dryRun ? ' would be' : ''} captured; ${annotationWords(result.annotations, opts.dryRun)}`,
    )
  } catch (e) {
    if (e instanceof PostHogApiError) throw new ExitError(e.message, 1)
    throw e
  }
}

/** What publishing did with the annotations, or why it wrote none. */
function annotationWords(a: PublishResult['annotations'], dryRun: boolean): string {
  if (a.skipped) return a.skipped
  const would = dryRun ? ' would be' : ''
  return `annotations: ${a.created}${would} created, ${a.updated}${would} updated, ${a.removed}${would} removed, ${a.unchanged} unchanged`
}
