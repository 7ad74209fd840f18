import { HttpResponse } from 'msw'
import type { QueryRequest } from '../posthog-api.js'
import type { PostHogBox } from './clickhouse.js'
import { HogQLRefusal } from './printer.js'

/**
 * PostHog's answer to `POST /api/projects/:id/query/` from the box: `{columns, types, results,
 * hogql}` on success; on failure, the status and body PostHog gives (posthog/api/query.py,
 * posthog/exceptions.py, posthog/errors.py):
 * - HogQL it refuses (OFFSET with a personal API key, an unknown function or field): 400;
 * - ClickHouse's TIMEOUT_EXCEEDED: 504, "This query hit the N-second time limit...";
 * - ClickHouse's MEMORY_LIMIT_EXCEEDED: 513;
 * - any other ClickHouse error is shown to the user as it is: 400 with ClickHouse's message.
 */
export interface BoxQueryLog {
  readonly hogql: string
  readonly sql: string | null
  readonly ms: number
  readonly rowsRead: number
  readonly error: string | null
}

export async function answerQuery(box: PostHogBox, body: QueryRequest, opts: { personalApiKey?: boolean; log?: BoxQueryLog[]; limitSeconds?: number } = {}): Promise<Response> {
  const hogql = body.query.query
  const filters = body.query.filters ?? body.filters
  try {
    const r = await box.hogql(hogql, { filterTestAccounts: filters?.filterTestAccounts ?? false, personalApiKey: opts.personalApiKey ?? true, async: body.refresh === 'force_async' })
    opts.log?.push({ hogql, sql: r.sql, ms: r.elapsedMs, rowsRead: r.rowsRead, error: null })
    return HttpResponse.json({ columns: r.columns, types: r.columns.map((c, i) => [c, r.types[i]]), results: r.results, hogql, is_cached: false, timings: [] })
  } catch (e) {
    const message = (e as Error).message
    opts.log?.push({ hogql, sql: null, ms: 0, rowsRead: 0, error: message })
    if (e instanceof HogQLRefusal) return HttpResponse.json({ type: 'validation_error', code: 'query_error', detail: message, attr: null }, { status: 400 })
    if (/TIMEOUT_EXCEEDED|Code: 159\b/.test(message)) {
      const seconds = opts.limitSeconds ?? (body.refresh === 'force_async' ? box.options.asyncMaxExecutionSeconds : box.options.maxExecutionSeconds) ?? 60
      return HttpResponse.json(
        {
          type: 'server_error',
          code: 'clickhouse_query_timeout',
          detail: `This query hit the ${seconds}-second time limit for queries run through the API. Submit it as an async query to give it more time: https://posthog.com/docs/api/queries#asynchronous-queries.`,
          attr: null,
        },
        { status: 504 },
      )
    }
    if (/MEMORY_LIMIT_EXCEEDED|Code: 241\b|TOO_MANY_ROWS|Code: 158\b/.test(message)) {
      return HttpResponse.json({ type: 'server_error', code: 'clickhouse_memory_limit_exceeded', detail: "This query ran out of memory before it could finish, usually because it's scanning too much data. Try a shorter date range or narrower filters.", attr: null }, { status: 513 })
    }
    return HttpResponse.json({ type: 'validation_error', code: 'query_error', detail: message, attr: null }, { status: 400 })
  }
}
