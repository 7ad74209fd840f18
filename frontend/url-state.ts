import { useEffect, useState } from 'preact/hooks'

/**
 * The view's state lives in the URL's query (view, project, flag, search, filters, sort), so a
 * filtered list or a flag's page can be shared as a link, and Back works.
 */
export type Route = Record<string, string>

let memory: URLSearchParams | null = null

/**
 * Inside PostHog (the legacy scene) the page's URL is PostHog's: the views then keep their state
 * in memory instead, starting from `initial`.
 */
export function keepRouteInMemory(initial: Route = {}): void {
  memory = new URLSearchParams(initial)
}

function params(): URLSearchParams {
  return memory ?? new URLSearchParams(location.search)
}

function read(): Route {
  return Object.fromEntries(params())
}

const listeners = new Set<() => void>()

/** The query after a change: the address a link to that state carries (opened in a new tab, copied). */
export function hrefWith(change: Route): string {
  const q = new URLSearchParams(params())
  for (const [k, v] of Object.entries(change)) {
    if (v === '') q.delete(k)
    else q.set(k, v)
  }
  return `?${q}`
}

/** Changes some of the URL's parameters ('' removes one); `push` adds a history entry. */
export function navigate(change: Route, opts: { push?: boolean } = {}): void {
  const q = new URLSearchParams(params())
  for (const [k, v] of Object.entries(change)) {
    if (v === '') q.delete(k)
    else q.set(k, v)
  }
  if (memory) memory = q
  else {
    const url = `${location.pathname}${q.toString() ? `?${q}` : ''}`
    if (opts.push) history.pushState(null, '', url)
    else history.replaceState(null, '', url)
  }
  for (const l of listeners) l()
}

export function useRoute(): Route {
  const [route, setRoute] = useState(read)
  useEffect(() => {
    const update = () => setRoute(read())
    listeners.add(update)
    addEventListener('popstate', update)
    return () => {
      listeners.delete(update)
      removeEventListener('popstate', update)
    }
  }, [])
  return route
}
