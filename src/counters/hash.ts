/**
 * 32-bit FNV-1a over UTF-16 code units, finished with MurmurHash3's fmix32 so that ids differing
 * only in their last characters (user-1, user-2, ...) still spread over the high bits that the
 * sample threshold reads. Stable and dependency-free: every worker, and the bundled plugin, gets
 * the same answer. Not a security hash.
 */
export function hash32(text: string): number {
  let h = 0x811c9dc5
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return h >>> 0
}

/** True when the unit falls inside the deterministic sample of `rate` (0 < rate <= 1). */
export function inUnitSample(unit: string, rate: number): boolean {
  return rate >= 1 || hash32(unit) / 0x1_0000_0000 < rate
}

/**
 * A short stable id for a long one (an event's uuid): two 32-bit hashes of it, 64 bits in base 36,
 * at most 14 characters. Delivery markers and goal claims are kept per person and day, or per unit,
 * so ids are compared only among one person's events, where a collision of 64 bits does not occur
 * in practice. Plain JavaScript: the bundled plugin has no node:crypto.
 */
export function shortId(text: string): string {
  return hash32(text).toString(36) + hash32(`\u0001${text}`).toString(36).padStart(7, '0')
}
