import { spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs'
import { join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'

/**
 * The built site (Vite, with the demo data `npm run build` adds), built once for every UI test file
 * and reused until its sources change. Each UI test file used to build its own: four builds of the
 * same site, a minute of a CI run on two cores.
 *
 * The build goes to `.tmp/test-site/<hash of its sources>`. The first test file to ask builds it
 * into a folder of its own and renames it into place, so no reader ever sees half a site; a file
 * asking meanwhile waits for that build instead of starting its own. Readers must not write into it.
 */
const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const CACHE = join(ROOT, '.tmp', 'test-site')
const SOURCES = ['frontend', 'site', 'src', 'scripts/demo-data.ts', 'vite.config.ts', 'package-lock.json']
const STALE_LOCK_MS = 10 * 60_000

function filesOf(path: string): string[] {
  if (!existsSync(path)) return []
  if (!statSync(path).isDirectory()) return [path]
  return readdirSync(path, { withFileTypes: true })
    .sort((a, b) => a.name.localeCompare(b.name))
    .flatMap((d) => (d.name === 'node_modules' ? [] : filesOf(join(path, d.name))))
}

function sourcesHash(): string {
  const h = createHash('sha256')
  for (const file of SOURCES.flatMap((s) => filesOf(join(ROOT, s)))) {
    h.update(relative(ROOT, file)).update('\0').update(readFileSync(file)).update('\0')
  }
  return h.digest('hex').slice(0, 16)
}

function run(args: string[], what: string): void {
  const r = spawnSync(process.execPath, args, { cwd: ROOT, encoding: 'utf8' })
  if (r.status !== 0) throw new Error(`${what} failed (exit ${r.status}): ${r.stderr || r.stdout}`)
}

function build(dir: string): void {
  const partial = `${dir}.partial-${process.pid}`
  rmSync(partial, { recursive: true, force: true })
  // --bypass-lock: Vite 8 locks one build per project; this build writes only its own folder.
  run([join(ROOT, 'node_modules/vite/bin/vite.js'), 'build', '--outDir', partial, '--emptyOutDir', '--bypass-lock'], 'vite build')
  run(['--import', 'tsx', join(ROOT, 'scripts/demo-data.ts'), partial], 'scripts/demo-data.ts')
  renameSync(partial, dir)
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** The folder of the built site for the current sources, built now if no test file built it yet. */
export async function builtSite(): Promise<string> {
  mkdirSync(CACHE, { recursive: true })
  const hash = sourcesHash()
  const dir = join(CACHE, hash)
  const lock = `${dir}.lock`
  for (const started = Date.now(); ; ) {
    if (existsSync(join(dir, 'index.html'))) return dir
    try {
      mkdirSync(lock)
    } catch {
      // another test file is building it: wait for its rename, or take over a lock its process left
      const held = statSync(lock, { throwIfNoEntry: false })
      if (held && Date.now() - held.mtimeMs > STALE_LOCK_MS) rmSync(lock, { recursive: true, force: true })
      if (Date.now() - started > 2 * STALE_LOCK_MS) throw new Error(`the test site in ${dir} was not built within ${(2 * STALE_LOCK_MS) / 60_000} minutes`)
      await sleep(250)
      continue
    }
    try {
      if (!existsSync(join(dir, 'index.html'))) {
        // builds for older sources go: one site is kept
        for (const old of readdirSync(CACHE)) if (old !== `${hash}.lock` && !old.startsWith(hash)) rmSync(join(CACHE, old), { recursive: true, force: true })
        build(dir)
      }
      return dir
    } finally {
      rmSync(lock, { recursive: true, force: true })
    }
  }
}
