import hogvm from '@posthog/hogvm'

/**
 * PostHog's property filters (`{key, value, operator, type}`, as experiments' metrics and exposure
 * criteria carry them) as one HogQL expression. The same text is compiled to bytecode for ingestion
 * and put into the backfill queries, so both judge an event the same way.
 */
export interface PropertyFilter {
  readonly key: string | number
  readonly value?: unknown
  readonly operator?: string | null
  readonly type?: string
}

export class UnsupportedFilterError extends Error {
  constructor(readonly filter: PropertyFilter, why: string) {
    super(`the property filter ${JSON.stringify(filter)} ${why}`)
    this.name = 'UnsupportedFilterError'
  }
}

/**
 * Every value is compared as text and every bound as a number, so the filter holds whatever type
 * PostHog gives the property: without a Numeric or Boolean definition a property prints as a
 * Nullable(String) (posthog/hogql/transforms/property_types.py), and ClickHouse refuses
 * `String = 1` or a String compared with a number; with one, it prints as a Float64 or a Bool, and
 * ClickHouse refuses `Float64 = 'pro'`. `toString(x)` is text in both (a Bool prints `true`, a
 * Float64 `5`), and so is it in HogVM at ingestion; `toFloat(x)` is a number in both.
 */
const text = (v: unknown): string => (v === null || v === undefined ? 'null' : hogvm.escapeString(String(v)))
const number = (v: unknown): string => {
  const n = Number(v)
  if (!Number.isFinite(n)) throw new Error(`not a number: ${JSON.stringify(v)}`)
  return String(n)
}

function field(f: PropertyFilter): string {
  const key = hogvm.escapeIdentifier(String(f.key))
  switch (f.type ?? 'event') {
    case 'event':
      return `properties.${key}`
    case 'person':
      return `person.properties.${key}`
    default:
      throw new UnsupportedFilterError(f, `has type "${f.type}", which a real-time filter cannot read (event and person properties only)`)
  }
}

export function propertyFilterToHogQL(f: PropertyFilter): string {
  const x = field(f)
  const s = `toString(${x})`
  const n = `toFloat(${x})`
  const values = Array.isArray(f.value) ? f.value : [f.value]
  // A missing or unreadable number matches no bound: ClickHouse's NULL < 5 is NULL (false, as
  // PostHog prints it), where HogVM would order null before every number.
  const ordered = (op: string) => `${n} is not null and ${n} ${op} ${bound()}`
  const bound = () => {
    try {
      return number(Array.isArray(f.value) ? f.value[0] : f.value)
    } catch {
      throw new UnsupportedFilterError(f, 'compares with a value that is not a number')
    }
  }
  switch (f.operator ?? 'exact') {
    case 'exact':
      return values.length === 1 ? `${s} = ${text(values[0])}` : `${s} in (${values.map(text).join(', ')})`
    case 'is_not':
      return values.length === 1 ? `${s} != ${text(values[0])}` : `${s} not in (${values.map(text).join(', ')})`
    case 'icontains':
      return `${s} ilike ${text(`%${String(f.value)}%`)}`
    case 'not_icontains':
      return `${s} not ilike ${text(`%${String(f.value)}%`)}`
    case 'regex':
      return `${s} =~ ${text(f.value)}`
    case 'not_regex':
      return `${s} !~ ${text(f.value)}`
    case 'gt':
      return ordered('>')
    case 'gte':
      return ordered('>=')
    case 'lt':
      return ordered('<')
    case 'lte':
      return ordered('<=')
    case 'is_set':
      return `${x} is not null`
    case 'is_not_set':
      return `${x} is null`
    default:
      throw new UnsupportedFilterError(f, `uses the operator "${f.operator}", which is not supported yet`)
  }
}

/** All filters must match (PostHog's property groups default to AND). `true` when there are none. */
export function propertyFiltersToHogQL(filters: readonly PropertyFilter[]): string {
  if (filters.length === 0) return 'true'
  return filters.map((f) => `(${propertyFilterToHogQL(f)})`).join(' and ')
}
