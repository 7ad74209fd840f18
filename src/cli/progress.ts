import { forTerminal } from './terminal.js'
/** A one-line progress display on stderr, only when stderr is a terminal (CI logs stay clean). */
export class Progress {
  private last = 0
  private readonly tty = Boolean(process.stderr.isTTY)

  constructor(private readonly label: string) {}

  tick(done: number, total?: number): void {
    if (!this.tty) return
    const now = Date.now()
    if (now - this.last < 100) return
    this.last = now
    const pct = total ? ` ${Math.floor((done / total) * 100)}%` : ''
    process.stderr.write(`\r${this.label}: ${done.toLocaleString('en-US')}${total ? ` / ${total.toLocaleString('en-US')}` : ''}${pct}   `)
  }

  done(message: string): void {
    if (this.tty) process.stderr.write('\r\x1b[2K')
    process.stderr.write(`${forTerminal(message)}\n`)
  }
}
