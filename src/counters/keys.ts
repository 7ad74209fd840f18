import type { VariantValue } from '../events/types.js'

const SAFE = /^[A-Za-z0-9_.-]*$/
/** Makes any text safe inside a `:`/`|`-separated key; flag keys are usually safe already. */
export function enc(s: string): string {
  return SAFE.test(s) ? s : encodeURIComponent(s)
}

/**
 * A variant value as one key component. Types stay apart: the string "true" and the boolean `true`
 * are different responses, and PostHog treats them differently.
 */
export function variantToken(v: VariantValue): string {
  if (v === null) return 'N'
  if (v === true) return 'T'
  if (v === false) return 'F'
  if (typeof v === 'number') return `n${enc(String(v))}`
  return `s${enc(v)}`
}

export function tokenToVariant(token: string): VariantValue {
  const tag = token[0]
  const rest = token.slice(1)
  if (tag === 'N') return null
  if (tag === 'T') return true
  if (tag === 'F') return false
  if (tag === 'n') return Number(decodeURIComponent(rest))
  return decodeURIComponent(rest)
}

/**
 * The groups and sets of one project (CounterStore), under one namespace; the version (`ec2`)
 * changes when the layout does, so counters of an older layout are never read as this one's.
 */
export const COUNTERS_LAYOUT = 'ec2'

export class KeyScheme {
  readonly root: string
  constructor(project: string) {
    this.root = `${COUNTERS_LAYOUT}:${enc(project)}`
  }
  /** A day's rejections by reason (`rej:<reason>`) and redeliveries (`dup`). */
  day(day: number): string {
    return `${this.root}:d:${day}`
  }
  /** The set of flags with counters on a day. */
  flagsOfDay(day: number): string {
    return `${this.root}:d:${day}:flags`
  }
  /** A flag's counters for a day: `<series>:<counter>` and flag-level ones; its series' set is `<this>:series`. */
  flagDay(day: number, flag: string): string {
    return `${this.root}:d:${day}:f:${enc(flag)}`
  }
  /** A unit's state for a flag; `epoch` (an experiment's start) keeps each run of an experiment apart. */
  unit(flag: string, unit: string, epoch: number | null = null): string {
    return `${this.root}:u:${enc(flag)}${epoch === null ? '' : `@${epoch}`}:${enc(unit)}`
  }
  /**
   * A unit's state of every flag where sides meet (`<short id of the flag and its run>|<field>`):
   * the values it carried, `both` (carried and exposed), the experiment's surface.
   */
  unitFlags(unit: string): string {
    return `${this.root}:s:${enc(unit)}`
  }
  /**
   * A unit's two sets (CounterStore.join): `x`, the (flag, value) pairs it was exposed to, and `p`,
   * its goal and guardrail events, waiting for (or matched with) its exposures.
   */
  unitSides(unit: string): string {
    return `${this.root}:x:${enc(unit)}`
  }
  /** A unit's claims: each (metric event, exposed pair) counted once (`<event id>:<pair>`). */
  claims(unit: string): string {
    return `${this.root}:k:${enc(unit)}`
  }
  /** Deliveries of one person's events of one day (by the events' own time), by uuid. */
  deliveries(day: number, person: string): string {
    return `${this.root}:e:${day}:${enc(person)}`
  }
}
