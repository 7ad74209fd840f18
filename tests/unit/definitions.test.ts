import { describe, expect, it } from 'vitest'
import { DefinitionsError, parseFlags } from '../../src/definitions/definitions.js'

const flag = (over: Record<string, unknown>) => ({
  id: 1,
  key: 'checkout',
  name: '',
  active: true,
  deleted: false,
  filters: { groups: [{ properties: [], rollout_percentage: 100 }], multivariate: { variants: [{ key: 'control', rollout_percentage: 50 }, { key: 'test', rollout_percentage: 50 }] } },
  ...over,
})

describe('flags with the same key', () => {
  it.each([
    ['the deleted one listed after the live one', [flag({ id: 1 }), flag({ id: 2, deleted: true, active: false })]],
    ['the deleted one listed first', [flag({ id: 2, deleted: true, active: false }), flag({ id: 1 })]],
  ])('a deleted flag never shadows a live one: %s', (_why, list) => {
    const notes: string[] = []
    const flags = parseFlags('flags.json', list, (m) => notes.push(m))
    expect(flags).toHaveLength(1)
    expect(flags[0]).toMatchObject({ id: 1, deleted: false })
    expect(notes).toEqual(['flags.json: two flags have the key "checkout"; kept id 1, dropped id 2 (deleted)'])
  })
  it('between two deleted ones, the newer stays', () => {
    expect(parseFlags('f', [flag({ id: 3, deleted: true }), flag({ id: 7, deleted: true })])[0]!.id).toBe(7)
  })
})

describe('impossible rollouts are refused with the entry and the field', () => {
  it.each([
    ['a negative rollout', flag({ filters: { groups: [{ properties: [], rollout_percentage: -5 }] } }), /flag "checkout" at \[0\]\.filters\.groups\.0\.rollout_percentage: a rollout percentage cannot be negative/],
    ['a rollout over 100', flag({ filters: { groups: [{ properties: [], rollout_percentage: 150 }] } }), /at \[0\]\.filters\.groups\.0\.rollout_percentage: a rollout percentage cannot be over 100/],
    ['variants that add up to 90', flag({ filters: { groups: [], multivariate: { variants: [{ key: 'a', rollout_percentage: 45 }, { key: 'b', rollout_percentage: 45 }] } } }), /at \[0\]\.filters\.multivariate\.variants: the variants' rollout percentages must add up to 100/],
    ['a variant over 100', flag({ filters: { groups: [], multivariate: { variants: [{ key: 'a', rollout_percentage: 120 }, { key: 'b', rollout_percentage: -20 }] } } }), /variants\.0\.rollout_percentage: a rollout percentage cannot be over 100/],
  ])('%s', (_why, f, message) => {
    expect(() => parseFlags('flags.json', [f])).toThrow(DefinitionsError)
    expect(() => parseFlags('flags.json', [f])).toThrow(message)
  })
})
