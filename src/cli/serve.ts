import { existsSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import pino from 'pino'
import { createApp, DEFAULT_MAX_BODY_BYTES } from '../host/app.js'
import { feedDemo } from '../host/demo-feed.js'
import { Host, ProjectError } from '../host/host.js'
import { isLoopback, listen } from '../host/node.js'
import { SecretKeyMismatchError } from '../host/key-check.js'
import { countDemoPast, storeDemoPast } from '../host/demo-past.js'
import { DEMO_SPEC_KEY } from '../host/project.js'
import { demoSpec, type DemoSpec } from '../sim/demo.js'
import type { SimEvent } from '../sim/traffic.js'
import { pluginStorage } from '../host/store.js'
import { ExitError } from './errors.js'
import { forTerminal } from './terminal.js'

export interface HostCliOptions {
  readonly dataDir: string
  readonly redis?: string
  readonly redisCluster?: string
  readonly database?: string
}

export interface ServeOptions extends HostCliOptions {
  readonly port: number
  readonly hostname: string
  readonly secret?: string
  readonly apiToken?: string
  readonly publicUrl?: string
  readonly demo: boolean
  readonly demoRate: number
  readonly maxBody: number
  readonly corsOrigin?: string
  readonly siteDir?: string
}

const say = (m: string) => process.stderr.write(`${forTerminal(m)}\n`)

/**
 * The built site: dist/site beside the compiled CLI (dist/src/cli), or, run from the sources
 * (src/cli), dist/site of the checkout. Only a built site has `assets/`: the sources' own site/
 * (whose index.html loads main.tsx) is never served.
 */
function builtSite(given?: string): string | null {
  if (given) {
    if (existsSync(join(given, 'index.html')) && existsSync(join(given, 'assets'))) return given
    throw new ExitError(`--site-dir ${given}: no built site there (index.html and assets/; vite build --outDir ${given} builds one)`, 2)
  }
  for (const rel of ['../../site', '../../dist/site']) {
    const dir = fileURLToPath(new URL(rel, import.meta.url))
    if (existsSync(join(dir, 'index.html')) && existsSync(join(dir, 'assets'))) return dir
  }
  return null
}

/** Why the host cannot bind, and, when the port is taken or not allowed, how to pick another. */
function cannotListen(opts: Pick<ServeOptions, 'hostname' | 'port'>, e: NodeJS.ErrnoException): string {
  const pickAnother = 'pick another port with --port <n> or the PORT variable (0: any free one)'
  if (e.code === 'EADDRINUSE') return `cannot listen on ${opts.hostname}:${opts.port}: the port is in use (another program, or another host, listens there); ${pickAnother}`
  if (e.code === 'EACCES') return `cannot listen on ${opts.hostname}:${opts.port}: this user may not bind that port (below 1024); ${pickAnother}`
  if (e.code === 'EADDRNOTAVAIL') return `cannot listen on ${opts.hostname}:${opts.port}: this machine has no address ${opts.hostname}; pick another with --hostname or COVERAGE_HOSTNAME`
  return `cannot listen on ${opts.hostname}:${opts.port}: ${e.message}`
}

/** The same host parts `serve` uses, from the options and the environment. */
export async function openHost(opts: HostCliOptions, extra: { logger?: pino.Logger } = {}): Promise<Host> {
  try {
    return await Host.open({
      dataDir: resolve(opts.dataDir),
      redisUrl: opts.redis || undefined,
      redisClusterNodes: opts.redisCluster ? opts.redisCluster.split(',').map((n) => n.trim()).filter(Boolean) : undefined,
      databaseUrl: opts.database || undefined,
      secretKey: process.env.COVERAGE_SECRET_KEY || undefined,
      logger: extra.logger ?? pino({ level: process.env.LOG_LEVEL ?? 'info' }, pino.destination(2)),
    })
  } catch (e) {
    // Another key than the storage's: the message says which and how to fix it; it is not a storage failure.
    if (e instanceof SecretKeyMismatchError) throw new ExitError(e.message, 2)
    throw new ExitError(`cannot open the host's storage: ${(e as Error).message}`, 2)
  }
}

/** A project from POSTHOG_HOST / POSTHOG_PROJECT_ID / POSTHOG_PERSONAL_API_KEY, added or updated at start. */
async function projectFromEnv(host: Host, secret: string | undefined): Promise<string | null> {
  const id = process.env.POSTHOG_PROJECT_ID
  const key = process.env.POSTHOG_PERSONAL_API_KEY
  if (!id || !key) return null
  const config: Record<string, string> = { posthogProjectId: id, posthogPersonalApiKey: key, posthogHost: process.env.POSTHOG_HOST ?? 'https://us.posthog.com' }
  await host.addProject({ id, config, ingestSecret: secret, start: false })
  return id
}

/** Beyond loopback the API token is all that guards the API: at least MIN_API_TOKEN characters. */
export const MIN_API_TOKEN = 32
export function checkApiToken(hostname: string, token: string | undefined): void {
  if (isLoopback(hostname) || token === undefined) return
  if (token.length < MIN_API_TOKEN) throw new ExitError(`the API token is ${token.length} characters; beyond loopback it must be at least ${MIN_API_TOKEN} (e.g. \`openssl rand -hex 24\`)`, 2)
}

export function checkSigningSecret(secret: string): void {
  const encoded = secret.startsWith('whsec_') ? secret.slice(6) : secret
  // PostHog signs only with a base64 secret of at least 24 bytes (nodejs/src/cdp/utils/standard-webhooks.ts).
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(encoded) || Buffer.from(encoded, 'base64').length < 24) {
    throw new ExitError('--secret must be a Standard Webhooks secret: "whsec_" and at least 24 random bytes in base64 (PostHog refuses shorter ones); e.g. whsec_$(openssl rand -base64 32)', 2)
  }
}

/**
 * `experiment-coverage serve`: the host. Projects come from the store, from POSTHOG_* at start,
 * and (with no project at all, or --demo) the demo project, fed by the simulator over HTTP.
 */
export async function runServe(opts: ServeOptions): Promise<void> {
  if (!isLoopback(opts.hostname) && !opts.apiToken) {
    throw new ExitError(`binding to ${opts.hostname} exposes the API beyond this machine: set COVERAGE_API_TOKEN (or --api-token-file) so every request needs it`, 2)
  }
  checkApiToken(opts.hostname, opts.apiToken)
  if (opts.secret) checkSigningSecret(opts.secret)
  const siteDir = builtSite(opts.siteDir)
  const host = await openHost(opts)
  const fromEnv = await projectFromEnv(host, opts.secret)
  let demo: { spec: DemoSpec; rest: SimEvent[] } | null = null
  if (opts.demo || (!fromEnv && (await host.projects()).length === 0)) {
    const existing = await host.project('demo')
    const stored = existing ? ((await pluginStorage(host.store, 'demo').get(DEMO_SPEC_KEY, null)) as DemoSpec | null) : null
    // Each start of the demo simulates the two weeks up to the next whole hour: the past is counted
    // now, as a connected project's HogQL backfill is, and the feed posts the rest as its time comes.
    const spec = demoSpec(Date.now())
    if (existing && stored) await pluginStorage(host.store, 'demo').set(DEMO_SPEC_KEY, spec)
    const row = await host.addProject({ id: 'demo', demo: spec, ingestSecret: opts.secret, start: false })
    say(`demo: counting the simulated project's past (${spec.days} days, ${spec.users.toLocaleString('en-US')} users) before serving it`)
    const t0 = performance.now()
    const past = await countDemoPast(spec, host.maskedConfig(row), Date.now())
    const reviews = await storeDemoPast(host.store, 'demo', past)
    say(`demo: ${past.events.toLocaleString('en-US')} past events counted and ${reviews} daily reviews kept in ${((performance.now() - t0) / 1000).toFixed(1)} s`)
    demo = { spec, rest: past.rest }
  }
  // A promise nobody awaited that fails is logged with its stack; it does not end the host silently.
  process.on('unhandledRejection', (reason) => host.log.error({ err: reason instanceof Error ? reason.message : String(reason), stack: reason instanceof Error ? reason.stack : undefined }, 'unhandled rejection (the host keeps running)'))
  await host.start()
  const corsOrigins = (opts.corsOrigin ?? '').split(',').map((o) => o.trim().replace(/\/+$/, '')).filter(Boolean)
  for (const o of corsOrigins) if (!/^https?:\/\/[^/\s]+$/.test(o)) throw new ExitError(`--cors-origin: ${o} is not an origin such as https://posthog.example.com`, 2)
  // The names this host answers to: a page served under another name that resolves here (DNS rebinding) is refused.
  // Bound to every interface without a public URL, the names are not known: the API token (required
  // beyond loopback) is then what keeps a page from using the API.
  const publicHost = opts.publicUrl && URL.canParse(opts.publicUrl) ? new URL(opts.publicUrl).hostname : null
  const everywhere = opts.hostname === '0.0.0.0' || opts.hostname === '::'
  const allowedHosts = everywhere && !publicHost ? undefined : [...(everywhere ? [] : [opts.hostname]), ...(isLoopback(opts.hostname) ? ['localhost', '127.0.0.1', '::1'] : []), ...(publicHost ? [publicHost] : [])]
  const app = createApp(host, { apiToken: opts.apiToken, maxBodyBytes: opts.maxBody, siteDir: siteDir ?? undefined, corsOrigins, allowedHosts })
  let bound
  try {
    bound = await listen(app, host, { port: opts.port, hostname: opts.hostname })
  } catch (e) {
    await host.stop()
    throw new ExitError(cannotListen(opts, e as NodeJS.ErrnoException), 2)
  }
  const base = opts.publicUrl?.replace(/\/+$/, '') ?? bound.url
  say(`experiment-coverage: serving on ${bound.url} (port ${bound.port}; cache: ${host.cacheKind}; storage: ${host.store.where}; secrets key: ${host.keySource})`)
  say(siteDir ? `  UI:        ${bound.url}/` : '  UI:        not built (npm run build builds it into dist/site)')
  say(`  JSON API:  ${bound.url}/api/projects`)
  say(`  health:    ${bound.url}/healthz, ${bound.url}/readyz, ${bound.url}/metrics`)
  for (const p of await host.projects()) {
    say(`  project ${p.id}${p.enabled ? '' : ' (disabled)'}: intake POST ${base}/ingest/${p.id}, report ${bound.url}/api/projects/${p.id}/report`)
  }
  if (!opts.publicUrl && !isLoopback(opts.hostname)) say('  set COVERAGE_PUBLIC_URL to the address PostHog reaches this host at, so `connect` points the destination there')

  const stopFeed = new AbortController()
  if (demo) {
    const row = (await host.project('demo'))!
    say(`demo: posting the simulated project's ${demo.rest.length.toLocaleString('en-US')} events from now to ${new Date(demo.spec.endMs).toISOString()} to ${bound.url}/ingest/demo, signed, each when its time comes; watch ${bound.url}/api/projects/demo/report`)
    let lastShown = 0
    void feedDemo({
      url: `${bound.url}/ingest/demo`,
      secret: host.ingestSecret(row),
      events: demo.rest,
      perSecond: opts.demoRate,
      signal: stopFeed.signal,
      onProgress: (p) => {
        if (!p.done && Date.now() - lastShown < 60_000) return
        lastShown = Date.now()
        say(`demo: ${p.sent.toLocaleString('en-US')} of ${p.total.toLocaleString('en-US')} events delivered${p.refused ? `, ${p.refused} refused` : ''}${p.done ? ' (done; the host keeps serving)' : ''}`)
      },
    }).catch((e) => say(`demo: the feed stopped: ${(e as Error).message}`))
  }

  await new Promise<void>((done) => {
    const stop = (signal: string) => {
      say(`experiment-coverage: ${signal}: finishing in-flight requests, then stopping`)
      stopFeed.abort()
      void bound.close().then(done, (e) => {
        say(`experiment-coverage: stopping failed: ${(e as Error).message}`)
        done()
      })
    }
    process.once('SIGINT', () => stop('SIGINT'))
    process.once('SIGTERM', () => stop('SIGTERM'))
  })
}

export { ProjectError, DEFAULT_MAX_BODY_BYTES }
