import { SettingsError, type Settings } from '../settings/settings.js'
import { compileExpression } from './compile.js'
import { HogQLError } from './parser.js'

/**
 * Compiles the HogQL filters of the goal and guardrail matchers once, at setup. A filter the
 * compiler does not support is refused there, with the matcher and the position named.
 */
export async function compileMatcherFilters(settings: Settings): Promise<Map<string, readonly unknown[]>> {
  const out = new Map<string, readonly unknown[]>()
  const problems: { key: string; message: string }[] = []
  for (const m of settings.metrics) {
    if (!m.filter) continue
    try {
      out.set(m.name, await compileExpression(m.filter))
    } catch (e) {
      if (!(e instanceof HogQLError)) throw e
      problems.push({ key: m.kind === 'guardrail' ? 'guardrailEvents' : 'goalEvents', message: `the filter of "${m.name}": ${e.message}` })
    }
  }
  if (problems.length) throw new SettingsError(problems)
  return out
}
