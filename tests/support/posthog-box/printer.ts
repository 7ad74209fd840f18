import { hogqlParser, parseExpression, selectOfParserJson, type AstNode } from '../../../src/hog/parser.js'

/**
 * HogQL printed as ClickHouse SQL the way PostHog's printer prints it (posthog/hogql/printer/
 * clickhouse.py and base.py, posthog/hogql/transforms/property_types.py, posthog/hogql/functions/),
 * for the constructs the project's queries use. The point is not a second HogQL engine: it is that
 * every query the project sends meets a real ClickHouse with the column types PostHog gives it, so
 * a comparison ClickHouse rejects on PostHog is rejected here too, with ClickHouse's own message.
 *
 * What it follows:
 * - an event property is a `Nullable(String)` extraction unless its property definition types it
 *   (Numeric, Boolean, DateTime), as property_types.py converts only those;
 * - `person.properties.x` reads the event's `person_properties` (persons on events), `person_id`
 *   the person as PostHog resolved it, `$group_N` the event's group key column (String);
 * - `timestamp` is shown in the project's time zone (`toTimeZone(events.timestamp, tz)`), so
 *   `toDate(timestamp)` is the project's local day;
 * - comparisons print as functions wrapped for NULL (`ifNull(equals(a, b), 0)`,
 *   `ifNull(notEquals(a, b), 1)`), `x = NULL` as `isNull(x)`, `true` / `false` as 1 / 0;
 * - `{filters}` is the project's test-account filters when the request asks for them, else true;
 * - the result is capped at 100 rows without a LIMIT and 50,000 with one (MAX_SELECT_RETURNED_ROWS),
 *   and OFFSET is refused for queries sent with a personal API key (user_query_validator.py).
 * Anything else (a function it does not know, a field that does not resolve) is an error, as it
 * would be on PostHog.
 */
export type PropertyType = 'String' | 'Numeric' | 'Boolean' | 'DateTime'

export interface PrintOptions {
  /** The ClickHouse table PostHog's `events` is in (`events`; a box's own database in tests). */
  readonly eventsTable?: string
  /** The project's time zone (team.timezone). */
  readonly timezone: string
  /** Event property definitions that carry a type; others print as Nullable(String). */
  readonly eventPropertyTypes?: ReadonlyMap<string, PropertyType>
  readonly personPropertyTypes?: ReadonlyMap<string, PropertyType>
  /** The project's test-account filters as HogQL over events (team.test_account_filters). */
  readonly testAccountFilters?: string
  /** The request's `filters.filterTestAccounts`. */
  readonly filterTestAccounts?: boolean
  /** A query sent with a personal API key: OFFSET is refused. */
  readonly personalApiKey?: boolean
}

/** A query PostHog itself refuses before ClickHouse sees it (HogQL's own errors). */
export class HogQLRefusal extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'HogQLRefusal'
  }
}

// posthog/hogql/constants.py: DEFAULT_RETURNED_ROWS and MAX_SELECT_RETURNED_ROWS.
export const DEFAULT_RETURNED_ROWS = 100
export const MAX_SELECT_RETURNED_ROWS = 50_000

const EVENT_COLUMNS = new Set(['uuid', 'event', 'distinct_id', 'timestamp', 'properties', 'elements_chain', 'created_at', 'person_id', '$group_0', '$group_1', '$group_2', '$group_3', '$group_4'])

/** HogQL function name -> ClickHouse name, for the functions the project's queries call. */
const FUNCTIONS: Record<string, string> = {
  count: 'count', countIf: 'countIf', min: 'min', max: 'max', sum: 'sum', sumIf: 'sumIf', avg: 'avg', any: 'any', minIf: 'minIf', maxIf: 'maxIf',
  uniq: 'uniq', uniqExact: 'uniqExact', groupUniqArray: 'groupUniqArray', groupUniqArrayIf: 'groupUniqArrayIf', sumMap: 'sumMap', arrayElement: 'arrayElement', groupArray: 'groupArray', argMin: 'argMin', argMax: 'argMax',
  arrayPushBack: 'arrayPushBack', arrayFilter: 'arrayFilter', arrayMap: 'arrayMap', arrayJoin: 'arrayJoin', arraySlice: 'arraySlice', arraySort: 'arraySort', has: 'has', length: 'length', empty: 'empty', notEmpty: 'notEmpty',
  if: 'if', multiIf: 'multiIf', ifNull: 'ifNull', nullIf: 'nullIf', coalesce: 'coalesce', isNull: 'isNull', isNotNull: 'isNotNull', not: 'not', and: 'and', or: 'or',
  equals: 'equals', notEquals: 'notEquals', less: 'less', greater: 'greater', lessOrEquals: 'lessOrEquals', greaterOrEquals: 'greaterOrEquals',
  JSONExtractRaw: 'JSONExtractRaw', JSONHas: 'JSONHas', JSONExtractString: 'JSONExtractString', JSONExtractBool: 'JSONExtractBool', JSONExtractFloat: 'JSONExtractFloat',
  toString: 'toString', concat: 'concat', lower: 'lower', upper: 'upper', match: 'match', like: 'like', ilike: 'ilike', replaceRegexpAll: 'replaceRegexpAll', startsWith: 'startsWith',
  toDate: 'toDate', toFloat: 'toFloat', toInt: 'toInt64OrNull', round: 'round', greatest: 'greatest', least: 'least', tuple: 'tuple',
  dateDiff: 'dateDiff', toUnixTimestamp: 'toUnixTimestamp', toUUID: 'toUUIDOrNull', toTimeZone: 'toTimeZone', cityHash64: 'cityHash64', JSONExtractKeys: 'JSONExtractKeys', substring: 'substring',
}
const CASE_INSENSITIVE = new Map(['not', 'if', 'count', 'min', 'max', 'sum', 'avg', 'coalesce', 'ifNull', 'nullIf', 'length', 'lower', 'upper', 'concat', 'multiIf'].map((f) => [f.toLowerCase(), f]))

/** Functions PostHog gives the project's time zone when no zone is passed (tz_aware). */
const TZ_AWARE: Record<string, { name: string; maxArgs: number }> = {
  toStartOfDay: { name: 'toStartOfDay', maxArgs: 2 },
  toStartOfWeek: { name: 'toStartOfWeek', maxArgs: 3 },
  toDateTime: { name: 'parseDateTime64BestEffortOrNull', maxArgs: 2 },
  now: { name: 'now64', maxArgs: 1 },
  today: { name: 'today', maxArgs: 0 },
}

const SIMPLE_IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/
const ident = (name: string) => (SIMPLE_IDENTIFIER.test(name) ? name : `\`${name.replace(/\\/g, '\\\\').replace(/`/g, '\\`')}\``)
const str = (s: string) => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`

interface Scope {
  /** aliases of this SELECT's expressions and ARRAY JOINs */
  readonly aliases: Set<string>
  /** table aliases of the FROM and joins -> whether it is the events table */
  readonly tables: Map<string, 'events' | 'subquery'>
  /** the events table's printed name, when the FROM reads events without an alias */
  readonly eventsName: string | null
  /** lambda arguments */
  readonly lambdas: Set<string>
  readonly parent: Scope | null
}

/**
 * PostHog's parser compiled to WebAssembly takes about a second for one of the backfill's
 * queries; tests print the same text many times (per box, per setting), and check that the texts
 * parse, so each text is parsed once. It is parsed without positions in the AST (isInternal), a
 * fifth quicker: the printer reads none, and an error keeps its position either way.
 */
const parsed = new Map<string, Promise<string>>()

/** PostHog's parser's JSON for a SELECT (`parseSelect(hogql, true)`), once per text. */
export function postHogSelectJson(hogql: string): Promise<string> {
  let json = parsed.get(hogql)
  if (!json) {
    if (parsed.size >= 2_000) parsed.clear()
    json = hogqlParser().then((p) => p.parseSelect(hogql, true))
    parsed.set(hogql, json)
    json.catch(() => parsed.delete(hogql))
  }
  return json
}

async function parsedOnce(hogql: string): Promise<AstNode> {
  return selectOfParserJson(await postHogSelectJson(hogql), hogql)
}

export class HogQLPrinter {
  constructor(private readonly opts: PrintOptions) {}

  /** The ClickHouse SQL of a whole HogQL SELECT, with PostHog's row cap and settings. */
  async printSelect(hogql: string, settings: Record<string, string | number> = {}): Promise<string> {
    const ast = await parsedOnce(hogql)
    this.filtersAst = this.opts.filterTestAccounts && this.opts.testAccountFilters ? await parseExpression(this.opts.testAccountFilters) : null
    const sql = this.select(ast, null, true)
    const all = Object.entries({ readonly: 2, ...settings })
    return `${sql} SETTINGS ${all.map(([k, v]) => `${k}=${v}`).join(', ')}`
  }

  private filtersAst: AstNode | null = null
  /** ClickHouse needs bare equalities to find a JOIN's keys: PostHog prints them without ifNull there. */
  private inJoinConstraint = false

  private select(node: AstNode, parent: Scope | null, top: boolean): string {
    if (node.node === 'SelectSetQuery') {
      const parts = [this.select(node.initial_select_query as AstNode, parent, top)]
      for (const next of (node.subsequent_select_queries as AstNode[]) ?? []) {
        const op = String(next.set_operator ?? '').replace(/\s+/g, '')
        if (op !== 'UNIONALL') throw new HogQLRefusal(`${String(next.set_operator)} is not printed here (UNION ALL only)`)
        parts.push(this.select(next.select_query as AstNode, parent, top))
      }
      return parts.join(' UNION ALL ')
    }
    if (node.node !== 'SelectQuery') throw new HogQLRefusal(`expected a SELECT, got ${node.node}`)
    const scope: Scope = { aliases: new Set(), tables: new Map(), eventsName: null, lambdas: new Set(), parent }
    const parts: string[] = []
    // Aliases first: HogQL resolves a name to a SELECT alias before a column (resolver.py).
    for (const col of (node.select as AstNode[]) ?? []) if (col.node === 'Alias') scope.aliases.add(col.alias as string)
    for (const aj of (node.array_join_list as AstNode[] | null) ?? []) if (aj.node === 'Alias') scope.aliases.add(aj.alias as string)
    const from = node.select_from ? this.joins(node.select_from as AstNode, scope) : null
    parts.push(`SELECT ${node.distinct ? 'DISTINCT ' : ''}${(node.select as AstNode[]).map((c) => this.column(c, scope)).join(', ')}`)
    if (from) parts.push(`FROM ${from}`)
    if (node.array_join_list) parts.push(`${node.array_join_op === 'LEFT ARRAY JOIN' ? 'LEFT ARRAY JOIN' : 'ARRAY JOIN'} ${(node.array_join_list as AstNode[]).map((a) => this.expr(a, scope)).join(', ')}`)
    if (node.prewhere) parts.push(`PREWHERE ${this.expr(node.prewhere as AstNode, scope)}`)
    if (node.where) parts.push(`WHERE ${this.expr(node.where as AstNode, scope)}`)
    if (node.group_by) parts.push(`GROUP BY ${(node.group_by as AstNode[]).map((g) => this.expr(g, scope)).join(', ')}`)
    if (node.having) parts.push(`HAVING ${this.expr(node.having as AstNode, scope)}`)
    if (node.order_by) parts.push(`ORDER BY ${(node.order_by as AstNode[]).map((o) => `${this.expr(o.expr as AstNode, scope)} ${o.order === 'DESC' ? 'DESC' : 'ASC'}`).join(', ')}`)
    if (node.offset && top && this.opts.personalApiKey) {
      // posthog/hogql/user_query_validator.py: paging with OFFSET is refused for personal API keys.
      throw new HogQLRefusal('OFFSET is not supported on queries made with a personal API key. For pagination, use keyset pagination on the `timestamp` column, e.g. `WHERE timestamp > :last_seen_timestamp ORDER BY timestamp LIMIT N`. For bulk data extraction, use batch exports: https://posthog.com/docs/cdp/batch-exports')
    }
    let limit = node.limit ? this.constantInt(node.limit as AstNode) : null
    if (top) limit = limit === null ? DEFAULT_RETURNED_ROWS : Math.min(limit, MAX_SELECT_RETURNED_ROWS)
    if (limit !== null) parts.push(`LIMIT ${limit}`)
    else if (node.limit) parts.push(`LIMIT ${this.expr(node.limit as AstNode, scope)}`)
    if (node.offset) parts.push(`OFFSET ${this.expr(node.offset as AstNode, scope)}`)
    return parts.join(' ')
  }

  /** A selected field keeps its name as its alias, as PostHog's printer adds `AS name` (toTimeZone(...) AS timestamp). */
  private column(c: AstNode, scope: Scope): string {
    const printed = this.expr(c, scope)
    if (c.node !== 'Field') return printed
    const name = String((c.chain as unknown[]).at(-1))
    return printed === ident(name) || printed.endsWith(`.${ident(name)}`) ? printed : `${printed} AS ${ident(name)}`
  }

  private constantInt(node: AstNode): number | null {
    return node.node === 'Constant' && typeof node.value === 'number' ? node.value : null
  }

  private joins(first: AstNode, scope: Scope): string {
    const out: string[] = []
    for (let j: AstNode | null = first; j; j = (j.next_join as AstNode | null) ?? null) {
      const table = j.table as AstNode
      const alias = (j.alias as string | null) ?? null
      let printed: string
      if (table.node === 'Field') {
        const name = (table.chain as string[]).join('.')
        if (name !== 'events') throw new HogQLRefusal(`Unknown table "${name}".`)
        // An alias PostHog would print itself (`events AS events`) keeps the columns' names short.
        printed = `${this.opts.eventsTable ?? 'events'}${alias ? '' : ' AS events'}`
        if (alias) scope.tables.set(alias, 'events')
        else (scope as { eventsName: string | null }).eventsName = 'events'
      } else if (table.node === 'SelectQuery' || table.node === 'SelectSetQuery') {
        printed = `(${this.select(table, scope.parent, false)})`
        scope.tables.set(alias ?? `#${scope.tables.size}`, 'subquery')
      } else throw new HogQLRefusal(`cannot read FROM a ${table.node}`)
      const head = j === first ? '' : `${String(j.join_type ?? 'JOIN').replace(/^INNERJOIN$/, 'INNER JOIN').replace(/^LEFTJOIN$/, 'LEFT JOIN').replace(/^JOIN$/, 'JOIN').replace(/^(LEFT|INNER|RIGHT|FULL|CROSS)(OUTER)?JOIN$/, (_m, a: string, o?: string) => `${a}${o ? ' OUTER' : ''} JOIN`)} `
      this.inJoinConstraint = true
      const on = j.constraint ? ` ${(j.constraint as AstNode).constraint_type === 'USING' ? 'USING' : 'ON'} ${this.expr((j.constraint as AstNode).expr as AstNode, scope)}` : ''
      this.inJoinConstraint = false
      out.push(`${head}${printed}${alias ? ` AS ${ident(alias)}` : ''}${on}`)
    }
    return out.join(' ')
  }

  private expr(n: AstNode, scope: Scope): string {
    switch (n.node) {
      case 'Alias': {
        // An alias does not resolve inside its own expression: `timestamp AS timestamp` reads the column.
        const own = n.alias as string
        const inner: Scope = scope.aliases.has(own) ? { ...scope, aliases: new Set([...scope.aliases].filter((a) => a !== own)) } : scope
        return `${this.expr(n.expr as AstNode, inner)} AS ${ident(own)}`
      }
      case 'Constant':
        return this.constant(n.value)
      case 'Field':
        return this.field(n.chain as (string | number)[], scope)
      case 'Placeholder': {
        const chain = ((n.expr as AstNode | undefined)?.chain as string[] | undefined) ?? (n.chain as string[] | undefined) ?? []
        if (chain.join('.') !== 'filters') throw new HogQLRefusal(`Placeholder {${chain.join('.')}} is not allowed here.`)
        // posthog/hogql/filters.py: {filters} with filterTestAccounts adds the team's test-account filters.
        return this.filtersAst ? this.expr(this.filtersAst, scope) : '1'
      }
      case 'And':
        return `and(${(n.exprs as AstNode[]).map((e) => this.expr(e, scope)).join(', ')})`
      case 'Or':
        return `or(${(n.exprs as AstNode[]).map((e) => this.expr(e, scope)).join(', ')})`
      case 'Not':
        return `not(${this.expr(n.expr as AstNode, scope)})`
      case 'ArithmeticOperation': {
        const fn = { '+': 'plus', '-': 'minus', '*': 'multiply', '/': 'divide', '%': 'modulo' }[n.op as string]
        if (!fn) throw new HogQLRefusal(`Unknown arithmetic operator ${String(n.op)}`)
        return `${fn}(${this.expr(n.left as AstNode, scope)}, ${this.expr(n.right as AstNode, scope)})`
      }
      case 'CompareOperation':
        return this.compare(n, scope)
      case 'Call':
        return this.call(n, scope)
      case 'Array':
        return `[${(n.exprs as AstNode[]).map((e) => this.expr(e, scope)).join(', ')}]`
      case 'ArrayAccess':
        return `arrayElement(${this.expr(n.array as AstNode, scope)}, ${this.expr(n.property as AstNode, scope)})`
      case 'Tuple':
        return `tuple(${(n.exprs as AstNode[]).map((e) => this.expr(e, scope)).join(', ')})`
      case 'Lambda': {
        const args = n.args as string[]
        const inner: Scope = { ...scope, lambdas: new Set([...scope.lambdas, ...args]) }
        return `${args.length === 1 ? ident(args[0]!) : `(${args.map(ident).join(', ')})`} -> ${this.expr(n.expr as AstNode, inner)}`
      }
      case 'SelectQuery':
        return `(${this.select(n, scope, false)})`
      default:
        throw new HogQLRefusal(`HogQL node ${n.node} is not printed here`)
    }
  }

  private constant(v: unknown): string {
    if (v === null || v === undefined) return 'NULL'
    // base.py prints booleans as 1 and 0: a Bool constant meets a String column as UInt8.
    if (v === true) return '1'
    if (v === false) return '0'
    if (typeof v === 'number') return String(v)
    if (typeof v === 'object' && v !== null && '__float' in v) return String((v as { __float: number }).__float)
    return str(String(v))
  }

  /**
   * base.py's visit_compare_operation: `in` is never wrapped; against a constant, `=`, like and
   * ilike are false on NULL and their negations true; between two columns, NULL equals only NULL;
   * comparisons of the events table's timestamp and JOIN keys are left bare.
   */
  private compare(n: AstNode, scope: Scope): string {
    const op = n.op as string
    const left = n.left as AstNode
    const right = n.right as AstNode
    const l = this.expr(left, scope)
    const isNullConst = right.node === 'Constant' && right.value === null
    if (isNullConst && (op === '==' || op === '!=')) return op === '==' ? `isNull(${l})` : `isNotNull(${l})`
    const r = this.expr(right, scope)
    const bare = this.inJoinConstraint || l.startsWith('toTimeZone(') || r.startsWith('toTimeZone(')
    const constant = left.node === 'Constant' || right.node === 'Constant' || right.node === 'Tuple'
    const positive = (fn: string) => (bare ? `${fn}(${l}, ${r})` : constant ? `ifNull(${fn}(${l}, ${r}), 0)` : `ifNull(${fn}(${l}, ${r}), and(isNull(${l}), isNull(${r})))`)
    const negative = (fn: string) => (bare ? `${fn}(${l}, ${r})` : constant ? `ifNull(${fn}(${l}, ${r}), 1)` : `ifNull(${fn}(${l}, ${r}), or(isNotNull(${l}), isNotNull(${r})))`)
    const ordered = (fn: string) => (bare ? `${fn}(${l}, ${r})` : `ifNull(${fn}(${l}, ${r}), 0)`)
    switch (op) {
      case '==':
        return positive('equals')
      case '!=':
        return negative('notEquals')
      case '<':
        return ordered('less')
      case '<=':
        return ordered('lessOrEquals')
      case '>':
        return ordered('greater')
      case '>=':
        return ordered('greaterOrEquals')
      case 'in':
        return `in(${l}, ${r})`
      case 'not in':
        return `ifNull(notIn(${l}, ${r}), 1)`
      case 'like':
        return positive('like')
      case 'not like':
        return negative('notLike')
      case 'ilike':
        return positive('ilike')
      case 'not ilike':
        return negative('notILike')
      case '=~':
        return ordered('match')
      case '!~':
        return `ifNull(not(match(${l}, ${r})), 1)`
      case '=~*':
        return `ifNull(match(${l}, concat('(?i)', ${r})), 0)`
      case '!~*':
        return `ifNull(not(match(${l}, concat('(?i)', ${r}))), 1)`
      default:
        throw new HogQLRefusal(`Unknown comparison operator ${op}`)
    }
  }

  private call(n: AstNode, scope: Scope): string {
    const written = n.name as string
    // Some functions are found whatever their case (HogQLFunctionMeta(..., case_sensitive=False)):
    // `NOT (x IN ...)` parses as a call of NOT.
    const name = FUNCTIONS[written] || TZ_AWARE[written] ? written : (CASE_INSENSITIVE.get(written.toLowerCase()) ?? written)
    const args = (n.args as AstNode[]) ?? []
    const tz = TZ_AWARE[name]
    if (tz) {
      const printed = args.map((a) => this.expr(a, scope))
      if (name === 'toStartOfWeek' && printed.length === 1) printed.push('0') // the project's week start: Sunday, ClickHouse mode 0
      if (printed.length < tz.maxArgs) printed.push(str(this.opts.timezone))
      // parseDateTime64BestEffortOrNull takes a precision before the zone (printer/clickhouse.py).
      if (tz.name === 'parseDateTime64BestEffortOrNull' || tz.name === 'now64') printed.splice(printed.length - 1, 0, '6')
      return `${tz.name}(${printed.join(', ')})`
    }
    // conversions.py: toFloat(x) is accurateCastOrNull(x, 'Float64').
    if (name === 'toFloat' && args.length === 1) return `accurateCastOrNull(${this.expr(args[0]!, scope)}, 'Float64')`
    const ch = FUNCTIONS[name]
    if (!ch) throw new HogQLRefusal(`Unsupported function call '${name}(...)'`)
    let printed: string[]
    if (name === 'concat') {
      // printer/clickhouse.py: every non-string argument of concat is made a string, NULL an empty one.
      printed = args.map((a) => (a.node === 'Constant' ? (a.value === null ? "''" : typeof a.value === 'string' ? this.expr(a, scope) : `toString(${this.expr(a, scope)})`) : `ifNull(toString(${this.expr(a, scope)}), '')`))
    } else printed = args.map((a) => this.expr(a, scope))
    const params = n.params ? `(${(n.params as AstNode[]).map((p) => this.expr(p, scope)).join(', ')})` : ''
    return `${ch}${params}(${n.distinct ? 'DISTINCT ' : ''}${printed.join(', ')})`
  }

  /** Resolves a field as HogQL's resolver does: lambda argument, SELECT alias, table alias, events column. */
  private field(chain: (string | number)[], scope: Scope): string {
    const [head, ...rest] = chain.map(String) as [string, ...string[]]
    if (rest.length === 0 && (scope.lambdas.has(head) || scope.aliases.has(head))) return ident(head)
    const table = scope.tables.get(head)
    if (table === 'subquery') return [head, ...rest].map(ident).join('.')
    if (table === 'events') return this.eventField(ident(head), rest)
    if (scope.eventsName) return this.eventField(scope.eventsName, [head, ...rest])
    if ([...scope.tables.values()].includes('subquery') && rest.length === 0) return ident(head) // a column of a subquery read FROM
    throw new HogQLRefusal(`Unable to resolve field: ${chain.join('.')}`)
  }

  private eventField(table: string, chain: string[]): string {
    const [col, ...rest] = chain as [string, ...string[]]
    if (col === 'properties' && rest.length > 0) return this.property(`${table}.properties`, rest, this.opts.eventPropertyTypes)
    if (col === 'person' && rest[0] === 'properties' && rest.length > 1) return this.property(`${table}.person_properties`, rest.slice(1), this.opts.personPropertyTypes)
    if (col === 'person' && rest[0] === 'id' && rest.length === 1) return `${table}.person_id`
    if (col === 'person' && rest[0] === 'properties' && rest.length === 1) return `${table}.person_properties`
    if (!EVENT_COLUMNS.has(col) || rest.length > 0) throw new HogQLRefusal(`Unable to resolve field: ${chain.join('.')}`)
    if (col === 'timestamp' || col === 'created_at') return `toTimeZone(${table}.${col}, ${str(this.opts.timezone)})`
    return `${table}.${ident(col)}`
  }

  /** property_types.py: only Numeric, Boolean and DateTime definitions change how a property reads. */
  private property(column: string, path: string[], types: ReadonlyMap<string, PropertyType> | undefined): string {
    const raw = `replaceRegexpAll(nullIf(nullIf(JSONExtractRaw(${column}, ${path.map(str).join(', ')}), ''), 'null'), '^"|"$', '')`
    const type = path.length === 1 ? types?.get(path[0]!) : undefined
    switch (type) {
      case 'Numeric':
        return `accurateCastOrNull(${raw}, 'Float64')`
      case 'Boolean':
        return `accurateCastOrNull(transform(toString(${raw}), ['true', 'false'], [1, 0], NULL), 'Bool')`
      case 'DateTime':
        return `parseDateTime64BestEffortOrNull(${raw}, 6, ${str(this.opts.timezone)})`
      default:
        return raw
    }
  }
}
