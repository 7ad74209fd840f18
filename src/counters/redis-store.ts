import { createHash } from 'node:crypto'
import type { Cluster, Redis } from 'ioredis'
import { timedOf, toCount, type CounterStore, type Earliest, type Members, type Step, type Timed } from './store.js'

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
  // The steps as one JSON argument, [[field, condition, value], ...]: condition 0, or the 1-based
  // step that must have returned 1; a value sets the field instead of adding 1 (one argument
  // instead of four a step keeps the client's work per call small).
  ecSteps: `local out, made = {}, false
for k, st in ipairs(cjson.decode(ARGV[2])) do
  local gate = st[2]
  if gate == 0 or out[gate] == 1 then
    if st[3] == nil then
      out[k] = redis.call('HINCRBY', KEYS[1], st[1], 1)
      if out[k] == 1 then made = true end
    else
      redis.call('HSET', KEYS[1], st[1], st[3])
      out[k] = 1
      made = true
    end
  else
    out[k] = 0
  end
end
if made then ${EXTEND} end
return out`,
  // The earliest [time, value] of a field: replaced where empty or later, the old text answered.
  ecEarliest: `local cur = redis.call('HGET', KEYS[1], ARGV[2])
if cur then
  local t = cjson.decode(cur)[1]
  if t <= tonumber(ARGV[3]) then return {0, cur} end
end
redis.call('HSET', KEYS[1], ARGV[2], ARGV[4])
${EXTEND}
if cur then return {1, cur} end
return {1}`,
  // Two sets in one hash, fields "<side><member>"; "#<side>" counts the listed, "#o<side>" those
  // past the cap. Adds to one side and reads the other in one step.
  ecJoin: `local f, side, added = ARGV[2] .. ARGV[3], ARGV[2], 0
if redis.call('HEXISTS', KEYS[1], f) == 0 then
  added = 1
  if tonumber(redis.call('HGET', KEYS[1], '#' .. side) or '0') >= tonumber(ARGV[5]) then
    redis.call('HINCRBY', KEYS[1], '#o' .. side, 1)
    redis.call('HSET', KEYS[1], f, '')
  else
    redis.call('HINCRBY', KEYS[1], '#' .. side, 1)
    redis.call('HSET', KEYS[1], f, ARGV[4])
  end
  ${EXTEND}
end
local other, cap = ARGV[6], tonumber(ARGV[7])
local out = {added, tonumber(redis.call('HGET', KEYS[1], '#o' .. other) or '0')}
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  if string.sub(all[i], 1, #other) == other and all[i + 1] ~= '' and #out - 2 < cap then out[#out + 1] = all[i + 1] end
end
return out`,
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
  readonly atomic = true
  readonly listsFields = true
  private readonly r: Scripted
  private readonly names = new Map<string, string>()

  constructor(
    readonly redis: Redis | Cluster,
    readonly prefix: string,
  ) {
    this.r = scripted(redis)
  }

  /**
   * A group's Redis key: the prefix and 96 bits of the name's SHA-1 (16 characters). Names hold
   * flag keys and person ids (often 100 characters and more), and each key's name is stored once
   * per key, so short names are most of what makes a unit's state small.
   */
  key(group: string): string {
    let k = this.names.get(group)
    if (k === undefined) {
      k = this.prefix + createHash('sha1').update(group).digest('base64url').slice(0, 16)
      if (this.names.size >= 50_000) this.names.clear()
      this.names.set(group, k)
    }
    return k
  }

  async bump(group: string, fields: readonly string[], ttlSeconds: number): Promise<number[]> {
    if (fields.length === 0) return []
    return (await this.r.ecBump(this.key(group), ttlSeconds, ...fields)) as number[]
  }

  async steps(group: string, steps: readonly Step[], ttlSeconds: number): Promise<number[]> {
    const list = steps.map((st) => (st.set === undefined ? [st.field, st.if === undefined ? 0 : st.if + 1] : [st.field, st.if === undefined ? 0 : st.if + 1, jsonOf(st.set)]))
    return (await this.r.ecSteps(this.key(group), ttlSeconds, JSON.stringify(list))) as number[]
  }

  async keepEarliest(group: string, field: string, entry: Timed, ttlSeconds: number): Promise<Earliest> {
    const [replaced, previous] = (await this.r.ecEarliest(this.key(group), ttlSeconds, field, entry.time, jsonOf([entry.time, entry.value]))) as [number, string | undefined]
    return { replaced: replaced === 1, previous: previous === undefined ? null : timedOf(previous) }
  }

  async join(group: string, side: string, member: string, value: unknown, ttlSeconds: number, cap: number, other: string, otherCap: number): Promise<{ added: boolean; other: Members }> {
    const [added, overflow, ...values] = (await this.r.ecJoin(this.key(group), ttlSeconds, side, member, jsonOf(value), cap, other, otherCap)) as [number, number, ...string[]]
    return { added: added === 1, other: { values: values.map((v) => JSON.parse(v) as unknown), overflow } }
  }

  async readAll(group: string): Promise<Map<string, unknown>> {
    return new Map(Object.entries(await this.redis.hgetall(this.key(group))))
  }

  async readCounts(group: string, fields: readonly string[]): Promise<number[]> {
    if (fields.length === 0) return []
    return (await this.redis.hmget(this.key(group), ...fields)).map((v) => toCount(v ?? 0))
  }

  async read(group: string, field: string): Promise<unknown> {
    const v = await this.redis.hget(this.key(group), field)
    return v === null ? null : JSON.parse(v)
  }

  async put(group: string, field: string, value: unknown, ttlSeconds: number): Promise<void> {
    await this.r.ecPut(this.key(group), ttlSeconds, field, jsonOf(value))
  }

  async addMember(set: string, member: string, value: unknown, ttlSeconds: number, cap: number): Promise<boolean> {
    return (await this.r.ecAdd(this.key(set), ttlSeconds, member, jsonOf(value), cap)) === 1
  }

  async readMembers(set: string, cap: number): Promise<Members> {
    const all = await this.redis.hgetall(this.key(set))
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
