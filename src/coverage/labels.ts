/**
 * The words people read for the report's values: verdicts, repair categories and checks. The
 * report JSON keeps its values (`needs_backfill` stays the value, DESIGN.md "Interfaces"); every
 * output a person reads (the CLI's table, Markdown and HTML, the readout, the UI) takes its words
 * from here, so a verdict has one name everywhere.
 *
 * No imports: the browser build type-checks this file too (as src/host/api-types.ts). The keys are
 * tied to the report's types by tests/unit/labels.test.ts.
 */

export interface Label {
  /** A badge or a column: a few words a product manager uses. */
  readonly label: string
  /** One sentence: what it means and what to do. */
  readonly description: string
}

export type VerdictValue = 'trustworthy' | 'needs_backfill' | 'blocked' | 'insufficient_data' | 'inactive'
export type RepairCategoryValue = 'event' | 'property' | 'cohort' | 'dashboard' | 'metric' | 'flag_config'
export type CheckIdValue =
  | 'flag_state'
  | 'exposure_present'
  | 'exposure_stall'
  | 'exposure_event'
  | 'variant_values'
  | 'sample_ratio'
  | 'multiple_variants'
  | 'exposure_source'
  | 'exposure_gap'
  | 'exposure_bias'
  | 'primary_metric'
  | 'guardrails'
  | 'audience'
  | 'sample_size'
  | 'flag_changes'

// `needs_backfill` was named for the HogQL history, but most of its repairs are no backfill: adding a
// metric, replacing a dynamic cohort, sending the exposure (issue 20, item 3).
export const VERDICT_LABELS: Readonly<Record<VerdictValue, Label>> = {
  trustworthy: { label: 'Trustworthy', description: 'Nothing fails: the results can be read out.' },
  needs_backfill: {
    label: 'Needs repair',
    description: 'Something the team can fix fails (tracking, a metric, the audience, the analysis): fix it, then read out.',
  },
  blocked: {
    label: 'Blocked',
    description: 'The assignment itself is broken (the split, users in several variants, the flag): fix it and collect new data before any readout.',
  },
  insufficient_data: { label: 'Not enough data yet', description: 'Only the sample is short, or it is too early to judge: wait for more traffic.' },
  inactive: { label: 'Not running', description: 'The flag is off or the experiment is not running: nothing to decide now.' },
}

export const REPAIR_CATEGORY_LABELS: Readonly<Record<RepairCategoryValue, Label>> = {
  event: { label: 'Tracking code', description: 'A change in the app: send, move or stop an event.' },
  property: { label: 'Analysis', description: 'Count what was already sent differently: backfill exposures from event properties, map or leave out values.' },
  cohort: { label: 'Audience', description: 'Change who the flag targets (a cohort).' },
  dashboard: { label: 'Dashboards', description: 'Change what dashboards and exports count.' },
  metric: { label: 'Experiment metrics', description: "Add or change the experiment's goal or guardrail metrics." },
  flag_config: { label: 'Flag or experiment settings', description: "Change the flag's release conditions or split, or the experiment's settings." },
}

export const CHECK_LABELS: Readonly<Record<CheckIdValue, Label>> = {
  exposure_present: { label: 'Exposure present', description: 'Are exposures arriving?' },
  exposure_stall: { label: 'Exposure stall', description: 'Did exposures stop or fall mid-run?' },
  exposure_event: { label: 'Exposure event', description: 'Is the right exposure event counted, once?' },
  variant_values: { label: 'Variant values', description: "Do exposures carry the flag's own values?" },
  sample_ratio: { label: 'Sample ratio', description: 'Does the split match the plan?' },
  multiple_variants: { label: 'Multiple variants', description: 'Do users stay in one variant?' },
  exposure_source: { label: 'Exposure source', description: 'Are exposures sent where the change is shown?' },
  exposure_gap: { label: 'Exposure gap', description: 'Do users who reached the experiment get exposed?' },
  exposure_bias: { label: 'Exposure bias', description: 'Is every variant exposed alike?' },
  primary_metric: { label: 'Primary metric', description: 'Is there a goal, and can it move?' },
  guardrails: { label: 'Guardrails', description: 'Is harm watched?' },
  audience: { label: 'Audience', description: 'Is the audience fixed?' },
  sample_size: { label: 'Sample size', description: 'Is there enough data?' },
  flag_state: { label: 'Flag state', description: 'Does the flag split as the experiment needs?' },
  flag_changes: { label: 'Flag changes', description: 'Did the split or conditions change while it ran?' },
}

/** A verdict's words; an unknown value (a newer report) shows as it is. */
export function verdictLabel(verdict: string): string {
  return (VERDICT_LABELS as Record<string, Label | undefined>)[verdict]?.label ?? verdict
}

/** A repair category's words; an unknown value shows as it is. */
export function repairCategoryLabel(category: string): string {
  return (REPAIR_CATEGORY_LABELS as Record<string, Label | undefined>)[category]?.label ?? category
}

/** A check's name; an unknown id shows as it is. */
export function checkLabel(id: string): string {
  return (CHECK_LABELS as Record<string, Label | undefined>)[id]?.label ?? id
}
