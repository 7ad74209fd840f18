import { describe, expect, it } from 'vitest'
import { exposureSource } from '../../../src/coverage/checks/exposure-source.js'
import { context, exposureObs, observation } from '../../support/context.js'

const run = (server: number, clientToo = true, errored = 0) =>
  exposureSource.run(
    context({
      observation: observation({
        exposure: {
          $feature_flag_called: exposureObs([
            { value: 'control', units: 500, server: clientToo ? server : 500, errored },
            { value: 'test', units: 500, server: clientToo ? server : 500 },
          ]),
        },
      }),
    }),
  )

describe('exposure_source', () => {
  it('passes when browsers send the exposures', () => expect(run(0).status).toBe('pass'))
  it("fails when over 10% of units are also exposed server-side (PostHog's threshold)", () => expect(run(100).status).toBe('fail'))
  it('accepts a flag evaluated only on the server', () => {
    const r = run(0, false)
    expect(r.status).toBe('pass')
    expect(r.summary).toMatch(/server only/)
  })
  it('warns when evaluations report errors', () => expect(run(0, true, 50).status).toBe('warn'))
})
