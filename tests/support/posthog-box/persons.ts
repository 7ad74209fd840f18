import type { BoxEvent } from './clickhouse.js'

/**
 * Events as PostHog ingests them from what an SDK sent: the distinct id read from the properties
 * where posthog-js puts it, and each event's person as PostHog resolves it. `$identify` merges the
 * anonymous id (`$anon_distinct_id`) into the identified one, `$create_alias` merges `alias`, and
 * every distinct id of a person maps to that person (persons on events, after the merge: posthog's
 * person overrides squash earlier events onto the merged person). The person's properties at each
 * event are the `$set` / `$set_once` values seen so far, as persons-on-events records them.
 */
export function asIngested(sent: readonly Record<string, unknown>[]): BoxEvent[] {
  const parent = new Map<string, string>()
  const root = (id: string): string => {
    let r = id
    while (parent.has(r)) r = parent.get(r)!
    return r
  }
  const merge = (a: string, b: string) => {
    const [ra, rb] = [root(a), root(b)]
    if (ra !== rb) parent.set(rb, ra)
  }
  const distinctOf = (e: Record<string, unknown>) => String(e.distinct_id ?? (e.properties as Record<string, unknown> | undefined)?.distinct_id ?? '')
  for (const e of sent) {
    const p = (e.properties ?? {}) as Record<string, unknown>
    const id = distinctOf(e)
    if (e.event === '$identify' && typeof p.$anon_distinct_id === 'string') merge(id, p.$anon_distinct_id)
    if (e.event === '$create_alias' && typeof p.alias === 'string') merge(id, p.alias)
  }
  const props = new Map<string, Record<string, unknown>>()
  return sent.map((e, i) => {
    const p = (e.properties ?? {}) as Record<string, unknown>
    const person = root(distinctOf(e))
    const set = { ...((e.$set ?? p.$set ?? {}) as Record<string, unknown>) }
    const setOnce = (e.$set_once ?? p.$set_once ?? {}) as Record<string, unknown>
    const current = props.get(person) ?? {}
    props.set(person, { ...setOnce, ...current, ...set })
    return {
      uuid: String(e.uuid ?? `0190b5a8-0000-7000-8000-${String(i).padStart(12, '0')}`),
      event: String(e.event),
      distinct_id: distinctOf(e),
      timestamp: String(e.timestamp),
      properties: p,
      person: { id: `person:${person}`, properties: props.get(person)! },
    }
  })
}
