import { readMetric, type ExperimentDefinition, type MetricDefinition } from './definitions.js'

/** Where an experiment documents a metric. */
export type MetricOrigin = 'metrics' | 'shared' | 'legacy_filters'

/** One metric of an experiment, wherever it is documented. */
export interface ExperimentMetric {
  readonly name: string | null
  /** Primary metrics decide the experiment; secondary ones play PostHog's guardrails. */
  readonly role: 'primary' | 'secondary'
  readonly origin: MetricOrigin
  readonly definition: MetricDefinition
}

type LegacyFilters = NonNullable<ExperimentDefinition['filters']>

/**
 * A legacy experiment's `filters` (events and actions, in funnel `order`; an event's `id` is its
 * name) as a metric whose steps are those entities, or null when it names none.
 */
function legacyMetric(filters: LegacyFilters, name: string | null): MetricDefinition | null {
  const entities = [
    ...(filters.events ?? []).map((e) => ({ e, action: false })),
    ...(filters.actions ?? []).map((e) => ({ e, action: true })),
  ].sort((a, b) => (a.e.order ?? 0) - (b.e.order ?? 0))
  if (entities.length === 0) return null
  const series = entities.map(({ e, action }) =>
    action
      ? { kind: 'ActionsNode', id: e.id, name: e.name }
      : {
          kind: 'EventsNode',
          event: typeof e.id === 'string' ? e.id : e.name,
          name: e.name,
          // old insights may keep a property group here instead of a list: only a list of filters is read
          properties: Array.isArray(e.properties) ? e.properties.filter((p) => typeof p === 'object' && p !== null && 'key' in p) : [],
        },
  )
  return readMetric({ kind: 'LegacyExperimentFilters', name, metric_type: filters.insight === 'TRENDS' ? 'mean' : 'funnel', series })
}

/**
 * Every metric of an experiment, as PostHog resolves them (products/experiments/backend/
 * metric_resolution.py `get_effective_experiment_metrics`): inline primary (`metrics`), inline
 * secondary (`metrics_secondary`), then the shared metrics linked to it (`saved_metrics`, each
 * `{name, query, metadata: {type}}`; a link without `metadata.type: 'secondary'` is primary:
 * `saved_metric_link_role`). A legacy experiment's goal in `filters` (and its old
 * `secondary_metrics`) is read only where nothing newer documents that role, so an experiment that
 * PostHog migrated to metrics is not counted twice.
 */
export function experimentMetrics(e: ExperimentDefinition): ExperimentMetric[] {
  const out: ExperimentMetric[] = []
  for (const m of e.metrics ?? []) out.push({ name: m.name ?? null, role: 'primary', origin: 'metrics', definition: m })
  for (const m of e.metrics_secondary ?? []) out.push({ name: m.name ?? null, role: 'secondary', origin: 'metrics', definition: m })
  for (const link of e.saved_metrics ?? []) {
    const definition = readMetric(link.query)
    if (!definition) continue
    out.push({ name: link.name ?? definition.name ?? null, role: link.metadata?.type === 'secondary' ? 'secondary' : 'primary', origin: 'shared', definition })
  }
  if (!out.some((m) => m.role === 'primary') && e.filters) {
    const legacy = legacyMetric(e.filters, null)
    if (legacy) out.push({ name: null, role: 'primary', origin: 'legacy_filters', definition: legacy })
  }
  if (!out.some((m) => m.role === 'secondary')) {
    for (const s of e.secondary_metrics ?? []) {
      const legacy = s.filters ? legacyMetric(s.filters, s.name ?? null) : null
      if (legacy) out.push({ name: s.name ?? null, role: 'secondary', origin: 'legacy_filters', definition: legacy })
    }
  }
  return out
}
