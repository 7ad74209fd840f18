import { execFile } from 'node:child_process'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { beforeAll, describe, expect, it } from 'vitest'
import { reportSchema } from '../../src/coverage/report-schema.js'
import { DEFECTS, parseDefectList, type DefectId } from '../../src/sim/defects.js'
import { simulate } from '../../src/sim/simulation.js'
import { writeSimulation } from '../../src/sim/write.js'

const exec = promisify(execFile)
const END = Date.UTC(2026, 10, 20)
let dir = ''
let gzDir = ''
let injected: { flag: string; defect: string }[] = []

/** Runs the CLI as users do (through tsx, so no build is needed) and returns its exit code and output. */
async function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await exec(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { maxBuffer: 64 << 20 })
    return { code: 0, stdout, stderr }
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string }
    return { code: err.code, stdout: err.stdout, stderr: err.stderr }
  }
}

const files = (d: string, events = 'events.ndjson') => ['--events', join(d, events), '--flags', join(d, 'flags.json'), '--experiments', join(d, 'experiments.json'), '--cohorts', join(d, 'cohorts.json'), '--group-types', join(d, 'group_types.json')]

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ec-audit-'))
  gzDir = mkdtempSync(join(tmpdir(), 'ec-audit-gz-'))
  const opts = { seed: 3, flags: 20, users: 1200, days: 14, endMs: END, defects: parseDefectList('mix') }
  const written = await writeSimulation(simulate(opts), dir)
  injected = written.truth.defects
  await writeSimulation(simulate(opts), gzDir, { gzip: true })
})

describe('experiment-coverage audit --compare', () => {
  it('says what changed since an earlier run, and refuses a file that is not a report', { timeout: 180_000 }, async () => {
    const prevFile = join(dir, 'previous.json')
    expect((await cli('audit', ...files(dir), '--format', 'json', '--out', prevFile)).code).toBe(0)
    // The earlier run saw one flag trustworthy that is not now, and one failing check that is now fixed.
    const prev = JSON.parse(readFileSync(prevFile, 'utf8')) as { flags: { key: string; verdict: string; checks: { id: string; status: string }[] }[] }
    const worse = prev.flags.find((f) => f.verdict === 'blocked')!
    worse.verdict = 'trustworthy'
    writeFileSync(prevFile, JSON.stringify(prev))
    const { code, stdout } = await cli('audit', ...files(dir), '--format', 'markdown', '--compare', prevFile)
    expect(code).toBe(0)
    expect(stdout).toContain('## What changed since')
    expect(stdout).toContain(`- ${worse.key}: trustworthy -> blocked (worse)`)
    const json = JSON.parse((await cli('audit', ...files(dir), '--format', 'json', '--compare', prevFile)).stdout) as { changes: { verdictChanges: { flag: string }[] } }
    expect(json.changes.verdictChanges.map((v) => v.flag)).toContain(worse.key)
    writeFileSync(join(dir, 'not-a-report.json'), '{"hello": 1}')
    const bad = await cli('audit', ...files(dir), '--compare', join(dir, 'not-a-report.json'))
    expect(bad.code).toBe(2)
    expect(bad.stderr).toMatch(/not a report/)
    expect(bad.stderr).not.toMatch(/events through the plugin/) // refused before the events are read
  })
})

describe('experiment-coverage audit', () => {
  it('prints the coverage table and a readout that name every flag with an injected defect', async () => {
    const { code, stdout, stderr } = await cli('audit', ...files(dir))
    expect(code).toBe(0)
    const lines = readFileSync(join(dir, 'events.ndjson'), 'utf8').trim().split('\n').length
    expect(stderr).toContain(`audit: ${lines.toLocaleString('en-US')} events through the plugin`)
    expect(stdout).toMatch(/verdict/)
    const readout = stdout.slice(stdout.indexOf('# Experiment coverage'))
    expect(readout).toMatch(/## Repair first/)
    for (const d of injected) expect(readout, d.defect).toContain(d.flag)
  })

  it('writes JSON that validates against the documented report shape, and reads .ndjson.gz the same', async () => {
    const out = join(dir, 'report.json')
    expect((await cli('audit', ...files(dir), '--format', 'json', '--out', out)).code).toBe(0)
    const report = reportSchema.parse(JSON.parse(readFileSync(out, 'utf8')))
    expect(report.flags).toHaveLength(20)
    for (const d of injected) {
      const flag = report.flags.find((f) => f.key === d.flag)!
      const fired = flag.checks.filter((c) => c.status === 'fail' || c.status === 'warn').map((c) => c.id)
      expect(fired, `${d.defect} on ${d.flag}`).toEqual(expect.arrayContaining([...DEFECTS.get(d.defect as DefectId)!.checks]))
    }
    const gz = JSON.parse((await cli('audit', ...files(gzDir, 'events.ndjson.gz'), '--format', 'json')).stdout)
    expect(gz.flags.map((f: { key: string; verdict: string }) => [f.key, f.verdict])).toEqual(report.flags.map((f) => [f.key, f.verdict]))
  })

  it.each([
    ['markdown', /^# Experiment coverage/m],
    ['csv', /^flag,kind,experiment,verdict,score,check,status,summary,fix,window_from,window_to,query,query_url\r\n/],
    ['html', /^<!doctype html>/],
  ])('writes %s', async (format, pattern) => {
    const { code, stdout } = await cli('audit', ...files(dir), '--format', format)
    expect(code).toBe(0)
    expect(stdout).toMatch(pattern)
  })

  it('--fail-on blocked exits 1 when a flag is blocked, and names it', async () => {
    const { code, stderr } = await cli('audit', ...files(dir), '--format', 'json', '--fail-on', 'blocked')
    expect(code).toBe(1)
    expect(stderr).toMatch(/--fail-on blocked: \d+ flags/)
  })

  it('--activity reads the flags\' history: a split changed mid-run fails flag_changes; a malformed file is named before any event is read', { timeout: 120_000 }, async () => {
    const flags = (JSON.parse(readFileSync(join(dir, 'flags.json'), 'utf8')) as { results: { id: number; key: string; filters: { multivariate?: { variants: { key: string; rollout_percentage: number }[] } | null } }[] }).results
    const experimentsFile = JSON.parse(readFileSync(join(dir, 'experiments.json'), 'utf8')) as { results?: unknown[] } | unknown[]
    const experiments = (Array.isArray(experimentsFile) ? experimentsFile : experimentsFile.results ?? []) as { feature_flag_key: string; start_date: string | null }[]
    const exp = experiments.find((e) => e.start_date && Date.parse(e.start_date) < END - 3 * 86_400_000 && flags.find((f) => f.key === e.feature_flag_key)?.filters.multivariate?.variants.length)!
    const flag = flags.find((f) => f.key === exp.feature_flag_key)!
    const after = flag.filters
    const before = { ...after, multivariate: { variants: after.multivariate!.variants.map((v, i) => ({ ...v, rollout_percentage: i === 0 ? v.rollout_percentage + 5 : i === 1 ? v.rollout_percentage - 5 : v.rollout_percentage })) } }
    const file = join(dir, 'activity.json')
    const entry = { user: { first_name: 'Ada', email: 'ada@example.com' }, activity: 'updated', scope: 'FeatureFlag', item_id: String(flag.id), detail: { changes: [{ type: 'FeatureFlag', action: 'changed', field: 'filters', before, after }], name: flag.key }, created_at: new Date(END - 2 * 86_400_000).toISOString() }
    writeFileSync(file, JSON.stringify({ results: [entry], next: null, previous: null, total_count: 1 }))
    const { code, stdout } = await cli('audit', ...files(dir), '--activity', file, '--format', 'json')
    expect(code).toBe(0)
    const report = JSON.parse(stdout) as { flags: { key: string; checks: { id: string; status: string; evidence: { clean_from?: string } }[] }[] }
    const check = report.flags.find((f) => f.key === flag.key)!.checks.find((c) => c.id === 'flag_changes')!
    expect(check.status).toBe('fail')
    expect(check.evidence.clean_from).toBe(entry.created_at)
    // Without the file, the check says the history was not read.
    const without = JSON.parse((await cli('audit', ...files(dir), '--format', 'json')).stdout) as typeof report
    expect(without.flags.find((f) => f.key === flag.key)!.checks.find((c) => c.id === 'flag_changes')!.status).toBe('not_applicable')
    writeFileSync(file, JSON.stringify({ results: [{ ...entry, created_at: 'last tuesday' }] }))
    const bad = await cli('audit', ...files(dir), '--activity', file)
    expect(bad.code).toBe(2)
    expect(bad.stderr).toMatch(/activity\.json: results\[0\]\.created_at: not a date/)
    expect(bad.stderr).not.toMatch(/events through the plugin/)
  })

  it('names the file when it cannot be read', async () => {
    const { code, stderr } = await cli('audit', '--events', join(dir, 'nope.ndjson'), '--flags', join(dir, 'flags.json'))
    expect(code).toBe(2)
    expect(stderr).toMatch(/nope\.ndjson: cannot read \(ENOENT\)/)
  })

  it('names the file and line of a JSON syntax error in the flags', async () => {
    const bad = join(dir, 'bad-flags.json')
    writeFileSync(bad, '{\n  "results": [\n    {"id": 1,,}\n  ]\n}\n')
    const { code, stderr } = await cli('audit', '--events', join(dir, 'events.ndjson'), '--flags', bad)
    expect(code).toBe(2)
    expect(stderr).toMatch(/bad-flags\.json:3: not valid JSON/)
  })

  it('names the entry and the field of a flag that is not shaped like PostHog\'s', async () => {
    const bad = join(dir, 'shape-flags.json')
    writeFileSync(bad, JSON.stringify({ results: [{ id: 1, key: 'ok', active: true, filters: { groups: [] } }, { id: 2, key: 'broken', filters: {} }] }))
    const { code, stderr } = await cli('audit', '--events', join(dir, 'events.ndjson'), '--flags', bad)
    expect(code).toBe(2)
    expect(stderr).toMatch(/flag "broken" at results\[1\]\.active/)
  })

  it('skips a broken event line with its file and line number, and keeps everything else', async () => {
    const events = readFileSync(join(dir, 'events.ndjson'), 'utf8').split('\n')
    events.splice(3, 0, '{"event": "$pageview", "properties": {')
    const broken = join(dir, 'broken.ndjson')
    writeFileSync(broken, events.join('\n'))
    const { code, stderr, stdout } = await cli('audit', ...files(dir, 'broken.ndjson'), '--format', 'json')
    expect(code).toBe(0)
    expect(stderr).toMatch(/broken\.ndjson:4: skipped, not JSON/)
    expect(JSON.parse(stdout).flags).toHaveLength(20)
  })

  it('stops on a file that is not events at all', async () => {
    const csv = join(dir, 'events.csv')
    writeFileSync(csv, Array.from({ length: 50 }, (_, i) => `event,${i},x`).join('\n'))
    const { code, stderr } = await cli('audit', '--events', csv, '--flags', join(dir, 'flags.json'))
    expect(code).toBe(2)
    expect(stderr).toMatch(/events\.csv: the first 10 lines are not JSON/)
  })

  it('--help lists the options', async () => {
    const { stdout } = await cli('audit', '--help')
    for (const option of ['--events', '--flags', '--experiments', '--cohorts', '--format', '--out', '--fail-on']) expect(stdout).toContain(option)
  })
})

describe('what the CLI prints to a terminal', () => {
  it('carries no raw control character from event data: flag keys, values, the echoed bad lines', async () => {
    const d = mkdtempSync(join(tmpdir(), 'ec-esc-'))
    const esc = '\u001b]0;owned\u0007\u001b[2J\u202e'
    const ts = new Date(END - 3_600_000).toISOString()
    const lines = [
      JSON.stringify({ uuid: 'a', event: '$feature_flag_called', distinct_id: 'u1', timestamp: ts, properties: { $feature_flag: `flag${esc}`, $feature_flag_response: `v${esc}` } }),
      `{"broken ${esc}`,
      ...Array.from({ length: 12 }, (_, i) => JSON.stringify({ uuid: `b${i}`, event: '$pageview', distinct_id: `u${i}`, timestamp: ts, properties: {} })),
    ]
    writeFileSync(join(d, 'events.ndjson'), lines.join('\n'))
    writeFileSync(join(d, 'flags.json'), '[]')
    const { code, stdout, stderr } = await cli('audit', '--events', join(d, 'events.ndjson'), '--flags', join(d, 'flags.json'), '--now', new Date(END).toISOString())
    expect(code).toBe(0)
    expect(stdout).toContain('flag\\x1b]0;owned\\x07') // shown as its escape
    expect(stdout + stderr).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e]/)
  })
})

describe('event lines built to crash the audit', () => {
  it('a timestamp that is a 10,000-deep array is a rejected event, not a stack trace', async () => {
    const d = mkdtempSync(join(tmpdir(), 'ec-deep-'))
    const deep = `${'['.repeat(10_000)}${']'.repeat(10_000)}`
    const ts = new Date(END - 3_600_000).toISOString()
    const good = (i: number) => JSON.stringify({ uuid: `g${i}`, event: '$feature_flag_called', distinct_id: `u${i}`, timestamp: ts, properties: { $feature_flag: 'f', $feature_flag_response: true } })
    writeFileSync(join(d, 'events.ndjson'), [good(1), `{"uuid":"x","event":"$pageview","distinct_id":"u","timestamp":${deep},"properties":{}}`, good(2)].join('\n'))
    writeFileSync(join(d, 'flags.json'), '[]')
    const { code, stdout, stderr } = await cli('audit', '--events', join(d, 'events.ndjson'), '--flags', join(d, 'flags.json'), '--now', new Date(END).toISOString(), '--format', 'json')
    expect(stderr).not.toMatch(/RangeError|Maximum call stack|at .*\.js:\d+/)
    expect(code).toBe(0)
    const report = JSON.parse(stdout) as { events: { rejected: Record<string, number> }; flags: { key: string; variants: { units: number }[] }[] }
    expect(report.events.rejected).toMatchObject({ timestamp_invalid: 1 })
    expect(report.flags.find((f) => f.key === 'f')!.variants.reduce((n, v) => n + v.units, 0)).toBe(2)
  })
})

describe('event files that hold no event', () => {
  const audit = async (name: string, content: string | Buffer, ...extra: string[]) => {
    const d = mkdtempSync(join(tmpdir(), 'ec-none-'))
    writeFileSync(join(d, name), content)
    writeFileSync(join(d, 'flags.json'), '[]')
    return cli('audit', '--events', join(d, name), '--flags', join(d, 'flags.json'), '--now', new Date(END).toISOString(), '--format', 'json', ...extra)
  }
  const event = (i: number) => JSON.stringify({ uuid: `e${i}`, event: '$feature_flag_called', distinct_id: `u${i}`, timestamp: new Date(END - 3_600_000).toISOString(), properties: { $feature_flag: 'f', $feature_flag_response: true } })

  it.each([
    ['a few lines of garbage', 'hello\nworld\n{nope\n', /no event in 3 lines; no line is JSON: it is not NDJSON/],
    ['JSON lines that are not events', '1\n"two"\n[3]\n', /no event in 3 lines; its lines are JSON, but none is an event object/],
    ['UTF-16 with its byte order mark', Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(`${event(1)}\n`, 'utf16le')]), /is UTF-16 \(its byte order mark is FF FE\); save it as UTF-8/],
  ])('%s stops the audit (exit 2) and names the likely cause', async (_why, content, message) => {
    const { code, stderr } = await audit('events.ndjson', content)
    expect(code).toBe(2)
    expect(stderr).toMatch(message)
  })

  it('an empty file is a warning, not an error', async () => {
    const { code, stderr } = await audit('events.ndjson', '')
    expect(code).toBe(0)
    expect(stderr).toMatch(/has no line at all/)
  })

  it('reads a UTF-8 byte order mark as nothing', async () => {
    const { code, stdout } = await audit('events.ndjson', `\uFEFF${event(1)}\n${event(2)}\n`)
    expect(code).toBe(0)
    expect((JSON.parse(stdout) as { flags: { key: string; variants: { units: number }[] }[] }).flags[0]!.variants.reduce((n, v) => n + v.units, 0)).toBe(2)
  })

  it('skips a line past --max-line with its number, and counts the lines after it', async () => {
    const long = `{"event":"$pageview","properties":{"x":"${'a'.repeat(200_000)}"}}`
    const { code, stdout, stderr } = await audit('events.ndjson', [event(1), long, event(3)].join('\n'), '--max-line', '100000')
    expect(code).toBe(0)
    expect(stderr).toMatch(/events\.ndjson:2: skipped, longer than 100,000 characters/)
    expect((JSON.parse(stdout) as { flags: { variants: { units: number }[] }[] }).flags[0]!.variants.reduce((n, v) => n + v.units, 0)).toBe(2)
  })
})
