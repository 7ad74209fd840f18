import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { fileURLToPath } from 'node:url'
import pino from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Report } from '../../src/coverage/report-schema.js'
import { createApp } from '../../src/host/app.js'
import { countDemoPast, storeDemoPast } from '../../src/host/demo-past.js'
import { listen, type Bound } from '../../src/host/node.js'
import { demoSpec } from '../../src/sim/demo.js'
import { testHost } from '../support/host.js'
import { call, expectAnswersEqualReport, textOf } from '../support/mcp-reports.js'

/**
 * The host's `/mcp`: the same tools over MCP's Streamable HTTP, spoken to by the SDK's own
 * client, on a host serving the simulated demo project (its past counted, as `serve` starts it).
 */
const TOKEN = 'mcp-http-test-token-0123456789abcdef'
const INIT = { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } }
const MCP_HEADERS = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' }

const started = Date.UTC(2026, 10, 20, 12)
const logLines: string[] = []
let t: Awaited<ReturnType<typeof testHost>>
let open: Bound
let guarded: Bound
let report: Report
const clients: Client[] = []

async function connect(url: string, headers: Record<string, string> = {}): Promise<Client> {
  const client = new Client({ name: 'mcp-http-test', version: '1.0.0' })
  await client.connect(new StreamableHTTPClientTransport(new URL(`${url}/mcp`), { requestInit: { headers } }))
  clients.push(client)
  return client
}

beforeAll(async () => {
  const logger = pino({ level: 'info' }, { write: (line: string) => void logLines.push(line) })
  t = await testHost({ clock: () => started, logger })
  const spec = demoSpec(started, { users: 400, days: 7 })
  await t.host.addProject({ id: 'demo', demo: spec, start: false })
  await storeDemoPast(t.host.store, 'demo', await countDemoPast(spec, {}, started))
  await t.host.setEnabled('demo', true)
  open = await listen(createApp(t.host), t.host, { port: 0, hostname: '127.0.0.1' })
  // As `serve` builds it when bound beyond loopback: the token required, only its own names answered.
  guarded = await listen(createApp(t.host, { apiToken: TOKEN, allowedHosts: ['127.0.0.1', 'localhost', '::1'] }), t.host, { port: 0, hostname: '127.0.0.1' })
  const res = await fetch(`${open.url}/api/projects/demo/report`)
  expect(res.status).toBe(200)
  report = (await res.json()) as Report
}, 240_000)

afterAll(async () => {
  for (const c of clients) await c.close().catch(() => {})
  for (const b of [open, guarded]) await new Promise<void>((r) => (b ? b.server.close(() => r()) : r()))
  await t?.close()
})

describe('the host serves the tools at /mcp', () => {
  it("answers as the host's report says, over Streamable HTTP", { timeout: 120_000 }, async () => {
    const client = await connect(open.url)
    const { tools } = await client.listTools()
    expect(tools.map((x) => x.name).sort()).toEqual(['explain_check', 'get_flag_coverage', 'get_plan', 'get_readout', 'list_flags', 'list_projects', 'run_audit', 'what_changed'])
    for (const x of tools) expect(x.outputSchema?.type).toBe('object')
    expect(report.flags.length).toBe(20)
    await expectAnswersEqualReport(client, report, 'demo')

    const projects = await call(client, 'list_projects')
    expect(projects.structuredContent).toMatchObject({ source: { kind: 'host', refresh: 'reread' }, projects: [{ id: 'demo' }] })
    // Tags come from the project's flag definitions, as the host's flag list gives them.
    const listed = (await call(client, 'list_flags', { limit: 100 })).structuredContent as { tags_known: boolean }
    expect(listed.tags_known).toBe(true)
    const changed = await call(client, 'what_changed')
    expect(changed.isError, textOf(changed)).toBeFalsy()
    expect((changed.structuredContent as { runs: string[] }).runs.length).toBeGreaterThan(0)
  })

  it('re-reads the report built now on run_audit, with progress notifications, and says the inputs are settings', { timeout: 60_000 }, async () => {
    const client = await connect(open.url)
    const progress: { progress: number; total?: number; message?: string }[] = []
    const res = await client.callTool({ name: 'run_audit', arguments: { project: 'demo', lookback_days: 10 } }, undefined, { onprogress: (p) => void progress.push(p) })
    expect(res.isError).toBeFalsy()
    expect(res.structuredContent).toMatchObject({ mode: 'reread', ran: true, inputs_applied: false, project: 'demo' })
    expect((res.structuredContent as { note: string }).note).toMatch(/not applied/)
    expect(progress.map((p) => p.progress)).toEqual([1, 2])
    expect(progress.every((p) => typeof p.message === 'string')).toBe(true)
  })

  it('is refused without the token when the host needs one, with a wrong one, from another origin, and for other names', async () => {
    const post = (headers: Record<string, string>) => fetch(`${guarded.url}/mcp`, { method: 'POST', headers: { ...MCP_HEADERS, ...headers }, body: JSON.stringify(INIT) })
    expect((await post({})).status).toBe(401)
    expect((await post({ authorization: 'Bearer not-the-token' })).status).toBe(401)
    const ok = await post({ authorization: `Bearer ${TOKEN}` })
    expect(ok.status).toBe(200)
    expect(await ok.text()).toContain('experiment-coverage')
    // A page of another site, token or not.
    expect((await post({ authorization: `Bearer ${TOKEN}`, origin: 'https://evil.example' })).status).toBe(403)
    expect((await fetch(`${open.url}/mcp`, { method: 'POST', headers: { ...MCP_HEADERS, origin: 'https://evil.example' }, body: JSON.stringify(INIT) })).status).toBe(403)
    expect((await fetch(`${open.url}/mcp`, { method: 'POST', headers: { ...MCP_HEADERS, 'sec-fetch-site': 'cross-site' }, body: JSON.stringify(INIT) })).status).toBe(403)
    // Its own origin is no stranger.
    expect((await post({ authorization: `Bearer ${TOKEN}`, origin: guarded.url })).status).toBe(200)
    // A name this host does not serve (DNS rebinding).
    const app = createApp(t.host, { apiToken: TOKEN, allowedHosts: ['127.0.0.1'] })
    expect((await app.request('http://evil.example/mcp', { method: 'POST', headers: { ...MCP_HEADERS, authorization: `Bearer ${TOKEN}` }, body: JSON.stringify(INIT) })).status).toBe(421)
    // Stateless: no stream to open, no session to end.
    expect((await fetch(`${guarded.url}/mcp`, { headers: { accept: 'text/event-stream', authorization: `Bearer ${TOKEN}` } })).status).toBe(405)
    await expect(connect(guarded.url)).rejects.toThrow()
    const client = await connect(guarded.url, { authorization: `Bearer ${TOKEN}` })
    expect((await client.listTools()).tools.length).toBe(8)
  })

  it('never says the token or a key: not in an answer, an error or the host log', { timeout: 60_000 }, async () => {
    const client = await connect(guarded.url, { authorization: `Bearer ${TOKEN}` })
    const answers = [
      await call(client, 'get_flag_coverage', { key: TOKEN }),
      await call(client, 'list_flags', { project: `x ${TOKEN}` }),
      await call(client, 'get_flag_coverage', { project: 'demo', key: `Bearer ${TOKEN}` }),
      await call(client, 'list_flags', { project: 'demo', search: 'phx_abcdef0123456789' }),
      await call(client, 'explain_check', { check: 'sample_ratio', project: 'demo' }),
    ]
    expect(answers[0]!.isError).toBe(true)
    expect(answers[1]!.isError).toBe(true)
    const all = answers.map(textOf).join('\n') + logLines.join('\n')
    expect(all).not.toContain(TOKEN)
    expect(all).not.toContain('phx_abcdef0123456789')
    expect(logLines.some((l) => l.includes('/mcp'))).toBe(true)
  })

  it('experiment-coverage mcp --host reads the host over its API, the token from the environment', { timeout: 120_000 }, async () => {
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: ['--import', 'tsx', 'src/cli/main.ts', 'mcp', '--host', guarded.url],
      cwd: fileURLToPath(new URL('../..', import.meta.url)),
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', COVERAGE_API_TOKEN: TOKEN },
      stderr: 'pipe',
    })
    let err = ''
    transport.stderr?.on('data', (d: Buffer) => (err += d.toString()))
    const client = new Client({ name: 'mcp-host-api-test', version: '1.0.0' })
    await client.connect(transport)
    clients.push(client)
    await expectAnswersEqualReport(client, report)
    const run = await call(client, 'run_audit', { deadlines: { 'checkout-one-page': '2026-12-15' } })
    expect(run.structuredContent).toMatchObject({ source: { kind: 'host' }, mode: 'reread', inputs_applied: false, project: 'demo' })
    const missing = await call(client, 'list_flags', { project: 'nope' })
    expect(missing.isError).toBe(true)
    expect(missing.content[0]!.text).toMatch(/404/)
    expect(`${err}${textOf(run)}${textOf(missing)}`).not.toContain(TOKEN)
  })
})
