import type { ExposureEvent } from '../events/types.js'
import { AREAS, AREA_BY_NAME, GUARDRAIL_EVENTS, type Area } from './catalog.js'
import { DEFECTS, DEFECT_IDS, OPT_IN_DEFECTS, type DefectId, type DefectRequest } from './defects.js'
import { Rng } from './rng.js'
import { DAY_MS } from '../time.js'

export type FlagKind = 'experiment' | 'multivariate_flag' | 'boolean_flag'
/** Which SDK reads the flag: the browser, the server (posthog-node, local evaluation), or the server bootstrapping the browser. */
export type FlagLib = 'web' | 'posthog-node' | 'bootstrap'

export interface VariantPlan {
  readonly key: string
  readonly share: number
  /** Relative change of the area's funnel step rate for users in this variant. */
  readonly lift: number
}

/** Everything the traffic generator needs about one flag. */
export interface FlagPlan {
  readonly id: number
  readonly key: string
  readonly name: string
  readonly area: Area
  readonly kind: FlagKind
  /** Multivariate variants; empty for a boolean flag. */
  readonly variants: readonly VariantPlan[]
  /** Share of units the flag is on for (boolean), or in the experiment (multivariate). */
  rollout: number
  lib: FlagLib
  /** The client app (set of pages) that loads this flag. */
  readonly app: number
  /** Chance that a visit to the area's page reads the flag. */
  reach: number
  readonly groupType: 'company' | null
  continuity: boolean
  readonly startMs: number
  readonly endMs: number | null
  readonly experimentId: number | null
  exposureEvent: ExposureEvent
  readonly defects: Map<DefectId, number | null>
  /** For flag_off_running: when the flag was switched off. */
  offMs: number | null
  /** For split_changed: when the split changed, and the variants' shares before it. */
  splitChange?: { readonly atMs: number; readonly sharesBefore: readonly number[] }
}

export interface Project {
  readonly seed: number
  readonly startMs: number
  readonly endMs: number
  readonly flags: FlagPlan[]
  readonly apps: number
  /** PostHog API objects, exactly as the list/detail endpoints return them. */
  readonly api: { flags: unknown[]; experiments: unknown[]; cohorts: unknown[]; groupTypes: unknown[]; activity: unknown[] }
  readonly injected: { flag: string; defect: DefectId; param: number | null }[]
}

export interface ProjectOptions {
  readonly seed: number
  readonly flags: number
  readonly startMs: number
  readonly endMs: number
  readonly defects: DefectRequest[] | 'mix'
  /**
   * Experiments start between this many days before the end (uniformly, on whole minutes), rather
   * than in the first 40% of the window: some before a 30-day lookback, some recently.
   */
  readonly experimentStartDays?: readonly [number, number]
  /** With experimentStartDays: the share of experiments already stopped, their flags still served. */
  readonly endedShare?: number
}

const MIN_MS = 60_000
// A client app loads at most this many flags: posthog-js puts every loaded flag on every event, so
// a 1,000-flag project is modelled as several apps (marketing site, product, docs...).
export const FLAGS_PER_APP = 25
export const COHORTS = { betaTesters: 1, powerUsers: 2, enterprise: 3 } as const

interface Template {
  readonly area: string
  readonly noun: string
  readonly kind: FlagKind
  readonly lib?: FlagLib
  readonly variants?: number
  readonly rollout?: number
  readonly group?: boolean
}

/** The demo project: twenty flags as a growth team runs them, most experiments, some rollouts. */
const DEMO: readonly Template[] = [
  { area: 'checkout', noun: 'one-page', kind: 'experiment' },
  { area: 'pricing', noun: 'annual-toggle', kind: 'experiment' },
  { area: 'onboarding', noun: 'checklist', kind: 'experiment' },
  { area: 'search', noun: 'ranking-v2', kind: 'experiment', lib: 'posthog-node' },
  { area: 'pricing', noun: 'plan-cards', kind: 'experiment', variants: 3 },
  { area: 'activation', noun: 'empty-state', kind: 'experiment' },
  { area: 'retention', noun: 'weekly-digest', kind: 'experiment' },
  { area: 'campaign', noun: 'hero-copy', kind: 'experiment' },
  { area: 'checkout', noun: 'express-pay', kind: 'experiment' },
  { area: 'onboarding', noun: 'welcome-tour', kind: 'experiment' },
  { area: 'activation', noun: 'sample-data', kind: 'experiment' },
  { area: 'pricing', noun: 'free-trial-cta', kind: 'experiment' },
  { area: 'search', noun: 'typeahead', kind: 'multivariate_flag', variants: 3 },
  { area: 'retention', noun: 'saved-views', kind: 'experiment', lib: 'bootstrap' },
  { area: 'settings', noun: 'dark-mode', kind: 'boolean_flag', rollout: 0.5 },
  { area: 'settings', noun: 'new-navigation', kind: 'boolean_flag', rollout: 0.2 },
  { area: 'checkout', noun: 'address-autocomplete', kind: 'boolean_flag', rollout: 0.5 },
  { area: 'campaign', noun: 'referral-bonus', kind: 'multivariate_flag' },
  { area: 'settings', noun: 'usage-alerts', kind: 'boolean_flag', rollout: 0.3, lib: 'posthog-node' },
  { area: 'onboarding', noun: 'progress-bar', kind: 'boolean_flag', rollout: 0.4, group: true },
]

/** Which demo flag carries which defect in the default mix (and its size, if not the default). */
const DEMO_MIX: readonly [DefectId, string, number?][] = [
  // large enough to show in a demo-sized project
  ['sample_ratio_mismatch', 'pricing-annual-toggle', 0.4],
  ['crossover', 'onboarding-checklist'],
  ['server_side_exposure', 'campaign-referral-bonus'],
  ['miscased_variant', 'pricing-plan-cards'],
  ['no_primary_metric', 'activation-empty-state'],
  ['no_guardrail', 'retention-weekly-digest'],
  ['metric_unreachable', 'campaign-hero-copy'],
  ['flag_off_running', 'checkout-express-pay'],
  ['double_exposure_event', 'onboarding-welcome-tour'],
  ['exposure_after_goal', 'activation-sample-data'],
  ['dynamic_cohort_exposure', 'pricing-free-trial-cta'],
  ['unknown_variant', 'search-typeahead'],
  ['forced_variant', 'retention-saved-views'],
  ['missing_exposure_payload_only', 'settings-dark-mode'],
  ['missing_exposure_server', 'settings-usage-alerts'],
]

function generatedTemplate(i: number): Template {
  const area = AREAS[i % AREAS.length] as Area
  const round = Math.floor(i / AREAS.length)
  const noun = area.nouns[round % area.nouns.length] as string
  const suffix = round >= area.nouns.length ? `-${Math.floor(round / area.nouns.length) + 1}` : ''
  const slot = i % 10
  const kind: FlagKind = slot < 5 ? 'experiment' : slot < 7 ? 'multivariate_flag' : 'boolean_flag'
  const lib: FlagLib = i % 7 === 3 ? 'posthog-node' : i % 11 === 5 ? 'bootstrap' : 'web'
  return {
    area: area.name,
    noun: noun + suffix,
    kind,
    lib,
    variants: kind !== 'boolean_flag' && i % 4 === 1 ? 3 : 2,
    rollout: kind === 'boolean_flag' ? [0.1, 0.25, 0.5, 0.8][i % 4] : 1,
    group: kind !== 'experiment' && i % 13 === 6,
  }
}

function variantsOf(count: number, kind: FlagKind, rng: Rng): VariantPlan[] {
  if (kind === 'boolean_flag') return []
  const keys = count === 3 ? ['control', 'test', 'test-2'] : ['control', 'test']
  // Traffic follows the whole percentages the flag publishes (34/33/33, not thirds), or a large
  // project would show a mismatch the simulator itself made.
  const pct = splitPercent(keys.map(() => 1 / count))
  // A real effect in the first test variant, none in the others: the data has something to find.
  return keys.map((key, i) => ({ key, share: (pct[i] as number) / 100, lift: i === 1 ? 0.05 + rng.float() * 0.1 : 0 }))
}

function isEligible(flag: FlagPlan, id: DefectId): boolean {
  const d = DEFECTS.get(id)!
  if (d.needsExperiment && flag.kind !== 'experiment') return false
  if (d.needsVariants && flag.variants.length === 0) return false
  if ((id === 'crossover' || id === 'identify_rebucket' || id === 'metric_stopped') && (flag.lib !== 'web' || flag.groupType !== null)) return false
  // Mixed evaluation is the defect: a flag evaluated only on the server is expected to be server-side.
  if (id === 'server_side_exposure' && (flag.lib === 'posthog-node' || flag.groupType !== null)) return false
  if ((id === 'exposure_after_goal' || id === 'double_exposure_event') && flag.lib === 'posthog-node') return false
  if ((id === 'payload_only_share' || id === 'bootstrap_stale') && (flag.lib === 'posthog-node' || flag.groupType !== null)) return false
  if (id === 'payload_only_server' && flag.groupType !== null) return false
  return true
}

/** Applies a defect to the plan (what the traffic generator reads) and returns it for the record. */
function applyDefect(flag: FlagPlan, id: DefectId, param: number | null, project: { startMs: number; endMs: number }): void {
  flag.defects.set(id, param)
  if (id === 'missing_exposure_server' || id === 'payload_only_server') flag.lib = 'posthog-node'
  if (id === 'bootstrap_stale') flag.lib = 'bootstrap'
  if (id === 'double_exposure_event') flag.exposureEvent = '$feature_flag_called'
  if (id === 'underpowered') flag.rollout = param ?? 0.04
  // Crossing needs a person exposed on more than one visit: the flag sits where people return.
  if (id === 'crossover') flag.reach = 0.95
  // A slice's loss shows from enough units: the flag sits where most visitors go.
  if (id === 'slice_exposure_loss') flag.reach = 0.95
  if (id === 'split_changed') {
    // Ten points moved from the last variant to the first until the change (60/40 before a 50/50).
    const before = flag.variants.map((v) => v.share)
    before[0] = (before[0] as number) + 0.1
    before[before.length - 1] = (before[before.length - 1] as number) - 0.1
    flag.splitChange = { atMs: flag.startMs + Math.floor((project.endMs - flag.startMs) * (param ?? 0.5)), sharesBefore: before }
  }
  if (id === 'identify_rebucket') {
    flag.continuity = false
    flag.reach = 0.95
  }
  if (id === 'flag_off_running') flag.offMs = project.startMs + Math.floor((project.endMs - project.startMs) * 0.6)
}

export function buildProject(opts: ProjectOptions): Project {
  const rng = Rng.derive(opts.seed, 'project')
  const templates = opts.flags === DEMO.length ? DEMO : Array.from({ length: opts.flags }, (_, i) => generatedTemplate(i))
  const span = opts.endMs - opts.startMs
  let experimentId = 0
  const flags: FlagPlan[] = templates.map((t, i) => {
    const area = AREA_BY_NAME.get(t.area) as Area
    const isExperiment = t.kind === 'experiment'
    // Experiments started in the first half of the window; some have a planned end (the readout).
    const spread = isExperiment ? opts.experimentStartDays : undefined
    const startMs = spread
      ? Math.floor((opts.endMs - (spread[0] + rng.float() * (spread[1] - spread[0])) * DAY_MS) / MIN_MS) * MIN_MS
      : opts.startMs + Math.floor(rng.float() * span * (isExperiment ? 0.4 : 0.1))
    // A stopped experiment ran at least two days, and ended at least a day ago.
    const ended = spread && rng.chance(opts.endedShare ?? 0) && opts.endMs - startMs > 3 * DAY_MS
    const endedAt = ended ? startMs + 2 * DAY_MS + Math.floor(rng.float() * (opts.endMs - startMs - 3 * DAY_MS)) : null
    return {
      id: 1000 + i,
      key: `${area.name}-${t.noun}`,
      name: `${area.name[0]!.toUpperCase()}${area.name.slice(1)}: ${t.noun.replace(/-/g, ' ')}`,
      area,
      kind: t.kind,
      variants: variantsOf(t.variants ?? 2, t.kind, rng),
      rollout: t.rollout ?? 1,
      lib: t.lib ?? 'web',
      app: Math.floor(i / FLAGS_PER_APP),
      reach: 0.55 + rng.float() * 0.4,
      groupType: t.group ? 'company' : null,
      continuity: true,
      startMs,
      // Drawn here, in the order seeds have always drawn it, so a seed gives the project it gave.
      endMs: endedAt ?? (isExperiment && rng.chance(0.6) ? opts.endMs + Math.floor((2 + rng.float() * 12) * DAY_MS) : null),
      experimentId: isExperiment ? 500 + ++experimentId : null,
      exposureEvent: isExperiment && rng.chance(0.3) ? '$experiment_exposure' : '$feature_flag_called',
      defects: new Map(),
      offMs: null,
    }
  })

  const injected: Project['injected'] = []
  const requests: DefectRequest[] =
    opts.defects === 'mix'
      ? templates === DEMO
        ? DEMO_MIX.map(([id, flag, size]) => ({ id, flag, param: size ?? DEFECTS.get(id)!.defaultParam }))
        : DEFECT_IDS.filter((id) => id !== 'underpowered' && !OPT_IN_DEFECTS.includes(id)).map((id) => ({ id, flag: null, param: DEFECTS.get(id)!.defaultParam }))
      : opts.defects
  for (const req of requests) {
    const target = req.flag
      ? flags.find((f) => f.key === req.flag)
      : // flag 0 stays healthy; a stopped experiment shows no defect a running one would
        flags.find((f, i) => i > 0 && f.defects.size === 0 && isEligible(f, req.id) && !(f.endMs !== null && f.endMs <= opts.endMs))
    if (!target) throw new Error(`no flag can take the defect ${req.id}${req.flag ? ` (flag ${req.flag} not found)` : ''}`)
    if (!isEligible(target, req.id)) throw new Error(`flag ${target.key} cannot take the defect ${req.id}: it needs ${DEFECTS.get(req.id)!.needsExperiment ? 'an experiment' : 'a multivariate flag'}`)
    applyDefect(target, req.id, req.param, opts)
    injected.push({ flag: target.key, defect: req.id, param: req.param })
  }

  return {
    seed: opts.seed,
    startMs: opts.startMs,
    endMs: opts.endMs,
    flags,
    apps: Math.max(1, Math.ceil(flags.length / FLAGS_PER_APP)),
    api: {
      flags: flags.map((f) => flagApiObject(f, opts.endMs)),
      experiments: flags.filter((f) => f.experimentId !== null).map((f) => experimentApiObject(f, opts.endMs)),
      cohorts: cohortApiObjects(opts.endMs),
      // GET /api/projects/:id/groups_types/ (a plain array)
      groupTypes: [{ group_type: 'company', group_type_index: 0, name_singular: 'company', name_plural: 'companies' }],
      activity: flags.flatMap((f) => activityEntries(f)),
    },
    injected,
  }
}

const iso = (ms: number) => new Date(ms).toISOString()

/**
 * The flag's history as `GET /api/projects/:id/feature_flags/activity/` lists it: only for a flag
 * whose split changed during the run (split_changed), its creation and that change, the filters
 * before and after as PostHog's activity log records them.
 */
function activityEntries(f: FlagPlan): unknown[] {
  if (!f.splitChange) return []
  const after = (flagApiObject(f, f.splitChange.atMs) as { filters: Record<string, unknown> }).filters
  const percentages = splitPercent([...f.splitChange.sharesBefore])
  const before = { ...after, multivariate: { variants: f.variants.map((v, i) => ({ key: v.key, name: v.key === 'control' ? 'Control' : null, rollout_percentage: percentages[i] })) } }
  const entry = (activity: string, atMs: number, changes: unknown[], who: string) => ({
    user: { first_name: who, email: `${who.toLowerCase()}@example.com` },
    activity,
    scope: 'FeatureFlag',
    item_id: String(f.id),
    detail: { changes, name: f.key },
    created_at: iso(atMs),
  })
  return [entry('created', f.startMs - DAY_MS, [], 'Growth'), entry('updated', f.splitChange.atMs, [{ type: 'FeatureFlag', action: 'changed', field: 'filters', before, after }], 'Morgan')]
}

/** A feature flag as `GET /api/projects/:id/feature_flags/` returns it. */
function flagApiObject(f: FlagPlan, nowMs: number): unknown {
  const groups: unknown[] = []
  if (f.defects.has('forced_variant')) {
    groups.push({
      properties: [{ key: 'plan', type: 'person', value: ['enterprise'], operator: 'exact' }],
      rollout_percentage: 100,
      variant: 'test',
    })
  }
  groups.push({
    properties: f.defects.has('dynamic_cohort_exposure') ? [{ key: 'id', type: 'cohort', value: COHORTS.powerUsers }] : [],
    rollout_percentage: Math.round(f.rollout * 100),
    variant: null,
  })
  const variantPercentages = splitPercent(f.variants.map((v) => v.share))
  return {
    id: f.id,
    name: f.name,
    key: f.key,
    filters: {
      groups,
      multivariate: f.variants.length
        ? { variants: f.variants.map((v, i) => ({ key: v.key, name: v.key === 'control' ? 'Control' : null, rollout_percentage: variantPercentages[i] })) }
        : null,
      aggregation_group_type_index: f.groupType ? 0 : null,
      payloads: {},
    },
    deleted: false,
    active: !f.defects.has('flag_off_running'),
    archived: false,
    created_by: { id: 1, first_name: 'Growth', email: 'growth@example.com' },
    created_at: iso(f.startMs - DAY_MS),
    updated_at: iso(f.offMs ?? f.startMs),
    version: f.offMs ? 3 : 1,
    is_simple_flag: f.variants.length === 0 && groups.length === 1,
    rollout_percentage: f.variants.length === 0 ? Math.round(f.rollout * 100) : null,
    ensure_experience_continuity: f.continuity,
    experiment_set: f.experimentId !== null ? [f.experimentId] : [],
    surveys: [],
    features: [],
    tags: [f.area.name],
    evaluation_runtime: f.lib === 'posthog-node' ? 'server' : 'all',
    bucketing_identifier: 'distinct_id',
    status: 'ACTIVE',
    last_called_at: iso(nowMs - 60_000),
  }
}

/** Percentages that add up to exactly 100, as PostHog requires of variants. */
function splitPercent(shares: number[]): number[] {
  const raw = shares.map((s) => Math.floor(s * 100))
  let rest = 100 - raw.reduce((a, b) => a + b, 0)
  for (let i = 0; rest > 0; i = (i + 1) % raw.length, rest--) raw[i]! += 1
  return raw
}

function metric(uuid: string, name: string, event: string, type: 'funnel' | 'mean'): unknown {
  const node = { kind: 'EventsNode', event, name: event }
  return type === 'funnel'
    ? { kind: 'ExperimentMetric', uuid, name, metric_type: 'funnel', goal: 'increase', series: [node] }
    : { kind: 'ExperimentMetric', uuid, name, metric_type: 'mean', goal: 'decrease', source: node }
}

/** The goal event of an experiment measured by an event of its own (metric_stopped): only its page sends it. */
export function ownGoalEvent(f: Pick<FlagPlan, 'key'>): string {
  return `${f.key.replace(/-/g, '_')}_completed`
}

/** An experiment as `GET /api/projects/:id/experiments/:id/` returns it (the list omits metrics). */
function experimentApiObject(f: FlagPlan, nowMs: number): unknown {
  const goalEvent = f.defects.has('metric_unreachable') ? 'purchase_completed' : f.defects.has('metric_stopped') ? ownGoalEvent(f) : (f.area.funnel.at(-1) as string)
  const metrics = f.defects.has('no_primary_metric') ? [] : [metric(`m-${f.id}-1`, `${goalEvent} conversion`, goalEvent, 'funnel')]
  const secondary = f.defects.has('no_guardrail')
    ? []
    : [metric(`m-${f.id}-2`, 'Errors', GUARDRAIL_EVENTS[0], 'mean'), metric(`m-${f.id}-3`, 'Refunds', GUARDRAIL_EVENTS[1], 'mean')]
  const percentages = splitPercent(f.variants.map((v) => v.share))
  return {
    id: f.experimentId,
    name: f.name,
    description: `Does the new ${f.key.replace(/-/g, ' ')} improve ${f.area.name}?`,
    start_date: iso(f.startMs),
    end_date: f.endMs === null ? null : iso(f.endMs),
    feature_flag_key: f.key,
    feature_flag: { id: f.id, key: f.key, name: f.name, active: !f.defects.has('flag_off_running') },
    holdout: null,
    holdout_id: null,
    exposure_cohort: null,
    parameters: {
      feature_flag_variants: f.variants.map((v, i) => ({ key: v.key, rollout_percentage: percentages[i] })),
      minimum_detectable_effect: 5,
      recommended_sample_size: 1200,
      recommended_running_time: 14,
    },
    secondary_metrics: [],
    saved_metrics: [],
    saved_metrics_ids: [],
    metrics,
    metrics_secondary: secondary,
    primary_metrics_ordered_uuids: metrics.map((m) => (m as { uuid: string }).uuid),
    archived: false,
    deleted: false,
    type: 'product',
    status: f.endMs !== null && f.endMs <= nowMs ? 'stopped' : 'running',
    exposure_criteria: {
      filterTestAccounts: true,
      exposure_config: { kind: 'ExperimentEventExposureConfig', event: f.exposureEvent, properties: [] },
      multiple_variant_handling: 'exclude',
    },
    conclusion: null,
    conclusion_comment: null,
    created_at: iso(f.startMs - DAY_MS),
    updated_at: iso(f.startMs),
  }
}

/** Cohorts as `GET /api/projects/:id/cohorts/` returns them: one static, two dynamic. */
function cohortApiObjects(nowMs: number): unknown[] {
  const base = { deleted: false, is_calculating: false, last_calculation: iso(nowMs - 3_600_000), errors_calculating: 0, created_at: iso(nowMs - 90 * DAY_MS) }
  return [
    { id: COHORTS.betaTesters, name: 'Beta testers', description: 'Uploaded list', groups: [], filters: null, query: null, is_static: true, count: 120, ...base },
    {
      id: COHORTS.powerUsers,
      name: 'Power users (exported a report in the last 30 days)',
      description: '',
      groups: [],
      filters: {
        properties: {
          type: 'OR',
          values: [{ type: 'AND', values: [{ key: 'report_exported', type: 'behavioral', value: 'performed_event', negation: false, event_type: 'events', time_value: 30, time_interval: 'day' }] }],
        },
      },
      query: null,
      is_static: false,
      count: 800,
      ...base,
    },
    {
      id: COHORTS.enterprise,
      name: 'Enterprise plan',
      description: '',
      groups: [],
      filters: { properties: { type: 'OR', values: [{ type: 'AND', values: [{ key: 'plan', type: 'person', value: ['enterprise'], operator: 'exact' }] }] } },
      query: null,
      is_static: false,
      count: 300,
      ...base,
    },
  ]
}
