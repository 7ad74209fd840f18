/**
 * Writes docs/mcp-transcript.md: an MCP client (the SDK's own, over stdio) runs the pre-readout
 * review of one simulated experiment end to end against `experiment-coverage mcp --report`, on
 * the demo project's report (`experiment-coverage demo --format json`). The client follows the
 * prompt's six steps as an assistant would; every request and the text part of every answer is
 * written down as the server sent it.
 *
 *   npx tsx scripts/mcp-transcript.ts [flag-key] [out.md]
 */
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js'
import { runDemo } from '../src/cli/demo.js'
import { DEMO_PROJECT } from '../src/sim/demo.js'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const FLAG = process.argv[2] ?? 'activation-empty-state'
const OUT = process.argv[3] ?? join(ROOT, 'docs', 'mcp-transcript.md')
// A fixed moment, so the transcript is the same on every run.
const NOW = Date.UTC(2026, 11, 1, 9)

const dir = mkdtempSync(join(tmpdir(), 'ec-mcp-transcript-'))
const reportFile = join(dir, 'demo-report.json')
process.stderr.write('transcript: judging the demo project\n')
writeFileSync(reportFile, await runDemo({ ...DEMO_PROJECT, format: 'json', nowMs: NOW }))
// The same project judged three days earlier: the run what_changed compares with.
const previousFile = join(dir, 'demo-report-3-days-earlier.json')
writeFileSync(previousFile, await runDemo({ ...DEMO_PROJECT, format: 'json', nowMs: NOW - 3 * 86_400_000 }))

const transport = new StdioClientTransport({ command: process.execPath, args: ['--import', 'tsx', 'src/cli/main.ts', 'mcp', '--report', reportFile, '--previous', previousFile], cwd: ROOT, stderr: 'pipe' })
const client = new Client({ name: 'transcript', version: '1.0.0' })
await client.connect(transport)

const md: string[] = []
const fence = (lang: string, text: string) => md.push('```' + lang, text.replace(/```/g, '`\u200b``'), '```', '')
const said = (text: string) => md.push(text, '')

type Answer = { content: { type: string; text?: string }[]; structuredContent?: Record<string, unknown>; isError?: boolean }
async function tool(name: string, args: Record<string, unknown>, excerpt?: (s: Record<string, unknown>) => unknown): Promise<Record<string, unknown>> {
  const a = (await client.callTool({ name, arguments: args })) as Answer
  md.push(`**→ tools/call** \`${name}\``)
  fence('json', JSON.stringify(args))
  md.push(`**← ${a.isError ? 'error' : 'text'}**`)
  fence('text', a.content[0]?.text ?? '')
  if (excerpt && a.structuredContent) {
    md.push('**← structuredContent** (excerpt)')
    fence('json', JSON.stringify(excerpt(a.structuredContent), null, 2))
  }
  return a.structuredContent ?? {}
}

md.push(
  '# An MCP session: the pre-readout review of one simulated experiment',
  '',
  `Written by \`npx tsx scripts/mcp-transcript.ts\`: the SDK's own MCP client (\`@modelcontextprotocol/sdk\` 1.32, stdio) against \`experiment-coverage mcp --report\`, on the report of the simulated demo project (\`experiment-coverage demo --format json\`, ${DEMO_PROJECT.users} users over ${DEMO_PROJECT.days} days, judged at ${new Date(NOW).toISOString()}). The client plays the assistant: it asks for the prompt, then calls the tools its six steps name, for the experiment on \`${FLAG}\`. Requests and the text part of each answer are as the server sent them; long structured results are cut to an excerpt.`,
  '',
)

const init = client.getServerVersion()
md.push('## The session', '')
said(`Connected to \`${init?.name}\` ${init?.version}. Tools: ${(await client.listTools()).tools.map((t) => `\`${t.name}\``).join(', ')}. Resources: ${(await client.listResources()).resources.map((r) => `\`${r.uri}\``).join(', ')}.`)

md.push('**→ prompts/get** `pre_readout_review`')
fence('json', JSON.stringify({ flag: FLAG }))
const prompt = await client.getPrompt({ name: 'pre_readout_review', arguments: { flag: FLAG } })
md.push('**← prompt** (the user message)')
fence('text', (prompt.messages[0]!.content as { text: string }).text)

md.push('## Step 1: the project, the window, the deadlines', '')
await tool('list_projects', {})
await tool('run_audit', {}, (s) => ({ mode: s.mode, ran: s.ran, generated_at: s.generated_at, window: s.window, summary: s.summary }))

md.push('## Step 2: the inventory', '')
const listed = await tool('list_flags', { search: FLAG }, (s) => (s.flags as unknown[]).slice(0, 1))
const brief = (listed.flags as { key: string; due_in_days: number | null }[]).find((f) => f.key === FLAG)

md.push('## Step 3: the exposure review', '')
const cov = await tool('get_flag_coverage', { key: FLAG }, (s) => {
  const f = s.flag as { variants: unknown; checks: { id: string; status: string; summary: string; fix: string | null; query: string | null }[]; assumptions: string[] }
  return {
    observed_shares: s.observed_shares,
    variants: f.variants,
    checks: f.checks.filter((c) => c.status !== 'pass' && c.status !== 'not_applicable').map((c) => ({ id: c.id, status: c.status, summary: c.summary, fix: c.fix, query: c.query })),
    passing: f.checks.filter((c) => c.status === 'pass').map((c) => c.id),
    assumptions: f.assumptions,
  }
})
const flag = cov.flag as { checks: { id: string; status: string }[]; assumptions: string[]; verdict: string; score: number; variants: { key: string; exposures: number; units: number }[]; backfill: { action: string }[] }

md.push('## Step 4: goal matching', '')
await tool('explain_check', { check: 'primary_metric', flag: FLAG }, (s) => ({ rule: s.rule, source: s.source, finding: s.finding }))
await tool('explain_check', { check: 'guardrails', flag: FLAG }, (s) => ({ finding: (s.finding as { status: string; summary: string } | null) && { status: (s.finding as { status: string }).status, summary: (s.finding as { summary: string }).summary } }))

md.push('## Step 5: the gaps, by priority', '')
await tool('get_plan', { flags: [FLAG] }, (s) => s.items)

md.push('## Step 6: the table and the readout', '')
const readout = await tool('get_readout', { flags: [FLAG] })
await tool('what_changed', {})

md.push('### What the assistant writes', '')
const failing = flag.checks.filter((c) => c.status === 'fail').map((c) => c.id)
md.push(
  '| flag | verdict | score | exposures / units per variant | failing checks | first repair | due in days |',
  '|---|---|---|---|---|---|---|',
  `| \`${FLAG}\` | ${flag.verdict} | ${flag.score} | ${flag.variants.map((v) => `${v.key}: ${v.exposures} / ${v.units}`).join('; ')} | ${failing.join(', ') || 'none'} | ${flag.backfill[0]?.action.replace(/\|/g, '\\|') ?? 'none'} | ${brief?.due_in_days ?? '-'} |`,
  '',
)
md.push('The readout, as `get_readout` gave it:', '')
md.push(...String(readout.markdown).trimEnd().split('\n').map((l) => `> ${l}`), '')
if (flag.assumptions.length) md.push('Assumptions (the report\'s, marked as such):', '', ...flag.assumptions.map((a) => `- Assumption: ${a}`), '')

await client.close()
writeFileSync(OUT, `${md.join('\n').trimEnd().split(`${dir}/`).join('')}\n`)
process.stderr.write(`transcript: wrote ${OUT}\n`)
