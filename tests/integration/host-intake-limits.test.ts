/**
 * The intake and the API under the attacks of issue 19, item 6, over real sockets (the app served by
 * @hono/node-server on an ephemeral loopback port): a body is refused by its Content-Length or its
 * credentials before it is read, an answer given before the whole request arrived says
 * `Connection: close` and the socket is then really closed, bodies are read a few at a time, and a
 * client that keeps failing authentication gets 429 without being checked.
 */
import { serve } from '@hono/node-server'
import type { Hono } from 'hono'
import { once } from 'node:events'
import { Agent, request, type IncomingHttpHeaders, type Server } from 'node:http'
import { connect, type AddressInfo, type Socket } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createApp, type AppOptions } from '../../src/host/app.js'
import { signedHeaders } from '../../src/host/demo-feed.js'
import type { DemoSpec } from '../../src/host/project.js'
import { simulate } from '../../src/sim/simulation.js'
import { asBody, testHost } from '../support/host.js'

const END = Date.UTC(2026, 10, 20, 12)
const spec: DemoSpec = { seed: 7, flags: 20, users: 60, days: 2, endMs: END }
const events = [...simulate({ ...spec, defects: [] }).events]
const TOKEN = 'tok_0123456789abcdef0123456789abcdef'
// No throttling where a test is about something else.
const LENIENT: AppOptions = { authThrottle: { maxFailures: 1_000 } }

let t: Awaited<ReturnType<typeof testHost>>
let secret: string

beforeAll(async () => {
  t = await testHost({ clock: () => END })
  const row = await t.host.addProject({ id: 'demo', demo: spec })
  secret = t.host.ingestSecret(row)
})
afterAll(() => t.close())

/** The app on an ephemeral loopback port, as `serve` binds it. */
async function served(opts: AppOptions): Promise<{ port: number; app: Hono; close(): Promise<void> }> {
  const app = createApp(t.host, opts)
  const server = await new Promise<Server>((resolve) => {
    const s = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(s as Server))
  })
  return {
    port: (server.address() as AddressInfo).port,
    app,
    close: () =>
      new Promise<void>((done) => {
        server.closeAllConnections()
        server.close(() => done())
      }),
  }
}

interface Answer {
  status: number
  headers: Record<string, string>
  body: string
}

/** One connection written by hand, read answer by answer (each with a Content-Length, as Hono's JSON answers have). */
class RawConnection {
  readonly socket: Socket
  /** Resolves when the server has closed the connection. */
  readonly closed: Promise<void>
  #buffer = Buffer.alloc(0)
  #isClosed = false
  #wake: (() => void)[] = []

  constructor(port: number, localAddress = '127.0.0.1') {
    this.socket = connect({ port, host: '127.0.0.1', localAddress })
    this.socket.on('data', (d: Buffer) => {
      this.#buffer = Buffer.concat([this.#buffer, d])
      this.#notify()
    })
    // A reset after the server's last answer is the server closing; `closed` reports it.
    this.socket.on('error', () => {})
    this.closed = new Promise((resolve) =>
      this.socket.once('close', () => {
        this.#isClosed = true
        this.#notify()
        resolve()
      }),
    )
  }

  write(data: string | Buffer): void {
    this.socket.write(data)
  }

  /** The next whole answer on this connection. */
  async answer(): Promise<Answer> {
    for (;;) {
      const taken = this.#take()
      if (taken) return taken
      if (this.#isClosed) throw new Error(`the connection closed before a whole answer: ${JSON.stringify(this.#buffer.toString('latin1').slice(0, 300))}`)
      await new Promise<void>((resolve) => this.#wake.push(resolve))
    }
  }

  #take(): Answer | null {
    const end = this.#buffer.indexOf('\r\n\r\n')
    if (end < 0) return null
    const [statusLine, ...lines] = this.#buffer.subarray(0, end).toString('latin1').split('\r\n')
    const headers = Object.fromEntries(lines.map((l) => [l.slice(0, l.indexOf(':')).trim().toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]))
    const length = Number(headers['content-length'])
    if (!Number.isInteger(length)) throw new Error(`an answer without Content-Length: ${statusLine}`)
    if (this.#buffer.length < end + 4 + length) return null
    const body = this.#buffer.subarray(end + 4, end + 4 + length).toString('utf8')
    this.#buffer = this.#buffer.subarray(end + 4 + length)
    return { status: Number(statusLine!.split(' ')[1]), headers, body }
  }

  #notify(): void {
    for (const w of this.#wake.splice(0)) w()
  }
}

function head(method: string, path: string, headers: Record<string, string | number>): string {
  return `${method} ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n${Object.entries(headers)
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('')}\r\n`
}

/** One request through node:http (its keep-alive agent, a chosen source address). */
function send(port: number, opts: { method?: string; path: string; headers?: Record<string, string | number>; body?: string | Buffer; agent?: Agent; localAddress?: string }): Promise<{ status: number; headers: IncomingHttpHeaders; body: string; reusedSocket: boolean; socket: Socket }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method: opts.method ?? 'GET', path: opts.path, headers: opts.headers, agent: opts.agent, localAddress: opts.localAddress }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (d: string) => (body += d))
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body, reusedSocket: req.reusedSocket, socket: res.socket }))
    })
    req.on('error', reject)
    req.end(opts.body)
  })
}

const eventBody = (i: number) => JSON.stringify(asBody(events[i % events.length]!))

async function counter(metric: 'authFailures' | 'authThrottled' | 'refused', labels: Record<string, string>): Promise<number> {
  const { values } = await t.host.metrics[metric].get()
  return values.find((v) => Object.entries(labels).every(([k, x]) => (v.labels as Record<string, unknown>)[k] === x))?.value ?? 0
}

async function bodiesNow(state: 'reading' | 'waiting'): Promise<number> {
  const { values } = await t.host.metrics.intakeBodies.get()
  return values.find((v) => v.labels.state === state)?.value ?? 0
}

/** Waits (without a clock) until the intake's slots say so. */
async function untilBodies(state: 'reading' | 'waiting', n: number): Promise<void> {
  while ((await bodiesNow(state)) !== n) await new Promise((r) => setTimeout(r, 10))
}

describe('a body is refused before it is read when it need not be read', () => {
  let s: Awaited<ReturnType<typeof served>>
  beforeAll(async () => {
    s = await served({ ...LENIENT, maxBodyBytes: 10_000 })
  })
  afterAll(() => s.close())

  it('refuses a body over the limit by its Content-Length before a byte of it is sent, says Connection: close and closes', async () => {
    const before = await counter('refused', { reason: 'too_large' })
    const c = new RawConnection(s.port)
    c.write(head('POST', '/ingest/demo', { 'content-type': 'application/json', 'content-length': 10_001 }))
    const answer = await c.answer()
    expect(answer.status).toBe(413)
    expect(answer.headers.connection).toBe('close')
    await c.closed
    expect(await counter('refused', { reason: 'too_large' })).toBe(before + 1)
  })

  it.each([
    ['no credentials at all', '/ingest/demo', {}, 401],
    ['a wrong bearer secret', '/ingest/demo', { authorization: 'Bearer whsec_not_this_one' }, 401],
    ['a signature whose timestamp is ten minutes old', '/ingest/demo', { 'webhook-id': 'msg_old', 'webhook-timestamp': Math.floor(Date.now() / 1000) - 600, 'webhook-signature': 'v1,AAAA' }, 401],
    ['a signature without its webhook-id', '/ingest/demo', { 'webhook-timestamp': Math.floor(Date.now() / 1000), 'webhook-signature': 'v1,AAAA' }, 401],
    ['a project this host does not have', '/ingest/nope', { authorization: 'Bearer whsec_any' }, 404],
  ])('answers %s before the body is sent (it is never read), with Connection: close', async (_why, path, headers, status) => {
    const c = new RawConnection(s.port)
    // The body is announced and never sent: an answer can only come from the headers.
    c.write(head('POST', path, { 'content-type': 'application/json', 'content-length': 9_000, ...headers }))
    const answer = await c.answer()
    expect(answer.status).toBe(status)
    expect(answer.headers.connection).toBe('close')
    await c.closed
    expect(await bodiesNow('reading')).toBe(0)
  })

  it('reads a signed body once its timestamp and project pass, and keeps a connection whose requests arrived whole', async () => {
    const c = new RawConnection(s.port)
    const body = eventBody(0)
    c.write(head('POST', '/ingest/demo', { ...signedHeaders(secret, 'msg_raw_1', body), 'content-length': Buffer.byteLength(body) }) + body)
    const signed = await c.answer()
    expect(signed.status, signed.body).toBe(200)
    expect(signed.headers.connection).toBe('keep-alive')
    // A forged signature over a whole body: read, then refused; the connection stays usable.
    c.write(head('POST', '/ingest/demo', { ...signedHeaders(`whsec_${Buffer.alloc(32, 9).toString('base64')}`, 'msg_raw_2', body), 'content-length': Buffer.byteLength(body) }) + body)
    const forged = await c.answer()
    expect(forged.status).toBe(401)
    expect(forged.body).toMatch(/signature does not verify/)
    c.write(head('POST', '/ingest/demo', { authorization: `Bearer ${secret}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }) + body)
    expect((await c.answer()).status).toBe(200)
    c.socket.end()
  })

  it('counts a chunked body (no Content-Length) as it is read, and refuses it past the limit with Connection: close', async () => {
    const c = new RawConnection(s.port)
    c.write(head('POST', '/ingest/demo', { authorization: `Bearer ${secret}`, 'content-type': 'application/json', 'transfer-encoding': 'chunked' }))
    for (let i = 0; i < 3; i++) c.write(`1000\r\n${'x'.repeat(0x1000)}\r\n`)
    const answer = await c.answer()
    expect(answer.status).toBe(413)
    expect(answer.headers.connection).toBe('close')
    await c.closed
  })
})

describe('keep-alive after a 413', () => {
  let s: Awaited<ReturnType<typeof served>>
  beforeAll(async () => {
    s = await served({ ...LENIENT, maxBodyBytes: 1_000 })
  })
  afterAll(() => s.close())

  it("a keep-alive client's next request gets a proper answer: the 413 said Connection: close and the server closed that socket", async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 })
    try {
      for (let round = 0; round < 3; round++) {
        const big = await send(s.port, { method: 'POST', path: '/ingest/demo', agent, body: Buffer.alloc(3_000, 'x'), headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json', 'content-length': 3_000 } })
        expect(big.status).toBe(413)
        expect(big.headers.connection).toBe('close')
        if (!big.socket.destroyed) await once(big.socket, 'close')
        const next = await send(s.port, { path: '/healthz', agent })
        expect(next.status).toBe(200)
        expect(next.reusedSocket).toBe(false)
      }
    } finally {
      agent.destroy()
    }
  })

  it('a 413 for a body still on its way says Connection: close, and the server then closes the socket', async () => {
    const c = new RawConnection(s.port)
    c.write(head('POST', '/ingest/demo', { authorization: `Bearer ${secret}`, 'content-type': 'application/json', 'content-length': 50_000 }))
    c.write('x'.repeat(500))
    const answer = await c.answer()
    expect(answer.status).toBe(413)
    expect(answer.headers.connection).toBe('close')
    // The server closes: had it said keep-alive, the client's next request would go into a dead socket.
    await c.closed
  })

  it('closes in stages after such an answer: a client still sending its body after the FIN meets no reset, so it can read the answer', async () => {
    const socket = connect({ port: s.port, host: '127.0.0.1', allowHalfOpen: true })
    let answer = ''
    let error: string | null = null
    socket.on('data', (d: Buffer) => (answer += d.toString('latin1')))
    socket.on('error', (e: NodeJS.ErrnoException) => (error = e.code ?? e.message))
    socket.write(head('POST', '/ingest/demo', { authorization: `Bearer ${secret}`, 'content-type': 'application/json', 'content-length': 1_000_000 }))
    await once(socket, 'end') // the server's FIN, after its answer
    expect(answer).toMatch(/^HTTP\/1\.1 413 /)
    expect(answer.toLowerCase()).toContain('connection: close')
    // Went on sending, as a client does that has not yet looked at what came back.
    for (let i = 0; i < 5; i++) await new Promise<void>((resolve) => socket.write(Buffer.alloc(16_384, 'x'), () => resolve()))
    socket.end()
    await once(socket, 'close')
    expect(error).toBeNull()
  })
})

describe('bodies are read a few at a time', () => {
  it('reads one body at a time here: the next waits in line, one past the line gets 503 with Retry-After, and each waiter is served in turn', async () => {
    const s = await served({ ...LENIENT, bodySlots: { reading: 1, waiting: 1 } })
    try {
      const bodyA = eventBody(1)
      const bodyB = eventBody(2)
      const a = new RawConnection(s.port)
      a.write(head('POST', '/ingest/demo', { ...signedHeaders(secret, 'msg_slot_a', bodyA), 'content-length': Buffer.byteLength(bodyA) }) + bodyA.slice(0, 10))
      await untilBodies('reading', 1)
      const b = new RawConnection(s.port)
      b.write(head('POST', '/ingest/demo', { ...signedHeaders(secret, 'msg_slot_b', bodyB), 'content-length': Buffer.byteLength(bodyB) }) + bodyB.slice(0, 10))
      await untilBodies('waiting', 1)
      const busyBefore = await counter('refused', { reason: 'busy' })
      const c = await send(s.port, { method: 'POST', path: '/ingest/demo', body: bodyA, headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json' } })
      expect(c.status).toBe(503)
      expect(c.headers['retry-after']).toBe('1')
      expect(await counter('refused', { reason: 'busy' })).toBe(busyBefore + 1)
      a.write(bodyA.slice(10))
      expect((await a.answer()).status).toBe(200)
      // A's slot went straight to B, which was waiting.
      await untilBodies('waiting', 0)
      expect(await bodiesNow('reading')).toBe(1)
      b.write(bodyB.slice(10))
      expect((await b.answer()).status).toBe(200)
      await untilBodies('reading', 0)
      a.socket.end()
      b.socket.end()
    } finally {
      await s.close()
    }
  })

  it('refuses a body that does not arrive in time with 408 and Connection: close, and frees its slot', async () => {
    const s = await served({ ...LENIENT, bodySlots: { reading: 1, readMs: 200 } })
    try {
      const slow = new RawConnection(s.port)
      slow.write(head('POST', '/ingest/demo', { authorization: `Bearer ${secret}`, 'content-type': 'application/json', 'content-length': 5_000 }) + '{"event":')
      const answer = await slow.answer()
      expect(answer.status).toBe(408)
      expect(answer.headers.connection).toBe('close')
      await slow.closed
      const next = await send(s.port, { method: 'POST', path: '/ingest/demo', body: eventBody(3), headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json' } })
      expect(next.status).toBe(200)
    } finally {
      await s.close()
    }
  })
})

describe('failed authentication is slowed down per client address, loopback included', () => {
  let clock = Date.now()
  const checks = [
    ['api_token', { method: 'GET', path: '/api/projects', wrong: 'Bearer tok_wrong', right: () => `Bearer ${TOKEN}` }],
    ['intake', { method: 'POST', path: '/ingest/demo', wrong: 'Bearer whsec_wrong', right: () => `Bearer ${secret}` }],
  ] as const

  it.each(checks)('%s: after 3 failures from 127.0.0.1 it answers 429 with Retry-After, even to the right credentials, while 127.0.0.2 is still checked; the block ends', async (check, r) => {
    const s = await served({ apiToken: TOKEN, authThrottle: { maxFailures: 3, blockMs: 60_000, now: () => clock } })
    const go = (authorization: string, localAddress: string, i: number) =>
      send(s.port, { method: r.method, path: r.path, headers: { authorization, 'content-type': 'application/json' }, localAddress, body: r.method === 'POST' ? eventBody(10 + i) : undefined })
    try {
      const failuresBefore = await counter('authFailures', { check })
      const throttledBefore = await counter('authThrottled', { check })
      for (let i = 0; i < 3; i++) expect((await go(r.wrong, '127.0.0.1', i)).status).toBe(401)
      const blocked = await go(r.wrong, '127.0.0.1', 3)
      expect(blocked.status).toBe(429)
      expect(blocked.headers['retry-after']).toBe('60')
      // Unchecked: the right credentials from the blocked address are refused too, so a guess learns nothing.
      expect((await go(r.right(), '127.0.0.1', 4)).status).toBe(429)
      expect((await go(r.right(), '127.0.0.2', 5)).status).toBe(200)
      expect(await counter('authFailures', { check })).toBe(failuresBefore + 3)
      expect(await counter('authThrottled', { check })).toBe(throttledBefore + 2)
      const metrics = await t.host.metrics.registry.metrics()
      expect(metrics).toMatch(new RegExp(`coverage_auth_failures_total\\{check="${check}"\\} \\d+`))
      expect(metrics).toMatch(new RegExp(`coverage_auth_throttled_total\\{check="${check}"\\} \\d+`))
      clock += 60_000
      expect((await go(r.right(), '127.0.0.1', 6)).status).toBe(200)
    } finally {
      await s.close()
    }
  })

  it('counts the API token and the intake secret apart: a client blocked on one is still checked on the other', async () => {
    const s = await served({ apiToken: TOKEN, authThrottle: { maxFailures: 2, now: () => clock } })
    try {
      for (let i = 0; i < 2; i++) expect((await send(s.port, { path: '/api/projects', headers: { authorization: 'Bearer tok_wrong' } })).status).toBe(401)
      expect((await send(s.port, { path: '/api/projects', headers: { authorization: `Bearer ${TOKEN}` } })).status).toBe(429)
      const intake = await send(s.port, { method: 'POST', path: '/ingest/demo', body: eventBody(20), headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json' } })
      expect(intake.status).toBe(200)
    } finally {
      await s.close()
    }
  })
})
