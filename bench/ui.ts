/// <reference lib="dom" />
// page.evaluate callbacks run in the browser: they use its DOM types.
/**
 * UI benchmark, in Chromium: the time to render the flag list of 2,000 flags and to apply a filter,
 * beside the time to render the same 2,000 rows as plain static HTML (same markup, same CSS), in
 * the same run, as ratios; and the bundle's JS and CSS sizes (gzip). Medians of several runs.
 * Run: npm run bench:ui [-- --flags 2000 --runs 5]
 */
import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { gzipSync } from 'node:zlib'
import { serve } from '@hono/node-server'
import { serveStatic } from '@hono/node-server/serve-static'
import { Hono } from 'hono'
import { chromium } from 'playwright-core'
import type { FlagEntry } from '../frontend/api.js'
import { FLAG_PAGE } from '../frontend/paging.js'

const { values: args } = parseArgs({ options: { flags: { type: 'string', default: '2000' }, runs: { type: 'string', default: '5' } } })
const N = Number(args.flags)
const RUNS = Number(args.runs)
const CHROMIUM = '/usr/bin/chromium'
if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium`)

const site = mkdtempSync(join(tmpdir(), 'coverage-bench-ui-'))
const built = spawnSync(process.execPath, ['node_modules/vite/bin/vite.js', 'build', '--outDir', site, '--emptyOutDir'], { encoding: 'utf8' })
if (built.status !== 0) throw new Error(built.stderr)

const VERDICTS = ['trustworthy', 'needs_backfill', 'blocked', 'insufficient_data', 'inactive'] as const
const CHECKS = ['exposure_present', 'exposure_event', 'variant_values', 'sample_ratio', 'multiple_variants', 'exposure_source', 'exposure_gap', 'primary_metric', 'guardrails', 'audience', 'sample_size', 'flag_state']
const STATUSES = ['pass', 'pass', 'pass', 'warn', 'fail', 'unknown'] as const
const flags: FlagEntry[] = Array.from({ length: N }, (_, i) => ({
  key: `flag-${String(i).padStart(4, '0')}-${['checkout', 'pricing', 'search', 'onboarding'][i % 4]}`,
  name: `Flag ${i}`,
  kind: i % 3 === 0 ? 'experiment' : i % 3 === 1 ? 'multivariate_flag' : 'boolean_flag',
  verdict: VERDICTS[i % 5]!,
  score: (i * 37) % 100,
  flag_id: i,
  active: i % 7 !== 0,
  rollout_percentage: 50,
  variants: i % 3 === 2 ? [] : [{ key: 'control', rollout_percentage: 50 }, { key: 'test', rollout_percentage: 50 }],
  tags: [['growth', 'checkout', 'pricing'][i % 3]!],
  created_at: new Date(Date.UTC(2026, 10, 1) + i * 60_000).toISOString(),
  experiment: i % 3 === 0 ? { id: i, name: `Experiment ${i}`, status: 'running' } : null,
  priority: (i * 13) % 100,
  checks: CHECKS.map((id, j) => ({ id, status: STATUSES[(i + j) % STATUSES.length]!, summary: `${id} summary` })),
}))
const blocked = flags.filter((f) => f.verdict === 'blocked').length
const css = readdirSync(join(site, 'assets')).find((f) => f.endsWith('.css'))!

/** The same rows as the app renders them, as one static HTML page. */
function staticPage(): string {
  const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;')
  const row = (f: FlagEntry) =>
    `<tr data-flag-key="${esc(f.key)}"><td><a class="flag-key" href="?flag=${esc(f.key)}">${esc(f.key)}</a><div class="muted small">${esc(f.name)}</div></td>` +
    `<td><div class="badges"><span class="badge verdict-${f.verdict}" data-verdict="${f.verdict}">${f.verdict}</span><span class="checks">${f.checks
      .map((c) => `<span class="check status-${c.status}" data-check="${c.id}" data-status="${c.status}" title="${esc(c.summary)}"><span aria-hidden="true">•</span><span class="sr-only">${c.id} ${c.status}</span></span>`)
      .join('')}</span></div></td><td class="wide">${f.active ? 'Active' : 'Disabled'}</td><td class="wide small">${f.variants.map((v) => `${v.key} ${v.rollout_percentage}%`).join(' · ') || '50%'}</td>` +
    `<td class="wide">${f.tags.map((t) => `<span class="tag">${esc(t)}</span>`).join('')}</td><td class="wide small">${f.experiment ? esc(f.experiment.name) : '–'}</td><td class="wide small">${f.created_at}</td></tr>`
  return `<!doctype html><html><head><meta charset="utf-8"><link rel="stylesheet" href="/assets/${css}"></head><body><div class="app"><div class="table-wrap"><table class="flags"><tbody>${flags.map(row).join('')}</tbody></table></div></div></body></html>`
}

const app = new Hono()
app.get('/api/projects', (c) => c.json({ projects: [{ id: 'bench', name: 'Bench', enabled: true, demo: false, status: 'counting', intake_path: '/ingest/bench', problems: [] }] }))
app.get('/api/projects/bench/flags', (c) => c.json({ generated_at: new Date().toISOString(), summary: {}, posthog: null, flags }))
const page2 = staticPage()
app.get('/static.html', (c) => c.html(page2))
app.use('/*', serveStatic({ root: site }))
const server = await new Promise<ReturnType<typeof serve>>((resolve) => {
  const s = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(s))
})
const port = (server.address() as { port: number }).port
const base = `http://127.0.0.1:${port}`

const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'] })
const results = { app: [] as number[], filter: [] as number[], plain: [] as number[] }
for (let run = 0; run < RUNS; run++) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } })
  const page = await context.newPage()
  // The app: from navigation start until its first page of rows is in the document (the list
  // draws FLAG_PAGE rows, then more on request; search and filters cover all N).
  await page.goto(`${base}/?project=bench`)
  await page.waitForFunction((n) => document.querySelectorAll('tbody tr[data-flag-key]').length === n, Math.min(N, FLAG_PAGE), { timeout: 60_000 })
  results.app.push(await page.evaluate(() => performance.now()))
  // A filter: from the change until the list shows only the blocked flags.
  results.filter.push(
    await page.evaluate(async (want) => {
      const select = document.querySelector('select[name=verdict]') as HTMLSelectElement
      const t0 = performance.now()
      select.value = 'blocked'
      select.dispatchEvent(new Event('change', { bubbles: true }))
      while (document.querySelectorAll('tbody tr[data-flag-key]').length !== want) await new Promise((r) => requestAnimationFrame(r))
      return performance.now() - t0
    }, Math.min(blocked, FLAG_PAGE)),
  )
  // The same rows as static HTML: from navigation start until the page has loaded.
  await page.goto(`${base}/static.html`, { waitUntil: 'load' })
  results.plain.push(await page.evaluate(() => (performance.getEntriesByType('navigation')[0] as PerformanceNavigationTiming).loadEventEnd))
  await context.close()
}
await browser.close()
server.close()

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
const plain = median(results.plain)
const assets = readdirSync(join(site, 'assets'))
const size = (test: (f: string) => boolean) => assets.filter(test).reduce((n, f) => n + gzipSync(readFileSync(join(site, 'assets', f))).length, 0)
const lines = [
  `Chromium, ${N} flags, medians of ${RUNS} runs; the static page is the same rows' markup with the same CSS, measured in the same run.`,
  '',
  '| measure | time | vs static HTML |',
  '|---|---:|---:|',
  `| static HTML, ${N} rows: navigation to load | ${plain.toFixed(0)} ms | 1.00 |`,
  `| the app: navigation to its first ${Math.min(N, FLAG_PAGE)} rows of ${N} rendered (fetch and JSON of all ${N} included) | ${median(results.app).toFixed(0)} ms | ${(median(results.app) / plain).toFixed(2)} |`,
  `| the app: a verdict filter applied over all ${N} (${blocked} match, ${Math.min(blocked, FLAG_PAGE)} drawn) | ${median(results.filter).toFixed(0)} ms | ${(median(results.filter) / plain).toFixed(2)} |`,
  '',
  '| bundle | gzip |',
  '|---|---:|',
  `| JavaScript (the app) | ${(size((f) => f.endsWith('.js') && !f.startsWith('demo-')) / 1024).toFixed(1)} KiB |`,
  `| CSS | ${(size((f) => f.endsWith('.css')) / 1024).toFixed(1)} KiB |`,
  `| JavaScript of the in-browser demo (msw, the settings code; loaded only without a backend) | ${(size((f) => f.endsWith('.js') && f.startsWith('demo-')) / 1024).toFixed(1)} KiB |`,
]
rmSync(site, { recursive: true, force: true })
process.stdout.write(`${lines.join('\n')}\n`)
