import type { FlagObservation, Observations } from '../counters/observation.js'
import { changesOfFlag, type ActivityLog } from '../definitions/activity.js'
import { backfillItems, planOf } from './plan.js'
import type { FlagReport, Report } from './report-schema.js'
import { runChecks } from './checks/registry.js'
import type { CheckContext } from './checks/types.js'
import { buildContext, cleanUnits, findVariant } from './context.js'
import { experimentsByFlag, type Definitions, type FlagDefinition } from '../definitions/definitions.js'
import { writeReadout } from './readout.js'
import type { Settings } from '../settings/settings.js'
import { scoreOf, verdictOf, type Verdict } from './verdict.js'
import { experimentRun, flagWindow } from '../definitions/windows.js'
import { DAY_MS, pacer } from '../time.js'
import { checkQuery, sliceQuery, sqlEditorUrl } from './queries.js'

// 2: each flag's own window (an experiment's run); each check's HogQL query
export const REPORT_SCHEMA_VERSION = 2

// The report's type is the documented schema's (report-schema.ts), written once.
export type { FlagReport, Report } from './report-schema.js'

export interface ReportInput {
  readonly definitions: Definitions
  readonly observations: Observations
  readonly settings: Settings
  readonly nowMs: number
  /** the flags' history from PostHog's activity log (flag_changes); absent when it was not read */
  readonly activity?: ActivityLog | null
}

/** A flag the events mention but PostHog's flag list does not: deleted, or from another project. */
function unknownFlag(obs: FlagObservation): FlagDefinition {
  const strings = Object.values(obs.exposure).some((e) => e?.variants.some((v) => typeof v.value === 'string'))
  return {
    id: -1,
    key: obs.flag,
    name: '(not in the flag list)',
    active: false,
    deleted: true,
    filters: {
      groups: [{ properties: [], rollout_percentage: 100, variant: null }],
      multivariate: strings ? { variants: [] } : null,
      aggregation_group_type_index: null,
    },
  } as FlagDefinition
}

const VERDICT_ORDER: readonly Verdict[] = ['blocked', 'needs_backfill', 'insufficient_data', 'trustworthy', 'inactive']

/** Judges every flag and experiment: the report JSON of DESIGN.md (REPORT_SCHEMA_VERSION). Pure. */
export function buildReport(input: ReportInput): Report {
  const plan = planReport(input)
  return assemble(input, plan.flags.map(plan.judge))
}

/**
 * The same report, built a few flags at a time: the event loop gets a turn every `sliceMs` of
 * work, so a host judging hundreds of flags keeps answering its intake meanwhile. Equal to
 * buildReport's.
 */
export async function buildReportInSlices(input: ReportInput, sliceMs = 8): Promise<Report> {
  const plan = planReport(input)
  const reports: FlagReport[] = []
  const pace = pacer(sliceMs)
  for (const flag of plan.flags) {
    reports.push(plan.judge(flag))
    await pace()
  }
  return assemble(input, reports)
}

/** The flags a report covers, and how each is judged. */
function planReport(input: ReportInput): { flags: FlagDefinition[]; judge: (flag: FlagDefinition) => FlagReport } {
  const { definitions, observations, settings, nowMs } = input
  const obsByFlag = new Map(observations.flags.map((f) => [f.flag, f]))
  const experimentByFlag = experimentsByFlag(definitions.experiments)
  const cohorts = new Map(definitions.cohorts.map((c) => [c.id, c]))
  const flags = definitions.flags.filter((f) => obsByFlag.has(f.key) || (!f.deleted && isReviewed(f, experimentByFlag.get(f.key) ?? null, settings, nowMs)))
  const listed = new Set(flags.map((f) => f.key))
  for (const obs of observations.flags) {
    if (listed.has(obs.flag)) continue
    listed.add(obs.flag)
    flags.push(unknownFlag(obs))
  }

  const judge = (flag: FlagDefinition): FlagReport => {
    const experiment = experimentByFlag.get(flag.key) ?? null
    const observation = obsByFlag.get(flag.key) ?? null
    const changes = input.activity && flag.id >= 0 ? changesOfFlag(input.activity, flag) : null
    const ctx = buildContext({ flag, experiment, observation, cohorts, settings, nowMs, changes })
    const results = runChecks(ctx)
    const verdict = verdictOf(ctx, results)
    const window = flagWindow(experimentRun(experiment), settings, nowMs)
    return {
      key: flag.key,
      name: flag.name || experiment?.name || flag.key,
      kind: ctx.kind,
      experiment: experiment
        ? { id: experiment.id, name: experiment.name, status: experiment.status ?? null, start_date: experiment.start_date ?? null, end_date: experiment.end_date ?? null, exposure_event: ctx.exposureEvent }
        : null,
      verdict,
      score: scoreOf(results),
      window: { from: new Date(window.fromMs).toISOString(), to: new Date(window.toMs).toISOString(), basis: window.basis, truncated: window.truncated },
      variants: ctx.expected.map((v) => ({ key: v.key, expected_share: v.share, exposures: findVariant(ctx.exposure, v.value)?.exposures ?? 0, units: cleanUnits(ctx, v.key) })),
      checks: results.map(({ id, status, summary, evidence, fix, follows_from }) => {
        const query = status === 'not_applicable' ? null : checkQuery(ctx, id, window)
        const own = { ...evidence }
        // The split by slice carries its own query: every slice's units per variant. Where the source
        // counted no slices (the HogQL backfill), the query alone says where to look (the online
        // audit runs it for such flags: askSlices in posthog/slices.ts).
        const sliced = id === 'sample_ratio' ? status === 'fail' : id === 'multiple_variants' && (status === 'fail' || status === 'warn')
        if ((id === 'sample_ratio' || id === 'multiple_variants') && ((typeof own.slices === 'object' && own.slices !== null) || sliced)) {
          const q = sliceQuery(ctx, window)
          own.slices = { counted: own.slices !== undefined, ...(own.slices as Record<string, unknown> | undefined), query: q, query_url: sqlEditorUrl(settings.posthogHost, settings.posthogProjectId, q) }
        }
        return { id, status, summary, evidence: own, fix, follows_from, query, query_url: query ? sqlEditorUrl(settings.posthogHost, settings.posthogProjectId, query) : null }
      }),
      backfill: backfillItems(ctx, results, verdict),
      assumptions: assumptionsOf(ctx),
      data: {
        source: observation?.source ?? 'none',
        first_day: observation?.firstDay ?? null,
        last_day: observation?.lastDay ?? null,
        estimated: observation?.estimated ?? false,
        sample_rate: observation?.sampleRate ?? settings.unitSampleRate,
      },
    }
  }
  return { flags, judge }
}

/** The report of the judged flags: ordered, summed up, planned and read out. */
function assemble(input: ReportInput, reports: FlagReport[]): Report {
  const { observations, settings, nowMs } = input
  reports.sort((a, b) => VERDICT_ORDER.indexOf(a.verdict) - VERDICT_ORDER.indexOf(b.verdict) || a.score - b.score || (a.key < b.key ? -1 : 1))

  const summary = { flags: reports.length, trustworthy: 0, needs_backfill: 0, blocked: 0, insufficient_data: 0, inactive: 0 }
  for (const r of reports) summary[r.verdict]++
  const plan = planOf(reports.flatMap((r) => r.backfill))
  const report: Report = {
    schema_version: REPORT_SCHEMA_VERSION,
    generated_at: new Date(nowMs).toISOString(),
    project: observations.project,
    window: observations.window,
    summary,
    flags: reports,
    plan,
    readout: '',
    events: { rejected: { ...observations.rejections }, redelivered: observations.duplicates },
    thresholds: {
      minExposuresPerVariant: settings.minExposuresPerVariant,
      srmPValue: settings.srmPValue,
      srmMinExposures: settings.srmMinExposures,
      multipleVariantShare: settings.multipleVariantShare,
      unknownVariantShare: settings.unknownVariantShare,
      serverSideShare: settings.serverSideShare,
      exposureGapShare: settings.exposureGapShare,
      surfaceGapShare: settings.surfaceGapShare,
      noExposureHours: settings.noExposureHours,
    },
  }
  report.readout = writeReadout(report)
  return report
}

/**
 * The flags a review covers: active ones, running experiments, and the others that were created,
 * changed, launched or ended within the lookback (a flag switched off long ago is history, not a
 * decision to make). Flags the events still mention are always covered.
 */
function isReviewed(flag: FlagDefinition, experiment: Definitions['experiments'][number] | null, settings: Settings, nowMs: number): boolean {
  if (flag.active) return true
  if (experiment && experiment.status === 'running') return true
  const since = nowMs - settings.lookbackDays * DAY_MS
  const recent = (s: string | null | undefined) => typeof s === 'string' && Date.parse(s) >= since
  return recent(flag.updated_at) || recent(flag.created_at) || recent(experiment?.start_date) || recent(experiment?.end_date)
}

function assumptionsOf(ctx: CheckContext): string[] {
  const out: string[] = []
  for (const m of ctx.metrics.filter((x) => x.source === 'inferred')) {
    out.push(`${m.role === 'primary' ? 'Likely primary metric' : 'Guardrail'} assumed: ${m.name} (${m.reason}).`)
  }
  if (ctx.observation?.estimated) out.push(`Unit counts are estimated from a ${Math.round(ctx.observation.sampleRate * 100)}% sample of units.`)
  if (ctx.flag.id === -1) out.push('The flag is not in the flag list: deleted, or from another project; it is still being called.')
  const run = experimentRun(ctx.experiment)
  if (run && flagWindow(run, ctx.settings, ctx.nowMs).truncated) {
    out.push(`The experiment has run longer than ${ctx.settings.experimentMaxDays} days (experimentMaxDays): its numbers cover the last ${ctx.settings.experimentMaxDays} days only.`)
  }
  if (ctx.flag.filters.aggregation_group_type_index != null) out.push('Counted per group (the flag aggregates by group), not per person.')
  return out
}
