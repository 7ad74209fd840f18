import { z } from 'zod'
import { CHECK_IDS } from './checks/types.js'

/**
 * The documented shape of the report JSON (schema_version 2, DESIGN.md "Interfaces"), and the one
 * place its TypeScript type is written: `Report` and its parts are inferred from this schema, for
 * the report builder, the host, the CLI and the UI alike. Tests validate every report against it,
 * and it is the reference for the description in docs/checks.md.
 */
const verdict = z.enum(['trustworthy', 'needs_backfill', 'blocked', 'insufficient_data', 'inactive'])
const status = z.enum(['pass', 'warn', 'fail', 'unknown', 'not_applicable'])
const category = z.enum(['event', 'property', 'cohort', 'dashboard', 'metric', 'flag_config'])

export const backfillItemSchema = z.strictObject({
  flag: z.string(),
  category,
  action: z.string().min(1),
  priority: z.number().min(0).max(100),
  check: z.enum(CHECK_IDS),
  effort: z.enum(['low', 'medium', 'high']),
  blocking: z.boolean(),
  reason: z.string().min(1),
  days_to_deadline: z.number().nullable(),
})

export const flagReportSchema = z.strictObject({
  key: z.string().min(1),
  name: z.string(),
  kind: z.enum(['experiment', 'multivariate_flag', 'boolean_flag']),
  experiment: z
    .strictObject({
      id: z.number(),
      name: z.string(),
      status: z.string().nullable(),
      start_date: z.string().nullable(),
      end_date: z.string().nullable(),
      exposure_event: z.string(),
    })
    .nullable(),
  verdict,
  score: z.number().int().min(0).max(100),
  window: z.strictObject({ from: z.iso.datetime(), to: z.iso.datetime(), basis: z.enum(['experiment', 'lookback']), truncated: z.boolean() }),
  variants: z.array(z.strictObject({ key: z.string(), expected_share: z.number().min(0).max(1), exposures: z.number().int().min(0), units: z.number().int().min(0) })),
  checks: z
    .array(
      z.strictObject({
        id: z.enum(CHECK_IDS),
        status,
        summary: z.string().min(1),
        evidence: z.record(z.string(), z.unknown()),
        fix: z.string().nullable(),
        // added within schema 2: the check whose finding explains this one
        follows_from: z.enum(CHECK_IDS).nullable(),
        query: z.string().min(1).nullable(),
        query_url: z.url().nullable(),
      }),
    )
    .length(CHECK_IDS.length),
  backfill: z.array(backfillItemSchema),
  assumptions: z.array(z.string()),
  data: z.strictObject({
    source: z.enum(['live', 'backfill', 'none']),
    first_day: z.string().nullable(),
    last_day: z.string().nullable(),
    estimated: z.boolean(),
    sample_rate: z.number().gt(0).max(1),
  }),
})

export const reportSchema = z.strictObject({
  schema_version: z.literal(2),
  generated_at: z.iso.datetime(),
  project: z.string(),
  window: z.strictObject({ from: z.string(), to: z.string(), days: z.number().int().positive() }),
  summary: z.strictObject({
    flags: z.number().int().min(0),
    trustworthy: z.number().int().min(0),
    needs_backfill: z.number().int().min(0),
    blocked: z.number().int().min(0),
    insufficient_data: z.number().int().min(0),
    inactive: z.number().int().min(0),
  }),
  flags: z.array(flagReportSchema),
  plan: z.array(backfillItemSchema),
  readout: z.string().min(1),
  events: z.strictObject({ rejected: z.record(z.string(), z.number()), redelivered: z.number().int().min(0) }),
  thresholds: z.record(z.string(), z.number()),
})

/** The report JSON, as the schema above reads it. */
export type Report = z.infer<typeof reportSchema>
/** One flag's entry in the report. */
export type FlagReport = z.infer<typeof flagReportSchema>
/** One check's result in a flag's entry: `query` shows the finding in PostHog, `query_url` opens it in the SQL editor. */
export type CheckReport = FlagReport['checks'][number]
/** One repair of the plan. */
export type BackfillItem = z.infer<typeof backfillItemSchema>
