/**
 * The plugin's minute line (runEveryMinute): quiet (debug) when all is well, a warning when events
 * were rejected, and it says why events were ignored. Issue 20, item 4: a user saw "ignored 67,701"
 * every minute at info, with no reason.
 */
import { describe, expect, it } from 'vitest'
import type { IgnoreReason } from '../../src/counters/ingest.js'
import { MemoryCache } from '../../src/counters/memory-cache.js'
import { minuteLine, NO_IGNORED, type EventTally } from '../../src/plugin/minute-line.js'
import { createPluginState, handleEvent } from '../../src/plugin/state.js'

const NOW = Date.UTC(2026, 10, 20, 12)
const ZERO: EventTally = { outcomes: { counted: 0, ignored: 0, duplicate: 0, rejected: 0, failed: 0, error: 0 }, ignoredBy: NO_IGNORED }
const tally = (outcomes: Partial<EventTally['outcomes']>, ignoredBy: Partial<EventTally['ignoredBy']> = {}): EventTally => ({
  outcomes: { ...ZERO.outcomes, ...outcomes },
  ignoredBy: { ...NO_IGNORED, ...ignoredBy },
})

describe('minuteLine', () => {
  it.each([
    ['a quiet minute is a debug line', tally({ counted: 5 }), 'debug', /counted 5, ignored 0, duplicates 0, rejected 0$/],
    ['ignored events are normal, so still debug, but the line says why', tally({ ignored: 67_701 }, { no_flag_or_metric: 67_000, before_watermark: 701 }), 'debug', /ignored 67,701 \(67,000 carry no flag, exposure or metric event; 701 are older than the backfill watermark/],
    ['a period being filled is named', tally({ ignored: 2 }, { being_filled: 2 }), 'debug', /ignored 2 \(2 fall in a period being filled from HogQL/],
    ['flags already counted for their unit are named', tally({ ignored: 3 }, { seen_or_unsampled: 3 }), 'debug', /ignored 3 \(3 carry only flags already counted for their unit/],
    ['a rejected event is something wrong: a warning', tally({ counted: 1, rejected: 4 }), 'warn', /rejected 4 \(malformed/],
    ['a cache failure makes the line a warning too', tally({ failed: 1 }), 'warn', /counted 0/],
  ] as const)('%s', (_, now, level, message) => {
    const line = minuteLine(3, now, ZERO)
    expect(line.level).toBe(level)
    expect(line.message).toMatch(message)
  })

  it('counts only what happened since the last minute: one rejection warns once, not forever after', () => {
    const before = tally({ counted: 10, rejected: 1, ignored: 5 }, { no_flag_or_metric: 5 })
    const line = minuteLine(3, tally({ counted: 12, rejected: 1, ignored: 8 }, { no_flag_or_metric: 6, before_watermark: 2 }), before)
    expect(line).toEqual({ level: 'debug', message: expect.stringMatching(/counted 2, ignored 3 \(1 carry no flag, exposure or metric event; 2 are older than the backfill watermark, so the HogQL backfill counts them\), duplicates 0, rejected 0$/) })
  })
})

describe('the reasons the plugin tallies for ignored events', () => {
  const event = (props: Record<string, unknown>, atMs = NOW) => ({ uuid: crypto.randomUUID(), event: '$pageview', distinct_id: 'u1', timestamp: new Date(atMs).toISOString(), properties: props })

  it.each<[string, (s: Awaited<ReturnType<typeof createPluginState>>) => unknown, ReturnType<typeof event>, IgnoreReason]>([
    ['a page view without flags has nothing to count', () => {}, event({}), 'no_flag_or_metric'],
    ['an event before the backfill watermark is the backfill\'s', (s) => void (s.backfill.watermark = NOW - 1_000), event({ '$feature/f': 'test' }, NOW - 60_000), 'before_watermark'],
    ['a flag already counted for the unit is not counted again', (s) => handleEvent(s, event({ '$feature/f': 'test' })), event({ '$feature/f': 'test' }), 'seen_or_unsampled'],
  ])('%s', async (_, arrange, e, reason) => {
    const state = await createPluginState({}, new MemoryCache(() => NOW), { now: () => NOW })
    await arrange(state)
    const before = { ...state.ignoredBy }
    expect(await handleEvent(state, e)).toBe('ignored')
    expect(state.ignoredBy[reason]).toBe(before[reason] + 1)
  })

  it('an event in a period being filled from HogQL is left to the fill', async () => {
    const state = await createPluginState({}, new MemoryCache(() => NOW), { now: () => NOW, filling: () => [{ fromMs: NOW - 3_600_000, toMs: NOW }] })
    expect(await handleEvent(state, event({ '$feature/f': 'test' }, NOW - 60_000))).toBe('ignored')
    expect(state.ignoredBy).toEqual({ ...NO_IGNORED, being_filled: 1 })
  })
})
