import { describe, expect, it } from 'vitest'
import { checkApiToken, MIN_API_TOKEN } from '../../src/cli/serve.js'

describe('the API token beyond loopback', () => {
  it.each([
    ['0.0.0.0', 'a', /must be at least 32/],
    ['10.0.0.5', 'x'.repeat(MIN_API_TOKEN - 1), /31 characters/],
    ['0.0.0.0', 'x'.repeat(MIN_API_TOKEN), null],
    ['127.0.0.1', 'a', null], // loopback: the machine's own users only
  ])('bound to %s with a token of the given length', (hostname, token, error) => {
    if (error) expect(() => checkApiToken(hostname, token)).toThrow(error)
    else expect(() => checkApiToken(hostname, token)).not.toThrow()
  })
})
