/**
 * The legacy PostHog scene: for a self-hosted PostHog that still runs plugin frontends, the build
 * emits dist/frontend.tsx from this file: Preact and the views bundled inside, React used only as
 * the host PostHog gives (its `require` knows react and nothing of ours). PostHog renders
 * `<scene.component {...{pluginId, pluginConfigId, name, url, config}} />` at /app/:id; the
 * component mounts the views in a shadow root of its own element, so neither page's styles leak
 * into the other, and reads the reports from the host at `config.coverageHostUrl`.
 */
import React from 'react'
import { render } from 'preact'
import css from './styles.css'
// The views import flag.css for its side effect, which this bundle's text loader drops: it is added here.
import flagCss from './flag.css'
import { setApiBase } from './api.js'
import { App, setThemeRoot } from './App.js'
import { keepRouteInMemory } from './url-state.js'

/** The site's styles, scoped to the scene's shadow root. */
function scoped(text: string): string {
  return text.replace(/:root\[data-theme='dark'\]/g, ":host([data-theme='dark'])").replace(/:root/g, ':host').replace(/\bbody\b/g, '.app')
}

interface SceneProps {
  pluginId?: number
  pluginConfigId?: number
  name?: string
  url?: string
  config?: Record<string, string>
}

function CoverageScene(props: SceneProps) {
  const ref = React.useRef<HTMLDivElement>(null)
  const hostUrl = props.config?.coverageHostUrl ?? ''
  const project = props.config?.posthogProjectId ?? ''
  React.useEffect(() => {
    const host = ref.current
    if (!host) return
    const root = host.shadowRoot ?? host.attachShadow({ mode: 'open' })
    const style = document.createElement('style')
    style.textContent = scoped(`${css}\n${flagCss}`)
    const mount = document.createElement('div')
    root.replaceChildren(style, mount)
    setApiBase(hostUrl)
    keepRouteInMemory(project ? { project } : {})
    setThemeRoot(host)
    host.dataset.theme = document.body.classList.contains('posthog-3000-dark') || document.documentElement.dataset.theme === 'dark' ? 'dark' : 'light'
    render(<App />, mount)
    return () => render(null, mount)
  }, [hostUrl, project])
  return React.createElement('div', { ref, className: 'experiment-coverage-scene' })
}

export const scene = { title: 'Experiment coverage', component: CoverageScene }
