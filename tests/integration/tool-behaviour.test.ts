/**
 * The host and the CLI behave as tools do (issue 20, item 4), through the real CLI (a child process
 * through tsx) and the real server (`serve` on an ephemeral port):
 * - an unknown API path answers 404 in JSON, not the site's page with 200;
 * - a usage error exits 2, a `--fail-on` finding 1; `--version` prints the version;
 * - a busy port names the option and the variable that pick another;
 * - the minute line is quiet at the default level, and at debug says why events were ignored.
 */
import { execFile } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer, type Server } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { createApp } from '../../src/host/app.js'
import { signedHeaders } from '../../src/host/demo-feed.js'
import { Host } from '../../src/host/host.js'
import { listen } from '../../src/host/node.js'
import { parseDefectList } from '../../src/sim/defects.js'
import { simulate } from '../../src/sim/simulation.js'
import { writeSimulation } from '../../src/sim/write.js'
import { killAll, spawnHost, tracked, type HostProcess } from '../support/host-process.js'
import { silent } from '../support/host.js'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version
// A Standard Webhooks secret of 32 bytes, so the test signs what the host verifies.
const SECRET = `whsec_${Buffer.alloc(32, 7).toString('base64')}`
const dirs: string[] = []

/** Runs the CLI as users do (through tsx) and returns its exit code and output. */
function cli(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    tracked(
      execFile(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { cwd: ROOT, env: { ...process.env, ...env }, maxBuffer: 64 << 20 }, (e, stdout, stderr) =>
        done({ code: e ? Number((e as { code?: number }).code ?? 1) : 0, stdout, stderr }),
      ),
    )
  })
}

/**
 * A data directory holding one project (p1, no PostHog credentials), so `serve` starts it instead
 * of the demo, at once.
 */
async function dataDirWithProject(): Promise<string> {
  const dataDir = mkdtempSync(join(tmpdir(), 'coverage-tool-'))
  dirs.push(dataDir)
  const host = await Host.open({ dataDir, logger: silent, processMetrics: false })
  await host.addProject({ id: 'p1', config: {}, ingestSecret: SECRET, start: false })
  await host.stop()
  return dataDir
}

const serveEnv = (level: string) => ({ LOG_LEVEL: level, COVERAGE_SECRET_KEY: '', POSTHOG_PROJECT_ID: '', POSTHOG_PERSONAL_API_KEY: '', REDIS_URL: '', DATABASE_URL: '' })

afterAll(() => {
  killAll()
  for (const d of dirs) rmSync(d, { recursive: true, force: true })
})

// Each run of the CLI loads it through tsx: seconds on two shared cores, so these tests get room.
describe('the CLI: exit codes and --version', { timeout: 150_000 }, () => {
  let sim = ''
  beforeAll(async () => {
    sim = mkdtempSync(join(tmpdir(), 'coverage-tool-sim-'))
    dirs.push(sim)
    await writeSimulation(simulate({ seed: 3, flags: 20, users: 300, days: 7, endMs: Date.UTC(2026, 10, 20), defects: parseDefectList('mix') }), sim)
  })
  const files = () => ['--events', join(sim, 'events.ndjson'), '--flags', join(sim, 'flags.json'), '--experiments', join(sim, 'experiments.json')]

  it.each([
    ['an unknown option', ['audit', '--evnets', 'x.ndjson'], /unknown option '--evnets'/],
    ['a value outside the choices', ['audit', '--format', 'xml'], /argument 'xml' is invalid/],
    ['a missing argument', ['hog', 'compile'], /missing required argument 'expression'/],
  ])('%s is a usage error: exit 2, not the 1 of --fail-on', async (_, args, message) => {
    const r = await cli(args)
    expect(r.stderr).toMatch(message)
    expect(r.code).toBe(2)
  })

  it('a --fail-on finding exits 1; the same command with a typo in its value exits 2', { timeout: 240_000 }, async () => {
    const found = await cli(['audit', ...files(), '--format', 'json', '--fail-on', 'blocked'])
    expect(found.code).toBe(1)
    expect((JSON.parse(found.stdout) as { flags: { verdict: string }[] }).flags.some((f) => f.verdict === 'blocked')).toBe(true)
    const typo = await cli(['audit', ...files(), '--fail-on', 'blokced'])
    expect(typo.code).toBe(2)
    expect(typo.stdout).toBe('')
  })

  it('--version prints the package version and exits 0', async () => {
    expect(await cli(['--version'])).toEqual({ code: 0, stdout: `${VERSION}\n`, stderr: '' })
  })
})

describe('serve on a busy port', { timeout: 150_000 }, () => {
  let busy: Server
  afterEach(() => new Promise((r) => (busy ? busy.close(r) : r(undefined))))

  it.each([
    ['--port', (port: number) => ({ args: ['--port', String(port)], env: {} })],
    ['PORT', (port: number) => ({ args: [], env: { PORT: String(port) } })],
  ])('given by %s: exits 2 and says which option or variable picks another port', async (_, given) => {
    busy = createServer()
    await new Promise<void>((r) => busy.listen(0, '127.0.0.1', r))
    const port = (busy.address() as { port: number }).port
    const { args, env } = given(port)
    const r = await cli(['serve', '--hostname', '127.0.0.1', '--data-dir', await dataDirWithProject(), ...args], { ...serveEnv('warn'), ...env })
    expect(r.code).toBe(2)
    expect(r.stderr).toContain(`cannot listen on 127.0.0.1:${port}: the port is in use`)
    expect(r.stderr).toMatch(/pick another port with --port <n> or the PORT variable/)
  })
})

describe('the served API', () => {
  let host: HostProcess
  beforeAll(async () => {
    host = await spawnHost(['--port', '0', '--data-dir', await dataDirWithProject()], serveEnv('warn'))
  }, 60_000)
  afterAll(() => host?.stop())

  it.each([
    ['GET', '/api/projects/p1/nothing'],
    ['GET', '/api/v1/feature_flags/'],
    ['GET', '/api'],
    ['POST', '/api/projects/p1/nothing'],
    ['GET', '/ingest/p1'],
  ])('%s %s: 404 in JSON that names the API', async (method, path) => {
    const res = await fetch(`${host.url}${path}`, { method, ...(method === 'POST' ? { body: '{}', headers: { 'content-type': 'application/json' } } : {}) })
    expect(res.status).toBe(404)
    expect(res.headers.get('content-type')).toMatch(/^application\/json/)
    expect(((await res.json()) as { error: string }).error).toMatch(/its API starts at \/api\/projects/)
  })

  it('a known path still answers', async () => {
    const res = await fetch(`${host.url}/api/projects`)
    expect(res.status).toBe(200)
    expect(((await res.json()) as { projects: { id: string }[] }).projects.map((p) => p.id)).toEqual(['p1'])
  })
})

describe('the served site', () => {
  // A built site's shape (index.html and assets/), so the page is served as from dist/site.
  const site = mkdtempSync(join(tmpdir(), 'coverage-tool-site-'))
  dirs.push(site)
  mkdirSync(join(site, 'assets'))
  writeFileSync(join(site, 'index.html'), '<!doctype html><title>Experiment coverage</title>')
  writeFileSync(join(site, 'assets', 'app.js'), 'export {}')
  let url = ''
  let close = async () => {}
  beforeAll(async () => {
    const dataDir = await dataDirWithProject()
    const h = await Host.open({ dataDir, logger: silent, processMetrics: false })
    await h.start({ scheduler: false })
    const bound = await listen(createApp(h, { siteDir: site }), h, { port: 0, hostname: '127.0.0.1' })
    url = bound.url
    close = () => bound.close()
  })
  afterAll(() => close())

  it.each([
    ['/', 200, 'text/html'],
    ['/?project=p1&view=flag&flag=new-checkout', 200, 'text/html'],
    ['/some/shared/link', 200, 'text/html'],
    ['/assets/app.js', 200, 'text/javascript'],
    ['/assets/gone.js', 404, 'application/json'],
    ['/api/projects/p1/nothing', 404, 'application/json'],
    ['/ingest', 404, 'application/json'],
    ['/decide/', 404, 'application/json'],
  ])('GET %s: %i %s', async (path, status, type) => {
    const res = await fetch(`${url}${path}`)
    expect(res.status).toBe(status)
    expect(res.headers.get('content-type')).toContain(type)
    await res.arrayBuffer()
  })

  it('a POST no route takes is a 404 in JSON, not the page', async () => {
    const res = await fetch(`${url}/somewhere`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } })
    expect(res.status).toBe(404)
    expect(res.headers.get('content-type')).toMatch(/^application\/json/)
  })
})

describe("the plugin's minute line in the host's log", () => {
  const MINUTE = /flags observed; since the last minute/

  /** Waits until the host's scheduler has run the plugin's minute task `n` times (its metrics say so). */
  async function minuteRuns(h: HostProcess, n: number): Promise<void> {
    for (let i = 0; i < 400; i++) {
      const text = await (await fetch(`${h.url}/metrics`)).text()
      const runs = Number(/coverage_scheduler_runs_total\{task="minute",result="ok"\} (\d+)/.exec(text)?.[1] ?? 0)
      if (runs >= n) return
      await new Promise((r) => setTimeout(r, 250))
    }
    throw new Error(`the minute task did not run ${n} times in 100 s`)
  }

  /** Posts page views (nothing to count: no flag, no metric) to the intake, signed as PostHog signs. */
  async function postPageViews(h: HostProcess, count: number): Promise<void> {
    for (let i = 0; i < count; i++) {
      const text = JSON.stringify({ event: { uuid: crypto.randomUUID(), event: '$pageview', distinct_id: `u${i}`, timestamp: new Date().toISOString(), properties: {} }, person: null })
      const res = await fetch(`${h.url}/ingest/p1`, { method: 'POST', body: text, headers: signedHeaders(SECRET, `msg_${i}_${Date.now()}`, text) })
      expect(await res.json()).toEqual({ ok: true, outcomes: { ignored: 1 } })
    }
  }

  it('is not written at the default level (info)', { timeout: 120_000 }, async () => {
    const h = await spawnHost(['--port', '0', '--data-dir', await dataDirWithProject()], serveEnv('info'))
    await postPageViews(h, 3)
    await minuteRuns(h, 1)
    expect(h.stderr()).toContain('serving on')
    expect(h.stderr()).not.toMatch(MINUTE)
    await h.stop()
  })

  it('at debug, says why the events it ignored were ignored', { timeout: 150_000 }, async () => {
    const h = await spawnHost(['--port', '0', '--data-dir', await dataDirWithProject()], serveEnv('debug'))
    await postPageViews(h, 3)
    await minuteRuns(h, 1)
    // The first minute task may have run before the page views arrived: then the next one tells them.
    const told = () => h.stderr().split('\n').find((l) => MINUTE.test(l) && /ignored 3 /.test(l))
    if (!told()) await minuteRuns(h, 2)
    const line = JSON.parse(told()!) as { level: number; project: string; msg: string }
    expect(line.level).toBe(20) // pino's debug
    expect(line.project).toBe('p1')
    expect(line.msg).toMatch(/counted 0, ignored 3 \(3 carry no flag, exposure or metric event\), duplicates 0, rejected 0$/)
    await h.stop()
  })
})
