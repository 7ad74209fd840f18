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

const lit = (v: unknown): string => {
  if (v === null || v === undefined) return 'null'
  if (typeof v === 'boolean') return v ? 'true' : 'false'
  if (typeof v === 'number' && Number.isFinite(v)) return String(v)
  return hogvm.escapeString(String(v))
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
  const values = Array.isArray(f.value) ? f.value : [f.value]
  switch (f.operator ?? 'exact') {
    case 'exact':
      return values.length === 1 ? `${x} = ${lit(values[0])}` : `${x} in (${values.map(lit).join(', ')})`
    case 'is_not':
      return values.length === 1 ? `${x} != ${lit(values[0])}` : `${x} not in (${values.map(lit).join(', ')})`
    case 'icontains':
      return `${x} ilike ${lit(`%${String(f.value)}%`)}`
    case 'not_icontains':
      return `${x} not ilike ${lit(`%${String(f.value)}%`)}`
    case 'regex':
      return `${x} =~ ${lit(f.value)}`
    case 'not_regex':
      return `${x} !~ ${lit(f.value)}`
    case 'gt':
      return `${x} > ${lit(Number(f.value))}`
    case 'gte':
      return `${x} >= ${lit(Number(f.value))}`
    case 'lt':
      return `${x} < ${lit(Number(f.value))}`
    case 'lte':
      return `${x} <= ${lit(Number(f.value))}`
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
