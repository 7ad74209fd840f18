/**
 * The host's middleware, as small factories in the way Hono's own are written: the names it answers
 * for, the API token, the throttle on failed authentications, writes only from its own pages, and
 * closing a connection whose request was answered before it arrived whole.
 */
import type { IncomingMessage } from 'node:http'
import type { Socket } from 'node:net'
import type { Context, MiddlewareHandler } from 'hono'
import type { Logger } from 'pino'
import { clientKey, type FailureThrottle } from './auth-throttle.js'
import type { HostMetrics } from './metrics.js'
import { sameSecret } from './secrets.js'

/** A Host header's name, without its port, lowercased; `[::1]:8787` is `::1`. */
export function hostNameOf(header: string): string {
  const h = header.trim().toLowerCase()
  if (h.startsWith('[')) return h.slice(1, h.indexOf(']') < 0 ? undefined : h.indexOf(']'))
  const colon = h.lastIndexOf(':')
  return colon >= 0 && h.indexOf(':') === colon ? h.slice(0, colon) : h
}

/**
 * Answers only for the host names it serves (the Host header, without its port): any other name is
 * refused with 421 Misdirected Request, so a page whose own name was made to resolve to this machine
 * (DNS rebinding) cannot use the API as same-origin.
 */
export function answerOnlyFor(names: readonly string[]): MiddlewareHandler {
  const allowed = new Set(names.map(hostNameOf))
  return async (c, next) => {
    const name = hostNameOf(c.req.header('host') ?? new URL(c.req.url).host)
    if (!allowed.has(name)) return c.json({ error: `this host does not answer for ${JSON.stringify(name.slice(0, 100))}; use the address it serves` }, 421)
    await next()
  }
}

/** The socket's request when the app runs under @hono/node-server; none when it is called directly. */
export function incomingOf(c: Context): IncomingMessage | undefined {
  return (c.env as { incoming?: IncomingMessage } | undefined)?.incoming
}

export type AuthCheck = 'api_token' | 'intake'

/**
 * Failed authentications per client address and check; a client that failed too often gets 429
 * with Retry-After, its credentials unchecked, until its block ends (docs/host.md, "Limits").
 */
export function authGuard(throttle: FailureThrottle, m: HostMetrics, log: Pick<Logger, 'warn'>) {
  const clientOf = (c: Context) => clientKey(incomingOf(c)?.socket.remoteAddress)
  return {
    /** The 429 for a blocked client; null when it may be checked. */
    refuseBlocked(c: Context, check: AuthCheck): Response | null {
      const wait = throttle.retryAfter(`${check} ${clientOf(c)}`)
      if (!wait) return null
      m.authThrottled.inc({ check })
      return c.json({ error: `too many failed authentications from this address; try again in ${wait} s` }, 429, { 'retry-after': String(wait) })
    },
    failed(c: Context, check: AuthCheck): void {
      m.authFailures.inc({ check })
      const client = clientOf(c)
      if (throttle.fail(`${check} ${client}`)) log.warn({ check, client, blockSeconds: throttle.limits.blockMs / 1000 }, 'a client failed authentication too often: refused with 429 for a while')
    },
  }
}
export type AuthGuard = ReturnType<typeof authGuard>

/** Requests to the API and metrics carry the host's token (when one is set). */
export function apiToken(token: string | undefined, guard: AuthGuard): MiddlewareHandler {
  return async (c, next) => {
    if (!token) return next()
    const blocked = guard.refuseBlocked(c, 'api_token')
    if (blocked) return blocked
    const auth = c.req.header('authorization') ?? ''
    if (!auth.startsWith('Bearer ') || !sameSecret(auth.slice(7).trim(), token)) {
      guard.failed(c, 'api_token')
      return c.json({ error: 'this host needs its API token: Authorization: Bearer <COVERAGE_API_TOKEN>' }, 401)
    }
    return next()
  }
}

/**
 * An answer given before the whole request arrived (a 413 by Content-Length, a 401 before the body,
 * a 503 while bodies wait) says `Connection: close`, and the host then closes the connection: the
 * rest of the body is never kept, and a keep-alive client sends its next request on a new connection.
 * Without it @hono/node-server drains the body for 500 ms and then destroys the socket it had
 * announced as kept alive, and the client's next request on it fails (issue 19, item 6).
 */
export function closeUnlessComplete(): MiddlewareHandler {
  return async (c, next) => {
    await next()
    const incoming = incomingOf(c)
    if (!incoming || incoming.complete) return
    c.res.headers.set('connection', 'close')
    lingerOnClose(incoming.socket)
  }
}

// How long a closing connection is still read (and what arrives dropped) before it is destroyed.
export const LINGER_MS = 2_000

/**
 * Closes in stages, as RFC 9112 section 9.6 asks of a server that closes while the client may still
 * be sending: the answer and a FIN go out, whatever still arrives is read and dropped, and the socket
 * is destroyed once the client closes its side, or after LINGER_MS. Node, after `Connection: close`,
 * destroys it at once (`destroySoon`); the client's next bytes then meet a reset, and a client that
 * had not yet read the answer may lose it.
 */
export function lingerOnClose(socket: Socket): void {
  socket.destroySoon = function (this: Socket) {
    this.end()
    const timer = setTimeout(() => this.destroy(), LINGER_MS)
    timer.unref()
    this.once('close', () => clearTimeout(timer))
    this.once('end', () => this.destroy())
    this.resume()
  }
}

/**
 * A request that changes state (POST, PUT, PATCH, DELETE) must be JSON and come from this host's own
 * pages or a configured origin: a cross-site form or `text/plain` fetch (no preflight) is refused,
 * so another site cannot disable a project or change its settings from a visitor's browser.
 * Requests without Origin (the CLI, curl, PostHog) are judged by `Sec-Fetch-Site` when a browser sends it.
 */
export function sameOriginWrites(allowedOrigins: readonly string[]): MiddlewareHandler {
  const allowed = new Set(allowedOrigins)
  return async (c, next) => {
    if (c.req.method === 'GET' || c.req.method === 'HEAD' || c.req.method === 'OPTIONS') return next()
    const origin = c.req.header('origin')
    const host = c.req.header('host') ?? new URL(c.req.url).host
    const sameOrigin = origin !== undefined && URL.canParse(origin) && new URL(origin).host === host
    const fetchSite = c.req.header('sec-fetch-site')
    if (origin !== undefined && !sameOrigin && !allowed.has(origin)) return c.json({ error: 'a request from another site may not change this host' }, 403)
    if (origin === undefined && (fetchSite === 'cross-site' || fetchSite === 'same-site')) return c.json({ error: 'a request from another site may not change this host' }, 403)
    const type = (c.req.header('content-type') ?? '').split(';')[0]!.trim().toLowerCase()
    if (type !== 'application/json') return c.json({ error: 'send JSON (Content-Type: application/json)' }, 415)
    return next()
  }
}
