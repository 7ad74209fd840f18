/**
 * The project the SDK recorder records against (tests/fixtures/record/flags.ts), as PostHog's API
 * answers for it and parsed as the audit parses those answers: its flags, the experiments the tests
 * put on them (each from `startMs`, 50/50, with a funnel on its metric event when it has one), and
 * its group types.
 */
import { parseExperiments, parseFlags, parseGroupTypes, type Definitions } from '../../src/definitions/definitions.js'
import { ALL_FLAG_DEFINITIONS, GROUP_TYPE_MAPPING } from '../fixtures/record/flags.js'

export interface RecordedExperiment {
  readonly id: number
  readonly flag: string
  /** the experiment's name (default: its flag's key) */
  readonly name?: string
  /** the event of its primary funnel metric; none without */
  readonly metricEvent?: string
}

/** `flags`: which of the recorder's flags (all by default); `tags`: PostHog tags on each. */
export function recorderProject(
  startMs: number,
  experiments: readonly RecordedExperiment[],
  opts: { flags?: typeof ALL_FLAG_DEFINITIONS; tags?: readonly string[] } = {},
): { api: { flags: unknown[]; experiments: unknown[]; cohorts: unknown[]; groupTypes: unknown[] }; defs: Definitions } {
  const start = new Date(startMs).toISOString()
  const flags = (opts.flags ?? ALL_FLAG_DEFINITIONS).map((f) => ({ ...f, archived: false, tags: [...(opts.tags ?? [])], created_at: '2026-11-01T00:00:00Z', experiment_set: experiments.filter((x) => x.flag === f.key).map((x) => x.id) }))
  const apiExperiments = experiments.map(({ id, flag, name, metricEvent }) => ({
    id,
    name: name ?? flag,
    feature_flag_key: flag,
    start_date: start,
    end_date: null,
    archived: false,
    deleted: false,
    type: 'product',
    parameters: { feature_flag_variants: [{ key: 'control', rollout_percentage: 50 }, { key: 'test', rollout_percentage: 50 }] },
    metrics: metricEvent ? [{ kind: 'ExperimentMetric', metric_type: 'funnel', series: [{ kind: 'EventsNode', event: metricEvent }] }] : [],
    metrics_secondary: [],
    saved_metrics: [],
    exposure_criteria: { filterTestAccounts: false },
    holdout: null,
    created_at: start,
  }))
  const groupTypes = Object.entries(GROUP_TYPE_MAPPING).map(([index, type]) => ({ group_type: type, group_type_index: Number(index), name_singular: null, name_plural: null }))
  return {
    api: { flags, experiments: apiExperiments, cohorts: [], groupTypes },
    defs: { flags: parseFlags('flags', flags), experiments: parseExperiments('experiments', apiExperiments), cohorts: [], groupTypes: parseGroupTypes('group types', groupTypes) },
  }
}
