/**
 * The host's `/mcp`: the same tools over MCP's Streamable HTTP, stateless (a server and a
 * transport per request, no session kept), behind the API token like `/api`. A request from a
 * page of another origin is refused whatever its method, as MCP's transport rules ask of a server
 * (a page that reached this host through DNS rebinding or a loopback address must not drive it).
 */
import { WebStandardStreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js'
import { Hono, type MiddlewareHandler } from 'hono'
import { cors } from 'hono/cors'
import { createMcpServer, type LogLevel } from './server.js'
import { Scrubber } from './scrub.js'
import type { ReportSource } from './source.js'

/** Largest JSON-RPC body /mcp reads: tool calls are small. */
export const MCP_MAX_BODY_BYTES = 256 * 1024

/**
 * Refuses a request whose Origin is neither this host's own nor a configured one (403), and a
 * browser's cross-site request that sends no Origin (Sec-Fetch-Site). Clients that are no browser
 * (an assistant's MCP client, curl) send neither.
 */
export function ownOriginOnly(allowedOrigins: readonly string[]): MiddlewareHandler {
  const allowed = new Set(allowedOrigins)
  return async (c, next) => {
    const origin = c.req.header('origin')
    const host = c.req.header('host') ?? new URL(c.req.url).host
    const fetchSite = c.req.header('sec-fetch-site')
    const own = origin !== undefined && URL.canParse(origin) && new URL(origin).host === host
    if ((origin !== undefined && !own && !allowed.has(origin)) || (origin === undefined && (fetchSite === 'cross-site' || fetchSite === 'same-site'))) {
      return c.json({ jsonrpc: '2.0', error: { code: -32000, message: 'a request from another origin may not use this MCP server' }, id: null }, 403)
    }
    await next()
  }
}

export interface McpRouteOptions {
  readonly source: ReportSource
  /** secrets the answers must never hold: the API token, and what the source knows */
  readonly secrets: readonly (string | undefined)[]
  readonly corsOrigins?: readonly string[]
  readonly log: (level: LogLevel, message: string) => void
  readonly version?: string
}

/** The `/mcp` routes; the caller puts the API token in front (the same middleware as `/api`). */
export function mcpRoutes(opts: McpRouteOptions, guard: MiddlewareHandler): Hono {
  const app = new Hono()
  if (opts.corsOrigins?.length) {
    app.use(
      '*',
      cors({
        origin: [...opts.corsOrigins],
        allowMethods: ['POST', 'GET', 'DELETE'],
        allowHeaders: ['content-type', 'authorization', 'mcp-protocol-version', 'mcp-session-id', 'last-event-id'],
        exposeHeaders: ['mcp-session-id', 'mcp-protocol-version'],
        maxAge: 600,
      }),
    )
  }
  app.use('*', ownOriginOnly(opts.corsOrigins ?? []))
  app.use('*', guard)
  app.use('*', async (c, next) => {
    c.header('x-content-type-options', 'nosniff')
    await next()
  })
  app.all('/', async (c) => {
    // Stateless: no stream outlives its request, so there is no GET stream to open and no session to end.
    if (c.req.method !== 'POST') {
      return c.json({ jsonrpc: '2.0', error: { code: -32000, message: 'this MCP server is stateless: POST each JSON-RPC message to /mcp' }, id: null }, 405, { allow: 'POST' })
    }
    const scrubber = new Scrubber(opts.secrets)
    const server = createMcpServer({ source: opts.source, scrubber, log: opts.log, version: opts.version })
    const transport = new WebStandardStreamableHTTPServerTransport({ sessionIdGenerator: undefined, maxRequestBodySize: MCP_MAX_BODY_BYTES })
    await server.connect(transport)
    return transport.handleRequest(c.req.raw)
  })
  return app
}
