import hogvm from '@posthog/hogvm'
import { RE2JS } from 're2js'

/**
 * Runs compiled bytecode against one event, as PostHog's CDP does: the event's fields are the
 * globals, and regular expressions have RE2 semantics (no backreferences, linear time), like
 * PostHog's own runtime.
 */
export interface HogGlobals {
  readonly event: string
  readonly distinct_id: string
  readonly timestamp: string
  readonly properties: Record<string, unknown>
  readonly person?: { readonly id?: string; readonly properties?: Record<string, unknown> } | null
  readonly [key: string]: unknown
}

const RE2_CACHE = new Map<string, RE2JS>()
function re2(pattern: string): RE2JS {
  let re = RE2_CACHE.get(pattern)
  if (!re) {
    if (RE2_CACHE.size > 1000) RE2_CACHE.clear()
    re = RE2JS.compile(pattern)
    RE2_CACHE.set(pattern, re)
  }
  return re
}

const regex = {
  match: (pattern: string, value: string) => re2(pattern).matcher(value).find(),
}

/**
 * The VM's limit is wall-clock time, checked at every operation. A filter is a short expression
 * with no loop, so the limit only guards against a runaway program: it must sit far above any stall
 * of a busy machine (a garbage collection, a swapped page), or whether an event is counted would
 * depend on the machine's load. With 100 ms, two workers counting one stream under load disagreed
 * by an event. This is the VM's own default.
 */
const TIMEOUT_MS = hogvm.DEFAULT_TIMEOUT_MS

/** Evaluates the bytecode; throws what the VM throws (a type error, a runaway program). */
export function runBytecode(bytecode: readonly unknown[], globals: HogGlobals): unknown {
  return hogvm.execSync(bytecode as unknown[], { globals: globals as Record<string, unknown>, external: { regex }, timeout: TIMEOUT_MS })
}

/** The event shape a filter reads, from any of the shapes PostHog delivers. */
export function globalsOf(raw: Record<string, unknown>): HogGlobals {
  const ev = (typeof raw.event === 'object' && raw.event !== null ? raw.event : raw) as Record<string, unknown>
  const person = (raw.person ?? ev.person ?? null) as HogGlobals['person']
  return {
    event: String(ev.event ?? ''),
    distinct_id: String(ev.distinct_id ?? ''),
    timestamp: String(ev.timestamp ?? ''),
    uuid: ev.uuid,
    properties: (ev.properties as Record<string, unknown>) ?? {},
    person,
    elements_chain: ev.elements_chain ?? '',
  }
}
