import { createCipheriv, createDecipheriv, createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto'
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { dirname } from 'node:path'

/**
 * Secrets at rest (personal API keys, signing secrets): AES-256-GCM with a key from the
 * environment (`COVERAGE_SECRET_KEY`), as PostHog encrypts integration secrets with a key of its
 * own settings. A dump of the database alone never reveals a secret. Stored as
 * `enc:v1:<iv>:<tag>:<ciphertext>` (base64url), so an encrypted value is never mistaken for a plain one.
 */
const PREFIX = 'enc:v1:'
const FINGERPRINT_LABEL = 'experiment-coverage secret key fingerprint v1'

/**
 * Whether a given secret (a bearer token, an API token) is the expected one, in constant time
 * whatever the lengths: the digests are compared, so not even the secret's length shows.
 */
export function sameSecret(given: string, expected: string): boolean {
  return timingSafeEqual(createHash('sha256').update(given).digest(), createHash('sha256').update(expected).digest())
}

export class SecretBoxError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'SecretBoxError'
  }
}

export class SecretBox {
  private constructor(private readonly key: Buffer) {}

  /**
   * A key of 32 bytes, given as 64 hex digits or base64 (44 characters); any other text is hashed
   * with SHA-256 into one, so a long passphrase works too.
   */
  static fromText(text: string): SecretBox {
    const t = text.trim()
    if (t.length === 0) throw new SecretBoxError('the secret key is empty')
    if (/^[0-9a-f]{64}$/i.test(t)) return new SecretBox(Buffer.from(t, 'hex'))
    const b64 = Buffer.from(t, 'base64')
    if (b64.length === 32 && /^[A-Za-z0-9+/_-]{43}=?$/.test(t)) return new SecretBox(b64)
    if (t.length < 16) throw new SecretBoxError('the secret key is too short: give 32 random bytes as 64 hex digits (openssl rand -hex 32)')
    return new SecretBox(createHash('sha256').update(t).digest())
  }

  /**
   * The key of this host: `COVERAGE_SECRET_KEY` when set, else a key file in the data directory,
   * generated once with mode 0600 (readable by its owner only).
   */
  static load(opts: { envKey?: string; keyFile: string }): { box: SecretBox; source: string } {
    if (opts.envKey) return { box: SecretBox.fromText(opts.envKey), source: 'COVERAGE_SECRET_KEY' }
    if (!existsSync(opts.keyFile)) {
      mkdirSync(dirname(opts.keyFile), { recursive: true, mode: 0o700 })
      writeFileSync(opts.keyFile, `${randomBytes(32).toString('hex')}\n`, { mode: 0o600, flag: 'wx' })
    }
    const mode = statSync(opts.keyFile).mode & 0o777
    if (mode & 0o077) chmodSync(opts.keyFile, 0o600) // never leave the key readable by others
    return { box: SecretBox.fromText(readFileSync(opts.keyFile, 'utf8')), source: opts.keyFile }
  }

  /**
   * What the storage records of this key, so that a process with another key is refused at start
   * instead of failing on every secret later: an HMAC of a fixed label under the key. It tells two
   * keys apart and reveals nothing of the key itself.
   */
  fingerprint(): string {
    return `hmac-sha256:v1:${createHmac('sha256', this.key).update(FINGERPRINT_LABEL).digest('hex')}`
  }

  static isSealed(value: string): boolean {
    return value.startsWith(PREFIX)
  }

  seal(plain: string): string {
    const iv = randomBytes(12)
    const cipher = createCipheriv('aes-256-gcm', this.key, iv)
    const body = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()])
    return `${PREFIX}${iv.toString('base64url')}:${cipher.getAuthTag().toString('base64url')}:${body.toString('base64url')}`
  }

  open(sealed: string): string {
    if (!SecretBox.isSealed(sealed)) throw new SecretBoxError('the stored secret is not encrypted')
    const [iv, tag, body] = sealed.slice(PREFIX.length).split(':')
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.key, Buffer.from(iv ?? '', 'base64url'))
      decipher.setAuthTag(Buffer.from(tag ?? '', 'base64url'))
      return Buffer.concat([decipher.update(Buffer.from(body ?? '', 'base64url')), decipher.final()]).toString('utf8')
    } catch {
      throw new SecretBoxError('a stored secret cannot be decrypted: COVERAGE_SECRET_KEY (or the key file) is not the key it was stored with')
    }
  }
}
