import { render } from 'preact'
import { apiHeaders } from '../frontend/api.js'
import { App } from '../frontend/App.js'
import { TokenGate } from '../frontend/TokenGate.js'
import '../frontend/styles.css'

// The theme the user chose last, else the system's.
let saved: string | null = null
try {
  saved = localStorage.getItem('coverage-theme')
} catch {
  saved = null
}
document.documentElement.dataset.theme = saved ?? (matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light')

/**
 * The host answers the API, or asks for its API token; opened as plain files (or with ?demo=1),
 * the site runs its demo in the browser. A host that asks for a token never gets the demo instead:
 * simulated numbers must not pass for the project's.
 */
async function hostAnswers(): Promise<'live' | 'locked' | 'absent'> {
  if (new URLSearchParams(location.search).get('demo') === '1') return 'absent'
  try {
    const res = await fetch('/api/projects', { headers: apiHeaders() })
    const json = (res.headers.get('content-type') ?? '').includes('json')
    if (res.status === 401 && json) return 'locked'
    return res.ok && json ? 'live' : 'absent'
  } catch {
    return 'absent'
  }
}

async function main() {
  const root = document.getElementById('app')!
  const state = await hostAnswers()
  if (state === 'locked') {
    render(<TokenGate onUnlock={() => render(<App />, root)} />, root)
    return
  }
  if (state === 'absent') {
    const { startDemo } = await import('../frontend/demo.js')
    await startDemo()
  }
  render(<App demo={state === 'absent'} />, root)
}
void main()
