import { parse } from 'csv-parse/sync'
import { describe, expect, it } from 'vitest'
import { auditEvents } from '../../src/audit/offline-audit.js'
import { formatCsv, formatHtml, formatMarkdown, formatTable } from '../../src/cli/formats.js'
import { NOW, experimentDef, flagDef } from '../support/context.js'
import { flagCalled } from '../support/events.js'

describe('CSV output of hostile event data', () => {
  it('neutralises cells that a spreadsheet would run as formulas, including flag keys only events mention (OWASP)', async () => {
    const hostile = ['=HYPERLINK("https://evil.test","x")', '+1+1', '-2+3', '@SUM(1)', '\t=1', '\r=1']
    const events = hostile.map((key, i) => flagCalled(key, 'test', { distinct_id: `u${i}`, ts: NOW - 60_000 }))
    const { report } = await auditEvents({ flags: [flagDef()], experiments: [], cohorts: [], groupTypes: new Map() }, {}, events, { now: NOW })
    const csv = formatCsv(report)
    const cells = (parse(csv, { relax_column_count: true }) as string[][]).flat()
    for (const key of hostile) expect(cells).toContain(`'${key}`)
    expect(cells.some((c) => /^[=+\-@\t\r]/.test(c))).toBe(false)
  })
})

describe('Markdown output of hostile event data', () => {
  it('keeps raw HTML, backticks and line breaks from flag keys and values as text', async () => {
    const keys = ['<img src=x onerror=alert(1)>', 'a\n| broken | row |', 'tick`<b>x</b>`tock']
    const events = [
      ...keys.map((key, i) => flagCalled(key, '<script>alert(1)</script>', { distinct_id: `u${i}`, ts: NOW - 60_000 })),
      flagCalled('exp-flag', '<script>alert(2)</script>', { distinct_id: 'v', ts: NOW - 60_000 }),
    ]
    const { report } = await auditEvents({ flags: [flagDef()], experiments: [], cohorts: [], groupTypes: new Map() }, {}, events, { now: NOW })
    const md = formatMarkdown(report)
    // Raw HTML appears nowhere but inside code spans, which CommonMark renders as text.
    const outsideCode = md.replace(/(`+)(?!`)[\s\S]*?(?<!`)\1(?!`)/g, '')
    expect(outsideCode).not.toMatch(/<script|<img|<b>/i)
    expect(md).toContain('&lt;script&gt;alert(1)&lt;/script&gt;')
    expect(md).toContain('`` tick`<b>x</b>`tock ``')
    // Every table row keeps its six cells: no key opens a new row or cell.
    const table = md.slice(md.indexOf('| flag | kind |')).trim().split('\n')
    for (const row of table.filter((l) => !l.startsWith('|---'))) expect(row.split(/(?<!\\)\|/).length - 2, row).toBe(6)
    expect(table.length).toBe(2 + report.flags.length)
  })
})

describe('HTML output', () => {
  it('shows an experiment name with & once escaped, and hostile values as text', async () => {
    const events = [flagCalled('exp-flag', '<script>alert(1)</script>', { distinct_id: 'u', ts: NOW - 60_000 })]
    const { report } = await auditEvents({ flags: [flagDef()], experiments: [experimentDef({ name: 'Search & filter' })], cohorts: [], groupTypes: new Map() }, {}, events, { now: NOW })
    const html = formatHtml(report)
    expect(html).not.toMatch(/<script>alert/)
    expect(html).not.toContain('&amp;amp;')
    expect(html).toContain('Search &amp; filter')
  })
})

describe('the terminal table', () => {
  it('shows an & in an experiment name as itself, not as an entity', async () => {
    const { report } = await auditEvents({ flags: [flagDef()], experiments: [experimentDef({ name: 'Search & filter' })], cohorts: [], groupTypes: new Map() }, {}, [flagCalled('exp-flag', 'test', { distinct_id: 'u', ts: NOW - 60_000 })], { now: NOW })
    // The readout's Markdown carries entities (mdText); the terminal shows the characters.
    report.readout = `- **${'Search &amp; filter'}** (\`exp-flag\`): value &lt;b&gt; seen.\n`
    const text = formatTable(report)
    expect(text).toContain('Search & filter')
    expect(text).toContain('value <b> seen')
    expect(text).not.toContain('&amp;')
  })
})
