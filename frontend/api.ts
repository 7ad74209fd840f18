/**
 * The host's JSON API, as the views use it. The views only render what it returns: they never
 * recompute a verdict. No secret ever reaches the browser: settings come back masked.
 */
import type { FlagListEntry as FlagEntry, Verdict } from '../src/host/api-types.js'

// The shapes the host answers with, shared with it; the report's is its documented schema's.
export type { FlagListEntry as FlagEntry, Verdict } from '../src/host/api-types.js'
export type { BackfillItem, FlagReport, Report } from '../src/coverage/report-schema.js'
import type { FlagReport, Report } from '../src/coverage/report-schema.js'
export type CheckStatus = 'pass' | 'warn' | 'fail' | 'unknown' | 'not_applicable'

export interface CheckBrief {
  id: string
  status: CheckStatus
  summary: string
}

export interface Links {
  host: string
  project_id: string
}

export interface FlagList {
  generated_at: string
  summary: Record<string, number>
  posthog: Links | null
  flags: FlagEntry[]
}

export interface LiveVariant {
  value: string | number | boolean | null
  exposures: number
  units: number
  multipleVariantUnits: number
}

export interface FlagDetail {
  key: string
  generated_at: string
  posthog: Links | null
  flag: FlagReport | null
  live: { exposure: Record<string, { event: string; exposures: number; units: number; multipleVariantUnits: number; variants: LiveVariant[]; byDay?: Record<string, number> } | undefined> } | null
}

export interface Project {
  id: string
  name: string
  enabled: boolean
  demo: boolean
  status: string
  intake_path: string
  problems: { key: string; message: string }[]
}

export interface ConfigField {
  key?: string
  name?: string
  type?: 'string' | 'json' | 'attachment' | 'choice'
  default?: string
  hint?: string
  markdown?: string
  order?: number
  required?: boolean
  secret?: boolean
  choices?: string[]
  required_if?: [string, string?][]
  visible_if?: [string, string?][]
}

export interface SettingsView {
  settings: Record<string, string>
  schema: ConfigField[]
  problems: { key: string; message: string }[]
}

export interface HistoryView {
  runs: { generated_at: string; summary: Record<string, number>; flags: { key: string; verdict: string; score: number; failing: string[] }[] }[]
  changes: {
    since: string
    newFailures: { flag: string; check: string; summary: string }[]
    repaired: { flag: string; from: string }[]
    verdictChanges: { flag: string; from: string; to: string; worse: boolean }[]
  } | null
  recurring_gaps: { area: string; check: string; runs: number; flags: string[] }[]
}

export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly problems: { key: string; message: string }[] = [],
  ) {
    super(message)
  }
}

/** Where the host's API is: this page's origin, or (in the legacy PostHog scene) the host's address. */
let base = ''
export function setApiBase(url: string): void {
  base = url.replace(/\/+$/, '')
}

/**
 * The host's API token (COVERAGE_API_TOKEN), when it asks for one: typed by the user, kept for this
 * browser tab only (sessionStorage) and sent only to this host's own API. It is not PostHog's key,
 * which never reaches the browser.
 */
const TOKEN_KEY = 'coverage-api-token'
let token: string | null = (() => {
  try {
    return sessionStorage.getItem(TOKEN_KEY)
  } catch {
    return null
  }
})()
export function setApiToken(next: string | null): void {
  token = next
  try {
    if (next) sessionStorage.setItem(TOKEN_KEY, next)
    else sessionStorage.removeItem(TOKEN_KEY)
  } catch {
    // storage refused (a private window's policy): the token lasts until the page reloads
  }
}

/** The headers every call carries: JSON, and the host's API token once the user gave it. */
export function apiHeaders(writes = false): Record<string, string> {
  return { accept: 'application/json', ...(writes ? { 'content-type': 'application/json' } : {}), ...(token ? { authorization: `Bearer ${token}` } : {}) }
}

async function call<T>(path: string, init?: RequestInit): Promise<T> {
  // A change is always JSON (the host refuses any other body for it: no cross-site form can pass).
  const writes = (init?.method ?? 'GET') !== 'GET'
  const res = await fetch(`${base}${path}`, { ...init, ...(writes ? { body: init?.body ?? '{}' } : {}), headers: apiHeaders(writes) })
  const body = (await res.json().catch(() => ({}))) as { error?: string; problems?: { key: string; message: string }[] }
  if (!res.ok) throw new ApiError(body.error ?? `the host answered ${res.status}`, res.status, body.problems ?? [])
  return body as T
}

const p = (id: string) => `/api/projects/${encodeURIComponent(id)}`

export const api = {
  projects: () => call<{ projects: Project[] }>('/api/projects').then((r) => r.projects),
  flags: (project: string) => call<FlagList>(`${p(project)}/flags`),
  flag: (project: string, key: string) => call<FlagDetail>(`${p(project)}/flags/${encodeURIComponent(key)}`),
  report: (project: string) => call<Report>(`${p(project)}/report`),
  history: (project: string) => call<HistoryView>(`${p(project)}/history`),
  settings: (project: string) => call<SettingsView>(`${p(project)}/settings`),
  saveSettings: (project: string, settings: Record<string, string>) => call<SettingsView>(`${p(project)}/settings`, { method: 'PUT', body: JSON.stringify({ settings }) }),
  setEnabled: (project: string, enabled: boolean) => call<Project>(`${p(project)}/${enabled ? 'enable' : 'disable'}`, { method: 'POST' }),
}

/** A link only when it is an http(s) address: nothing from data becomes a javascript: URL. */
export function safeHref(url: string | null | undefined): string | undefined {
  return url && /^https?:\/\//i.test(url) ? url : undefined
}

export function posthogUrl(links: Links | null, path: string): string | undefined {
  return links ? safeHref(`${links.host}/project/${encodeURIComponent(links.project_id)}/${path}`) : undefined
}
