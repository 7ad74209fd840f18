import { describe, expect, it } from 'vitest'
import { auditEvents } from '../../src/audit/offline-audit.js'
import { hogqlParser } from '../../src/hog/parser.js'
import { parseDefectList } from '../../src/sim/defects.js'
import { definitionsOf, simulate } from '../../src/sim/simulation.js'
import { PostHogBox } from '../support/posthog-box/index.js'
import { auditJourneys, baseTestExperiment, baseTestFlag, definitionsOf as journeyDefinitions, journeys } from '../support/journeys.js'
import type { SimEvent } from '../../src/sim/traffic.js'

const END = Date.UTC(2026, 10, 20)

/** A query with its literals blanked: two queries of one shape differ only in values, keys and dates. */
function queryShape(query: string): string {
  return query
    .replace(/'(?:[^'\\]|\\.)*'/g, "'?'")
    .replace(/\b\d+(\.\d+)?\b/g, '0')
    .replace(/\('\?'(, '\?')*\)/g, '(list)')
}

describe("each check's HogQL query", () => {
  it("parses with PostHog's parser, has a LIMIT, covers the flag's window, and opens in the project's SQL editor", async () => {
    const sim = simulate({ seed: 5, flags: 20, users: 600, days: 14, endMs: END, defects: parseDefectList('mix') })
    const config = { posthogHost: 'https://eu.posthog.com', posthogProjectId: '12345' }
    const { report } = await auditEvents(definitionsOf(sim.project), config, sim.events)
    const parser = await hogqlParser()
    let parsed = 0
    for (const f of report.flags) {
      for (const c of f.checks) {
        // Every finding comes with the rows behind it (a metric check without a metric event has none to show).
        if ((c.status === 'fail' || c.status === 'warn') && !(c.id === 'primary_metric' || c.id === 'guardrails')) expect(c.query, `${f.key} ${c.id}`).toBeTruthy()
        if (!c.query) continue
        const ast = JSON.parse(parser.parseSelect(c.query, true)) as { error?: boolean; message?: string; limit?: unknown }
        expect(ast.error ? `${f.key} ${c.id}: ${ast.message}` : 'ok').toBe('ok')
        expect(ast.limit, `${f.key} ${c.id}`).toBeTruthy()
        expect(c.query).toContain(f.window.from.slice(0, 19).replace('T', ' '))
        expect(c.query_url).toBe(`https://eu.posthog.com/project/12345/sql?open_query=${encodeURIComponent(c.query)}`)
        parsed++
      }
    }
    expect(parsed).toBeGreaterThan(150)
  })

  it('names the values outside the variants and the units in $multiple, the questions users ask PostHog for', async () => {
    const sim = simulate({ seed: 5, flags: 20, users: 300, days: 14, endMs: END, defects: parseDefectList('crossover') })
    const { report } = await auditEvents(definitionsOf(sim.project), {}, sim.events)
    const flag = report.flags.find((f) => f.key === sim.truth().defects[0]!.flag)!
    const q = (id: string) => flag.checks.find((c) => c.id === id)!.query!
    expect(q('multiple_variants')).toMatch(/groupUniqArray\(JSONExtractRaw\(properties, '\$feature_flag_response'\)\).*length\(values\) > 1/)
    expect(q('variant_values')).toMatch(/NOT \(JSONExtractRaw\(properties, '\$feature_flag_response'\) IN \('"control"', '"test"'/)
    expect(flag.checks.find((c) => c.id === 'multiple_variants')!.query_url).toBeNull() // no project configured
  })

  it('runs on ClickHouse as PostHog prints it, and its rows are the finding: the units in $multiple, the values outside the variants', { timeout: 120_000 }, async () => {
    const sim = simulate({ seed: 5, flags: 20, users: 300, days: 14, endMs: END, defects: parseDefectList('mix') })
    const defs = definitionsOf(sim.project)
    const events = [...sim.events]
    const { report } = await auditEvents(defs, {}, events)
    const box = new PostHogBox({ groupTypes: defs.groupTypes })
    try {
      expect(await box.insert(events)).toBe(events.length)
      let ran = 0
      // 218 queries in 23 forms: each form runs once (its literals aside: values, keys, dates), and every
      // multiple_variants query runs, since its rows are checked against the check's own count.
      const shapes = new Set<string>()
      for (const f of report.flags) {
        for (const c of f.checks) {
          if (!c.query) continue
          const shape = `${c.id}:${queryShape(c.query)}`
          if (shapes.has(shape) && c.id !== 'multiple_variants') continue
          shapes.add(shape)
          const result = await box.hogql(c.query, { personalApiKey: true }).catch((e: Error) => ({ error: `${f.key} ${c.id}: ${e.message.slice(0, 300)}` }))
          expect('error' in result ? result.error : 'ok').toBe('ok')
          ran++
          if ('error' in result) continue
          // The rows behind the number: each unit in $multiple, and each value outside the variants.
          const multiple = f.variants.length && c.id === 'multiple_variants' ? (c.evidence as { multiple_variant_units?: number }).multiple_variant_units : undefined
          if (typeof multiple === 'number') expect(result.results.length, `${f.key} $multiple units`).toBe(Math.min(multiple, 500))
        }
      }
      expect(shapes.size).toBeGreaterThan(15)
      expect(ran).toBeGreaterThanOrEqual(shapes.size)
      const crossover = sim.truth().defects.find((d) => d.defect === 'crossover')!
      const flag = report.flags.find((f) => f.key === crossover.flag)!
      const rows = (await box.hogql(flag.checks.find((c) => c.id === 'multiple_variants')!.query!, { personalApiKey: true })).results
      expect(rows.length).toBeGreaterThan(0)
    } finally {
      box.close()
    }
  })

  it('breaks a mismatched split down by slice and names the slice that explains it; the slice query runs on ClickHouse and its rows are the report\'s numbers', { timeout: 60_000 }, async () => {
    const flag = 'test-experiment'
    // 600 units split 50/50 at random, except on Safari, where most test exposures are lost.
    const byPerson: Record<string, { event: string; timestamp: string; properties: Record<string, unknown> }[]> = {}
    for (let i = 0; i < 600; i++) {
      const safari = i % 3 === 0
      const variant = i % 2 === 0 ? 'control' : 'test'
      if (safari && variant === 'test' && i % 10 !== 1) continue // lost
      const props = { $feature_flag: flag, $feature_flag_response: variant, $lib: 'web', $lib_version: i % 4 === 0 ? '1.130.2' : '1.140.0', $browser: safari ? 'Safari' : 'Chrome', $os: i % 5 === 0 ? 'iOS' : 'Mac OS X', $device_type: 'Desktop', $geoip_country_code: i % 7 < 3 ? 'DE' : 'US' }
      byPerson[`u${i}`] = [{ event: '$feature_flag_called', timestamp: `2024-01-0${2 + (i % 4)}T10:00:00`, properties: props }]
    }
    const events = journeys(byPerson)
    const defs = journeyDefinitions([baseTestFlag()], [baseTestExperiment({ start_date: '2024-01-01T00:00:00Z', end_date: '2024-01-09T00:00:00Z' })])
    const { report } = await auditJourneys(defs, events, Date.parse('2024-01-07T12:00:00Z'))
    const check = report.flags.find((f) => f.key === flag)!.checks.find((c) => c.id === 'sample_ratio')!
    expect(check.status).toBe('fail')
    const slices = check.evidence.slices as { explained_by: { dimension: string; value: string; units_per_variant: Record<string, number> } | null; mismatched: { dimension: string; value: string }[]; query: string }
    expect(slices.explained_by).toMatchObject({ dimension: 'browser', value: 'Safari' })
    expect(check.summary).toContain('The mismatch is in browser Safari')
    expect(check.fix).toMatch(/^Look at browser Safari first/)
    // Slices that carry the same users as the mismatch may also be off; the country and device here are not.
    expect(slices.mismatched.some((m) => m.dimension === 'country')).toBe(false)
    const parser = await hogqlParser()
    expect((JSON.parse(parser.parseSelect(slices.query, true)) as { error?: boolean }).error ?? false).toBe(false)
    const box = new PostHogBox()
    try {
      await box.insert(events as SimEvent[])
      const rows = (await box.hogql(slices.query, { personalApiKey: true })).results as [string, string, string, number][]
      const safari = Object.fromEntries(rows.filter(([d, v]) => d === 'browser' && v === 'Safari').map(([, , variant, n]) => [JSON.parse(variant) as string, n]))
      expect(safari).toEqual(slices.explained_by!.units_per_variant)
    } finally {
      box.close()
    }
  })

  it("reads a custom exposure event's variant on $feature/<key>: the sample_ratio query shows PostHog's units (test_exposure_query_with_custom_exposure: control 4, test 5)", async () => {
    const flag = 'test-experiment'
    const view = (variant: string, day: string) => [{ event: '$pageview', timestamp: `2024-01-0${day}`, properties: { [`$feature/${flag}`]: variant } }]
    const events = journeys({ c1: view('control', '2'), c2: view('control', '2'), c3: view('control', '3'), c4: view('control', '3'), t1: view('test', '2'), t2: view('test', '2'), t3: view('test', '2'), t4: view('test', '3'), t5: view('test', '3'), early: [{ event: '$pageview', timestamp: '2024-01-02', properties: {} }] })
    const defs = journeyDefinitions([baseTestFlag()], [baseTestExperiment({ start_date: '2024-01-01T00:00:00Z', end_date: '2024-01-07T00:00:00Z', exposure_criteria: { exposure_config: { kind: 'ExperimentEventExposureConfig', event: '$pageview', properties: [] } } })])
    const { report } = await auditJourneys(defs, events, Date.parse('2024-01-07T12:00:00Z'))
    const query = report.flags.find((f) => f.key === flag)!.checks.find((c) => c.id === 'sample_ratio')!.query!
    const box = new PostHogBox()
    try {
      await box.insert(events as SimEvent[])
      expect((await box.hogql(query, { personalApiKey: true })).results).toEqual([['"control"', 4], ['"test"', 5]])
    } finally {
      box.close()
    }
  })

  it.each([
    // test_exposure_query_multiple_variant_handling_first_seen: each unit in the variant it saw first
    ['first_seen', [['"control"', 2], ['"test"', 2]]],
    // the same events with exclude: the two units that saw both are $multiple
    ['exclude', [['"control"', 1], ['"test"', 1], ['$multiple', 2]]],
  ])('the sample_ratio query counts units as %s handling does on ClickHouse', async (handling, rows) => {
    const flag = 'test-experiment'
    const call = (variant: string, day: string) => ({ event: '$feature_flag_called', timestamp: `2024-01-0${day}`, properties: { $feature_flag: flag, $feature_flag_response: variant } })
    const events = journeys({ control_only: [call('control', '2')], test_only: [call('test', '2')], control_first: [call('control', '2'), call('test', '3')], test_first: [call('test', '2'), call('control', '4')] })
    const defs = journeyDefinitions([baseTestFlag()], [baseTestExperiment({ start_date: '2024-01-01T00:00:00Z', end_date: '2024-01-07T00:00:00Z', exposure_criteria: { multiple_variant_handling: handling } })])
    const { report } = await auditJourneys(defs, events, Date.parse('2024-01-07T12:00:00Z'))
    const query = report.flags.find((f) => f.key === flag)!.checks.find((c) => c.id === 'sample_ratio')!.query!
    const box = new PostHogBox()
    try {
      await box.insert(events as SimEvent[])
      expect((await box.hogql(query, { personalApiKey: true })).results).toEqual(rows)
    } finally {
      box.close()
    }
  })
})
