import { useState } from 'preact/hooks'
import { apiHeaders, setApiToken } from './api.js'

/**
 * Shown instead of the views when the host asks for its API token (started with COVERAGE_API_TOKEN):
 * the user types it once per tab. Without this the page had nothing to show but the demo, which
 * read as if it were the project's data.
 */
export function TokenGate({ onUnlock }: { onUnlock: () => void }) {
  const [value, setValue] = useState('')
  const [error, setError] = useState<string | null>(null)
  const [busy, setBusy] = useState(false)
  const submit = async (e: Event) => {
    e.preventDefault()
    setBusy(true)
    setApiToken(value.trim())
    try {
      const res = await fetch('/api/projects', { headers: apiHeaders() })
      if (res.ok) return onUnlock()
      setApiToken(null)
      setError(res.status === 401 ? 'The host refused this token. It is the value of COVERAGE_API_TOKEN (or of --api-token-file) the host was started with.' : `The host answered ${res.status}.`)
    } catch {
      setApiToken(null)
      setError('The host did not answer.')
    } finally {
      setBusy(false)
    }
  }
  return (
    <main id="main" class="app token-gate">
      <h1>Experiment coverage</h1>
      <form class="card" onSubmit={submit} data-token-gate="true">
        <p>
          This host asks for its API token: it was started with <code>COVERAGE_API_TOKEN</code>. Enter it to see its projects. It is kept for this tab only and sent only to this host.
        </p>
        <label for="api-token">API token</label>
        <input id="api-token" type="password" autocomplete="current-password" required value={value} onInput={(e) => setValue((e.target as HTMLInputElement).value)} aria-describedby={error ? 'api-token-error' : undefined} aria-invalid={error ? 'true' : undefined} />
        {error && (
          <p id="api-token-error" role="alert" class="error">
            {error}
          </p>
        )}
        <button type="submit" disabled={busy}>
          Open
        </button>
      </form>
    </main>
  )
}
