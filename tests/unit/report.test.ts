import { describe, expect, it } from 'vitest'
import { buildReport, buildReportInSlices } from '../../src/coverage/report.js'
import { auditConfig } from '../../src/definitions/audit-config.js'
import { hooksFromDefinitions } from '../../src/plugin/definition-hooks.js'
import { EmbeddedPlugin } from '../../src/plugin/embedded.js'
import { definitionsOf, simulate } from '../../src/sim/simulation.js'
import { reportSchema } from '../../src/coverage/report-schema.js'
import { parseSettings } from '../../src/settings/settings.js'
import { NOW, experimentDef, flagDef, observation } from '../support/context.js'

const DAY = 86_400_000
const at = (days: number) => new Date(NOW - days * DAY).toISOString()

describe('which flags a review covers (lookbackDays)', () => {
  const flags = [
    flagDef({ key: 'live', active: true, created_at: at(400) }),
    flagDef({ key: 'off-long-ago', active: false, created_at: at(400), updated_at: at(200) }),
    flagDef({ key: 'off-recently', active: false, created_at: at(400), updated_at: at(3) }),
    flagDef({ key: 'ended-recently', active: false, created_at: at(100), updated_at: at(90) }),
    flagDef({ key: 'running-but-off', active: false, created_at: at(100), updated_at: at(60) }),
    flagDef({ key: 'off-but-still-called', active: false, created_at: at(400), updated_at: at(200) }),
  ]
  const experiments = [
    experimentDef({ id: 1, feature_flag_key: 'ended-recently', start_date: at(80), end_date: at(10), status: 'stopped' }),
    experimentDef({ id: 2, feature_flag_key: 'running-but-off', start_date: at(50), end_date: null, status: 'running' }),
  ]
  const report = buildReport({
    definitions: { flags, experiments, cohorts: [], groupTypes: new Map() },
    observations: { schema: 'experiment-coverage/observations@1', project: 'p', generatedAt: at(0), window: { from: at(29).slice(0, 10), to: at(0).slice(0, 10), days: 30 }, flags: [observation({ flag: 'off-but-still-called' })], rejections: {}, duplicates: 0, unlistedFlags: 0 },
    settings: parseSettings(),
    nowMs: NOW,
  })

  it('covers active flags, running experiments, what changed or ended within it, and what is still called', () => {
    expect(report.flags.map((f) => f.key).sort()).toEqual(['ended-recently', 'live', 'off-but-still-called', 'off-recently', 'running-but-off'])
    expect(reportSchema.safeParse(report).success).toBe(true)
  })

  it("states each flag's window: an experiment's run, else the lookback", () => {
    const ended = report.flags.find((f) => f.key === 'ended-recently')!
    // The end is inclusive to its whole second, as HogQL's toDateTime compares it.
    expect(ended.window).toEqual({ from: at(80), to: new Date(NOW - 10 * DAY + 999).toISOString(), basis: 'experiment', truncated: false })
    expect(report.flags.find((f) => f.key === 'live')!.window).toMatchObject({ basis: 'lookback', to: at(0) })
  })
})

describe('the report built in slices (the host, so its intake answers while it judges)', () => {
  it('equals the report built at once, flag for flag, while giving the event loop turns', async () => {
    const sim = simulate({ seed: 4, flags: 20, users: 300, days: 7, endMs: NOW, defects: 'mix' })
    const definitions = definitionsOf(sim.project)
    // the project's observations, judged both ways
    const { config, counted } = auditConfig({}, definitions)
    const settings = parseSettings(config, { countedEvents: counted })
    const plugin = new EmbeddedPlugin(config, { ...(await hooksFromDefinitions(definitions)), countedEvents: counted, now: () => NOW, log: () => {}, exactlyOnce: false })
    await plugin.setup()
    for (const e of sim.events) await plugin.onEvent(e)
    const observations = await plugin.observe()
    const input = { definitions, observations, settings, nowMs: NOW }
    let turns = 0
    const ticking = setInterval(() => turns++, 0)
    const sliced = await buildReportInSlices(input, 0) // a turn after every flag
    clearInterval(ticking)
    expect(sliced).toEqual(buildReport(input))
    expect(new Set(sliced.flags.map((f) => f.verdict)).size).toBeGreaterThan(2) // a mix, not one verdict
    expect(turns).toBeGreaterThan(0)
  })
})
