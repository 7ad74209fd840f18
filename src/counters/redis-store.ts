import { createHash } from 'node:crypto'
import type { Cluster, Redis } from 'ioredis'
import { timedOf, toCount, type CounterStore, type Earliest, type Members, type Step, type Timed } from './store.js'

// Each script touches one key, so it runs on a Redis Cluster as on one Redis. A group's TTL is
// pushed later, never earlier, when it gains a field (TTL answers -1 or -2 without one).
const EXTEND = `local ttl = tonumber(ARGV[1]) if redis.call('TTL', KEYS[1]) < ttl then redis.call('EXPIRE', KEYS[1], ttl) end`

// Every script that changes a group takes a tag as ARGV[2] ('' for none; CounterStore): a tag
// already kept answers its kept answer and changes nothing; otherwise the answer is kept under the
// tag (a field "~..." that readers skip) in the same step as the change. A group that holds only a
// tag still gets the TTL, so nothing is kept for ever.
const ONCE = `local tag = ARGV[2]
if tag ~= '' then
  local kept = redis.call('HGET', KEYS[1], tag)
  if kept then return cjson.decode(kept) end
end`
const KEEP = (answer: string) => `if tag ~= '' then
  redis.call('HSET', KEYS[1], tag, cjson.encode(${answer}))
  if redis.call('TTL', KEYS[1]) < 0 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
end`

const SCRIPTS = {
  ecBump: `${ONCE}
local out, created = {}, false
for i = 3, #ARGV do
  local n = redis.call('HINCRBY', KEYS[1], ARGV[i], 1)
  out[i - 2] = n
  if n == 1 then created = true end
end
if created then ${EXTEND} end
${KEEP('out')}
return out`,
  ecPut: `redis.call('HSET', KEYS[1], ARGV[3], ARGV[4]) ${EXTEND} return 1`,
  // A number that only moves forward: raised to ARGV[4] where lower or missing; answers what it held.
  ecAdvance: `local held = tonumber(redis.call('HGET', KEYS[1], ARGV[3]) or '0')
if held < tonumber(ARGV[4]) then
  redis.call('HSET', KEYS[1], ARGV[3], ARGV[4])
  ${EXTEND}
end
return held`,
  // Members are fields "m<member>"; "#n" counts the listed ones, "#over" those past the cap, which
  // are kept with an empty value so each is still added once.
  ecAdd: `${ONCE}
local f = 'm' .. ARGV[3]
if redis.call('HEXISTS', KEYS[1], f) == 1 then return 0 end
if tonumber(redis.call('HGET', KEYS[1], '#n') or '0') >= tonumber(ARGV[5]) then
  redis.call('HINCRBY', KEYS[1], '#over', 1)
  redis.call('HSET', KEYS[1], f, '')
else
  redis.call('HINCRBY', KEYS[1], '#n', 1)
  redis.call('HSET', KEYS[1], f, ARGV[4])
end
${EXTEND}
${KEEP('1')}
return 1`,
  // The steps as one JSON argument, [[field, condition, value], ...]: condition 0, or the 1-based
  // step that must have returned 1; a value sets the field instead of adding 1 (one argument
  // instead of four a step keeps the client's work per call small).
  ecSteps: `${ONCE}
local out, made = {}, false
for k, st in ipairs(cjson.decode(ARGV[3])) do
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
${KEEP('out')}
return out`,
  // The earliest [time, value] of a field: replaced where empty or later, the old text answered.
  ecEarliest: `${ONCE}
local cur = redis.call('HGET', KEYS[1], ARGV[3])
if cur then
  local t = cjson.decode(cur)[1]
  if t <= tonumber(ARGV[4]) then return {0, cur} end
end
redis.call('HSET', KEYS[1], ARGV[3], ARGV[5])
${EXTEND}
local out = {1}
if cur then out[2] = cur end
${KEEP('out')}
return out`,
  // Two sets in one hash, fields "<side><member>"; "#<side>" counts the listed, "#o<side>" those
  // past the cap. Adds to one side and reads the other in one step.
  ecJoin: `${ONCE}
local f, side, added = ARGV[3] .. ARGV[4], ARGV[3], 0
if redis.call('HEXISTS', KEYS[1], f) == 0 then
  added = 1
  if tonumber(redis.call('HGET', KEYS[1], '#' .. side) or '0') >= tonumber(ARGV[6]) then
    redis.call('HINCRBY', KEYS[1], '#o' .. side, 1)
    redis.call('HSET', KEYS[1], f, '')
  else
    redis.call('HINCRBY', KEYS[1], '#' .. side, 1)
    redis.call('HSET', KEYS[1], f, ARGV[5])
  end
  ${EXTEND}
end
local other, cap = ARGV[7], tonumber(ARGV[8])
local out = {added, tonumber(redis.call('HGET', KEYS[1], '#o' .. other) or '0')}
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  if string.sub(all[i], 1, #other) == other and all[i + 1] ~= '' and #out - 2 < cap then out[#out + 1] = all[i + 1] end
end
if added == 1 then ${KEEP('out')} end
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

  async bump(group: string, fields: readonly string[], ttlSeconds: number, tag = ''): Promise<number[]> {
    if (fields.length === 0) return []
    return (await this.r.ecBump(this.key(group), ttlSeconds, tag, ...fields)) as number[]
  }

  async steps(group: string, steps: readonly Step[], ttlSeconds: number, tag = ''): Promise<number[]> {
    const list = steps.map((st) => (st.set === undefined ? [st.field, st.if === undefined ? 0 : st.if + 1] : [st.field, st.if === undefined ? 0 : st.if + 1, jsonOf(st.set)]))
    return (await this.r.ecSteps(this.key(group), ttlSeconds, tag, JSON.stringify(list))) as number[]
  }

  async keepEarliest(group: string, field: string, entry: Timed, ttlSeconds: number, tag = ''): Promise<Earliest> {
    const [replaced, previous] = (await this.r.ecEarliest(this.key(group), ttlSeconds, tag, field, entry.time, jsonOf([entry.time, entry.value]))) as [number, string | undefined]
    return { replaced: replaced === 1, previous: previous === undefined ? null : timedOf(previous) }
  }

  async join(group: string, side: string, member: string, value: unknown, ttlSeconds: number, cap: number, other: string, otherCap: number, tag = ''): Promise<{ added: boolean; other: Members }> {
    const [added, overflow, ...values] = (await this.r.ecJoin(this.key(group), ttlSeconds, tag, side, member, jsonOf(value), cap, other, otherCap)) as [number, number, ...string[]]
    return { added: added === 1, other: { values: values.map((v) => JSON.parse(v) as unknown), overflow } }
  }

  async advance(group: string, field: string, to: number, ttlSeconds: number): Promise<number> {
    return (await this.r.ecAdvance(this.key(group), ttlSeconds, '', field, to)) as number
  }

  async forget(group: string, tags: readonly string[]): Promise<void> {
    if (tags.length > 0) await this.redis.hdel(this.key(group), ...tags)
  }

  async readAll(group: string): Promise<Map<string, unknown>> {
    const all = await this.redis.hgetall(this.key(group))
    const out = new Map<string, unknown>()
    for (const [field, v] of Object.entries(all)) if (field[0] !== '~') out.set(field, v)
    return out
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
    await this.r.ecPut(this.key(group), ttlSeconds, '', field, jsonOf(value))
  }

  async addMember(set: string, member: string, value: unknown, ttlSeconds: number, cap: number, tag = ''): Promise<boolean> {
    return (await this.r.ecAdd(this.key(set), ttlSeconds, tag, member, jsonOf(value), cap)) === 1
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
