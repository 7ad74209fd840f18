import { describe, expect, it } from 'vitest'
import { DEFAULT_CONFIG, SETTING_KEYS, SettingsError, parseSettings } from '../../src/settings/settings.js'

function problemsOf(config: Record<string, unknown>): { key: string; message: string }[] {
  try {
    parseSettings(config)
  } catch (e) {
    if (e instanceof SettingsError) return [...e.problems]
    throw e
  }
  throw new Error('expected a SettingsError')
}

describe('settings', () => {
  it("defaults follow PostHog's own experiment thresholds", () => {
    expect(parseSettings()).toMatchObject({
      minExposuresPerVariant: 50, // a variant with < 50 exposures gives no result
      srmPValue: 0.001, // SRM flagged at p < 0.001
      srmMinExposures: 100, // SRM only tested from 100 units
      multipleVariantShare: 0.1, // `$multiple` > 10% warns
      serverSideShare: 0.1, // server-side first exposures > 10% warn
      noExposureHours: 24, // zero exposures 24 h after launch
      unitSampleRate: 1,
      metrics: [],
      posthogHost: 'https://us.posthog.com',
    })
  })

  it('reads the strings plugin-server stores, and JSON lists of goals and guardrails', () => {
    const s = parseSettings({
      lookbackDays: ' 14 ',
      srmPValue: '0.01',
      goalEvents: '["checkout_completed", {"name": "activation", "event": "project_created"}]',
      guardrailEvents: [{ event: '$exception' }],
      posthogHost: 'https://eu.posthog.com/',
      posthogProjectId: 12345,
    })
    expect(s).toMatchObject({ lookbackDays: 14, srmPValue: 0.01, posthogHost: 'https://eu.posthog.com', posthogProjectId: '12345' })
    expect(s.metrics).toEqual([
      { name: 'checkout_completed', event: 'checkout_completed', kind: 'goal' },
      { name: 'activation', event: 'project_created', kind: 'goal' },
      { name: '$exception', event: '$exception', kind: 'guardrail' },
    ])
  })

  it('an empty value means the default, as in PostHog where a cleared field is stored as ""', () => {
    expect(parseSettings({ lookbackDays: '', srmPValue: null }).lookbackDays).toBe(30)
  })

  it.each([
    ['lookbackDays', 'thirty', /must be a number/],
    ['lookbackDays', '0', /at least 1/],
    ['lookbackDays', '1.5', /whole number/],
    ['srmPValue', '1', /less than 1/],
    ['srmPValue', 'NaN', /must be a number/],
    ['multipleVariantShare', '-0.1', /at least 0/],
    ['unitSampleRate', '0', /greater than 0/],
    ['unitSampleRate', '1.5', /at most 1/],
    ['goalEvents', '{not json', /not valid JSON/],
    ['goalEvents', '{"event": "x"}', /JSON list/],
    ['goalEvents', '[""]', /must not be empty/],
    ['guardrailEvents', '[{"name": "x"}]', /guardrailEvents/],
    ['posthogHost', 'ftp://posthog', /http\(s\) address/],
    ['posthogProjectId', 'my-project', /numeric project id/],
  ])('names the field when %s is %j', (key, value, message) => {
    const problems = problemsOf({ [key]: value })
    expect(problems.map((p) => p.key)).toEqual([key])
    expect(`${problems[0]!.key}: ${problems[0]!.message}`).toMatch(message)
  })

  it('reports every bad field at once, with the name users see in PostHog', () => {
    const problems = problemsOf({ lookbackDays: 'x', srmPValue: '5' })
    expect(problems.map((p) => p.key).sort()).toEqual(['lookbackDays', 'srmPValue'])
    expect(problems.find((p) => p.key === 'srmPValue')!.message).toContain('"Sample ratio mismatch p-value"')
  })

  it('refuses the same metric name twice (the counters key metrics by name)', () => {
    expect(problemsOf({ goalEvents: '["a"]', guardrailEvents: '[{"name": "a", "event": "b"}]' })[0]!.key).toBe('guardrailEvents')
  })

  it('ignores settings it does not know (an older version may have stored them)', () => {
    expect(() => parseSettings({ removedSetting: 'x' })).not.toThrow()
  })

  it('plugin.json and the parser know exactly the same settings', () => {
    expect(Object.keys(DEFAULT_CONFIG).sort()).toEqual([...SETTING_KEYS].sort())
  })
})
