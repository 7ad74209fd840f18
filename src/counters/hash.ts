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

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
const CODES = Array.from(ALPHABET, (c) => c.charCodeAt(0))

/**
 * A short stable id for a long one (an event's uuid): two 32-bit hashes of it, 64 bits in 11
 * base64url characters, after `lead` (one character, or none). Delivery markers and goal events
 * are kept per person and day, or per unit, so ids are compared only among one person's events,
 * where a collision of 64 bits does not occur in practice. Built from character codes in one go:
 * a string made by concatenation would be kept as a rope of three objects. Plain JavaScript: the
 * bundled plugin has no node:crypto.
 */
export function shortId(text: string, lead = ''): string {
  const a = hash32(text)
  const b = hash32(`\u0001${text}`)
  const c = (i: number) => CODES[i & 63] as number
  const codes = [c(a >>> 26), c(a >>> 20), c(a >>> 14), c(a >>> 8), c(a >>> 2), c(((a & 3) << 4) | (b >>> 28)), c(b >>> 22), c(b >>> 16), c(b >>> 10), c(b >>> 4), c(b & 15)]
  if (lead !== '') codes.unshift(lead.charCodeAt(0))
  return String.fromCharCode(...codes)
}
