/**
 * `.ci/run`'s probes of Redis and PostgreSQL silence only their own error: the script goes on after a
 * refused connection, and what it writes to stderr afterwards is still seen. Issue 20, item 4: an
 * `exec 3<>/dev/tcp/... 2>/dev/null` in the script's own shell sent the rest of its stderr to /dev/null.
 */
import { execFile } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { createServer, type Server } from 'node:net'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

const RUN = readFileSync(fileURLToPath(new URL('../../.ci/run', import.meta.url)), 'utf8')

/** The probe functions as .ci/run defines them, pointed at `port` instead of 6379 and 5432. */
function probesOn(port: number): string {
  const redis = /^redis_answers\(\) \{\n[\s\S]*?\n\}\n/m.exec(RUN)?.[0]
  const pg = /^pg_answers\(\) \{.*\}\n/m.exec(RUN)?.[0]
  if (!redis || !pg) throw new Error('.ci/run no longer defines redis_answers and pg_answers')
  return (redis + pg).replaceAll('/6379', `/${port}`).replaceAll('/5432', `/${port}`)
}

/** Runs the probes in bash (asynchronously: the fake Redis answers from this process). */
function runProbes(port: number): Promise<{ status: number; stdout: string; stderr: string }> {
  const script = `set -euo pipefail\n${probesOn(port)}\nif redis_answers; then echo redis=yes; else echo redis=no; fi\nif pg_answers; then echo pg=yes; else echo pg=no; fi\necho "the script's own error" >&2\n`
  return new Promise((done) => {
    execFile('bash', ['-c', script], { encoding: 'utf8', timeout: 20_000 }, (e, stdout, stderr) => done({ status: e ? Number(e.code ?? 1) : 0, stdout, stderr }))
  })
}

let pong: Server
let open = 0
let closed = 0

beforeAll(async () => {
  // A port that answers as Redis does, and one that refuses (a server bound, then closed).
  pong = createServer((s) => s.once('data', () => s.end('+PONG\r\n')))
  await new Promise<void>((r) => pong.listen(0, '127.0.0.1', r))
  open = (pong.address() as { port: number }).port
  const gone = createServer()
  await new Promise<void>((r) => gone.listen(0, '127.0.0.1', r))
  closed = (gone.address() as { port: number }).port
  await new Promise((r) => gone.close(r))
})
afterAll(() => new Promise((r) => pong.close(r)))

describe(".ci/run's probes", () => {
  it('a refused connection is "no" and the script goes on, its later stderr still shown', async () => {
    const r = await runProbes(closed)
    expect(r.status).toBe(0)
    expect(r.stdout).toBe('redis=no\npg=no\n')
    expect(r.stderr).toBe("the script's own error\n")
  })

  it('a server that answers is "yes", and the script keeps its stderr too', async () => {
    const r = await runProbes(open)
    expect(r.status).toBe(0)
    expect(r.stdout).toBe('redis=yes\npg=yes\n')
    expect(r.stderr).toBe("the script's own error\n")
  })
})
