import { useState } from 'preact/hooks'
import type { Report } from './api.js'
import { FlagLink } from './FlagLink.js'
import { Markdown } from './Markdown.js'

/**
 * The decision readout: the Markdown the report carries, rendered (headings, lists, bold), each
 * flag's key a link to its page; copied as the Markdown itself.
 */
export function Readout({ report }: { report: Report }) {
  const [copied, setCopied] = useState<string | null>(null)
  const copy = () =>
    navigator.clipboard.writeText(report.readout).then(
      () => setCopied('Copied as Markdown'),
      () => setCopied('The browser did not allow copying; use the report written by the CLI (--format markdown) instead'),
    )
  const keys = new Set(report.flags.map((f) => f.key))
  const code = (text: string) => (keys.has(text) ? <FlagLink flag={text} code /> : <code>{text}</code>)
  return (
    <section aria-labelledby="readout-title">
      <div class="toolbar">
        <h2 id="readout-title">Readout</h2>
        <button type="button" onClick={copy}>
          Copy as Markdown
        </button>
        <span role="status" class="muted">
          {copied}
        </span>
      </div>
      <article class="readout card">
        <Markdown text={report.readout} code={code} headingOffset={2} />
      </article>
    </section>
  )
}
