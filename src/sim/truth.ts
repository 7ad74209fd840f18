import { crossedAtIdentify } from '../counters/ingest-exposure.js'
import type { ExposureEvent } from '../events/types.js'
import type { DefectId } from './defects.js'
import { DEFECTS } from './defects.js'
import type { FlagPlan, Project } from './project.js'

/** A sent flag response, as text for the record: strings as they are, `true`, `false`, `null`. */
export type SentValue = string | boolean | null

/** Per person and flag: what PostHog's exposure query would see of them. */
interface UnitExposure {
  /** valid variant keys seen, in first-seen order */
  variants: string[]
  /** valid variant keys seen while anonymous, and once identified (`$is_identified` sent) */
  anonVariants: Set<string>
  knownVariants: Set<string>
  firstTs: number
  /** library class of the first exposure */
  firstLib: 'client' | 'server'
  /** metric name -> events at or after the first exposure */
  metricEvents: Map<string, number>
}

export interface VariantTruth {
  key: string
  expected_share: number
  /** exposure events of the counted event with this value, in the experiment's date range */
  exposures: number
  /** units whose only variant was this one (PostHog's `exclude` handling of `$multiple`) */
  units: number
}

export interface MetricTruth {
  name: string
  event: string
  role: 'primary' | 'secondary'
  /** per variant: units with the event at or after their first exposure, and those events */
  variants: { key: string; units: number; events: number }[]
  /** exposed units whose first such event came before their first exposure (PostHog does not count it) */
  units_with_event_before_exposure: number
}

export interface FlagTruth {
  key: string
  kind: FlagPlan['kind']
  experiment_id: number | null
  lib: FlagPlan['lib']
  group_type: string | null
  counted_event: ExposureEvent
  variants: VariantTruth[]
  /** units seen with more than one variant (`$multiple`) */
  multiple_units: number
  /** of those, units exposed to one variant while anonymous and another once identified */
  identity_crossed_units: number
  /** units (including `$multiple`) by the library of their first counted exposure */
  first_exposure_units_by_lib: { client: number; server: number }
  /** exposure events dropped by PostHog's filter because the value is not a variant key */
  outside_values: Record<string, number>
  events_by_kind: Record<ExposureEvent, number>
  /** units whose events carried `$feature/<key>`; of them, never exposed by either event */
  units_carrying_flag: number
  units_carrying_never_exposed: number
  metrics: MetricTruth[]
  defects: { id: DefectId; param: number | null; checks: readonly string[]; description: string }[]
}

export interface Truth {
  schema: 'experiment-coverage/truth@1'
  seed: number
  window: { from: string; to: string }
  events: number
  redelivered: number
  defects: Project['injected']
  flags: FlagTruth[]
}

const VALUE_TEXT = (v: SentValue) => (v === null ? 'null' : String(v))

/**
 * Accumulates the true numbers while the stream is generated, under PostHog's exposure rules
 * (POSTHOG-FACTS §5): the experiment's exposure event only, values outside the variant keys
 * dropped, a unit with two variants is `$multiple`, metrics count from the first exposure on.
 * Person-level state is finished when the person's last session ends, so memory stays bounded.
 */
export class TruthRecorder {
  private readonly byFlag: FlagTruth[]
  private readonly plans: FlagPlan[]
  private readonly metricFlags = new Map<string, { flag: number; role: 'primary' | 'secondary' }[]>()
  /** group-aggregated flags: unit state lives across persons */
  private readonly groupUnits = new Map<number, Map<string, UnitExposure>>()
  private readonly groupCarried = new Map<number, Set<string>>()
  private readonly groupExposed = new Map<number, Set<string>>()
  events = 0
  redelivered = 0

  constructor(private readonly project: Project) {
    this.plans = project.flags
    this.byFlag = project.flags.map((f) => {
      const exp = project.api.experiments.find((e) => (e as { feature_flag_key: string }).feature_flag_key === f.key) as
        | { metrics: { name: string; series?: { event: string }[]; source?: { event: string } }[]; metrics_secondary: { name: string; source?: { event: string }; series?: { event: string }[] }[] }
        | undefined
      const metrics: MetricTruth[] = []
      const keys = variantKeys(f)
      for (const [role, list] of [['primary', exp?.metrics ?? []], ['secondary', exp?.metrics_secondary ?? []]] as const) {
        for (const m of list) {
          const event = (m.series?.[0] ?? m.source)?.event as string
          metrics.push({ name: m.name, event, role, variants: keys.map((key) => ({ key, units: 0, events: 0 })), units_with_event_before_exposure: 0 })
        }
      }
      return {
        key: f.key,
        kind: f.kind,
        experiment_id: f.experimentId,
        lib: f.lib,
        group_type: f.groupType,
        counted_event: f.exposureEvent,
        variants: keys.map((key, i) => ({
          key,
          expected_share: f.variants.length ? (f.variants[i]?.share ?? 0) : key === 'true' ? f.rollout : 1 - f.rollout,
          exposures: 0,
          units: 0,
        })),
        multiple_units: 0,
        identity_crossed_units: 0,
        first_exposure_units_by_lib: { client: 0, server: 0 },
        outside_values: {},
        events_by_kind: { $feature_flag_called: 0, $experiment_exposure: 0 },
        units_carrying_flag: 0,
        units_carrying_never_exposed: 0,
        metrics,
        defects: [...f.defects].map(([id, param]) => ({ id, param, checks: DEFECTS.get(id)!.checks, description: DEFECTS.get(id)!.description })),
      }
    })
    this.byFlag.forEach((t, flag) => {
      for (const m of t.metrics) {
        const list = this.metricFlags.get(m.event) ?? []
        list.push({ flag, role: m.role })
        this.metricFlags.set(m.event, list)
      }
    })
  }

  /** Per-person state; the traffic generator keeps one per live person and hands it back at the end. */
  newPersonState(): PersonTruth {
    return { units: new Map(), carried: new Set(), exposedAny: new Set(), firstMetric: new Map() }
  }

  exposure(person: PersonTruth, flag: number, kind: ExposureEvent, value: SentValue, unit: string, ts: number, lib: 'client' | 'server', identified: boolean | null = null): void {
    const t = this.byFlag[flag] as FlagTruth
    const plan = this.plans[flag] as FlagPlan
    t.events_by_kind[kind]++
    const exposedSet = plan.groupType ? this.setFor(this.groupExposed, flag) : person.exposedAny
    exposedSet.add(plan.groupType ? unit : flag)
    if (kind !== t.counted_event) return
    if (plan.experimentId !== null && (ts < plan.startMs || (plan.endMs !== null && ts > plan.endMs))) return
    const text = VALUE_TEXT(value)
    const variant = t.variants.find((v) => v.key === text && (plan.variants.length ? typeof value === 'string' : typeof value === 'boolean'))
    if (!variant) {
      t.outside_values[text] = (t.outside_values[text] ?? 0) + 1
      return
    }
    variant.exposures++
    const units = plan.groupType ? this.mapFor(this.groupUnits, flag) : person.units
    const key = plan.groupType ? unit : String(flag)
    let u = units.get(key)
    if (!u) units.set(key, (u = { variants: [], anonVariants: new Set(), knownVariants: new Set(), firstTs: ts, firstLib: lib, metricEvents: new Map() }))
    if (!u.variants.includes(variant.key)) u.variants.push(variant.key)
    if (identified !== null && !plan.groupType) (identified ? u.knownVariants : u.anonVariants).add(variant.key)
  }

  carried(person: PersonTruth, flag: number, unit: string): void {
    if ((this.plans[flag] as FlagPlan).groupType) this.setFor(this.groupCarried, flag).add(unit)
    else person.carried.add(flag)
  }

  metric(person: PersonTruth, event: string, ts: number): void {
    if (!this.metricFlags.has(event)) return
    if (!person.firstMetric.has(event)) person.firstMetric.set(event, ts)
    for (const { flag } of this.metricFlags.get(event) ?? []) {
      const u = person.units.get(String(flag))
      if (!u || ts < u.firstTs) continue
      u.metricEvents.set(event, (u.metricEvents.get(event) ?? 0) + 1)
    }
  }

  /** Folds a finished person into the totals. */
  finishPerson(person: PersonTruth): void {
    for (const [key, u] of person.units) this.foldUnit(Number(key), u, person)
    for (const flag of person.carried) {
      const t = this.byFlag[flag] as FlagTruth
      t.units_carrying_flag++
      if (!person.exposedAny.has(flag)) t.units_carrying_never_exposed++
    }
  }

  private foldUnit(flag: number, u: UnitExposure, person: PersonTruth | null): void {
    const t = this.byFlag[flag] as FlagTruth
    t.first_exposure_units_by_lib[u.firstLib]++
    if (person) {
      for (const m of t.metrics) {
        const first = person.firstMetric.get(m.event)
        if (first !== undefined && first < u.firstTs) m.units_with_event_before_exposure++
      }
    }
    if (u.variants.length > 1) {
      t.multiple_units++
      if (crossedAtIdentify(u.anonVariants, u.knownVariants)) t.identity_crossed_units++
      return
    }
    const key = u.variants[0]
    const variant = t.variants.find((v) => v.key === key)
    if (!variant) return
    variant.units++
    for (const m of t.metrics) {
      const events = u.metricEvents.get(m.event) ?? 0
      const row = m.variants.find((v) => v.key === key)!
      row.events += events
      if (events > 0) row.units++
    }
  }

  finish(): Truth {
    for (const [flag, units] of this.groupUnits) for (const u of units.values()) this.foldUnit(flag, u, null)
    for (const [flag, carried] of this.groupCarried) {
      const t = this.byFlag[flag] as FlagTruth
      const exposed = this.groupExposed.get(flag) ?? new Set()
      t.units_carrying_flag += carried.size
      for (const unit of carried) if (!exposed.has(unit)) t.units_carrying_never_exposed++
    }
    return {
      schema: 'experiment-coverage/truth@1',
      seed: this.project.seed,
      window: { from: new Date(this.project.startMs).toISOString(), to: new Date(this.project.endMs).toISOString() },
      events: this.events,
      redelivered: this.redelivered,
      defects: this.project.injected,
      flags: this.byFlag,
    }
  }

  private mapFor(m: Map<number, Map<string, UnitExposure>>, flag: number): Map<string, UnitExposure> {
    let v = m.get(flag)
    if (!v) m.set(flag, (v = new Map()))
    return v
  }

  private setFor(m: Map<number, Set<string>>, flag: number): Set<string> {
    let v = m.get(flag)
    if (!v) m.set(flag, (v = new Set()))
    return v
  }
}

export interface PersonTruth {
  /** flag index (as text) -> the person's exposure */
  readonly units: Map<string, UnitExposure>
  readonly carried: Set<number>
  readonly exposedAny: Set<number | string>
  /** metric event -> the person's first one */
  readonly firstMetric: Map<string, number>
}

/** The values PostHog's exposure filter accepts: variant keys, or true/false for a boolean flag. */
export function variantKeys(f: FlagPlan): string[] {
  return f.variants.length ? f.variants.map((v) => v.key) : ['true', 'false']
}
