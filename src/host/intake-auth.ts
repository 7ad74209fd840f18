/**
 * The intake's authentication: a Standard Webhooks signature (PostHog's `signing_secret`) or the same
 * secret as a bearer token.
 */
import type { Context } from 'hono'
import { createHmac, timingSafeEqual } from 'node:crypto'
import { sameSecret } from './secrets.js'

export const SIGNATURE_TOLERANCE_S = 5 * 60

/**
 * Standard Webhooks (PostHog's `signing_secret`) or `Authorization: Bearer <the same secret>`: the
 * latter is what `connect` sets on a PostHog whose webhook template has no `signing_secret` input
 * (it is dropped on save; see settleDeliveryAuth in destination.ts). A signature, when sent, must
 * verify; anything else is refused with 401.
 *
 * This is the part judged before the body is read: a bearer secret, or its absence, is decided here
 * (null: authorized), so a wrong one costs no read. A signature needs the body: here only its headers
 * and the timestamp's window are checked, and 'needs_body' sends it on to `verifySignature`.
 */
export function authorizeBeforeBody(c: Context, secret: string): string | null | 'needs_body' {
  if (c.req.header('webhook-signature') !== undefined) {
    const at = c.req.header('webhook-timestamp')
    if (!c.req.header('webhook-id') || !at) return 'the Standard Webhooks signature does not verify (Missing required headers)'
    const seconds = Number.parseInt(at, 10)
    const now = Math.floor(Date.now() / 1000)
    if (Number.isNaN(seconds) || Math.abs(now - seconds) > SIGNATURE_TOLERANCE_S) return 'the Standard Webhooks signature does not verify (webhook-timestamp is more than five minutes from this host\'s clock)'
    return 'needs_body'
  }
  const auth = c.req.header('authorization')
  if (auth?.startsWith('Bearer ')) return sameSecret(auth.slice(7).trim(), secret) ? null : 'the bearer secret is not this project\'s'
  return 'no signature: set the destination\'s signing secret (webhook-signature header) or send Authorization: Bearer <secret>'
}

/** A Standard Webhooks signature over the body read: null when it verifies. */
export function verifySignature(c: Context, raw: string, secret: string): string | null {
  return signatureProblem(secret, c.req.header('webhook-id') ?? '', c.req.header('webhook-timestamp') ?? '', c.req.header('webhook-signature') ?? '', raw)
}

/**
 * Standard Webhooks verification, as the `standardwebhooks` package does it (its test is the
 * reference: tests/unit/signature.test.ts compares the two on generated deliveries), with Node's
 * HMAC: the package computes SHA-256 in JavaScript, which took a sixth of the intake's time per event.
 * The secret is `whsec_` and base64 (checked when set); its key is decoded once.
 */
export function signatureProblem(secret: string, id: string, timestamp: string, signatures: string, payload: string): string | null {
  const fail = (why: string) => `the Standard Webhooks signature does not verify (${why})`
  if (!id || !timestamp || !signatures) return fail('Missing required headers')
  const seconds = Number.parseInt(timestamp, 10)
  if (Number.isNaN(seconds)) return fail('Invalid Signature Headers')
  const now = Math.floor(Date.now() / 1000)
  if (now - seconds > SIGNATURE_TOLERANCE_S) return fail('Message timestamp too old')
  if (seconds > now + SIGNATURE_TOLERANCE_S) return fail('Message timestamp too new')
  const key = keyOf(secret)
  if (key === null) return fail('the secret is not base64')
  const expected = createHmac('sha256', key).update(`${id}.${seconds}.${payload}`).digest()
  for (const entry of signatures.split(' ')) {
    const [version, given] = entry.split(',')
    if (version !== 'v1' || given === undefined) continue
    // Compared as the base64 text, as the package does: the same length, then in constant time.
    const text = Buffer.from(expected.toString('base64'))
    const other = Buffer.from(given)
    if (other.length === text.length && timingSafeEqual(other, text)) return null
  }
  return fail('No matching signature found')
}

const keys = new Map<string, Buffer | null>()
function keyOf(secret: string): Buffer | null {
  let key = keys.get(secret)
  if (key === undefined) {
    const encoded = secret.startsWith('whsec_') ? secret.slice(6) : secret
    key = /^[A-Za-z0-9+/]*={0,2}$/.test(encoded) && encoded.length % 4 === 0 && encoded.length > 0 ? Buffer.from(encoded, 'base64') : null
    if (keys.size >= 1_000) keys.clear()
    keys.set(secret, key)
  }
  return key
}
