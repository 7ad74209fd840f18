import { describe, expect, it } from 'vitest'
import { auditEvents } from '../../src/audit/offline-audit.js'
import { formatHtml, formatMarkdown } from '../../src/cli/formats.js'
import { VERDICT_LABELS } from '../../src/coverage/labels.js'
import { markdownToHtml, parseMarkdown } from '../../src/coverage/markdown.js'
import { writeReadout } from '../../src/coverage/readout.js'
import type { Report } from '../../src/coverage/report.js'
import { NOW, flagDef } from '../support/context.js'
import { flagCalled } from '../support/events.js'

/** A report whose flags carry the verdicts given, copied from one audited flag (only keys and verdicts differ). */
async function reportWith(verdicts: Report['flags'][number]['verdict'][]): Promise<Report> {
  const { report } = await auditEvents({ flags: [flagDef()], experiments: [], cohorts: [], groupTypes: new Map() }, {}, [flagCalled('exp-flag', 'test', { distinct_id: 'u', ts: NOW - 60_000 })], { now: NOW })
  const model = report.flags[0]!
  const flags = verdicts.map((verdict, i) => ({ ...model, key: `flag-${i + 1}`, experiment: null, verdict, checks: model.checks.map((c) => ({ ...c, status: verdict === 'trustworthy' ? ('pass' as const) : ('fail' as const) })) }))
  const count = (v: string) => flags.filter((f) => f.verdict === v).length
  // One repair per blocked flag, shaped as the plan writes them (the readout numbers the first five).
  const plan = flags
    .filter((f) => f.verdict === 'blocked')
    .map((f, i) => ({ flag: f.key, category: 'flag_config', action: 'Fix the split', priority: 90 - i, check: 'sample_ratio', effort: 'low', blocking: true, reason: 'the split is off', days_to_deadline: null }) as unknown as Report['plan'][number])
  const next: Report = { ...report, flags, plan, summary: { ...report.summary, flags: flags.length, trustworthy: count('trustworthy'), blocked: count('blocked'), needs_backfill: count('needs_backfill') } }
  return { ...next, readout: writeReadout(next) }
}

// Issue 20: seven trustworthy flags were shown as five "and 2 more"; a flag left out reads as untrustworthy.
const VERDICTS = [...Array<'trustworthy'>(7).fill('trustworthy'), ...Array<'blocked'>(6).fill('blocked'), ...Array<'needs_backfill'>(12).fill('needs_backfill')]

describe('the readout lists every flag under its verdict', () => {
  it.each([
    ['the readout', (r: Report) => r.readout],
    ['the Markdown report', formatMarkdown],
  ])('%s names all seven trustworthy flags, six blocked and twelve to repair, with no "and N more"', async (_, write) => {
    const report = await reportWith(VERDICTS)
    const md = write(report)
    expect(md).not.toMatch(/and \d+ more/)
    const section = (title: string) => md.slice(md.indexOf(title)).split('\n## ')[0]!
    for (const [title, verdict] of [['## Trustworthy now', 'trustworthy'], ['## Blocked', 'blocked'], [`## ${VERDICT_LABELS.needs_backfill.label}`, 'needs_backfill']] as const) {
      const keys = report.flags.filter((f) => f.verdict === verdict).map((f) => f.key)
      for (const key of keys) expect(section(title), `${key} under ${title}`).toContain(`\`${key}\``)
    }
  })

  it('the HTML report lists them as list items, each key as code, no Markdown marks left', async () => {
    const report = await reportWith(VERDICTS)
    const html = formatHtml(report)
    const trusted = html.slice(html.indexOf('Trustworthy now'), html.indexOf('</ul>', html.indexOf('Trustworthy now')))
    expect(trusted.match(/<li>/g)?.length).toBe(7)
    for (let i = 1; i <= 7; i++) expect(trusted).toContain(`<li><code>flag-${i}</code>`)
    expect(html).not.toMatch(/<p>- /)
    expect(html).not.toContain('**')
    expect(report.plan.length).toBeGreaterThan(0)
    expect(html).toMatch(/<ol>\n<li><code>/) // the plan's repairs, numbered
  })
})

describe('the readout counts what it judges in the right number', () => {
  it.each([
    ['one flag is "1 flag", not "1 flags and experiments"', ['blocked'], 'multivariate_flag', /^1 flag: \*\*Trustworthy/m],
    ['one experiment is "1 experiment"', ['needs_backfill'], 'experiment', /^1 experiment: \*\*Trustworthy/m],
    ['more than one are "flags and experiments"', ['blocked', 'trustworthy', 'needs_backfill'], 'multivariate_flag', /^3 flags and experiments: \*\*Trustworthy/m],
  ] as const)('%s', async (_, verdicts, kind, line) => {
    const report = await reportWith([...verdicts])
    const md = writeReadout({ ...report, flags: report.flags.map((f) => ({ ...f, kind })) })
    expect(md).toMatch(line)
    expect(md).not.toMatch(/\b1 flags\b/)
  })
})

describe('the Markdown the readout and the hints are written in', () => {
  it.each([
    ['a bullet list becomes one list', '- a\n- b\n', '<ul>\n<li>a</li>\n<li>b</li>\n</ul>'],
    ['a numbered list keeps its start', '3. c\n4. d', '<ol start="3">\n<li>c</li>\n<li>d</li>\n</ol>'],
    ['headings and paragraphs', '# T\n\ntext\nmore', '<h1>T</h1>\n<p>text more</p>'],
    ['bold and code', '**b** `c`', '<p><b>b</b> <code>c</code></p>'],
    ['a code span with backticks inside (mdCode pads a longer fence)', '`` tick`<b>x</b>`tock ``', '<p><code>tick`&lt;b&gt;x&lt;/b&gt;`tock</code></p>'],
    ['entities mdText wrote show once escaped', 'Search &amp; filter &lt;b&gt;', '<p>Search &amp; filter &lt;b&gt;</p>'],
    ['raw HTML stays text', '<img src=x onerror=alert(1)>', '<p>&lt;img src=x onerror=alert(1)&gt;</p>'],
    ['only http(s) links become links', '[a](https://x.test/) [b](javascript:alert(1))', '<p><a href="https://x.test/" rel="noopener">a</a> [b](javascript:alert(1))</p>'],
    ['an escaped pipe is a pipe', 'a \\| b', '<p>a | b</p>'],
  ])('%s', (_, md, html) => {
    expect(markdownToHtml(md)).toBe(html)
  })

  it('a paragraph line right after a list ends the list', () => {
    expect(parseMarkdown('- a\nb').map((b) => b.type)).toEqual(['list', 'paragraph'])
  })
})
