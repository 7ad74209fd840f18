import type { LibClass } from './types.js'

// `$lib` values of PostHog's SDKs. PostHog's health check counts first exposures from server-side
// libraries, because a server evaluating a flag for a user who never sees it inflates exposure.
export const CLIENT_LIBS = new Set([
  'web',
  'posthog-js-lite',
  'posthog-ios',
  'posthog-android',
  'posthog-react-native',
  'posthog-flutter',
  'posthog-unity',
])
export const SERVER_LIBS = new Set([
  'posthog-node',
  'posthog-python',
  'posthog-ruby',
  'posthog-go',
  'posthog-php',
  'posthog-java',
  'posthog-server',
  'posthog-dotnet',
  'posthog-rs',
  'posthog-elixir',
  'posthog-edge',
])

export function classifyLib(lib: unknown): LibClass {
  if (typeof lib !== 'string') return 'unknown'
  if (CLIENT_LIBS.has(lib)) return 'client'
  if (SERVER_LIBS.has(lib)) return 'server'
  return 'unknown'
}

/**
 * The SDK slice in HogQL, as the counters name it (read-event.ts sdkOf): `$lib` and the minor version of
 * `$lib_version` ("web 1.130"), `$lib` alone without a version, nothing without a `$lib`.
 */
export const SDK_SLICE_HOGQL = "multiIf(empty(ifNull(toString(properties.$lib), '')), '', empty(ifNull(toString(properties.$lib_version), '')), toString(properties.$lib), concat(toString(properties.$lib), ' ', replaceRegexpAll(toString(properties.$lib_version), '^(\\\\d+)\\\\.(\\\\d+).*$', '\\\\1.\\\\2')))"
