/**
 * Every text the MCP server sends (a tool's answer, an error, a log line, a resource) goes through
 * one scrubber: the secrets it knows by value (the personal API key, the host's API token, a
 * project's alert webhook) and the shapes secrets have (PostHog personal keys `phx_...`, project
 * tokens `phc_...`, Standard Webhooks secrets `whsec_...`, a bearer header, a password in a URL)
 * become `[redacted]`. An assistant's context window is no place for a credential, and neither is
 * a client's log.
 */

export const REDACTED = '[redacted]'

// Shorter values are too likely to be ordinary words or numbers to be replaced wherever they occur.
const MIN_SECRET_CHARS = 8

const SHAPES: readonly RegExp[] = [
  // PostHog personal API keys and project tokens (phx_..., phc_..., phs_... for feature flag secure keys)
  /\bph[xcs]_[A-Za-z0-9_-]{6,}/g,
  // Standard Webhooks signing secrets, as the host's intake keeps them
  /\bwhsec_[A-Za-z0-9+/=_-]{6,}/g,
  // an Authorization header's value, wherever a message quotes it
  /\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]{6,}/gi,
]

// user:password@ in an address (redis://, postgres://, https://)
const URL_PASSWORD = /\b([a-z][a-z0-9+.-]*:\/\/[^\s:/@]*):[^\s@/]+@/gi

/** Environment variables whose values are secrets by their name. */
export const SECRET_ENV_NAME = /(KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL)/i

export class Scrubber {
  private readonly values = new Set<string>()

  constructor(secrets: Iterable<string | undefined | null> = []) {
    this.add(secrets)
  }

  /** Learns more secret values (a project's key read later, a token read from a file). */
  add(secrets: Iterable<string | undefined | null>): this {
    for (const s of secrets) {
      const v = s?.trim()
      if (v && v.length >= MIN_SECRET_CHARS) this.values.add(v)
    }
    return this
  }

  /** The text with every known secret and every secret-shaped string replaced. */
  text(s: string): string {
    let out = s
    // longest first, so a secret that contains another is replaced whole
    for (const v of [...this.values].sort((a, b) => b.length - a.length)) out = out.split(v).join(REDACTED)
    for (const re of SHAPES) out = out.replace(re, (m, scheme?: string) => (typeof scheme === 'string' && /^(bearer|basic)$/i.test(scheme) ? `${scheme} ${REDACTED}` : REDACTED))
    return out.replace(URL_PASSWORD, `$1:${REDACTED}@`)
  }

  /** A JSON value with every string in it scrubbed (keys too: a flag key could hold anything). */
  value<T>(v: T): T {
    return this.walk(v) as T
  }

  private walk(v: unknown): unknown {
    if (typeof v === 'string') return this.text(v)
    if (Array.isArray(v)) return v.map((x) => this.walk(x))
    if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [this.text(k), this.walk(x)]))
    return v
  }

  /** An error's message, scrubbed: what a tool or a log line may say of it. */
  error(e: unknown): string {
    return this.text(e instanceof Error ? e.message : String(e))
  }
}

/** The values of the environment's secret-named variables (POSTHOG_PERSONAL_API_KEY, COVERAGE_API_TOKEN, ...). */
export function secretsOfEnv(env: NodeJS.ProcessEnv): string[] {
  return Object.entries(env)
    .filter(([k, v]) => SECRET_ENV_NAME.test(k) && typeof v === 'string')
    .map(([, v]) => v as string)
}
