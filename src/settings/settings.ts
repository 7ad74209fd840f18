import { z } from 'zod'
import pluginJson from '../../plugin.json' with { type: 'json' }

/**
 * One event counted per variant for exposed units: a goal or guardrail the user configured, or an
 * event counted only so the report can infer goals (`counted`, added by the audit).
 */
export interface MetricMatcher {
  readonly name: string
  readonly event: string
  readonly kind: 'goal' | 'guardrail' | 'counted'
  /** A HogQL expression the event must also match, e.g. `properties.plan = 'pro'` */
  readonly filter?: string
}

export interface Settings {
  readonly lookbackDays: number
  /** How long live counters keep an experiment's state; longer runs are counted over their last this many days. */
  readonly experimentMaxDays: number
  readonly minExposuresPerVariant: number
  readonly srmPValue: number
  readonly srmMinExposures: number
  readonly multipleVariantShare: number
  readonly unknownVariantShare: number
  readonly serverSideShare: number
  readonly exposureGapShare: number
  readonly surfaceGapShare: number
  readonly noExposureHours: number
  readonly metrics: readonly MetricMatcher[]
  /** flag key -> readout deadline (ms) */
  readonly readoutDeadlines: ReadonlyMap<string, number>
  readonly unitSampleRate: number
  readonly posthogHost: string
  readonly posthogProjectId: string
  readonly posthogPersonalApiKey: string
  /** the project's test account filters apply to the webhook destination and the outage fill */
  readonly filterTestAccounts: boolean
  /** the host's address, for the legacy scene inside PostHog ('' when not used) */
  readonly coverageHostUrl: string
  /** write the results into the PostHog project (tags, notebook, events) */
  readonly publishEnabled: boolean
  readonly publishTagPrefix: string
  readonly alertWebhookUrl: string
  readonly alertFormat: 'slack' | 'json'
}

/** Raised by `parseSettings`: names every setting that is wrong, by key and by the name users see. */
export class SettingsError extends Error {
  constructor(readonly problems: readonly { key: string; message: string }[]) {
    super(`Invalid settings:\n${problems.map((p) => `- ${p.key}: ${p.message}`).join('\n')}`)
    this.name = 'SettingsError'
  }
}

interface ConfigField {
  key?: string
  name?: string
  default?: string
}

const FIELDS: readonly ConfigField[] = pluginJson.config
const fieldByKey = new Map(FIELDS.filter((f) => f.key).map((f) => [f.key as string, f]))

/** The defaults users see in PostHog's settings form, taken from plugin.json so there is one source. */
export const DEFAULT_CONFIG: Readonly<Record<string, string>> = Object.fromEntries(
  FIELDS.filter((f) => f.key).map((f) => [f.key as string, f.default ?? '']),
)

// Plugin-server hands every setting over as a string; the host and tests may pass numbers.
const numberText = z.union([z.number(), z.string().trim().min(1, 'must not be empty')]).transform((v, ctx) => {
  const n = typeof v === 'number' ? v : Number(v)
  if (!Number.isFinite(n)) {
    ctx.addIssue({ code: 'custom', message: `must be a number, got ${JSON.stringify(v)}` })
    return z.NEVER
  }
  return n
})
const share = (exclusiveZero: boolean) =>
  numberText.pipe(
    exclusiveZero
      ? z.number().gt(0, 'must be greater than 0').max(1, 'must be at most 1')
      : z.number().min(0, 'must be at least 0').max(1, 'must be at most 1'),
  )
const wholeNumber = (min: number, max: number) =>
  numberText.pipe(
    z.number().int('must be a whole number').min(min, `must be at least ${min}`).max(max, `must be at most ${max}`),
  )

const EVENT_NAME_MAX = 200 // PostHog's event names are truncated at 200 characters on ingestion
const metricEntry = z.union([
  z.string().trim().min(1, 'an event name must not be empty').max(EVENT_NAME_MAX),
  z.strictObject({
    name: z.string().trim().min(1).max(EVENT_NAME_MAX).optional(),
    event: z.string().trim().min(1, 'event must not be empty').max(EVENT_NAME_MAX),
    filter: z.string().trim().min(1).max(4000).optional(),
  }),
])
const metricList = z
  .union([z.string(), z.array(z.unknown())])
  .transform((v, ctx) => {
    if (Array.isArray(v)) return v
    if (v.trim() === '') return []
    try {
      return JSON.parse(v) as unknown
    } catch (e) {
      ctx.addIssue({ code: 'custom', message: `is not valid JSON (${(e as Error).message})` })
      return z.NEVER
    }
  })
  .pipe(z.array(metricEntry, 'must be a JSON list of event names or {"name", "event"} objects').max(100))

const deadlines = z
  .union([z.string(), z.record(z.string(), z.unknown())])
  .transform((v, ctx) => {
    if (typeof v !== 'string') return v
    if (v.trim() === '') return {}
    try {
      return JSON.parse(v) as unknown
    } catch (e) {
      ctx.addIssue({ code: 'custom', message: `is not valid JSON (${(e as Error).message})` })
      return z.NEVER
    }
  })
  .pipe(z.record(z.string(), z.string().refine((d) => Number.isFinite(Date.parse(d)), 'must be a date such as 2026-12-15'), 'must be a JSON object of flag key to date'))

const hostText = z
  .string()
  .trim()
  .refine((v) => v === '' || /^https?:\/\/[^\s/]+/.test(v), 'must be an http(s) address such as https://us.posthog.com')
  .transform((v) => v.replace(/\/+$/, ''))

const schema = z.object({
  lookbackDays: wholeNumber(1, 400),
  experimentMaxDays: wholeNumber(1, 400),
  minExposuresPerVariant: wholeNumber(1, 1_000_000),
  srmPValue: numberText.pipe(z.number().gt(0, 'must be greater than 0').lt(1, 'must be less than 1')),
  srmMinExposures: wholeNumber(2, 1_000_000_000),
  multipleVariantShare: share(false),
  unknownVariantShare: share(false),
  serverSideShare: share(false),
  exposureGapShare: share(false),
  surfaceGapShare: share(false),
  noExposureHours: numberText.pipe(z.number().min(0, 'must be at least 0').max(24 * 365, 'must be at most a year')),
  goalEvents: metricList,
  guardrailEvents: metricList,
  readoutDeadlines: deadlines,
  unitSampleRate: share(true),
  posthogHost: hostText,
  posthogProjectId: z
    .union([z.number().int().positive(), z.string().trim()])
    .transform(String)
    .refine((v) => v === '' || /^\d+$/.test(v), 'must be the numeric project id from the project URL'),
  posthogPersonalApiKey: z.string().trim(),
  filterTestAccounts: z.enum(['Yes', 'No'], 'must be Yes or No').transform((v) => v === 'Yes'),
  coverageHostUrl: hostText,
  publishEnabled: z.enum(['No', 'Yes'], 'must be Yes or No').transform((v) => v === 'Yes'),
  publishTagPrefix: z.string().trim().min(1, 'must not be empty').max(40, 'must be at most 40 characters').refine((v) => !/[\s,]/.test(v), 'must not contain spaces or commas'),
  alertWebhookUrl: z.string().trim().refine((v) => v === '' || /^https?:\/\/[^\s/]+/.test(v), 'must be an http(s) address'),
  alertFormat: z.enum(['slack', 'json'], 'must be slack or json'),
})

/** The setting keys this version understands; plugin.json must list exactly these. */
export const SETTING_KEYS: readonly string[] = Object.keys(schema.shape)

function toMetrics(entries: z.infer<typeof metricEntry>[], kind: MetricMatcher['kind']): MetricMatcher[] {
  return entries.map((e) =>
    typeof e === 'string' ? { name: e.trim(), event: e.trim(), kind } : { name: e.name ?? e.event, event: e.event, kind, ...(e.filter ? { filter: e.filter } : {}) },
  )
}

/**
 * Reads the plugin config (strings, as PostHog stores them) into typed settings.
 * Missing or empty values take plugin.json's defaults; anything invalid throws a SettingsError
 * that names each field, so PostHog shows it where the plugin fails to set up.
 */
/** The goal matchers the user configured (`goalEvents`), by name. */
export function configuredGoals(settings: Pick<Settings, 'metrics'>): string[] {
  return settings.metrics.filter((m) => m.kind === 'goal').map((m) => m.name)
}

/** An event to count besides the configured goals: by name, or with a HogQL filter. */
export type CountedEvent = string | { readonly name: string; readonly event: string; readonly filter: string }

export function parseSettings(config: Readonly<Record<string, unknown>> = {}, extra: { countedEvents?: readonly CountedEvent[] } = {}): Settings {
  const merged: Record<string, unknown> = { ...DEFAULT_CONFIG }
  for (const [key, value] of Object.entries(config)) {
    if (!fieldByKey.has(key)) continue // PostHog may pass settings of older versions; they mean nothing here
    if (value === undefined || value === null || value === '') continue
    merged[key] = value
  }
  const parsed = schema.safeParse(merged)
  if (!parsed.success) {
    throw new SettingsError(
      parsed.error.issues.map((issue) => {
        const key = String(issue.path[0] ?? 'config')
        const label = fieldByKey.get(key)?.name
        const where = issue.path.length > 1 ? ` (entry ${issue.path.slice(1).join('.')})` : ''
        return { key, message: `${label ? `"${label}" ` : ''}${issue.message}${where}` }
      }),
    )
  }
  const s = parsed.data
  const metrics: MetricMatcher[] = [...toMetrics(s.goalEvents, 'goal'), ...toMetrics(s.guardrailEvents, 'guardrail')]
  const configured = new Set(metrics.flatMap((m) => [m.name, m.event]))
  for (const c of extra.countedEvents ?? []) {
    const m: MetricMatcher = typeof c === 'string' ? { name: c, event: c, kind: 'counted' } : { ...c, kind: 'counted' }
    if (!configured.has(m.name)) metrics.push(m)
    configured.add(m.name)
  }
  const names = new Set<string>()
  for (const m of metrics) {
    if (names.has(m.name)) {
      throw new SettingsError([
        { key: m.kind === 'goal' ? 'goalEvents' : 'guardrailEvents', message: `the metric name "${m.name}" is used twice` },
      ])
    }
    names.add(m.name)
  }
  return {
    lookbackDays: s.lookbackDays,
    experimentMaxDays: s.experimentMaxDays,
    minExposuresPerVariant: s.minExposuresPerVariant,
    srmPValue: s.srmPValue,
    srmMinExposures: s.srmMinExposures,
    multipleVariantShare: s.multipleVariantShare,
    unknownVariantShare: s.unknownVariantShare,
    serverSideShare: s.serverSideShare,
    exposureGapShare: s.exposureGapShare,
    surfaceGapShare: s.surfaceGapShare,
    noExposureHours: s.noExposureHours,
    metrics,
    readoutDeadlines: new Map(Object.entries(s.readoutDeadlines).map(([k, d]) => [k, Date.parse(d)])),
    unitSampleRate: s.unitSampleRate,
    posthogHost: s.posthogHost,
    posthogProjectId: s.posthogProjectId,
    posthogPersonalApiKey: s.posthogPersonalApiKey,
    filterTestAccounts: s.filterTestAccounts,
    coverageHostUrl: s.coverageHostUrl,
    publishEnabled: s.publishEnabled,
    publishTagPrefix: s.publishTagPrefix,
    alertWebhookUrl: s.alertWebhookUrl,
    alertFormat: s.alertFormat,
  }
}
