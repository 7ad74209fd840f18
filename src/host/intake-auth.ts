/**
 * The intake's authentication: a Standard Webhooks signature (PostHog's `signing_secret`) or the same
 * secret as a bearer token.
 */
import type { Context } from 'hono'
import { Webhook, WebhookVerificationError } from 'standardwebhooks'
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
  try {
    new Webhook(secret).verify(raw, { 'webhook-id': c.req.header('webhook-id') ?? '', 'webhook-timestamp': c.req.header('webhook-timestamp') ?? '', 'webhook-signature': c.req.header('webhook-signature') ?? '' }, { jsonParse: false })
    return null
  } catch (e) {
    return e instanceof WebhookVerificationError ? `the Standard Webhooks signature does not verify (${e.message})` : 'the Standard Webhooks signature does not verify'
  }
}
