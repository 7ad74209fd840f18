/**
 * One ingestion worker for the multi-process test: reads an NDJSON file, takes every Nth line
 * starting at its index, and feeds those events through the plugin's counters into Redis with a
 * few events in flight at once, as a plugin-server worker does.
 */
import { readFileSync } from 'node:fs'
import { parseSettings } from '../../src/settings/settings.js'
import { createIngestContext, forgetSettled, ingestEvent } from '../../src/counters/ingest.js'
import { RedisCache } from '../../src/counters/redis-cache.js'
import { contractOnly } from '../../src/counters/cache.js'
import { hooksFromDefinitions } from '../../src/plugin/definition-hooks.js'
import { definitionsOf } from '../../src/sim/simulation.js'

const [file, index, workers, redisUrl, prefix, nowMs, configJson, definitionsFile, layout] = process.argv.slice(2) as string[]
const lines = readFileSync(file as string, 'utf8').split('\n').filter(Boolean)
const mine = lines.filter((_, i) => i % Number(workers) === Number(index))
// "cluster:host:port,host:port,..." is a Redis Cluster; anything else one Redis.
const cache = (redisUrl as string).startsWith('cluster:') ? RedisCache.connectCluster((redisUrl as string).slice(8).split(','), prefix as string) : RedisCache.connect(redisUrl as string, prefix as string)
// With the project's definitions, as the plugin counts with PostHog credentials and under the host.
const hooks = definitionsFile ? await hooksFromDefinitions(definitionsOf({ api: JSON.parse(readFileSync(definitionsFile, 'utf8')) })) : null
// "keys": only the four contract calls, one key per field, as on plugin-server; else the host's hashes.
const ctx = createIngestContext({
  cache: layout === 'keys' ? contractOnly(cache) : cache,
  settings: parseSettings(JSON.parse(configJson as string), { countedEvents: hooks?.countedEvents }),
  project: 'multi',
  now: () => Number(nowMs),
  ...(hooks ?? {}),
})

const IN_FLIGHT = 16
let next = 0
async function lane(): Promise<void> {
  while (next < mine.length) {
    const line = mine[next++] as string
    await ingestEvent(ctx, JSON.parse(line))
  }
}
await Promise.all(Array.from({ length: IN_FLIGHT }, lane))
// As the plugin's teardown does: the last events' markers settled before the process ends.
await forgetSettled(ctx)
await cache.close()
process.stdout.write(`${mine.length}\n`)
