import { auditConfig } from '../../src/definitions/audit-config.js'
import { parseExperiments, parseFlags, type Definitions } from '../../src/definitions/definitions.js'
import { buildReport, type Report } from '../../src/coverage/report.js'
import type { FlagObservation, Observations } from '../../src/counters/observation.js'
import { hooksFromDefinitions } from '../../src/plugin/definition-hooks.js'
import { EmbeddedPlugin } from '../../src/plugin/embedded.js'
import { configuredGoals, parseSettings } from '../../src/settings/settings.js'

/**
 * PostHog's experiment query tests, replayed through the offline audit: their flag, experiment and
 * events (`journeys_for` in posthog/test/test_journeys.py: each key is a person's distinct id),
 * so the numbers PostHog's tests expect can be expected of the audit.
 */
export interface JourneyEvent {
  readonly event: string
  readonly timestamp: string
  readonly properties?: Record<string, unknown>
}

/** The events of `journeys_for`, as the lines of an events file, in the order given (person by person). */
export function journeys(byPerson: Record<string, readonly JourneyEvent[]>): unknown[] {
  let n = 0
  return Object.entries(byPerson).flatMap(([distinctId, events]) =>
    events.map((e) => ({
      uuid: `0190f5c4-1000-7000-8000-${(++n).toString(16).padStart(12, '0')}`,
      event: e.event,
      distinct_id: distinctId,
      timestamp: e.timestamp.endsWith('Z') || /[+-]\d\d:\d\d$/.test(e.timestamp) ? e.timestamp : `${e.timestamp}Z`,
      properties: { ...(e.properties ?? {}) },
    })),
  )
}

/** The flag ExperimentQueryRunnerBaseTest.create_feature_flag makes: control/test at 50% each. */
export function baseTestFlag(key = 'test-experiment'): unknown {
  return {
    id: 1,
    key,
    name: `Test experiment flag: ${key}`,
    active: true,
    deleted: false,
    filters: {
      groups: [{ properties: [], rollout_percentage: null }],
      multivariate: { variants: [{ key: 'control', name: 'Control', rollout_percentage: 50 }, { key: 'test', name: 'Test', rollout_percentage: 50 }] },
    },
  }
}

/** The experiment ExperimentQueryRunnerBaseTest.create_experiment makes, with what a test sets on it. */
export function baseTestExperiment(over: Record<string, unknown> & { start_date: string; end_date: string }, key = 'test-experiment'): unknown {
  return { id: 1, name: 'test-experiment', feature_flag_key: key, status: 'running', exposure_criteria: null, metrics: [], metrics_secondary: [], ...over }
}

export function definitionsOf(flags: unknown[], experiments: unknown[]): Definitions {
  return { flags: parseFlags('test', flags), experiments: parseExperiments('test', experiments), cohorts: [], groupTypes: new Map() }
}

/** The offline audit (the CLI's auditEvents) over events, keeping the observations beside the report. */
export async function auditJourneys(defs: Definitions, events: readonly unknown[], nowMs: number): Promise<{ report: Report; observations: Observations; flag: (key: string) => FlagObservation | undefined }> {
  const { config, counted } = auditConfig({}, defs)
  const settings = parseSettings(config, { countedEvents: counted })
  const plugin = new EmbeddedPlugin(config, { ...(await hooksFromDefinitions(defs, configuredGoals(settings))), countedEvents: counted, now: () => nowMs, log: () => {} })
  await plugin.setup()
  for (const e of events) await plugin.onEvent(e)
  const observations = await plugin.observe()
  await plugin.teardown()
  const report = buildReport({ definitions: defs, observations, settings, nowMs })
  return { report, observations, flag: (key) => observations.flags.find((f) => f.flag === key) }
}
