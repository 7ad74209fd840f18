import { Webhook } from 'standardwebhooks'
import type { SimEvent } from '../sim/traffic.js'

/** A simulated event as PostHog's HTTP Webhook destination posts it by default: `{event, person}`. */
export function webhookBody(e: SimEvent, host = 'https://us.posthog.com', project = 'demo'): { event: Record<string, unknown>; person: Record<string, unknown> | null } {
  return {
    event: {
      uuid: e.uuid,
      event: e.event,
      distinct_id: e.distinct_id,
      properties: e.properties,
      elements_chain: '',
      timestamp: e.timestamp,
      url: `${host}/project/${project}/events/${encodeURIComponent(e.uuid)}/${encodeURIComponent(e.timestamp)}`,
    },
    person: e.person ? { id: e.person.id, properties: e.person.properties, name: e.distinct_id, url: `${host}/project/${project}/person/${encodeURIComponent(e.distinct_id)}` } : null,
  }
}

/** Headers of one signed delivery, as PostHog signs with the destination's `signing_secret`. */
export function signedHeaders(secret: string, id: string, body: string, at = new Date()): Record<string, string> {
  const signature = new Webhook(secret).sign(id, at, body)
  return { 'content-type': 'application/json', 'webhook-id': id, 'webhook-timestamp': String(Math.floor(at.getTime() / 1000)), 'webhook-signature': signature }
}

export interface FeedProgress {
  sent: number
  refused: number
  total: number
  done: boolean
}

/**
 * The demo's live traffic: the simulated project's events after its past (demo-past.ts counted
 * that before the host started), each posted to the intake over HTTP, signed, once the clock
 * reaches its time, as PostHog's destination sends them. At most `perSecond` (a feed that fell
 * behind catches up no faster); retried on 5xx as PostHog retries. Counters move while you watch.
 */
export async function feedDemo(opts: {
  url: string
  secret: string
  /** in time order */
  events: readonly SimEvent[]
  perSecond: number
  clock?: () => number
  signal?: AbortSignal
  onProgress?: (p: FeedProgress) => void
}): Promise<FeedProgress> {
  const clock = opts.clock ?? Date.now
  const events = opts.events
  const p: FeedProgress = { sent: 0, refused: 0, total: events.length, done: false }
  const batchEvery = 100 // ms
  const perBatch = Math.max(1, Math.round((opts.perSecond * batchEvery) / 1000))
  let i = 0
  while (i < events.length && !opts.signal?.aborted) {
    const now = clock()
    let end = i
    while (end < events.length && end - i < perBatch && Date.parse(events[end]!.timestamp) <= now) end++
    const batch = events.slice(i, end)
    i = end
    await Promise.all(batch.map((e) => post(opts, e, p)))
    if (batch.length > 0) opts.onProgress?.(p)
    await new Promise((r) => setTimeout(r, batchEvery))
  }
  // Stopped early (the host is shutting down) is not done.
  p.done = !opts.signal?.aborted
  if (p.done) opts.onProgress?.(p)
  return p
}

async function post(opts: { url: string; secret: string; signal?: AbortSignal }, e: SimEvent, p: FeedProgress): Promise<void> {
  const text = JSON.stringify(webhookBody(e))
  for (let attempt = 1; attempt <= 3; attempt++) {
    try {
      // No shared AbortSignal on each fetch: Node keeps a listener per request on it. The loop checks it instead.
      const res = await fetch(opts.url, { method: 'POST', body: text, headers: signedHeaders(opts.secret, `msg_${e.uuid}`, text) })
      await res.arrayBuffer()
      if (res.ok) {
        p.sent++
        return
      }
      if (res.status < 500 && res.status !== 429) break
    } catch {
      if (opts.signal?.aborted) return
    }
    await new Promise((r) => setTimeout(r, 1000 * attempt))
  }
  p.refused++
}
