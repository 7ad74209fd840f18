import type { Report } from './api.js'
import { repairCategoryLabel } from '../src/coverage/labels.js'
import { FlagLink } from './FlagLink.js'

/** The backfill plan across flags, highest priority first. */
export function Plan({ report }: { report: Report }) {
  return (
    <section aria-labelledby="plan-title">
      <h2 id="plan-title">Backfill plan</h2>
      {report.plan.length === 0 ? (
        <p class="muted">Nothing to repair.</p>
      ) : (
        <div class="table-wrap">
          <table class="plan-table">
            <thead>
              <tr>
                <th scope="col">Priority</th>
                <th scope="col">Flag</th>
                <th scope="col">Action</th>
                <th scope="col" class="wide">Category</th>
                <th scope="col" class="wide">Effort</th>
                <th scope="col" class="wide">Due</th>
              </tr>
            </thead>
            <tbody>
              {report.plan.map((b, i) => (
                <tr key={i} data-flag-key={b.flag}>
                  <td>
                    <span class="badge">{b.priority}</span>
                    {b.blocking && <span class="small"> blocks</span>}
                  </td>
                  <td>
                    <FlagLink flag={b.flag} />
                  </td>
                  <td>
                    {b.action}
                    <div class="muted small">{b.reason}</div>
                  </td>
                  <td class="wide" data-category={b.category}>
                    {repairCategoryLabel(b.category)}
                  </td>
                  <td class="wide">{b.effort}</td>
                  <td class="wide nowrap">{b.days_to_deadline === null ? '–' : `${b.days_to_deadline} d`}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  )
}
