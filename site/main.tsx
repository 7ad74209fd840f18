import { render } from 'preact'
import { App } from '../frontend/App.js'
import '../frontend/styles.css'

// The theme the user chose last, else the system's.
let saved: string | null = null
try {
  saved = localStorage.getItem('coverage-theme')
} catch {
  saved = null
}
document.documentElement.dataset.theme = saved ?? (matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light')

/** The host answers the API; opened as plain files (or with ?demo=1), the site runs its demo in the browser. */
async function hostAnswers(): Promise<boolean> {
  if (new URLSearchParams(location.search).get('demo') === '1') return false
  try {
    const res = await fetch('/api/projects', { headers: { accept: 'application/json' } })
    return res.ok && (res.headers.get('content-type') ?? '').includes('json')
  } catch {
    return false
  }
}

async function main() {
  const live = await hostAnswers()
  if (!live) {
    const { startDemo } = await import('../frontend/demo.js')
    await startDemo()
  }
  render(<App demo={!live} />, document.getElementById('app')!)
}
void main()
