import { describe, expect, it } from 'vitest'
import { AUTH_THROTTLE, FailureThrottle, clientKey } from '../../src/host/auth-throttle.js'
import { BodySlots } from '../../src/host/body-slots.js'

describe('the client a failed authentication is charged to', () => {
  it.each([
    ['an IPv4 address is itself', '203.0.113.7', '203.0.113.7'],
    ['loopback is a client like any other', '127.0.0.1', '127.0.0.1'],
    ['an IPv4-mapped IPv6 address is its IPv4 address', '::ffff:203.0.113.7', '203.0.113.7'],
    ['an IPv6 address is its /64', '2001:db8:1:2:3:4:5:6', '2001:db8:1:2::/64'],
    ['another address of the same /64 is the same client (no fresh address per guess)', '2001:db8:1:2::9', '2001:db8:1:2::/64'],
    ['a compressed address is expanded before its /64 is taken', '2001:db8::1', '2001:db8:0:0::/64'],
    ['leading zeros and case do not make another client', '2001:0DB8:0001:0002::1', '2001:db8:1:2::/64'],
    ['a zone id is dropped', 'fe80::1%eth0', 'fe80:0:0:0::/64'],
    ['no socket (the app called in-process) is one client', undefined, 'in-process'],
  ])('%s', (_why, address, key) => {
    expect(clientKey(address)).toBe(key)
  })
})

describe('FailureThrottle', () => {
  const limits = { maxFailures: 3, windowMs: 60_000, blockMs: 30_000, maxClients: 100 }

  it('blocks a client at its third failure within the window, for the block time, then checks it afresh', () => {
    let now = 1_000_000
    const t = new FailureThrottle(limits, () => now)
    expect(t.fail('a')).toBe(false)
    expect(t.fail('a')).toBe(false)
    expect(t.retryAfter('a')).toBe(0)
    expect(t.fail('a')).toBe(true)
    expect(t.retryAfter('a')).toBe(30)
    expect(t.retryAfter('b')).toBe(0)
    now += 29_001
    expect(t.retryAfter('a')).toBe(1)
    now += 999
    expect(t.retryAfter('a')).toBe(0)
    // After the block, a single failure does not block again.
    expect(t.fail('a')).toBe(false)
    expect(t.retryAfter('a')).toBe(0)
  })

  it('does not add up failures further apart than the window', () => {
    let now = 0
    const t = new FailureThrottle(limits, () => now)
    for (let i = 0; i < 10; i++) {
      expect(t.fail('a')).toBe(false)
      now += 31_000 // two failures per window at most
    }
    expect(t.retryAfter('a')).toBe(0)
  })

  it('keeps at most maxClients entries however many addresses fail, dropping the stalest first', () => {
    const t = new FailureThrottle(limits, () => 0)
    for (let i = 0; i < 10_000; i++) t.fail(`10.0.${i >> 8}.${i & 255}`)
    expect(t.size).toBe(100)
    // The most recent ones are kept, and still count.
    t.fail('10.0.39.15')
    expect(t.fail('10.0.39.15')).toBe(true)
  })

  it('defaults to ten failures a minute and a minute of block, over at most 10,000 clients', () => {
    expect(AUTH_THROTTLE).toEqual({ maxFailures: 10, windowMs: 60_000, blockMs: 60_000, maxClients: 10_000 })
  })
})

describe('BodySlots', () => {
  it('hands a freed slot to the first in line, refuses past the line, and gives up on a wait past waitMs', async () => {
    const seen: [number, number][] = []
    const slots = new BodySlots({ reading: 1, waiting: 1, waitMs: 50, readMs: 1_000 }, (r, w) => seen.push([r, w]))
    expect(await slots.take()).toBe('taken')
    const second = slots.take()
    expect(await slots.take()).toBe('line_full')
    slots.give()
    expect(await second).toBe('taken')
    // The one waiting now times out and leaves the line.
    expect(await slots.take()).toBe('waited_too_long')
    slots.give()
    expect(seen.at(-1)).toEqual([0, 0])
  })
})
