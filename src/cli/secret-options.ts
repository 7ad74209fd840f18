import { readFileSync } from 'node:fs'
import { ExitError } from './errors.js'

/**
 * The secrets `serve` and `connect` take on their command line. A value given there is visible to
 * every user of the machine (`ps`, /proc/<pid>/cmdline): it still works, with a warning, and the
 * environment or a file (a mounted secret, readable by its owner only) is the way to give it.
 */
export const SECRET_OPTIONS = [
  { key: 'apiToken', fileKey: 'apiTokenFile', flag: '--api-token', env: 'COVERAGE_API_TOKEN' },
  { key: 'secret', fileKey: 'secretFile', flag: '--secret', env: 'COVERAGE_INGEST_SECRET' },
] as const

/** Where commander took an option's value from: 'cli', 'env', 'default', ... (Command.getOptionValueSource). */
export type ValueSource = (key: string) => string | undefined

/**
 * The options with each secret read from its file when `--<flag>-file` is given (one trailing
 * newline and surrounding blanks dropped, as `echo` and editors leave them), and a warning for
 * each secret given as a command-line value.
 */
export function readSecretOptions<T extends Record<string, unknown>>(
  opts: T,
  sourceOf: ValueSource,
  warn: (message: string) => void,
  readFile: (file: string) => string = (f) => readFileSync(f, 'utf8'),
): T {
  const out: Record<string, unknown> = { ...opts }
  const given = (v: unknown) => typeof v === 'string' && v !== ''
  for (const o of SECRET_OPTIONS) {
    const file = opts[o.fileKey]
    if (given(file)) {
      if (given(opts[o.key])) throw new ExitError(`give ${o.flag}-file or ${o.env} (${o.flag}), not both`, 2)
      let text: string
      try {
        text = readFile(file as string)
      } catch (e) {
        throw new ExitError(`${o.flag}-file: cannot read ${file}: ${(e as Error).message}`, 2)
      }
      const value = text.trim()
      if (value === '') throw new ExitError(`${o.flag}-file: ${file} is empty`, 2)
      out[o.key] = value
    } else if (given(opts[o.key]) && sourceOf(o.key) === 'cli') {
      warn(`${o.flag} on the command line is visible to every user of this machine (ps); set ${o.env} in the environment or use ${o.flag}-file instead`)
    }
  }
  return out as T
}
