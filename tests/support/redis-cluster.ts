import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Redis } from 'ioredis'

/** A three-node Redis Cluster on loopback, started for a test (redis-server and redis-cli must be installed). */
export function clusterOrSkipReason(): string | null {
  for (const bin of ['redis-server', 'redis-cli']) {
    if (spawnSync(bin, ['--version']).status !== 0) return `${bin} is not installed: skipping the Redis Cluster test (apt-get install -y redis-server; .ci/run installs it)`
  }
  return null
}

export async function startCluster(): Promise<{ nodes: string[]; stop: () => Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), 'coverage-cluster-'))
  const base = 21000 + Math.floor(Math.random() * 20000)
  const ports = [base, base + 1, base + 2]
  const procs: ChildProcess[] = ports.map((port) =>
    spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--cluster-enabled', 'yes', '--cluster-config-file', join(dir, `nodes-${port}.conf`), '--dir', dir, '--save', '', '--appendonly', 'no'], { stdio: 'ignore' }),
  )
  const stop = async () => {
    for (const p of procs) p.kill('SIGKILL')
    rmSync(dir, { recursive: true, force: true })
  }
  try {
    for (const port of ports) {
      for (let i = 0; ; i++) {
        const probe = new Redis({ port, lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 })
        probe.on('error', () => {})
        const ok = await probe.connect().then(() => probe.ping(), () => null)
        probe.disconnect()
        if (ok === 'PONG') break
        if (i > 100) throw new Error(`redis-server on ${port} did not start`)
        await new Promise((r) => setTimeout(r, 100))
      }
    }
    const created = spawnSync('redis-cli', ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '0', '--cluster-yes'], { encoding: 'utf8' })
    if (created.status !== 0) throw new Error(`redis-cli --cluster create failed: ${created.stdout}${created.stderr}`)
    for (let i = 0; ; i++) {
      const r = new Redis({ port: ports[0] })
      const info = await r.cluster('INFO')
      r.disconnect()
      if (String(info).includes('cluster_state:ok')) break
      if (i > 100) throw new Error('the cluster did not become ready')
      await new Promise((res) => setTimeout(res, 100))
    }
    return { nodes: ports.map((p) => `127.0.0.1:${p}`), stop }
  } catch (e) {
    await stop()
    throw e
  }
}
