/**
 * Wrappers that count the calls the counters make and the sequential round trips they need: each
 * call waits for the next flush (setImmediate), as a pipelining client sends what was issued
 * together in one write, so with one event in flight the flushes during an event are its round trips.
 */
import type { ContractCache } from '../src/counters/cache.js'
import type { CounterStore, StoreProvider } from '../src/counters/store.js'

export class RoundTrips {
  calls = 0
  flushes = 0
  private queue: (() => void)[] = []
  private scheduled = false

  defer<T>(run: () => Promise<T>): Promise<T> {
    this.calls++
    return new Promise<T>((resolve, reject) => {
      this.queue.push(() => void run().then(resolve, reject))
      if (!this.scheduled) {
        this.scheduled = true
        setImmediate(() => this.flush())
      }
    })
  }

  private flush(): void {
    this.scheduled = false
    this.flushes++
    const q = this.queue
    this.queue = []
    for (const f of q) f()
  }
}

/** The four contract calls of a cache, counted and batched (plugin-server's layout: one key per field). */
export function measuredContract(cache: ContractCache, rt: RoundTrips): ContractCache {
  return {
    incr: (k) => rt.defer(() => cache.incr(k)),
    expire: (k, t) => rt.defer(() => cache.expire(k, t)),
    get: (k, d, o) => rt.defer(() => cache.get(k, d, o)),
    set: (k, v, t, o) => rt.defer(() => cache.set(k, v, t, o)),
  }
}

/** A cache whose counters' store (the host's hashes) is counted and batched. */
export function measuredStore(cache: ContractCache & StoreProvider, rt: RoundTrips): ContractCache & StoreProvider {
  const s = cache.counterStore()
  const store: CounterStore = {
    atomic: s.atomic,
    listsFields: s.listsFields,
    readAll: (g) => rt.defer(() => s.readAll(g)),
    keepEarliest: (g, f, e, t, tag) => rt.defer(() => s.keepEarliest(g, f, e, t, tag)),
    steps: (g, st, t, tag) => rt.defer(() => s.steps(g, st, t, tag)),
    join: (g, side, m, v, t, c, o, oc, tag) => rt.defer(() => s.join(g, side, m, v, t, c, o, oc, tag)),
    bump: (g, f, t, tag) => rt.defer(() => s.bump(g, f, t, tag)),
    readCounts: (g, f) => rt.defer(() => s.readCounts(g, f)),
    read: (g, f) => rt.defer(() => s.read(g, f)),
    put: (g, f, v, t) => rt.defer(() => s.put(g, f, v, t)),
    addMember: (m, k, v, t, c, tag) => rt.defer(() => s.addMember(m, k, v, t, c, tag)),
    readMembers: (m, c) => rt.defer(() => s.readMembers(m, c)),
    forget: (g, tags) => rt.defer(() => s.forget(g, tags)),
    advance: (g, f, to, t) => rt.defer(() => s.advance(g, f, to, t)),
  }
  return { ...measuredContract(cache, rt), counterStore: () => store }
}
