import { auditConfig } from '../../src/definitions/audit-config.js'
import { parseSettings } from '../../src/settings/settings.js'
import { parseDefectList } from '../../src/sim/defects.js'
import { definitionsOf, simulate } from '../../src/sim/simulation.js'
import type { SimEvent } from '../../src/sim/traffic.js'

/** A simulated project with every defect once, as the online and backfill tests serve it through msw. */
export function simulatedProject(opts: { seed: number; users: number; days: number; endMs: number; experimentStartDays?: readonly [number, number]; endedShare?: number; defects?: string }) {
  const sim = simulate({ ...opts, flags: 20, defects: parseDefectList(opts.defects ?? 'mix') })
  const events: SimEvent[] = [...sim.events]
  const defs = definitionsOf(sim.project)
  const { config, counted } = auditConfig({}, defs)
  const settings = parseSettings(config, { countedEvents: counted })
  return { sim, events, api: sim.project.api, defs, settings }
}
