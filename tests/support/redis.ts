import { spawn, type ChildProcess } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { Redis } from 'ioredis'
import { RedisCache, deleteKeysWithPrefix } from '../../src/counters/redis-cache.js'
import { tracked } from './host-process.js'

/** The Redis the tests use, from REDIS_URL; null (with the reason printed once) when it is unset. */
export const REDIS_URL = process.env.REDIS_URL ?? null
let told = false
export function redisOrSkipReason(suite: string): string | null {
  if (REDIS_URL) return null
  const reason = `REDIS_URL is not set: skipping "${suite}" (CI sets it; locally run redis-server and export REDIS_URL=redis://127.0.0.1:6379)`
  if (!told) console.warn(reason)
  told = true
  return reason
}

/** A cache under a fresh plugin-server-style prefix, so parallel tests never share keys. */
export function freshRedisCache(): RedisCache {
  const prefix = `@plugin/test-${randomUUID()}/1/`
  return new RedisCache(new Redis(REDIS_URL as string, { enableAutoPipelining: true }), prefix)
}

/** Removes every key under the cache's prefix (tests only: the contract itself has no SCAN/DEL). */
export async function dropPrefix(cache: RedisCache): Promise<void> {
  await deleteKeysWithPrefix(cache.redis, cache.prefix)
}

/**
 * A redis-server of a test's own on a loopback port (one it can stop and start again), returned
 * once it answers PING. `persist`: append-only with fsync on every write, so a restart keeps what
 * it acknowledged. The process is tracked by host-process.ts's killAll.
 */
export async function startRedisServer(port: number, dir: string, opts: { persist?: boolean } = {}): Promise<ChildProcess> {
  const persistence = opts.persist ? ['--appendonly', 'yes', '--appendfsync', 'always'] : ['--appendonly', 'no']
  const p = tracked(spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', ...persistence], { stdio: 'ignore' }))
  for (let i = 0; i < 100; i++) {
    const probe = new Redis({ port, lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 })
    probe.on('error', () => {})
    const ok = await probe.connect().then(() => probe.ping(), () => null)
    probe.disconnect()
    if (ok === 'PONG') return p
    await new Promise((r) => setTimeout(r, 100))
  }
  throw new Error(`redis-server on port ${port} did not answer within 10 s`)
}
