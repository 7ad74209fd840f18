import { serve, type ServerType } from '@hono/node-server'
import type { AddressInfo } from 'node:net'
import type { Hono } from 'hono'
import type { Host } from './host.js'

/** True for addresses only this machine can reach. */
export function isLoopback(hostname: string): boolean {
  return hostname === 'localhost' || hostname === '::1' || /^127\.\d+\.\d+\.\d+$/.test(hostname)
}

export interface Bound {
  readonly server: ServerType
  readonly port: number
  readonly url: string
  /** Stops taking connections, lets in-flight requests finish, then stops the host. */
  close(): Promise<void>
}

/** Binds the app to a port (0: any free one) and resolves once it listens. */
export function listen(app: Hono, host: Host, opts: { port: number; hostname: string }): Promise<Bound> {
  return new Promise((resolve, reject) => {
    const server = serve({ fetch: app.fetch, port: opts.port, hostname: opts.hostname }, (info: AddressInfo) => {
      const shown = info.family === 'IPv6' ? `[${info.address}]` : info.address
      let closing: Promise<void> | null = null
      resolve({
        server,
        port: info.port,
        url: `http://${shown}:${info.port}`,
        close: () =>
          (closing ??= (async () => {
            await new Promise<void>((done) => server.close(() => done()))
            await host.stop()
          })()),
      })
    })
    server.once('error', reject)
  })
}
