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
render(<App />, document.getElementById('app')!)
