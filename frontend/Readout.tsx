import { useState } from 'preact/hooks'
import type { Report } from './api.js'

/** The decision readout, as the Markdown the report carries (shown as text, copied as Markdown). */
export function Readout({ report }: { report: Report }) {
  const [copied, setCopied] = useState<string | null>(null)
  const copy = () =>
    navigator.clipboard.writeText(report.readout).then(
      () => setCopied('Copied as Markdown'),
      () => setCopied('The browser did not allow copying; select the text instead'),
    )
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
      <pre class="readout">{report.readout}</pre>
    </section>
  )
}
