import { readFileSync } from 'node:fs'
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js'
import { createMcpServer, type LogLevel } from '../mcp/server.js'
import { Scrubber, secretsOfEnv } from '../mcp/scrub.js'
import { fileSource } from '../mcp/source-file.js'
import { hostApiSource } from '../mcp/source-host-api.js'
import { onlineSource } from '../mcp/source-online.js'
import { SourceError, type ReportSource } from '../mcp/source.js'
import { ExitError } from './errors.js'
import { readJsonFile } from './audit.js'
import { forTerminal } from './terminal.js'

export interface McpOptions {
  readonly report?: string
  readonly previous?: readonly string[]
  readonly flags?: string
  readonly host?: string
  /** a file holding the host's API token (COVERAGE_API_TOKEN_FILE); the token itself only from the environment */
  readonly apiTokenFile?: string
  readonly config?: string
  readonly version?: string
}

/** The host's API token: COVERAGE_API_TOKEN, or the file given; never a command-line value (ps shows those). */
function hostToken(opts: McpOptions, env: NodeJS.ProcessEnv): string | undefined {
  if (opts.apiTokenFile) {
    let text: string
    try {
      text = readFileSync(opts.apiTokenFile, 'utf8')
    } catch (e) {
      throw new ExitError(`--api-token-file: cannot read ${opts.apiTokenFile}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, 2)
    }
    const token = text.trim()
    if (!token) throw new ExitError(`--api-token-file: ${opts.apiTokenFile} is empty`, 2)
    return token
  }
  return env.COVERAGE_API_TOKEN?.trim() || undefined
}

/** The one source of reports the options name: a report file, a host, or the PostHog project of the environment. */
export function sourceOf(opts: McpOptions, env: NodeJS.ProcessEnv = process.env): { source: ReportSource; secrets: string[] } {
  if (opts.report && opts.host) throw new ExitError('give one source of reports: --report FILE, --host URL, or a PostHog project in the environment; not both --report and --host', 2)
  try {
    if (opts.report) {
      if (opts.config) throw new ExitError('--config is for the online audit; a report file was judged with its own settings', 2)
      return { source: fileSource({ report: opts.report, previous: opts.previous, flags: opts.flags }), secrets: [] }
    }
    if (opts.flags) throw new ExitError('--flags gives the tags of a report file\'s flags (--report); a host and PostHog know them', 2)
    if (opts.host) {
      if (!/^https?:\/\/[^\s/]+/.test(opts.host)) throw new ExitError(`--host must be the host's http(s) address, such as http://127.0.0.1:8787`, 2)
      const token = hostToken(opts, env)
      return { source: hostApiSource({ url: opts.host, token }), secrets: token ? [token] : [] }
    }
    const projectId = env.POSTHOG_PROJECT_ID?.trim()
    const key = env.POSTHOG_PERSONAL_API_KEY?.trim()
    if (!projectId || !key) {
      throw new ExitError('give --report FILE (audit --format json), --host URL (with COVERAGE_API_TOKEN in the environment), or set POSTHOG_PROJECT_ID and POSTHOG_PERSONAL_API_KEY (and POSTHOG_HOST, default https://us.posthog.com) for the online audit', 2)
    }
    const config = opts.config ? readJsonFile(opts.config) : {}
    if (typeof config !== 'object' || config === null || Array.isArray(config)) throw new ExitError(`${opts.config}: expected a JSON object of plugin settings`, 2)
    const host = (env.POSTHOG_HOST?.trim() || 'https://us.posthog.com').replace(/\/+$/, '')
    return { source: onlineSource({ host, projectId, personalApiKey: key, config: config as Record<string, unknown>, previous: opts.previous }), secrets: [key] }
  } catch (e) {
    if (e instanceof SourceError) throw new ExitError(e.message, 2)
    throw e
  }
}

/**
 * `experiment-coverage mcp`: the MCP server over stdio. stdout carries the protocol and nothing
 * else; the server's own lines go to stderr, scrubbed.
 */
export async function runMcp(opts: McpOptions): Promise<void> {
  const scrubber = new Scrubber(secretsOfEnv(process.env))
  const { source, secrets } = sourceOf(opts)
  scrubber.add(secrets)
  const log = (level: LogLevel, message: string) => process.stderr.write(`experiment-coverage mcp: ${level}: ${forTerminal(scrubber.text(message))}\n`)
  const server = createMcpServer({ source, scrubber, log, version: opts.version })
  const transport = new StdioServerTransport()
  // The client ends the session by closing our stdin (MCP's stdio transport): then the server closes.
  const closed = new Promise<void>((done) => {
    transport.onclose = () => done()
    process.stdin.once('end', () => done())
    process.stdin.once('close', () => done())
  })
  await server.connect(transport)
  const info = source.info()
  log('info', `serving ${info.kind} ${info.where} over stdio`)
  await closed
  await server.close()
}
