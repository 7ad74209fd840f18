import type { ExperimentDefinition, FlagDefinition } from './definitions.js'

/**
 * Product areas a flag can belong to, the words that give them away in a key, name or tag, and
 * the events a team in that area usually judges by: likely goals first, then guardrails.
 */
export interface AreaGuess {
  readonly area: string
  readonly words: readonly string[]
  readonly goals: readonly string[]
}

const AREAS: readonly AreaGuess[] = [
  { area: 'checkout', words: ['checkout', 'cart', 'payment', 'pay', 'order', 'purchase', 'basket'], goals: ['checkout_completed', 'order_completed', 'purchase_completed', 'payment_succeeded', 'purchase'] },
  { area: 'pricing', words: ['pricing', 'price', 'plan', 'billing', 'upgrade', 'trial', 'paywall', 'subscription'], goals: ['subscription_upgraded', 'subscription_created', 'upgrade_completed', 'plan_selected', 'trial_started'] },
  { area: 'onboarding', words: ['onboarding', 'welcome', 'tour', 'checklist', 'setup', 'getting-started', 'wizard'], goals: ['onboarding_completed', 'onboarding_step_completed', 'setup_completed'] },
  { area: 'activation', words: ['activation', 'empty-state', 'sample', 'quick-start', 'first', 'import', 'project'], goals: ['project_created', 'activated', 'first_value', 'integration_connected'] },
  { area: 'retention', words: ['retention', 'digest', 'notification', 'reminder', 'saved', 'recent', 'email'], goals: ['report_exported', 'dashboard_viewed', 'notification_clicked', 'returned'] },
  { area: 'campaign', words: ['campaign', 'promo', 'landing', 'hero', 'banner', 'referral', 'black-friday', 'cta', 'signup', 'marketing'], goals: ['signed_up', 'cta_clicked', 'user_signed_up', 'lead_created'] },
  { area: 'search', words: ['search', 'ranking', 'typeahead', 'filter', 'results', 'recommendation'], goals: ['search_result_clicked', 'search_performed'] },
]

/** Guardrails most teams watch whatever the area: errors, refunds, support load. */
export const DEFAULT_GUARDRAIL_EVENTS = ['$exception', 'refund_requested', 'support_ticket_created'] as const

function wordsOf(flag: FlagDefinition, experiment: ExperimentDefinition | null): string {
  return [flag.key, flag.name ?? '', ...(flag.tags ?? []), experiment?.name ?? '', experiment?.description ?? ''].join(' ').toLowerCase()
}

/** The areas a flag most likely belongs to, best first. */
export function guessAreas(flag: FlagDefinition, experiment: ExperimentDefinition | null): AreaGuess[] {
  const text = wordsOf(flag, experiment)
  return AREAS.map((a) => ({ a, hits: a.words.filter((w) => text.includes(w)).length }))
    .filter((x) => x.hits > 0)
    .sort((x, y) => y.hits - x.hits)
    .map((x) => x.a)
}

/** Every event the inference may pick, so an audit can count them while it reads the events. */
export function candidateGoalEvents(): string[] {
  return [...new Set(AREAS.flatMap((a) => a.goals))]
}
