/**
 * Product areas of the simulated project: the pages a flag lives on, the funnel events users send
 * there, and the goal an experiment in that area would be judged by.
 */
export interface Area {
  readonly name: string
  readonly path: string
  /** Funnel events in order; the last one is the area's goal. */
  readonly funnel: readonly string[]
  /** Chance to go one step further down the funnel on a visit. */
  readonly stepRate: number
  readonly nouns: readonly string[]
}

export const AREAS: readonly Area[] = [
  { name: 'checkout', path: '/checkout', funnel: ['checkout_started', 'payment_info_entered', 'checkout_completed'], stepRate: 0.55, nouns: ['one-page', 'express-pay', 'address-autocomplete', 'order-summary', 'trust-badges'] },
  { name: 'pricing', path: '/pricing', funnel: ['pricing_viewed', 'plan_selected', 'subscription_upgraded'], stepRate: 0.35, nouns: ['annual-toggle', 'plan-cards', 'free-trial-cta', 'price-anchoring', 'comparison-table'] },
  { name: 'onboarding', path: '/welcome', funnel: ['onboarding_started', 'onboarding_step_completed', 'onboarding_completed'], stepRate: 0.6, nouns: ['checklist', 'welcome-tour', 'progress-bar', 'template-picker', 'video-intro'] },
  { name: 'activation', path: '/projects', funnel: ['project_viewed', 'project_created'], stepRate: 0.4, nouns: ['empty-state', 'sample-data', 'quick-start', 'import-wizard'] },
  { name: 'retention', path: '/home', funnel: ['dashboard_viewed', 'report_exported'], stepRate: 0.3, nouns: ['weekly-digest', 'saved-views', 'smart-notifications', 'recent-items'] },
  { name: 'campaign', path: '/promo', funnel: ['landing_viewed', 'cta_clicked', 'signed_up'], stepRate: 0.3, nouns: ['hero-copy', 'referral-bonus', 'black-friday-banner', 'social-proof'] },
  { name: 'search', path: '/search', funnel: ['search_performed', 'search_result_clicked'], stepRate: 0.6, nouns: ['ranking-v2', 'typeahead', 'filters-panel', 'spell-check'] },
  { name: 'settings', path: '/settings', funnel: ['settings_viewed', 'settings_saved'], stepRate: 0.4, nouns: ['dark-mode', 'new-navigation', 'usage-alerts', 'sso-banner'] },
]

export const AREA_BY_NAME = new Map(AREAS.map((a) => [a.name, a]))

/** Events PostHog users commonly watch as guardrails (PostHog's secondary metrics). */
export const GUARDRAIL_EVENTS = ['$exception', 'refund_requested', 'support_ticket_created'] as const

export const BROWSERS = ['Chrome', 'Safari', 'Firefox', 'Microsoft Edge'] as const
export const OSES = ['Mac OS X', 'Windows', 'iOS', 'Android', 'Linux'] as const
