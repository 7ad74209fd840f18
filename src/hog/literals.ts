import hogvm from '@posthog/hogvm'

/** HogQL text for values built into queries: always escaped as PostHog's own printer escapes them. */
export const lit = (s: string): string => hogvm.escapeString(s)

/** A tuple of string literals, for `IN (...)`. */
export const list = (xs: readonly string[]): string => `(${xs.map(lit).join(', ')})`

/** A moment in whole seconds, as HogQL's toDateTime reads it (UTC). */
export const dt = (ms: number): string => `toDateTime(${lit(new Date(ms).toISOString().slice(0, 19).replace('T', ' '))}, 'UTC')`
