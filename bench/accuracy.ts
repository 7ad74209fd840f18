/**
 * Accuracy benchmark: how often the checks are right, against the simulator's ground truth.
 *
 * a. False alarms of `sample_ratio` on healthy projects: the share of tests that fail must sit
 *    near the configured p-value, not above it. Measured at the default srmPValue (0.001) and at
 *    srmPValue = 0.05, where a few hundred trials already give a meaningful interval. Only the
 *    exposure events are audited (the check reads nothing else; the first project is audited both
 *    ways and must agree; --full audits every event). The simulator's person ids depend on the seed,
 *    so every project splits its users anew: the trials are independent.
 * b. Recall and precision of every check over projects with one injected defect each (every
 *    defect, --reps seeds) plus --healthy projects without defects; per defect, how often all of
 *    its expected checks fired and how often the flag got the verdict the defect deserves.
 *
 * Run: npm run bench:accuracy [-- --projects 30 --users 2000 --reps 2 --healthy 3 --defect-users 1500 --srm-defect-users 6000 --jobs 2 --look-projects 40 --only abc --defects id,id]
 * Projects are simulated and audited in --jobs child processes (one project each at a time);
 * results do not depend on --jobs. Progress on stderr, the tables on stdout.
 */
import { fork, type ChildProcess } from 'node:child_process'
import { availableParallelism } from 'node:os'
import { performance } from 'node:perf_hooks'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { auditEvents } from '../src/audit/offline-audit.js'
import { CHECK_IDS, type CheckId } from '../src/coverage/checks/types.js'
import { parseCohorts, parseExperiments, parseFlags, type Definitions } from '../src/definitions/definitions.js'
import type { Report } from '../src/coverage/report.js'
import { EXPOSURE_EVENTS } from '../src/events/types.js'
import { DEFECTS, DEFECT_IDS, parseDefectList, type DefectId } from '../src/sim/defects.js'
import { simulate, type Simulation } from '../src/sim/simulation.js'
import { srmLookTrials, srmLooksSection } from './srm-looks.js'
import { parseActivity } from '../src/definitions/activity.js'

const END = Date.UTC(2026, 10, 20)
const DAYS = 14
const FLAGS = 20
const NOMINAL_DEFAULT = 0.001 // plugin.json's srmPValue default; checked against the report's thresholds
const LOOSE = 0.05

// ---------------------------------------------------------------------------------------------
// Tasks: what a child process does for one project. Results are plain JSON.

interface SrmTask {
  kind: 'srm'
  seed: number
  users: number
  /** feed every event to the audit (otherwise only exposure events, see below) */
  full: boolean
  /** also audit every event and compare sample_ratio with the exposures-only audit */
  verify: boolean
}
interface MixTask {
  kind: 'mix'
  seed: number
  users: number
  /** a defect id, or 'none' */
  defects: string
}
type Task = SrmTask | MixTask

interface SrmTrial {
  flag: string
  flagKind: string
  status: string
  p: number | null
  units: number
}
interface SrmResult {
  kind: 'srm'
  seed: number
  events: number
  /** per threshold: the sample_ratio result of every flag */
  trials: Record<'default' | 'loose', SrmTrial[]>
  threshold: number
  /** differences between the exposures-only and the full audit (verify only) */
  mismatches: string[] | null
}
interface FlagOutcome {
  key: string
  kind: string
  verdict: string
  checks: { id: CheckId; status: string; summary: string }[]
  /** The causes the report names: the slice that explains a mismatched split, units crossing at identify. */
  slice: string | null
  identityCrossed: number | null
}
interface MixResult {
  kind: 'mix'
  seed: number
  defects: string
  events: number
  injected: { flag: string; defect: DefectId }[]
  flags: FlagOutcome[]
}
type TaskResult = SrmResult | MixResult

function definitionsOf(sim: Simulation): Definitions {
  return {
    flags: parseFlags('flags', sim.project.api.flags),
    experiments: parseExperiments('experiments', sim.project.api.experiments),
    cohorts: parseCohorts('cohorts', sim.project.api.cohorts),
    groupTypes: new Map([[0, 'company']]),
  }
}

function srmTrials(report: Report): SrmTrial[] {
  const out: SrmTrial[] = []
  for (const f of report.flags) {
    const c = f.checks.find((x) => x.id === 'sample_ratio')
    if (!c) continue
    const ev = c.evidence as { p_value?: number; total_units?: number }
    out.push({ flag: f.key, flagKind: f.kind, status: c.status, p: ev.p_value ?? null, units: ev.total_units ?? 0 })
  }
  return out
}

const isExposure = (e: { event: string }) => (EXPOSURE_EVENTS as readonly string[]).includes(e.event)

/**
 * sample_ratio reads only the exposure counters (units per variant, minus `$multiple` units), so by
 * default only exposure events are audited: about a tenth of the events, ten times faster, and many
 * more trials in the same time. The first project is audited both ways and must agree exactly.
 */
async function runSrm(t: SrmTask): Promise<SrmResult> {
  const sim = simulate({ seed: t.seed, flags: FLAGS, users: t.users, days: DAYS, endMs: END, defects: parseDefectList('none') })
  const defs = definitionsOf(sim)
  let count = 0
  const all: unknown[] = []
  const events: unknown[] = []
  for (const e of sim.events) {
    count++
    if (t.verify) all.push(e)
    if (t.full || isExposure(e)) events.push(e)
  }
  const strict = await auditEvents(defs, {}, events)
  const loose = await auditEvents(defs, { srmPValue: String(LOOSE) }, events)
  let mismatches: string[] | null = null
  if (t.verify && !t.full) {
    mismatches = []
    const full = await auditEvents(defs, {}, all)
    const a = new Map(srmTrials(strict.report).map((x) => [x.flag, x]))
    for (const b of srmTrials(full.report)) {
      const x = a.get(b.flag)
      if (!x || x.status !== b.status || x.p !== b.p || x.units !== b.units) mismatches.push(`${b.flag}: exposures only ${JSON.stringify(x)}, all events ${JSON.stringify(b)}`)
    }
  }
  return {
    kind: 'srm',
    seed: t.seed,
    events: count,
    trials: { default: srmTrials(strict.report), loose: srmTrials(loose.report) },
    threshold: strict.report.thresholds.srmPValue as number,
    mismatches,
  }
}

async function runMix(t: MixTask): Promise<MixResult> {
  const sim = simulate({ seed: t.seed, flags: FLAGS, users: t.users, days: DAYS, endMs: END, defects: parseDefectList(t.defects) })
  let events = 0
  // The flags' history as PostHog's activity log has it (empty but read where nothing changed).
  const activity = parseActivity('simulated activity', sim.project.api.activity)
  const { report } = await auditEvents(definitionsOf(sim), {}, sim.events, { onEvent: (n) => (events = n), activity })
  const truth = sim.truth()
  return {
    kind: 'mix',
    seed: t.seed,
    defects: t.defects,
    events,
    injected: truth.defects.map((d) => ({ flag: d.flag, defect: d.defect })),
    flags: report.flags.map((f) => ({
      key: f.key,
      kind: f.kind,
      verdict: f.verdict,
      checks: f.checks.map((c) => ({ id: c.id, status: c.status, summary: fires(c.status) ? c.summary : '' })),
      slice: sliceNamed(f),
      identityCrossed: identityCrossed(f),
    })),
  }
}

const fires = (status: string) => status === 'warn' || status === 'fail'

/** The slice sample_ratio names ("browser:Safari"): the one that explains a mismatch, else the furthest off. */
function sliceNamed(f: Report['flags'][number]): string | null {
  const c = f.checks.find((x) => x.id === 'sample_ratio')
  type Row = { dimension: string; value: string }
  const slices = (c?.evidence as { slices?: { explained_by?: Row | null; mismatched?: Row[] } } | undefined)?.slices
  const by = slices?.explained_by ?? slices?.mismatched?.[0]
  return by ? `${by.dimension}:${by.value}` : null
}

function identityCrossed(f: Report['flags'][number]): number | null {
  const n = f.checks.find((x) => x.id === 'multiple_variants')?.evidence.identity_crossed_units
  return typeof n === 'number' ? n : null
}

/**
 * The issue-22 findings: each with the defects that inject it and what counts as found (the check
 * fires, and where a cause is named, the right one).
 */
const NEW_FINDINGS: { finding: string; check: CheckId; defects: DefectId[]; found: (f: FlagOutcome) => boolean; nominal: string }[] = [
  { finding: 'exposure stall (48 h, or a fall)', check: 'exposure_stall', defects: ['exposure_stopped'], found: (f) => firedOn(f, 'exposure_stall'), nominal: 'none (a rule, not a test)' },
  { finding: 'primary metric silent while exposures go on', check: 'exposure_stall', defects: ['metric_stopped'], found: (f) => f.checks.some((c) => c.id === 'exposure_stall' && c.status === 'fail' && c.summary.includes('went silent')), nominal: 'none (a rule, not a test)' },
  { finding: 'exposure bias (exposed vs carrying split)', check: 'exposure_bias', defects: ['sample_ratio_mismatch', 'slice_exposure_loss'], found: (f) => firedOn(f, 'exposure_bias'), nominal: 'p < 0.001 and a 10% gap' },
  { finding: 'mismatch by slice: the right slice named', check: 'sample_ratio', defects: ['slice_exposure_loss'], found: (f) => firedOn(f, 'sample_ratio') && (f.slice === 'sdk:web 1.130' || f.slice === 'browser:Safari'), nominal: 'p < 0.001 (a slice: 0.001 / slices tested)' },
  { finding: 'mid-run flag change, with a clean-from date', check: 'flag_changes', defects: ['split_changed'], found: (f) => f.checks.some((c) => c.id === 'flag_changes' && c.status === 'fail'), nominal: 'none (read from the log)' },
  { finding: 'units crossing variants at identify', check: 'multiple_variants', defects: ['identify_rebucket'], found: (f) => firedOn(f, 'multiple_variants') && (f.identityCrossed ?? 0) > 0, nominal: 'none (a count)' },
]
const firedOn = (f: FlagOutcome, id: CheckId) => f.checks.some((c) => c.id === id && fires(c.status))

// ---------------------------------------------------------------------------------------------

/** Runs the tasks on `jobs` child processes; results come back in task order. */
async function runPool(tasks: Task[], jobs: number, label: string): Promise<TaskResult[]> {
  const results: TaskResult[] = new Array(tasks.length)
  let next = 0
  let done = 0
  const started = performance.now()
  const script = fileURLToPath(import.meta.url)
  const lane = (child: ChildProcess) =>
    new Promise<void>((resolve, reject) => {
      const give = () => {
        if (next >= tasks.length) {
          child.disconnect()
          resolve()
          return
        }
        const i = next++
        child.once('message', (m: { ok: boolean; result?: TaskResult; error?: string }) => {
          if (!m.ok) {
            child.kill()
            reject(new Error(`task ${JSON.stringify(tasks[i])} failed in the child:\n${m.error}`))
            return
          }
          results[i] = m.result!
          done++
          const s = (performance.now() - started) / 1000
          process.stderr.write(`  ${label}: ${done}/${tasks.length} projects, ${s.toFixed(0)} s\n`)
          give()
        })
        child.send(tasks[i]!)
      }
      child.on('error', reject)
      child.on('exit', (code) => {
        if (code !== 0 && code !== null) reject(new Error(`a ${label} child exited with code ${code}`))
      })
      give()
    })
  const lanes = Array.from({ length: Math.min(jobs, tasks.length) }, () => lane(fork(script, ['--child'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })))
  await Promise.all(lanes)
  return results
}

// ---------------------------------------------------------------------------------------------
// Statistics and formatting

/** Wilson score interval for k successes in n trials (95% by default). */
function wilson(k: number, n: number, z = 1.959964): [number, number] {
  if (n === 0) return [0, 1]
  const p = k / n
  const denom = 1 + (z * z) / n
  const centre = (p + (z * z) / (2 * n)) / denom
  const half = (z * Math.sqrt((p * (1 - p)) / n + (z * z) / (4 * n * n))) / denom
  return [Math.max(0, centre - half), Math.min(1, centre + half)]
}

const fmt = (n: number) => n.toLocaleString('en-US')
const pctText = (x: number, digits = 2) => (Number.isFinite(x) ? `${(x * 100).toFixed(digits)}%` : '-')
const ratioText = (num: number, den: number) => (den === 0 ? '-' : (num / den).toFixed(3))
const median = (xs: number[]) => (xs.length ? ([...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number) : NaN)

// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const { values: args } = parseArgs({
    options: {
      projects: { type: 'string', default: '30' },
      users: { type: 'string', default: '2000' },
      reps: { type: 'string', default: '2' },
      healthy: { type: 'string', default: '3' },
      'defect-users': { type: 'string', default: '1500' },
      // Part b for these defects only (a comma list), e.g. the ones behind the new findings with more --reps.
      defects: { type: 'string', default: '' },
      'srm-defect-users': { type: 'string', default: '6000' },
      seed: { type: 'string', default: '1' },
      jobs: { type: 'string', default: String(Math.min(2, availableParallelism())) },
      full: { type: 'boolean', default: false },
      only: { type: 'string', default: 'abc' },
      'look-projects': { type: 'string', default: '40' },
    },
  })
  const num = (name: keyof typeof args) => {
    const n = Number(args[name])
    if (!Number.isInteger(n) || n < 0) throw new Error(`--${name}: expected a whole number, got ${String(args[name])}`)
    return n
  }
  const PROJECTS = num('projects')
  const USERS = num('users')
  const REPS = num('reps')
  const HEALTHY = num('healthy')
  const DEFECT_USERS = num('defect-users')
  const SRM_DEFECT_USERS = num('srm-defect-users')
  const SEED = num('seed')
  const JOBS = Math.max(1, num('jobs'))
  const only = args.only ?? 'abc'
  const t0 = performance.now()
  let out = ''

  if (only.includes('a') && PROJECTS > 0) {
    const ta = performance.now()
    process.stderr.write(`bench:accuracy a: ${PROJECTS} healthy projects of ${FLAGS} flags, ${fmt(USERS)} users each, ${JOBS} jobs${args.full ? ', every event audited' : ', exposure events audited'}\n`)
    const tasks: Task[] = Array.from({ length: PROJECTS }, (_, i) => ({ kind: 'srm', seed: SEED * 100_000 + 1000 + i, users: USERS, full: args.full ?? false, verify: i === 0 }))
    const results = (await runPool(tasks, JOBS, 'sample_ratio')) as SrmResult[]
    const mismatches = results.flatMap((r) => r.mismatches ?? [])
    if (mismatches.length) throw new Error(`the exposures-only audit disagrees with the full audit on sample_ratio:\n${mismatches.join('\n')}`)
    const threshold = results[0]?.threshold ?? NOMINAL_DEFAULT
    const secondsA = (performance.now() - ta) / 1000

    const rows: { label: string; nominal: number; trials: SrmTrial[] }[] = [
      { label: 'default', nominal: threshold, trials: results.flatMap((r) => r.trials.default) },
      { label: `srmPValue = ${LOOSE}`, nominal: LOOSE, trials: results.flatMap((r) => r.trials.loose) },
    ]
    const ran = (t: SrmTrial) => t.status === 'pass' || t.status === 'fail'
    const allTrials = rows[0]!.trials
    const tested = allTrials.filter(ran)
    const units = tested.map((t) => t.units)
    const events = results.reduce((a, r) => a + r.events, 0)
    out += `\n### sample_ratio false alarms on healthy projects\n\n`
    out += `${PROJECTS} simulated projects without defects (${FLAGS} flags, ${fmt(USERS)} users, ${DAYS} days, seeds ${tasks[0]!.seed}..${tasks.at(-1)!.seed}; ${fmt(events)} events), ${(secondsA).toFixed(0)} s; `
    out += 'person ids depend on the seed, so every project draws its own assignment. '
    out += `A trial is a flag where sample_ratio ran (status pass or fail): ${fmt(tested.length)} of ${fmt(allTrials.length)} flag results; units tested per trial: median ${fmt(median(units))}, min ${fmt(Math.min(...units))}, max ${fmt(Math.max(...units))}.\n\n`
    out += '| srmPValue | trials | alarms (fail) | observed rate | 95% Wilson interval | nominal p | observed / nominal |\n|---|---:|---:|---:|---:|---:|---:|\n'
    for (const row of rows) {
      const t = row.trials.filter(ran)
      const k = t.filter((x) => x.status === 'fail').length
      const [lo, hi] = wilson(k, t.length)
      out += `| ${row.label} (${row.nominal}) | ${fmt(t.length)} | ${fmt(k)} | ${pctText(k / t.length, 3)} | ${pctText(lo, 3)} to ${pctText(hi, 3)} | ${pctText(row.nominal, 1)} | ${(k / t.length / row.nominal).toFixed(2)} |\n`
    }
    // The same trials by flag kind (srmPValue = 0.05), and the p-values' calibration.
    out += `\nBy flag kind at srmPValue = ${LOOSE}:\n\n| flag kind | trials | alarms | observed rate | 95% Wilson interval |\n|---|---:|---:|---:|---:|\n`
    const loose = rows[1]!.trials.filter(ran)
    for (const kind of [...new Set(loose.map((t) => t.flagKind))].sort()) {
      const t = loose.filter((x) => x.flagKind === kind)
      const k = t.filter((x) => x.status === 'fail').length
      const [lo, hi] = wilson(k, t.length)
      out += `| ${kind} | ${fmt(t.length)} | ${fmt(k)} | ${pctText(k / t.length)} | ${pctText(lo)} to ${pctText(hi)} |\n`
    }
    // Alarms per flag of the template: with fixed keys they pile up on the flags whose user pool is uneven.
    const perFlag = new Map<string, number>()
    for (const t of loose) if (t.status === 'fail') perFlag.set(t.flag.replace(/~s\d+$/, ''), (perFlag.get(t.flag.replace(/~s\d+$/, '')) ?? 0) + 1)
    const top = [...perFlag].sort((a, b) => b[1] - a[1])
    out += `\nAlarms at srmPValue = ${LOOSE} by flag (of ${PROJECTS} projects each; ${top.length} of ${FLAGS} flags have any): ${top.slice(0, 6).map(([k, n]) => `${k} ${n}`).join(', ') || '-'}${top.length > 6 ? ', ...' : ''}.\n`
    const ps = tested.map((t) => t.p).filter((p): p is number => p !== null)
    out += `\nCalibration: share of the ${fmt(ps.length)} p-values (evidence.p_value) below each level; under no mismatch it should be about the level.\n\n| level | share below | 95% Wilson interval |\n|---:|---:|---:|\n`
    for (const level of [0.001, 0.01, 0.05, 0.1, 0.25, 0.5]) {
      const k = ps.filter((p) => p < level).length
      const [lo, hi] = wilson(k, ps.length)
      out += `| ${level} | ${pctText(k / ps.length)} | ${pctText(lo)} to ${pctText(hi)} |\n`
    }
    // Consistency: the statuses must follow the p-values and the configured threshold.
    for (const row of rows) {
      const wrong = row.trials.filter((t) => ran(t) && t.p !== null && (t.status === 'fail') !== t.p < row.nominal)
      if (wrong.length) out += `\n**Inconsistent**: ${wrong.length} trials at ${row.label} whose status does not follow p < ${row.nominal}, e.g. ${JSON.stringify(wrong[0])}\n`
    }
    const skipped = new Map<string, number>()
    for (const t of allTrials.filter((x) => !ran(x))) skipped.set(t.status, (skipped.get(t.status) ?? 0) + 1)
    if (skipped.size) out += `\nNot counted: ${[...skipped].map(([s, n]) => `${n} ${s}`).join(', ')}.\n`
    process.stdout.write(out)
    out = ''
  }

  if (only.includes('b') && (REPS > 0 || HEALTHY > 0)) {
    const tb = performance.now()
    const tasks: MixTask[] = []
    // A quarter of one variant's units lost is a mismatch chi-square sees reliably from about 1,500
    // units a flag (4x the users of the other projects); at 1,500 users it is a coin toss (power, not a miss).
    // A slice's loss (a quarter of the users) needs about twice the users of the other projects.
    const usersFor = (id: string) => (id === 'sample_ratio_mismatch' ? Math.max(DEFECT_USERS, SRM_DEFECT_USERS) : id === 'slice_exposure_loss' ? Math.max(DEFECT_USERS, 2 * DEFECT_USERS) : DEFECT_USERS)
    const chosen = args.defects ? (args.defects as string).split(',').map((d) => d.trim()) : null
    for (let r = 0; r < REPS; r++) DEFECT_IDS.forEach((id, k) => (chosen && !chosen.includes(id)) || tasks.push({ kind: 'mix', seed: SEED * 100_000 + 20_000 + r * 100 + k, users: usersFor(id), defects: id }))
    for (let h = 0; h < HEALTHY; h++) tasks.push({ kind: 'mix', seed: SEED * 100_000 + 30_000 + h, users: DEFECT_USERS, defects: 'none' })
    process.stderr.write(`bench:accuracy b: ${DEFECT_IDS.length} defects x ${REPS} seeds + ${HEALTHY} healthy projects, ${fmt(DEFECT_USERS)} users each, ${JOBS} jobs\n`)
    const results = (await runPool(tasks, JOBS, 'checks')) as MixResult[]
    const secondsB = (performance.now() - tb) / 1000

    type Counts = { tp: number; fn: number; fp: number; fpDefectFlag: number; fpHealthyProject: number; ran: number }
    const perCheck = new Map<CheckId, Counts>(CHECK_IDS.map((id) => [id, { tp: 0, fn: 0, fp: 0, fpDefectFlag: 0, fpHealthyProject: 0, ran: 0 }]))
    const fpWhere = new Map<string, { n: number; example: string }>()
    type DefectRow = { runs: number; allFired: number; verdictOk: number; verdicts: Map<string, number>; missed: Map<string, number>; extra: Map<string, number> }
    const perDefect = new Map<DefectId, DefectRow>()
    const bump = (m: Map<string, number>, k: string) => m.set(k, (m.get(k) ?? 0) + 1)
    let flagsJudged = 0
    let events = 0

    for (const r of results) {
      events += r.events
      const defectsOf = new Map<string, DefectId[]>()
      for (const d of r.injected) defectsOf.set(d.flag, [...(defectsOf.get(d.flag) ?? []), d.defect])
      for (const f of r.flags) {
        flagsJudged++
        const ds = defectsOf.get(f.key) ?? []
        const expected = new Set<string>(ds.flatMap((d) => DEFECTS.get(d)!.checks))
        const fired = new Set(f.checks.filter((c) => fires(c.status)).map((c) => c.id))
        for (const c of f.checks) {
          const row = perCheck.get(c.id)!
          if (c.status !== 'not_applicable') row.ran++
          if (expected.has(c.id)) {
            if (fires(c.status)) row.tp++
            else row.fn++
          } else if (fires(c.status)) {
            row.fp++
            if (ds.length) row.fpDefectFlag++
            if (r.injected.length === 0) row.fpHealthyProject++
            const where = `${c.id} | ${f.key} | ${ds.length ? `defect flag (${ds.join(', ')})` : r.injected.length ? `healthy flag, ${r.defects} project` : 'healthy project'}`
            const w = fpWhere.get(where) ?? { n: 0, example: `${c.status}: ${c.summary}` }
            w.n++
            fpWhere.set(where, w)
          }
        }
        for (const d of ds) {
          const row = perDefect.get(d) ?? { runs: 0, allFired: 0, verdictOk: 0, verdicts: new Map(), missed: new Map(), extra: new Map() }
          row.runs++
          const want = DEFECTS.get(d)!
          const missed = want.checks.filter((c) => !fired.has(c))
          if (missed.length === 0) row.allFired++
          for (const c of missed) bump(row.missed, c)
          for (const c of fired) if (!want.checks.includes(c as never)) bump(row.extra, c)
          if (f.verdict === want.verdict) row.verdictOk++
          bump(row.verdicts, f.verdict)
          perDefect.set(d, row)
        }
      }
    }

    out += `\n### Recall and precision per check\n\n`
    out += `${results.length} projects (${FLAGS} flags, ${fmt(DEFECT_USERS)} users, ${DAYS} days; ${fmt(events)} events; ${fmt(flagsJudged)} flag reports): each of the ${DEFECT_IDS.length} defects alone in ${REPS} projects with different seeds (sample_ratio_mismatch with ${fmt(Math.max(DEFECT_USERS, SRM_DEFECT_USERS))} users), and ${HEALTHY} healthy projects; ${secondsB.toFixed(0)} s. `
    out += `A check fires when its status is warn or fail. TP: it fired on a flag whose injected defect expects it; FN: it did not; FP: it fired on any other flag (the defect's own flag included, when the defect does not expect that check).\n\n`
    out += '| check | TP | FN | FP | recall | precision | FP on the defect\'s own flag | FP in healthy projects | flags where it ran |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|\n'
    for (const [id, c] of perCheck) {
      out += `| ${id} | ${c.tp} | ${c.fn} | ${c.fp} | ${ratioText(c.tp, c.tp + c.fn)} | ${ratioText(c.tp, c.tp + c.fp)} | ${c.fpDefectFlag} | ${c.fpHealthyProject} | ${c.ran} |\n`
    }
    out += `\n### Per defect\n\n| defect | runs | all expected checks fired | verdict = expected | expected verdict | verdicts seen | expected checks missed | other checks fired on the flag |\n|---|---:|---:|---:|---|---|---|---|\n`
    const mapText = (m: Map<string, number>) => [...m].sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k} ${n}`).join(', ') || '-'
    for (const id of DEFECT_IDS) {
      const row = perDefect.get(id)
      if (!row) continue
      out += `| ${id} | ${row.runs} | ${row.allFired}/${row.runs} | ${row.verdictOk}/${row.runs} | ${DEFECTS.get(id)!.verdict} | ${mapText(row.verdicts)} | ${mapText(row.missed)} | ${mapText(row.extra)} |\n`
    }
    // The new findings: recall on the defects that inject them, false alarms on healthy projects.
    const healthy = results.filter((r) => r.injected.length === 0)
    out += `\n### New findings: recall on injected defects, false alarms on ${healthy.length} healthy projects\n\n`
    out += `Recall: flags carrying the defect where the finding was made (and named the right cause). False alarms: flags of healthy projects where the check fired (warn or fail), of the flags where it ran.\n\n`
    out += '| finding | injected by | recall | false alarms (healthy) | rate | 95% Wilson upper bound | threshold |\n|---|---|---:|---:|---:|---:|---|\n'
    for (const nf of NEW_FINDINGS) {
      let hit = 0
      let runs = 0
      for (const r of results) {
        const on = new Set(r.injected.filter((d) => nf.defects.includes(d.defect)).map((d) => d.flag))
        for (const f of r.flags) if (on.has(f.key)) (runs++, nf.found(f) && hit++)
      }
      let alarms = 0
      let ran = 0
      for (const r of healthy) for (const f of r.flags) {
        const c = f.checks.find((x) => x.id === nf.check)
        if (!c || c.status === 'not_applicable' || c.status === 'unknown') continue
        ran++
        if (fires(c.status)) alarms++
      }
      out += `| ${nf.finding} | ${nf.defects.join(', ')} | ${hit}/${runs} (${ratioText(hit, runs)}) | ${alarms}/${ran} | ${ran ? ((100 * alarms) / ran).toFixed(2) : '-'}% | ${ran ? (100 * wilson(alarms, ran)[1]).toFixed(2) : '-'}% | ${nf.nominal} |\n`
    }
    const fpRows = [...fpWhere].sort((a, b) => b[1].n - a[1].n)
    if (fpRows.length) {
      out += `\n### Where the false positives are (check, flag, what the flag is; ${fpRows.length} distinct)\n\n| check | flag | what the flag is | times | example summary |\n|---|---|---|---:|---|\n`
      for (const [where, w] of fpRows.slice(0, 25)) out += `| ${where} | ${w.n} | ${w.example.replace(/\|/g, '\\|')} |\n`
      if (fpRows.length > 25) out += `\n(${fpRows.length - 25} more rows left out)\n`
    }
    process.stdout.write(out)
    out = ''
  }
  if (only.includes('c')) {
    const t1 = performance.now()
    const trials = srmLookTrials({ projects: num('look-projects'), users: USERS, days: DAYS, seed: SEED + 5000, endMs: END })
    process.stdout.write(srmLooksSection(trials, wilson))
    process.stderr.write(`bench:accuracy: part c (hourly looks) ${((performance.now() - t1) / 1000).toFixed(0)} s\n`)
  }
  process.stderr.write(`bench:accuracy: ${((performance.now() - t0) / 1000).toFixed(0)} s in all\n`)
}

// ---------------------------------------------------------------------------------------------
// Entry: the parent runs main(); a child (forked with --child) runs tasks until the parent disconnects.

if (process.argv.includes('--child')) {
  process.on('message', (task: Task) => {
    const run = task.kind === 'srm' ? runSrm(task) : runMix(task)
    run.then(
      (result) => process.send!({ ok: true, result }),
      (e: unknown) => process.send!({ ok: false, error: e instanceof Error ? (e.stack ?? e.message) : String(e) }),
    )
  })
} else {
  await main()
}
