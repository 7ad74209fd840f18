import { parseCohorts, parseExperiments, parseFlags, parseGroupTypes, type Definitions } from '../definitions/definitions.js'
import type { DefectRequest } from './defects.js'
import { buildProject, type Project } from './project.js'
import { generateTraffic, type SimEvent } from './traffic.js'
import { TruthRecorder, type Truth } from './truth.js'
import { DAY_MS } from '../time.js'

export interface SimulationOptions {
  readonly seed: number
  readonly flags: number
  readonly users: number
  readonly days: number
  /** End of the simulated window (ms); the default is the start of the current UTC hour. */
  readonly endMs: number
  readonly defects: DefectRequest[] | 'mix'
  readonly redeliveryShare?: number
  /** Experiments start between this many days before the end (see ProjectOptions). */
  readonly experimentStartDays?: readonly [number, number]
  readonly endedShare?: number
}

export interface Simulation {
  readonly project: Project
  /** The events in time order; iterate once. */
  readonly events: Generator<SimEvent>
  /** The ground truth, complete once `events` is exhausted. */
  truth(): Truth
}

/** The project's definitions, validated as the audit validates PostHog's answers. */
export function definitionsOf(project: Pick<Project, 'api'>): Definitions {
  return {
    flags: parseFlags('simulated flags', project.api.flags),
    experiments: parseExperiments('simulated experiments', project.api.experiments),
    cohorts: parseCohorts('simulated cohorts', project.api.cohorts),
    groupTypes: parseGroupTypes('simulated group types', project.api.groupTypes),
  }
}

/** A whole simulated PostHog project: definitions now, events as a stream, truth at the end. */
export function simulate(opts: SimulationOptions): Simulation {
  const project = buildProject({
    seed: opts.seed,
    flags: opts.flags,
    startMs: opts.endMs - opts.days * DAY_MS,
    endMs: opts.endMs,
    defects: opts.defects,
    experimentStartDays: opts.experimentStartDays,
    endedShare: opts.endedShare,
  })
  const recorder = new TruthRecorder(project)
  const events = generateTraffic(project, { users: opts.users, redeliveryShare: opts.redeliveryShare }, recorder)
  let done: Truth | null = null
  return {
    project,
    events,
    truth() {
      done ??= recorder.finish()
      return done
    },
  }
}
