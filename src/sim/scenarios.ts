import type { SimulationOptions } from './simulation.js'

/**
 * Named projects for questions the default window does not ask: `long-running` has experiments that
 * started 5 to 60 days before the end (some before a 30-day lookback, a quarter already stopped
 * with their flags still served) and the SDK defects real traffic shows: payload-only reads on the
 * web and on the server, and a server bootstrap with stale variants.
 */
export interface Scenario {
  readonly description: string
  readonly days: number
  readonly defects: string
  readonly options: Pick<SimulationOptions, 'experimentStartDays' | 'endedShare'>
}

export const SCENARIOS: Readonly<Record<string, Scenario>> = {
  'long-running': {
    description: 'experiments started 5 to 60 days ago (a quarter stopped), payload-only reads on web and server, a stale bootstrap',
    days: 61,
    defects: 'payload_only_share,payload_only_server,bootstrap_stale',
    options: { experimentStartDays: [5, 60], endedShare: 0.25 },
  },
}
