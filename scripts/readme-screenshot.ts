// Serves the demo from a fresh data directory and takes the README's screenshot of the flag list:
// npx vite build && npx tsx scripts/readme-screenshot.ts . docs/flag-list.png [wait ms]
import { spawn } from 'node:child_process'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { chromium } from 'playwright-core'
const repo = process.argv[2]!
const out = process.argv[3]!
const data = mkdtempSync(join(tmpdir(), 'shot-'))
const proc = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'serve', '--port', '8797', '--data-dir', data], { cwd: repo, stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, LOG_LEVEL: 'warn' } })
let err = ''
await new Promise<void>((ok, no) => {
  const t = setTimeout(() => no(new Error(err)), 400_000)
  proc.stderr!.on('data', (c) => { err += c; if (/serving on/.test(err)) { clearTimeout(t); ok() } })
})
await new Promise((r) => setTimeout(r, Number(process.argv[4] ?? 20000)))
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--headless', '--no-sandbox', '--disable-gpu'] })
const page = await browser.newPage({ viewport: { width: 1280, height: 820 } })
await page.goto('http://127.0.0.1:8797/?project=demo')
await page.waitForTimeout(3000)
await page.screenshot({ path: out })
await browser.close()
proc.kill('SIGTERM')
