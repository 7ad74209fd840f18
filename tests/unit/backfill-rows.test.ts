import { describe, expect, it } from 'vitest'
import { backfillWindow, observationsFromBackfill } from '../../src/posthog/backfill.js'
import { planBackfill } from '../../src/posthog/backfill-queries.js'
import { parseSettings } from '../../src/settings/settings.js'
import { NOW, flagDef } from '../support/context.js'

describe('backfill rows from a broken or hostile answer', () => {
  it('skips rows whose flag is null, missing, a number or not asked for, and counts them: no phantom flag "null"', () => {
    const defs = { flags: [flagDef()], experiments: [], cohorts: [], groupTypes: new Map() }
    const settings = parseSettings()
    const w = backfillWindow(NOW, settings)
    const query = planBackfill(defs, settings.metrics, w).find((q) => q.kind === 'exposures')!
    const columns = ['flag', 'event', 'value', 'lib', 'exposures', 'bootstrapped', 'locally_evaluated', 'errored', 'units', 'first_day', 'last_day', 'bootstrap_mismatch', 'bootstrap_mismatch_units']
    const row = (flag: unknown) => [flag, '$feature_flag_called', '"test"', 'client', 5, 0, 0, 0, 3, '2026-11-19', '2026-11-20', 0, 0]
    const rows = [row('exp-flag'), row(null), row(undefined), row(42), row(''), row('not-in-this-query'), 'not a row' as unknown as unknown[]]
    const obs = observationsFromBackfill(defs, [{ query, result: { columns, rows }, ms: 0 }], 'p', w, settings.lookbackDays)
    expect(obs.flags.map((f) => f.flag)).toEqual(['exp-flag'])
    expect(obs.flags[0]!.exposure.$feature_flag_called!.exposures).toBe(5)
    expect(obs.rejections).toEqual({ backfill_row_invalid: 6 })
  })
})
