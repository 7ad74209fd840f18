/**
 * 32-bit FNV-1a over UTF-16 code units: a stable, dependency-free bucket for the unit sample.
 * It only has to spread ids evenly and give every worker the same answer; it is not a security hash.
 */
export function fnv1a32(text: string): number {
  let h = 0x811c9dc5
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  return h >>> 0
}

/** True when the unit falls inside the deterministic sample of `rate` (0 < rate <= 1). */
export function inUnitSample(unit: string, rate: number): boolean {
  return rate >= 1 || fnv1a32(unit) / 0x1_0000_0000 < rate
}
