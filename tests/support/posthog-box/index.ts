import { http } from 'msw'
import type { Definitions } from '../../../src/definitions/definitions.js'
import { base, posthogHandlers, type ApiData, type QueryRequest } from '../posthog-api.js'
import { answerQuery, type BoxQueryLog } from './api.js'
import { PostHogBox, type BoxEvent, type BoxOptions } from './clickhouse.js'

export { PostHogBox, uuidOf, type BoxEvent, type BoxOptions } from './clickhouse.js'
export { HogQLPrinter, HogQLRefusal, postHogSelectJson } from './printer.js'
export { answerQuery, type BoxQueryLog } from './api.js'

/**
 * A PostHog project for msw: its REST objects, and its events in a real ClickHouse answering every
 * HogQL query as PostHog would. `log` records each query: its HogQL, the SQL ClickHouse ran, rows
 * read, time and error.
 */
export async function posthogProject(api: Omit<ApiData, 'query'>, events: Iterable<BoxEvent>, defs: Pick<Definitions, 'groupTypes'>, options: Omit<BoxOptions, 'groupTypes'> = {}) {
  const box = new PostHogBox({ ...options, groupTypes: defs.groupTypes })
  await box.insert(events)
  const log: BoxQueryLog[] = []
  const handlers = posthogHandlers({ ...api, query: (_hogql, body: QueryRequest) => answerQuery(box, body, { log }) })
  return { box, log, handlers, close: () => box.close() }
}

/** The test-account filter a project keeps (team.test_account_filters), as HogQL over events. */
export const INTERNAL_EMAIL_FILTER = "toString(person.properties.email) not ilike '%@internal.test%'"

/** Internal users as a project has them: a share of the persons, marked by their email once identified. */
export function withInternalUsers<E extends BoxEvent>(events: readonly E[], share = 0.15): E[] {
  const internal = (id: string) => {
    let h = 0
    for (let i = 0; i < id.length; i++) h = (Math.imul(h, 31) + id.charCodeAt(i)) >>> 0
    return (h % 1000) / 1000 < share
  }
  return events.map((e) => {
    const p = e.person
    if (!p || !internal(p.id) || typeof p.properties?.email !== 'string') return e
    return { ...e, person: { ...p, properties: { ...p.properties, email: String(p.properties.email).replace(/@.*$/, '@internal.test') } } }
  })
}

/** What the destination delivers with "filter test accounts" on: the events the filter keeps. */
export function withoutInternalUsers<E extends BoxEvent>(events: readonly E[]): E[] {
  return events.filter((e) => !String(e.person?.properties?.email ?? '').toLowerCase().includes('@internal.test'))
}

export { http, base }
export { asIngested } from './persons.js'
