import { SecretBox, SecretBoxError } from './secrets.js'
import type { HostStore, ProjectRow } from './store.js'

/** What every process sharing one storage must be given, and how, said wherever a key is refused. */
const ONE_KEY =
  'every host process sharing one storage needs the same key: set COVERAGE_SECRET_KEY on each of them to the key of the process that first stored secrets there (its COVERAGE_SECRET_KEY, or the contents of the secret.key file in its data directory)'

/** This process's secret key is not the one the storage's secrets are sealed with: it refuses to start. */
export class SecretKeyMismatchError extends Error {
  constructor(message: string) {
    super(`${message}; ${ONE_KEY}`)
    this.name = 'SecretKeyMismatchError'
  }
}

/** A project's sealed values, named for a message: its intake secret and its secret settings. */
function sealedValues(row: ProjectRow): { what: string; sealed: string }[] {
  return [
    { what: `project ${row.id}'s intake secret`, sealed: row.ingestSecret },
    ...Object.entries(row.config)
      .filter(([, v]) => SecretBox.isSealed(v))
      .map(([k, v]) => ({ what: `project ${row.id}'s ${k}`, sealed: v })),
  ]
}

/** The sealed values of these rows that this key does not open, by name. */
export function unopenable(box: SecretBox, rows: readonly ProjectRow[]): string[] {
  const failed: string[] = []
  for (const { what, sealed } of rows.flatMap(sealedValues)) {
    try {
      box.open(sealed)
    } catch (e) {
      if (!(e instanceof SecretBoxError)) throw e
      failed.push(what)
    }
  }
  return failed
}

/**
 * One key per storage. Two processes with a key file each (no COVERAGE_SECRET_KEY) once shared a
 * database: the second re-sealed the intake secret under its own key, and the first answered 500
 * to every delivery (issue 19, item 5). Now the storage keeps the fingerprint of the key its
 * secrets are sealed with. The first process records it; a process with another key is refused
 * here, at start. A storage that holds sealed secrets from before fingerprints gets one only when
 * this key opens every one of them.
 */
export async function settleKeyFingerprint(store: HostStore, box: SecretBox, keySource: string): Promise<'recorded' | 'same'> {
  const mine = box.fingerprint()
  const whose = keySource === 'COVERAGE_SECRET_KEY' ? 'COVERAGE_SECRET_KEY' : `the key file ${keySource}`
  let recorded = await store.keyFingerprint()
  if (recorded === null) {
    const failed = unopenable(box, await store.listProjects())
    if (failed.length) {
      throw new SecretKeyMismatchError(
        `this process's secret key (${whose}) does not open the secrets stored in ${store.where} (${failed.slice(0, 3).join(', ')}${failed.length > 3 ? `, and ${failed.length - 3} more` : ''})`,
      )
    }
    recorded = await store.recordKeyFingerprint(mine)
    if (recorded === mine) return 'recorded'
  }
  if (recorded !== mine) throw new SecretKeyMismatchError(`this process's secret key (${whose}) is not the key the secrets in ${store.where} are sealed with (the storage records another key's fingerprint)`)
  return 'same'
}
