import type { Cluster, Redis } from 'ioredis'
import { toCount, type CounterStore, type Members } from './store.js'

// Each script touches one key, so it runs on a Redis Cluster as on one Redis. A group's TTL is
// pushed later, never earlier, when it gains a field (TTL answers -1 or -2 without one).
const EXTEND = `local ttl = tonumber(ARGV[1]) if redis.call('TTL', KEYS[1]) < ttl then redis.call('EXPIRE', KEYS[1], ttl) end`

const SCRIPTS = {
  ecBump: `local out, created = {}, false
for i = 2, #ARGV do
  local n = redis.call('HINCRBY', KEYS[1], ARGV[i], 1)
  out[i - 1] = n
  if n == 1 then created = true end
end
if created then ${EXTEND} end
return out`,
  ecPut: `redis.call('HSET', KEYS[1], ARGV[2], ARGV[3]) ${EXTEND} return 1`,
  // Members are fields "m<member>"; "#n" counts the listed ones, "#over" those past the cap, which
  // are kept with an empty value so each is still added once.
  ecAdd: `local f = 'm' .. ARGV[2]
if redis.call('HEXISTS', KEYS[1], f) == 1 then return 0 end
if tonumber(redis.call('HGET', KEYS[1], '#n') or '0') >= tonumber(ARGV[4]) then
  redis.call('HINCRBY', KEYS[1], '#over', 1)
  redis.call('HSET', KEYS[1], f, '')
else
  redis.call('HINCRBY', KEYS[1], '#n', 1)
  redis.call('HSET', KEYS[1], f, ARGV[3])
end
${EXTEND}
return 1`,
} as const

type Scripted = {
  [K in keyof typeof SCRIPTS]: (key: string, ...args: (string | number)[]) => Promise<unknown>
}

const defined = new WeakSet<object>()

function scripted(redis: Redis | Cluster): Scripted {
  if (!defined.has(redis)) {
    for (const [name, lua] of Object.entries(SCRIPTS)) redis.defineCommand(name, { numberOfKeys: 1, lua })
    defined.add(redis)
  }
  return redis as unknown as Scripted
}

/**
 * The counters' store in Redis hashes, for the host: a group is one hash, a set is one hash, and
 * every call is one command (a script over one key), so a unit's state for a flag is one key
 * instead of one per marker, and a bump with its TTL is one round trip instead of two. The
 * client's auto-pipelining sends the calls issued together in one write.
 */
export class RedisHashStore implements CounterStore {
  readonly batches = true
  private readonly r: Scripted

  constructor(
    readonly redis: Redis | Cluster,
    readonly prefix: string,
  ) {
    this.r = scripted(redis)
  }

  async bump(group: string, fields: readonly string[], ttlSeconds: number): Promise<number[]> {
    if (fields.length === 0) return []
    return (await this.r.ecBump(this.prefix + group, ttlSeconds, ...fields)) as number[]
  }

  async readCounts(group: string, fields: readonly string[]): Promise<number[]> {
    if (fields.length === 0) return []
    return (await this.redis.hmget(this.prefix + group, ...fields)).map((v) => toCount(v ?? 0))
  }

  async read(group: string, field: string): Promise<unknown> {
    const v = await this.redis.hget(this.prefix + group, field)
    return v === null ? null : JSON.parse(v)
  }

  async put(group: string, field: string, value: unknown, ttlSeconds: number): Promise<void> {
    await this.r.ecPut(this.prefix + group, ttlSeconds, field, jsonOf(value))
  }

  async addMember(set: string, member: string, value: unknown, ttlSeconds: number, cap: number): Promise<boolean> {
    return (await this.r.ecAdd(this.prefix + set, ttlSeconds, member, jsonOf(value), cap)) === 1
  }

  async readMembers(set: string, cap: number): Promise<Members> {
    const all = await this.redis.hgetall(this.prefix + set)
    const values: unknown[] = []
    for (const [field, v] of Object.entries(all)) {
      if (field[0] === 'm' && v !== '' && values.length < cap) values.push(JSON.parse(v))
    }
    return { values, overflow: toCount(all['#over'] ?? 0) }
  }
}

function jsonOf(value: unknown): string {
  const text = JSON.stringify(value)
  if (text === undefined) throw new TypeError(`store: ${typeof value} cannot be stored as JSON`)
  return text
}
