import { simulate, type Simulation } from './simulation.js'
import { HOUR_MS } from '../time.js'

/** The simulated project the demo serves: the same seed and window give the same definitions and events. */
export interface DemoSpec {
  readonly seed: number
  readonly flags: number
  readonly users: number
  readonly days: number
  readonly endMs: number
}

/**
 * The one demo project: `demo` prints it and `serve` serves it, so both count the same events.
 * 1,500 users keep the served demo's start (its past counted before it listens) near ten seconds.
 */
export const DEMO_PROJECT = { seed: 1, flags: 20, users: 1500, days: 14 } as const

/**
 * The demo's window at `nowMs`: DEMO_PROJECT's days up to the end of the next whole hour, so the
 * served demo has one to two hours of events still to come when it starts, arriving in real time.
 */
export function demoSpec(nowMs: number, change: Partial<Omit<DemoSpec, 'endMs'>> = {}): DemoSpec {
  return { ...DEMO_PROJECT, ...change, endMs: Math.ceil((nowMs + HOUR_MS) / HOUR_MS) * HOUR_MS }
}

/** The demo's simulation: a realistic mix of defects, and the few webhook redeliveries PostHog makes. */
export function simulateDemo(spec: DemoSpec): Simulation {
  return simulate({ ...spec, defects: 'mix', redeliveryShare: 0.005 })
}
