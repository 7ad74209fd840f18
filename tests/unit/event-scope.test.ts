import { describe, expect, it } from 'vitest'
import { EventScope, MemoryHashStore, type CounterStore } from '../../src/counters/store.js'

/** A memory store that records its forget calls, in the order they start and end. */
function recording(): { store: CounterStore; log: string[] } {
  const inner = new MemoryHashStore()
  const log: string[] = []
  const store: CounterStore = Object.assign(Object.create(inner) as CounterStore, {
    forget: async (group: string, tags: readonly string[]) => {
      log.push(`start ${group} ${tags.length}`)
      await new Promise((resolve) => setTimeout(resolve, 1))
      await inner.forget(group, tags)
      log.push(`end ${group}`)
    },
  })
  return { store, log }
}

describe('EventScope.forgetAll', () => {
  it('drops the tags of many events in one call per group and wave, each event in the order of its calls', async () => {
    const { store, log } = recording()
    const scopes = ['e1', 'e2', 'e3'].map((id) => new EventScope(store, id))
    for (const s of scopes) {
      await s.store.bump('day', ['events'], 60)
      await s.store.bump('unit', ['seen'], 60)
    }
    expect(await store.readCounts('day', ['events'])).toEqual([3])
    // A retry of a tagged call answers its first answer and changes nothing while its tag is kept.
    expect(await new EventScope(store, 'e1').store.bump('day', ['events'], 60)).toEqual([1])
    expect(await store.readCounts('day', ['events'])).toEqual([3])

    await EventScope.forgetAll(store, scopes)
    // Wave one: every event's first group, one call; wave two only after it ended.
    expect(log).toEqual(['start day 3', 'end day', 'start unit 3', 'end unit'])
    // Forgotten: the same call now counts anew.
    expect(await new EventScope(store, 'e2').store.bump('day', ['events'], 60)).toEqual([4])
  })

  it('keeps runs of one group apart when another group came between', async () => {
    const { store, log } = recording()
    const s = new EventScope(store, 'e')
    await s.store.bump('a', ['x'], 60)
    await s.store.bump('a', ['y'], 60)
    await s.store.bump('b', ['x'], 60)
    await s.store.bump('a', ['z'], 60)
    await s.forget()
    expect(log).toEqual(['start a 2', 'end a', 'start b 1', 'end b', 'start a 1', 'end a'])
  })
})
