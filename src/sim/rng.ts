import { uniformFloat64 } from 'pure-rand/distribution/uniformFloat64'
import { xoroshiro128plus } from 'pure-rand/generator/xoroshiro128plus'
import { hash32 } from '../counters/hash.js'

/**
 * Seeded randomness for the simulator (no Math.random anywhere). Each user and session derives its
 * own generator from the seed and its ids, so a user's events do not depend on who came before.
 */
export class Rng {
  private readonly g

  constructor(seed: number) {
    this.g = xoroshiro128plus(seed | 0)
  }

  static derive(seed: number, ...parts: (string | number)[]): Rng {
    return new Rng(hash32(`${seed}|${parts.join('|')}`))
  }

  /** Uniform in [0, 1). */
  float(): number {
    return uniformFloat64(this.g)
  }

  /** Uniform integer in [min, max]. */
  int(min: number, max: number): number {
    return min + Math.floor(this.float() * (max - min + 1))
  }

  chance(p: number): boolean {
    return this.float() < p
  }

  pick<T>(list: readonly T[]): T {
    return list[Math.floor(this.float() * list.length)] as T
  }

  /** Exponential with the given mean. */
  exp(mean: number): number {
    return -Math.log(1 - this.float()) * mean
  }

  /** 32 random bits as 8 hex digits. */
  hex8(): string {
    return (this.g.next() >>> 0).toString(16).padStart(8, '0')
  }
}

/** Deterministic bucket in [0, 1) for an id under a salt, like PostHog's hash-based rollout. */
export function bucket(salt: string, id: string): number {
  return hash32(`${salt}.${id}`) / 0x1_0000_0000
}
