import type { Report } from './api.js'
import { CHECK_ORDER, CheckBadge, checkName, VerdictBadge } from './badges.js'
import { FlagLink } from './FlagLink.js'

/** The coverage table: one row a flag, one column a check, in the flag list's order of checks. */
export function CoverageTable({ report }: { report: Report }) {
  const ids = CHECK_ORDER
  return (
    <section aria-labelledby="table-title">
      <h2 id="table-title">Coverage table</h2>
      <div class="table-wrap">
        <table class="coverage">
          <thead>
            <tr>
              <th scope="col">Flag</th>
              <th scope="col">Verdict</th>
              {ids.map((id) => (
                <th key={id} scope="col" class="rotate">
                  <span>{checkName(id)}</span>
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {report.flags.map((f) => (
              <tr key={f.key} data-flag-key={f.key}>
                <th scope="row">
                  <FlagLink flag={f.key} />
                </th>
                <td>
                  <VerdictBadge verdict={f.verdict} />
                </td>
                {ids.map((id) => {
                  const c = f.checks.find((x) => x.id === id)
                  return <td key={id}>{c ? <CheckBadge id={id} status={c.status} summary={c.summary} /> : '–'}</td>
                })}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  )
}
