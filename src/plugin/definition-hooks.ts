import { auditConfig, customExposureEvents, exposureFilters, surfaceMetrics } from '../definitions/audit-config.js'
import { experimentsByFlag, ownValues, type Definitions } from '../definitions/definitions.js'
import type { CountedEvent } from '../settings/settings.js'
import { experimentRuns, type ExperimentRun } from '../definitions/windows.js'
import type { VariantValue } from '../events/types.js'
import { compileExpression } from '../hog/compile.js'

/**
 * What the counters learn from the project's definitions, so the live plugin counts what the
 * backfill and the offline audit count: each flag's own values, its group type, its experiment's
 * exposure criteria and run, and the metric events of every experiment.
 */
export interface DefinitionHooks {
  readonly groupTypeOf: (flag: string) => string | null
  readonly isCountedValue: (flag: string, value: VariantValue) => boolean
  readonly exposureFilterOf: (flag: string) => readonly unknown[] | undefined
  readonly customExposureFlagsOf: (event: string) => readonly string[] | undefined
  /** Flags whose experiment keeps a unit's first variant (multiple_variant_handling `first_seen`). */
  readonly firstSeenFlags: ReadonlySet<string>
  readonly experimentRunOf: (flag: string) => ExperimentRun | null
  readonly countedEvents: readonly CountedEvent[]
  readonly surfaceMetrics: ReadonlyMap<string, readonly string[]>
}

/**
 * A flag's own values per its definition: variant keys (true/false for a boolean flag), and its
 * experiment's holdout value. `ownValues` is the one definition the report judges values by; the
 * backfill's queries count units for the same values.
 */
export function countedValues(defs: Pick<Definitions, 'flags'> & Partial<Pick<Definitions, 'experiments'>>): (flag: string, value: VariantValue) => boolean {
  const experiments = experimentsByFlag(defs.experiments ?? [])
  const byKey = new Map(defs.flags.map((f) => [f.key, new Set(ownValues(f, experiments.get(f.key) ?? null).map((v) => JSON.stringify(v)))]))
  return (flag, value) => byKey.get(flag)?.has(JSON.stringify(value)) ?? true
}

/** Builds the hooks (compiling the exposure criteria filters once). */
export async function hooksFromDefinitions(defs: Definitions, configuredGoals: readonly string[] = []): Promise<DefinitionHooks> {
  const groupTypes = new Map<string, string | null>()
  for (const f of defs.flags.filter((x) => !x.deleted)) {
    const index = f.filters.aggregation_group_type_index
    groupTypes.set(f.key, index == null ? null : (defs.groupTypes.get(index) ?? null))
  }
  const criteria = new Map<string, readonly unknown[]>()
  for (const [flag, hogql] of exposureFilters(defs)) criteria.set(flag, await compileExpression(hogql))
  const runs = experimentRuns(defs)
  const custom = customExposureEvents(defs)
  return {
    groupTypeOf: (flag) => groupTypes.get(flag) ?? null,
    isCountedValue: countedValues(defs),
    exposureFilterOf: (flag) => criteria.get(flag),
    customExposureFlagsOf: (event) => custom.get(event),
    firstSeenFlags: new Set(defs.experiments.filter((e) => !e.deleted && e.exposure_criteria?.multiple_variant_handling === 'first_seen').map((e) => e.feature_flag_key)),
    experimentRunOf: (flag) => runs.get(flag) ?? null,
    countedEvents: auditConfig({}, defs).counted,
    surfaceMetrics: surfaceMetrics(defs, configuredGoals),
  }
}
