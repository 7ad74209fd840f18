import { randomBytes, randomUUID } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { signedHeaders } from '../../src/host/demo-feed.js'
import { killAll, spawnHost, type HostProcess } from '../support/host-process.js'

/**
 * Issue 19, item 6: the README put --secret and --api-token on the command line, where `ps` shows
 * them to every user of the machine. `serve` reads them from the environment or a file, and warns
 * when one is given on the command line. Real `serve` processes on the embedded default.
 */

const WARNING = /warning: (--[a-z-]+) on the command line is visible to every user of this machine/g
const warned = (h: HostProcess) => [...h.stderr().matchAll(WARNING)].map((m) => m[1])

/** Posts one event to the demo project's intake, signed with `secret`: 401 when it is not the project's secret. */
async function postSigned(h: HostProcess, secret: string): Promise<number> {
  const text = JSON.stringify({ event: { uuid: randomUUID(), event: '$pageview', distinct_id: 'u1', properties: {}, timestamp: new Date().toISOString() }, person: null })
  const res = await fetch(`${h.url}/ingest/demo`, { method: 'POST', body: text, headers: signedHeaders(secret, `msg_${randomUUID()}`, text) })
  await res.arrayBuffer()
  return res.status
}

const apiStatus = async (h: HostProcess, token?: string) => (await fetch(`${h.url}/api/projects`, { headers: token ? { authorization: `Bearer ${token}` } : {} })).status

const dirs: string[] = []
const fresh = () => {
  const d = mkdtempSync(join(tmpdir(), 'coverage-serve-secrets-'))
  dirs.push(d)
  return d
}
afterEach(() => {
  killAll()
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
})

// The embedded default, the demo project fed slowly, no inherited settings.
const BASE_ENV = { REDIS_URL: '', DATABASE_URL: '', COVERAGE_SECRET_KEY: '', POSTHOG_PROJECT_ID: '', POSTHOG_PERSONAL_API_KEY: '', COVERAGE_API_TOKEN: '', COVERAGE_INGEST_SECRET: '', LOG_LEVEL: 'warn' }
const whsec = () => `whsec_${randomBytes(32).toString('base64')}`

describe('serve takes its secrets from the environment or a file', () => {
  it('from a file and the environment: used, and no warning', { timeout: 400_000 }, async () => {
    const dir = fresh()
    const token = randomBytes(24).toString('hex')
    const secret = whsec()
    writeFileSync(join(dir, 'api-token'), `${token}\n`, { mode: 0o600 })
    const h = await spawnHost(['--port', '0', '--data-dir', join(dir, 'data'), '--demo-rate', '1', '--api-token-file', join(dir, 'api-token')], { ...BASE_ENV, COVERAGE_INGEST_SECRET: secret })
    expect(await apiStatus(h)).toBe(401)
    expect(await apiStatus(h, token)).toBe(200) // the file's token, its newline dropped
    expect(await postSigned(h, secret)).toBe(200) // the environment's signing secret
    expect(await postSigned(h, whsec())).toBe(401)
    expect(warned(h)).toEqual([])
  })

  it('on the command line: still used, with one warning for each, naming the way that is not visible', { timeout: 400_000 }, async () => {
    const dir = fresh()
    const token = randomBytes(24).toString('hex')
    const secret = whsec()
    const h = await spawnHost(['--port', '0', '--data-dir', join(dir, 'data'), '--demo-rate', '1', '--api-token', token, '--secret', secret], BASE_ENV)
    expect(await apiStatus(h, token)).toBe(200)
    expect(await postSigned(h, secret)).toBe(200)
    expect(warned(h)).toEqual(['--api-token', '--secret'])
    expect(h.stderr()).toMatch(/set COVERAGE_API_TOKEN in the environment or use --api-token-file/)
    expect(h.stderr()).not.toContain(token) // the warning does not repeat the secret
  })
})
