import type { ContractCache } from './cache.js'

/**
 * A set kept with INCR/SET/GET only (the plugin cache has no SADD or SCAN): the first INCR of a
 * member's marker returns 1 in exactly one worker, which then takes a slot number from a second
 * INCR and writes the member there. Readers read the slot count, then the slots. A slot whose SET
 * has not landed yet reads as missing and is skipped until the next read.
 */
export interface Registry {
  readonly cache: ContractCache
  readonly base: string
  readonly ttlSeconds: number
  /** Members past this many are not listed (their counters still count); the overflow is counted. */
  readonly cap: number
}

/** Adds a member; returns true when this call added it (exactly once across workers). */
export async function addMember(r: Registry, member: string, value: unknown = member): Promise<boolean> {
  const marker = `${r.base}:m:${member}`
  if ((await r.cache.incr(marker)) !== 1) return false
  const [, slot] = await Promise.all([r.cache.expire(marker, r.ttlSeconds), r.cache.incr(`${r.base}:n`)])
  if (slot === 1) await r.cache.expire(`${r.base}:n`, r.ttlSeconds)
  if (slot > r.cap) {
    const over = await r.cache.incr(`${r.base}:over`)
    if (over === 1) await r.cache.expire(`${r.base}:over`, r.ttlSeconds)
    return true
  }
  await r.cache.set(`${r.base}:${slot}`, value, r.ttlSeconds)
  return true
}

export interface Members<T> {
  readonly values: T[]
  readonly overflow: number
}

/** Reads all listed members (up to the cap) and how many did not fit. */
export async function readMembers<T = string>(cache: ContractCache, base: string, cap: number): Promise<Members<T>> {
  const n = Number(await cache.get(`${base}:n`, 0)) || 0
  const count = Math.min(n, cap)
  const [overRaw, ...slots] = await Promise.all([cache.get(`${base}:over`, 0), ...Array.from({ length: count }, (_, i) => cache.get(`${base}:${i + 1}`, null))])
  const overflow = Number(overRaw) || 0
  return { values: slots.filter((v): v is T => v !== null), overflow }
}
