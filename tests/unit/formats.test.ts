import { parse } from 'csv-parse/sync'
import { describe, expect, it } from 'vitest'
import { auditEvents } from '../../src/cli/audit.js'
import { formatCsv } from '../../src/cli/formats.js'
import { NOW, flagDef } from '../support/context.js'
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
