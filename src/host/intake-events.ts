import { customExposureEvents } from '../definitions/audit-config.js'
import type { Definitions } from '../definitions/definitions.js'
import { EXPOSURE_EVENTS } from '../events/types.js'

/** The events the intake counts, and so the ones the webhook destination sends and an outage fill reads back. */
export function intakeEvents(settings: { metrics: readonly { event: string }[] }, defs?: Pick<Definitions, 'experiments'>): string[] {
  // An experiment whose exposure criteria name another event (`$pageview`) is exposed by that event.
  const custom = defs ? [...customExposureEvents(defs).keys()] : []
  return [...new Set<string>([...EXPOSURE_EVENTS, ...custom, ...settings.metrics.map((m) => m.event)])].sort()
}
