import { execFile } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'

const exec = promisify(execFile)
async function cli(...args: string[]) {
  try {
    const { stdout, stderr } = await exec(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args])
    return { code: 0, stdout, stderr }
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string }
    return { code: err.code, stdout: err.stdout, stderr: err.stderr }
  }
}

describe('experiment-coverage hog', () => {
  it('compile prints the bytecode as JSON', async () => {
    const { code, stdout } = await cli('hog', 'compile', "properties.plan = 'pro'")
    expect(code).toBe(0)
    expect(JSON.parse(stdout)).toEqual(['_H', 1, 32, 'pro', 32, 'plan', 32, 'properties', 1, 2, 11])
  })

  it('eval runs the expression on an event file', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'ec-hog-')), 'event.json')
    writeFileSync(file, JSON.stringify({ event: 'checkout_completed', distinct_id: 'd', properties: { plan: 'pro', amount: 12 } }))
    expect((await cli('hog', 'eval', "properties.plan = 'pro' and properties.amount > 10", '--event', file)).stdout.trim()).toBe('true')
    expect((await cli('hog', 'eval', "event = 'signed_up'", '--event', file)).stdout.trim()).toBe('false')
  })

  it('refuses what it cannot compile, with the position, and exit 2', async () => {
    const { code, stderr } = await cli('hog', 'compile', "properties.plan = 'pro' and person.id in cohort 3")
    expect(code).toBe(2)
    expect(stderr).toMatch(/Can't use cohorts in real-time filters\. Please inline the relevant expressions.*at character 29/)
  })
})
