/**
 * Bounds how many intake bodies are read at the same time, so that a crowd of large bodies cannot
 * fill the memory (issue 19, item 6: 200 concurrent 2 MiB bodies took RSS from 417 to 858 MiB).
 *
 * Beyond the slots a request waits in a bounded line rather than being refused at once: PostHog
 * delivers in bursts, each read is short, and a waiting request costs its socket and no body (its
 * unread body stays in the kernel's buffers, the socket paused). A request that finds the line full,
 * or waits longer than `waitMs`, gets 503 with Retry-After, which PostHog retries.
 */
export interface SlotLimits {
  /**
   * bodies read at once: with the 2 MiB limit, 16 MiB of bodies (and their copies: the text, the
   * signed string) in memory. Measured with 200 forged 2 MiB bodies on two cores, 4, 8 and 16 slots
   * peaked alike (the signature check, about 40 ms a body, sets the pace); 8 keeps a burst of small
   * deliveries from waiting on one another.
   */
  readonly reading: number
  /** requests waiting for a slot */
  readonly waiting: number
  /** how long one waits for a slot */
  readonly waitMs: number
  /** how long one body may take to arrive once its slot is taken: a client that sends slowly keeps a slot no longer */
  readonly readMs: number
}

export const BODY_SLOTS: SlotLimits = { reading: 8, waiting: 256, waitMs: 10_000, readMs: 30_000 }

export type Taken = 'taken' | 'line_full' | 'waited_too_long'

export class BodySlots {
  #reading = 0
  readonly #line: (() => void)[] = []

  constructor(
    readonly limits: SlotLimits = BODY_SLOTS,
    private readonly onChange: (reading: number, waiting: number) => void = () => {},
  ) {}

  /** A slot, at once or after waiting in line; every 'taken' is paired with one `give()`. */
  take(): Promise<Taken> {
    if (this.#reading < this.limits.reading) {
      this.#reading++
      this.#changed()
      return Promise.resolve('taken')
    }
    if (this.#line.length >= this.limits.waiting) return Promise.resolve('line_full')
    return new Promise((resolve) => {
      const handOver = () => {
        clearTimeout(timer)
        resolve('taken')
      }
      const timer = setTimeout(() => {
        this.#line.splice(this.#line.indexOf(handOver), 1)
        this.#changed()
        resolve('waited_too_long')
      }, this.limits.waitMs)
      timer.unref()
      this.#line.push(handOver)
      this.#changed()
    })
  }

  give(): void {
    const next = this.#line.shift()
    // The slot passes straight to the first in line.
    if (next) next()
    else this.#reading--
    this.#changed()
  }

  #changed(): void {
    this.onChange(this.#reading, this.#line.length)
  }
}

/** `read()`'s value, or 'late' when it takes longer than `ms` (a late failure is then ignored). */
export async function readWithin<T>(ms: number, read: () => Promise<T>): Promise<T | 'late'> {
  let timer: NodeJS.Timeout | undefined
  const reading = read()
  const late = new Promise<'late'>((resolve) => {
    timer = setTimeout(() => resolve('late'), ms)
  })
  try {
    const outcome = await Promise.race([reading, late])
    if (outcome === 'late') reading.catch(() => {})
    return outcome
  } finally {
    clearTimeout(timer)
  }
}
