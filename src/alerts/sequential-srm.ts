import gammaln from '@stdlib/math-base-special-gammaln'

/**
 * An always-valid sample ratio test for looks repeated over a run (hourly alerts). Checking a
 * chi-square test every hour is peeking: its false-alarm rate grows with every look. This is the
 * Dirichlet-multinomial mixture test for multinomial counts (Lindon and Malek, "Anytime-valid
 * inference for multinomial count data", 2022; the sequential SRM test behind Optimizely's and
 * others' alerts): the Bayes factor of the observed units per variant against the planned split is
 * a nonnegative martingale under a healthy split, so by Ville's inequality the chance that it ever
 * reaches 1/alpha, over the whole run and however often one looks, is at most alpha. Its p-value,
 * min over the looks of 1/BF, is valid at every look.
 */
export interface SequentialSrmState {
  /** the largest log Bayes factor seen in this run */
  readonly maxLogBf: number
  readonly looks: number
}

/** Concentration of the Dirichlet prior around the planned split (larger: more sensitive to small mismatches, slower to large ones). */
export const PRIOR_CONCENTRATION = 100

/** log Bayes factor of units per variant against the planned shares (which sum to 1). */
export function logBayesFactor(units: readonly number[], shares: readonly number[], concentration = PRIOR_CONCENTRATION): number {
  const alpha = shares.map((p) => p * concentration)
  const n = units.reduce((a, b) => a + b, 0)
  const a = alpha.reduce((x, y) => x + y, 0)
  let log = gammaln(a) - gammaln(a + n)
  units.forEach((x, i) => {
    const p = shares[i]!
    if (p <= 0) return
    log += gammaln(alpha[i]! + x) - gammaln(alpha[i]!) - x * Math.log(p)
  })
  return log
}

/** One more look at the run's cumulative units: the new state and the always-valid p-value. */
export function lookSequentialSrm(prev: SequentialSrmState | null, units: readonly number[], shares: readonly number[]): { state: SequentialSrmState; p: number } {
  const lbf = logBayesFactor(units, shares)
  const maxLogBf = Math.max(prev?.maxLogBf ?? 0, lbf)
  return { state: { maxLogBf, looks: (prev?.looks ?? 0) + 1 }, p: Math.min(1, Math.exp(-maxLogBf)) }
}
