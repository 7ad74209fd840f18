import fc from 'fast-check'
import { Webhook } from 'standardwebhooks'
import { describe, expect, it } from 'vitest'
import { signatureProblem } from '../../src/host/intake-auth.js'

/** The reference: the standardwebhooks package's own verify. */
function reference(secret: string, id: string, timestamp: string, signatures: string, payload: string): boolean {
  try {
    new Webhook(secret).verify(payload, { 'webhook-id': id, 'webhook-timestamp': timestamp, 'webhook-signature': signatures }, { jsonParse: false })
    return true
  } catch {
    return false
  }
}

const secretArb = fc.uint8Array({ minLength: 24, maxLength: 40 }).map((b) => `whsec_${Buffer.from(b).toString('base64')}`)
const now = () => Math.floor(Date.now() / 1000)

describe('the intake signature check', () => {
  it('agrees with the standardwebhooks package on deliveries signed right, signed wrong, late, early and malformed', () => {
    fc.assert(
      fc.property(
        secretArb,
        secretArb,
        fc.string({ minLength: 0, maxLength: 30 }),
        fc.integer({ min: -700, max: 700 }),
        fc.string({ maxLength: 300 }),
        fc.constantFrom('right', 'other-secret', 'changed-body', 'among-others', 'v2-only', 'no-version', 'garbage', 'odd-timestamp'),
        (secret, other, id, skew, payload, how) => {
          const ts = String(now() + skew)
          const signer = new Webhook(how === 'other-secret' ? other : secret)
          const sig = id === '' ? 'v1,x' : signer.sign(id, new Date(Number(ts) * 1000), payload)
          const header = {
            right: sig,
            'other-secret': sig,
            'changed-body': sig,
            'among-others': `v1,AAAA ${sig} v2,BBBB`,
            'v2-only': sig.replace('v1,', 'v2,'),
            'no-version': sig.slice(3),
            garbage: `${sig},extra`,
            'odd-timestamp': sig,
          }[how]
          const body = how === 'changed-body' ? `${payload} ` : payload
          const timestamp = how === 'odd-timestamp' ? `0${ts}x` : ts
          const ours = signatureProblem(secret, id, timestamp, header, body) === null
          expect(ours).toBe(reference(secret, id, timestamp, header, body))
        },
      ),
      { numRuns: 400 },
    )
  })

  it('names why a delivery is refused', () => {
    const secret = `whsec_${Buffer.alloc(32, 7).toString('base64')}`
    const ts = String(now())
    const sig = new Webhook(secret).sign('msg_1', new Date(Number(ts) * 1000), '{"a":1}')
    expect(signatureProblem(secret, 'msg_1', ts, sig, '{"a":1}')).toBeNull()
    expect(signatureProblem(secret, 'msg_1', ts, sig, '{"a":2}')).toMatch(/No matching signature found/)
    expect(signatureProblem(secret, '', ts, sig, '{"a":1}')).toMatch(/Missing required headers/)
    expect(signatureProblem(secret, 'msg_1', String(now() - 600), sig, '{"a":1}')).toMatch(/too old/)
    expect(signatureProblem(secret, 'msg_1', String(now() + 600), sig, '{"a":1}')).toMatch(/too new/)
    expect(signatureProblem(secret, 'msg_1', 'soon', sig, '{"a":1}')).toMatch(/Invalid Signature Headers/)
  })
})
