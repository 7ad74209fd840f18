import { describe, expect, it } from 'vitest'
import { readSecretOptions } from '../../src/cli/secret-options.js'

const FILES: Record<string, string> = { '/run/secrets/token': 'tok-from-file\n', '/run/secrets/whsec': '  whsec_fromfile==  \n', '/run/secrets/empty': '\n' }
const readFile = (f: string) => {
  if (!(f in FILES)) throw new Error(`ENOENT: no such file or directory, open '${f}'`)
  return FILES[f]!
}

/** Runs the reader as `serve` does, with the sources commander would report; returns the options and the warnings. */
function read(opts: Record<string, unknown>, sources: Record<string, string> = {}) {
  const warnings: string[] = []
  const out = readSecretOptions(opts, (k) => sources[k], (m) => warnings.push(m), readFile)
  return { out, warnings }
}

describe('secrets for serve and connect: the environment or a file, a warning on the command line', () => {
  it.each([
    ['from the environment: no warning', { apiToken: 'tok-9f3a', secret: 'whsec_b7c1' }, { apiToken: 'env', secret: 'env' }, { apiToken: 'tok-9f3a', secret: 'whsec_b7c1' }, []],
    ['the API token on the command line: one warning naming COVERAGE_API_TOKEN and --api-token-file', { apiToken: 'tok-9f3a' }, { apiToken: 'cli' }, { apiToken: 'tok-9f3a' }, [/--api-token on the command line is visible .* \(ps\); set COVERAGE_API_TOKEN .* --api-token-file/]],
    ['both on the command line: a warning each', { apiToken: 'tok-9f3a', secret: 'whsec_b7c1' }, { apiToken: 'cli', secret: 'cli' }, { apiToken: 'tok-9f3a', secret: 'whsec_b7c1' }, [/--api-token/, /--secret on the command line .*COVERAGE_INGEST_SECRET .*--secret-file/]],
    ['from files: read, the trailing newline and blanks dropped, no warning', { apiTokenFile: '/run/secrets/token', secretFile: '/run/secrets/whsec' }, {}, { apiToken: 'tok-from-file', secret: 'whsec_fromfile==' }, []],
    ['none given: nothing read, nothing said', {}, {}, {}, []],
  ] as const)('%s', (_name, opts, sources, expected, warnings) => {
    const r = read({ ...opts }, { ...sources })
    expect(r.out).toMatchObject(expected)
    expect(r.warnings).toHaveLength(warnings.length)
    warnings.forEach((w, i) => expect(r.warnings[i]).toMatch(w))
    // A warning never carries the secret itself.
    for (const m of r.warnings) for (const v of Object.values(expected)) expect(m).not.toContain(v)
  })

  it.each([
    ['a file and a value at once', { apiToken: 'tok-9f3a', apiTokenFile: '/run/secrets/token' }, /give --api-token-file or COVERAGE_API_TOKEN \(--api-token\), not both/],
    ['a file that cannot be read', { secretFile: '/nope' }, /--secret-file: cannot read \/nope: ENOENT/],
    ['an empty file', { apiTokenFile: '/run/secrets/empty' }, /--api-token-file: \/run\/secrets\/empty is empty/],
  ])('refuses %s, with exit code 2', (_name, opts, error) => {
    expect(() => read(opts)).toThrow(error)
    try {
      read(opts)
    } catch (e) {
      expect((e as { code: number }).code).toBe(2)
    }
  })
})
