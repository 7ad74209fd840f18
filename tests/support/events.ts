/** Builders for events in the shapes PostHog delivers them; property names as the SDKs send them. */
export const NOW = Date.UTC(2026, 10, 20, 12, 0, 0)
export const iso = (ms: number) => new Date(ms).toISOString()

let n = 0
export function uuid(): string {
  n++
  return `0190f5c4-0000-7000-8000-${n.toString(16).padStart(12, '0')}`
}

/** A `$feature_flag_called` as posthog-js sends it (super properties included). */
export function flagCalled(
  flag: string,
  response: unknown,
  over: { distinct_id?: string; person?: string; props?: Record<string, unknown>; ts?: number; uuid?: string } = {},
) {
  return {
    uuid: over.uuid ?? uuid(),
    event: '$feature_flag_called',
    distinct_id: over.distinct_id ?? 'user-1',
    timestamp: iso(over.ts ?? NOW - 3_600_000),
    team_id: 1,
    properties: {
      $lib: 'web',
      $lib_version: '1.200.0',
      $feature_flag: flag,
      $feature_flag_response: response,
      $feature_flag_request_id: 'req-1',
      $feature_flag_reason: 'Matched condition set 1',
      [`$feature/${flag}`]: response,
      $active_feature_flags: [flag],
      ...over.props,
    },
    ...(over.person ? { person: { uuid: over.person, team_id: 1, properties: {}, created_at: iso(NOW) } } : {}),
  }
}

export function customEvent(
  name: string,
  over: { distinct_id?: string; person?: string; props?: Record<string, unknown>; ts?: number; uuid?: string } = {},
) {
  return {
    uuid: over.uuid ?? uuid(),
    event: name,
    distinct_id: over.distinct_id ?? 'user-1',
    timestamp: iso(over.ts ?? NOW - 1_800_000),
    team_id: 1,
    properties: { $lib: 'web', ...over.props },
    ...(over.person ? { person: { uuid: over.person, team_id: 1, properties: {}, created_at: iso(NOW) } } : {}),
  }
}
