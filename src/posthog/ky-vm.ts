/**
 * What dist/plugin.js uses in place of ky inside plugin-server's VM. ky needs TextEncoder and
 * setTimeout when it loads, and the VM offers neither; there the client has no timeouts or
 * retries anyway (timers: false), so a plain fetch with the same error types is all it needs.
 * Only the part of ky's interface the client calls is here.
 */
export class HTTPError extends Error {
  constructor(readonly response: Response) {
    super(`Request failed with status code ${response.status}`)
    this.name = 'HTTPError'
  }
}

export class TimeoutError extends Error {}

interface Options {
  readonly fetch?: typeof fetch
  readonly headers?: Record<string, string>
  readonly redirect?: 'follow' | 'error' | 'manual'
  readonly method?: string
  readonly json?: unknown
  readonly hooks?: {
    beforeRequest?: ((request: Request) => void)[]
    afterResponse?: ((request: Request, options: unknown, response: Response) => void)[]
  }
}

function create(defaults: Options) {
  return async (url: string, options: Options = {}): Promise<Response> => {
    const headers: Record<string, string> = { ...defaults.headers }
    if (options.json !== undefined) headers['Content-Type'] = 'application/json'
    // plugin-server's VM offers `fetch` (node-fetch) and `URL`, not Request: the hooks get what they read.
    const method = (options.method ?? 'get').toUpperCase()
    const request = { url, method } as unknown as Request
    for (const hook of options.hooks?.beforeRequest ?? []) hook(request)
    const body = options.json === undefined ? undefined : JSON.stringify(options.json)
    const response = await (defaults.fetch ?? fetch)(url, { method, headers, body, redirect: defaults.redirect })
    for (const hook of defaults.hooks?.afterResponse ?? []) hook(request, options, response)
    if (!response.ok) throw new HTTPError(response)
    return response
  }
}

export default { create }
