import { spawn, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import type { SimEvent } from '../../src/sim/traffic.js'
import { signedHeaders, webhookBody } from '../../src/host/demo-feed.js'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))

export interface HostProcess {
  readonly proc: ChildProcess
  readonly url: string
  readonly port: number
  stderr(): string
  /** SIGTERM (graceful) or SIGKILL; resolves once the process exited */
  stop(signal?: NodeJS.Signals): Promise<number | null>
}

const children = new Set<ChildProcess>()

/** Kills every process these helpers started and that still runs (after a test, even one that timed out). */
export function killAll(): void {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL')
  children.clear()
}

/** Tracks a child process so killAll stops it. */
export function tracked<T extends ChildProcess>(c: T): T {
  children.add(c)
  c.once('exit', () => children.delete(c))
  return c
}

/** Starts `experiment-coverage serve` in a child process (through tsx) and waits until it listens. */
export function spawnHost(args: string[], env: Record<string, string>): Promise<HostProcess> {
  const proc = tracked(
    spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'serve', '--hostname', '127.0.0.1', ...args], {
      cwd: ROOT,
      env: { ...process.env, LOG_LEVEL: 'warn', ...env },
      stdio: ['ignore', 'ignore', 'pipe'],
    }),
  )
  let err = ''
  const exited = new Promise<number | null>((done) => proc.once('exit', (code) => done(code)))
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the host did not start within 240 s:\n${err}`)), 240_000)
    proc.stderr!.on('data', (chunk: Buffer) => {
      err += chunk.toString()
      const m = /serving on (http:\/\/[^\s]+:(\d+))/.exec(err)
      if (m) {
        clearTimeout(timer)
        resolve({
          proc,
          url: m[1]!,
          port: Number(m[2]),
          stderr: () => err,
          stop: (signal = 'SIGTERM') => {
            if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal)
            return exited
          },
        })
      }
    })
    void exited.then((code) => {
      clearTimeout(timer)
      reject(new Error(`the host exited (${code}) before it listened:\n${err}`))
    })
  })
}

export interface Delivery {
  /** answered 2xx */
  acked: Set<string>
  /** status codes seen, by code */
  statuses: Map<number, number>
  /** uuids of requests in flight when `mark()` was called */
  inFlightAtMark: Set<string>
}

/**
 * Posts events as PostHog's destination does (one a request, signed), `concurrency` at a time,
 * each retried until it is answered 2xx (PostHog gives up after three tries; the tests keep
 * trying, so a restarted host gets everything). `target()` says where to post now.
 */
export function deliver(
  events: readonly SimEvent[],
  opts: {
    target: () => string
    project: string
    secret: string
    concurrency: number
    /** once this share of the events is answered: record what is in flight, then run the fault (a kill, an outage) */
    fault?: { at: number; run: () => Promise<void> }
    /** several faults, each at its share of the events answered */
    faults?: readonly { at: number; run: () => Promise<void> }[]
  },
) {
  const faults = [...(opts.faults ?? []), ...(opts.fault ? [opts.fault] : [])].sort((a, b) => a.at - b.at)
  let faultsRun = 0
  const d: Delivery = { acked: new Set(), statuses: new Map(), inFlightAtMark: new Set() }
  const inFlight = new Set<string>()
  let next = 0
  let done = 0
  let faulted = false
  const one = async (e: SimEvent) => {
    const text = JSON.stringify(webhookBody(e))
    inFlight.add(e.uuid)
    for (let attempt = 0; attempt < 400; attempt++) {
      try {
        const res = await fetch(`${opts.target()}/ingest/${opts.project}`, { method: 'POST', body: text, headers: signedHeaders(opts.secret, `msg_${e.uuid}`, text) })
        await res.arrayBuffer()
        d.statuses.set(res.status, (d.statuses.get(res.status) ?? 0) + 1)
        if (res.ok) {
          d.acked.add(e.uuid)
          break
        }
        if (res.status < 500 && res.status !== 429 && res.status !== 408) throw new Error(`the intake refused an event with ${res.status}`)
      } catch (err) {
        if ((err as Error).message.startsWith('the intake refused')) throw err
        d.statuses.set(0, (d.statuses.get(0) ?? 0) + 1) // connection refused or reset
      }
      await new Promise((r) => setTimeout(r, 100))
    }
    inFlight.delete(e.uuid)
    done++
    const fault = faults[faultsRun]
    if (fault && done >= events.length * fault.at) {
      faultsRun++
      faulted = true
      for (const u of inFlight) d.inFlightAtMark.add(u)
      await fault.run()
    }
  }
  const worker = async () => {
    while (next < events.length) await one(events[next++]!)
  }
  const all = Promise.all(Array.from({ length: opts.concurrency }, worker))
  return {
    delivery: d,
    finished: all.then(() => ({ ...d, faulted, faultsRun })),
  }
}
