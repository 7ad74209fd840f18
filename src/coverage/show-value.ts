import type { VariantValue } from '../events/types.js'

/** A response value as people read it: strings as they are, and named placeholders for the rest. */
export function showValue(v: VariantValue): string {
  if (v === null) return '(none)'
  if (typeof v === 'string') return v === '' ? '(empty string)' : v
  return String(v)
}
