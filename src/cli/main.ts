#!/usr/bin/env node
import { readFileSync } from 'node:fs'
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander'
import { SettingsError } from '../settings/settings.js'
import { runAudit } from './audit.js'
import { runDemo } from './demo.js'
import { DEMO_PROJECT } from '../sim/demo.js'
import { runHogCompile, runHogEval } from './hog.js'
import { FORMATS } from './formats.js'
import { runSimulate } from './simulate.js'
import { SCENARIOS } from '../sim/scenarios.js'
import { ExitError } from './errors.js'
import { MAX_LINE_CHARS } from './read-ndjson.js'
import { forTerminal } from './terminal.js'
import { DEFAULT_MAX_BODY_BYTES, ProjectError, runServe } from './serve.js'
import { readSecretOptions } from './secret-options.js'
import { DEFAULT_DESTINATION_NAME, runConnect, runDisconnect } from './connect.js'
import { runPublish } from './publish.js'
import { runMcp } from './mcp.js'

function positiveInt(name: string) {
  return (value: string): number => {
    const n = Number(value)
    if (!Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError(`${name} must be a whole number of at least 1`)
    return n
  }
}

export function buildProgram(): Command {
  const program = new Command('experiment-coverage')
    .description('Per-variant exposure coverage for PostHog feature flags and experiments')
    .version(packageVersion(), '-V, --version', 'print the version')
    .showHelpAfterError()
    .addHelpText('after', '\nExit codes: 0 done; 1 audit --fail-on found a flag with that verdict, or PostHog refused a request; 2 bad input (an unknown option, a missing or bad value, a file that cannot be read).')
    // Commander throws instead of exiting, so main() maps its errors to the exit codes (USAGE_EXIT).
    // Set before the commands are added: each inherits it.
    .exitOverride()

  program
    .command('demo')
    .description('Feed a simulated project of twenty flags through the plugin (in-memory cache, no PostHog account) and print its coverage table and readout')
    .option('--seed <n>', 'simulation seed', positiveInt('--seed'), DEMO_PROJECT.seed)
    .option('--users <n>', 'simulated users', positiveInt('--users'), DEMO_PROJECT.users)
    .option('--days <n>', 'days of traffic', positiveInt('--days'), DEMO_PROJECT.days)
    .addOption(new Option('--format <format>', 'output format').choices(FORMATS).default('table'))
    .action(async (opts) => {
      process.stdout.write(await runDemo(opts))
    })

  program
    .command('audit')
    .description('Judge coverage: offline from PostHog-shaped files (events through the plugin), or online from a PostHog project (POSTHOG_HOST, POSTHOG_PROJECT_ID, POSTHOG_PERSONAL_API_KEY) with a HogQL backfill')
    .option('--events <file>', 'events, one JSON object a line: {uuid, event, distinct_id, timestamp, properties, person?} (.ndjson or .ndjson.gz)')
    .option('--flags <file>', 'feature flags as GET /api/projects/:id/feature_flags/ returns them')
    .option('--experiments <file>', 'experiments as GET /api/projects/:id/experiments/:id/ returns each (a list)')
    .option('--cohorts <file>', 'cohorts as GET /api/projects/:id/cohorts/ returns them')
    .option('--group-types <file>', 'group types as GET /api/projects/:id/groups_types/ returns them')
    .option('--activity <file>', "the flags' history as GET /api/projects/:id/feature_flags/activity/ returns it (a page, a list of pages, or their entries): what changed while each experiment ran")
    .option('--config <file>', 'plugin settings as JSON (thresholds, goal and guardrail events)')
    .option('--now <date>', 'judge as of this moment (default: the latest event)')
    .option('--max-line <chars>', 'longest event line read, in characters; longer lines are skipped with their line number', positiveInt('--max-line'), MAX_LINE_CHARS)
    .addOption(new Option('--format <format>', 'output format').choices(FORMATS).default('table'))
    .option('--out <file>', 'write the output to a file instead of stdout')
    .addOption(new Option('--fail-on <verdict>', 'exit 1 when any flag has this verdict (or worse)').choices(['blocked', 'needs_backfill']))
    .option('--compare <report.json>', 'an earlier run\'s report (--format json): say what changed since, and the gaps that recur')
    .action(async (opts) => {
      const { exitCode } = await runAudit(opts)
      process.exitCode = exitCode
    })

  program
    .command('simulate')
    .description('Write a simulated PostHog project as offline audit input: events.ndjson, flags.json, experiments.json, cohorts.json, truth.json')
    .requiredOption('--out <dir>', 'directory to write into')
    .option('--seed <n>', 'simulation seed (same seed, same files)', positiveInt('--seed'), 1)
    .option('--flags <n>', 'feature flags and experiments (20 gives the demo project)', positiveInt('--flags'), 20)
    .option('--users <n>', 'simulated people', positiveInt('--users'), 3000)
    .option('--days <n>', 'days of traffic', positiveInt('--days'), 14)
    .option('--defects <list>', 'mix (each defect once), none, or a comma list of id[@flag][:size]', 'mix')
    .option('--end <date>', 'end of the window (default: the start of this hour, UTC)')
    .option('--gzip', 'write events.ndjson.gz', false)
    .option('--redeliver <share>', 'share of events delivered twice with the same uuid', shareArg('--redeliver'), 0)
    .option('--scenario <name>', `a named project: ${Object.entries(SCENARIOS).map(([k, s]) => `${k} (${s.description})`).join('; ')}`)
    .action(async (opts, cmd: Command) => {
      await runSimulate({ ...opts, given: { days: cmd.getOptionValueSource('days') === 'cli', defects: cmd.getOptionValueSource('defects') === 'cli' } })
    })

  const hostOptions = (cmd: Command) =>
    cmd
      .addOption(new Option('--data-dir <dir>', 'where the SQLite store and the generated secret key live').env('COVERAGE_DATA_DIR').default('.coverage'))
      .addOption(new Option('--redis <url>', 'Redis for the counters (meta.cache), shared by every host process; default: in memory').env('REDIS_URL'))
      .addOption(new Option('--redis-cluster <nodes>', 'a Redis Cluster instead: its nodes, host:port,host:port,...').env('REDIS_CLUSTER_NODES'))
      .addOption(new Option('--database <url>', 'PostgreSQL for storage, shared by every host process; default: SQLite in --data-dir').env('DATABASE_URL'))

  hostOptions(
    program
      .command('serve')
      .description('Run the host: the plugin per project, fed by PostHog\'s HTTP Webhook destination at POST /ingest/:project, with its JSON API; the demo project when none is configured')
      .addOption(new Option('--port <n>', 'port to listen on (0: any free one)').env('PORT').default(8787).argParser(portArg))
      .addOption(new Option('--hostname <address>', 'address to bind; beyond loopback every API request needs COVERAGE_API_TOKEN').env('COVERAGE_HOSTNAME').default('127.0.0.1'))
      .addOption(new Option('--secret <whsec>', 'the intake signing secret for projects added at start (Standard Webhooks, whsec_...); default: one generated per project. Prefer the environment or --secret-file: ps shows a command line').env('COVERAGE_INGEST_SECRET'))
      .addOption(new Option('--secret-file <file>', 'read the intake signing secret from this file').env('COVERAGE_INGEST_SECRET_FILE'))
      .addOption(new Option('--api-token <token>', 'token every /api and /metrics request must carry as Authorization: Bearer. Prefer the environment or --api-token-file: ps shows a command line').env('COVERAGE_API_TOKEN'))
      .addOption(new Option('--api-token-file <file>', 'read the API token from this file').env('COVERAGE_API_TOKEN_FILE'))
      .addOption(new Option('--public-url <url>', 'the address PostHog reaches this host at (printed intake URLs)').env('COVERAGE_PUBLIC_URL'))
      .addOption(new Option('--cors-origin <origins>', 'origins (comma-separated) whose pages may call the API: a self-hosted PostHog showing the legacy scene').env('COVERAGE_CORS_ORIGINS'))
      .addOption(new Option('--site-dir <dir>', 'serve the UI built in this folder (vite build) instead of dist/site').env('COVERAGE_SITE_DIR'))
      .option('--demo', 'also serve the demo project, fed by the simulator over HTTP (the default when no project is configured)', false)
      .option('--demo-rate <n>', 'at most this many demo events posted a second (each is posted when its time comes; a feed that fell behind catches up at this pace)', positiveInt('--demo-rate'), 300)
      .option('--max-body <bytes>', 'largest intake body', positiveInt('--max-body'), DEFAULT_MAX_BODY_BYTES),
  ).action(async (opts, cmd: Command) => {
    await runServe(readSecretOptions(opts, (key) => cmd.getOptionValueSource(key), warn))
  })

  hostOptions(
    program
      .command('connect')
      .description('Create or update (found by name) the HTTP Webhook destination that feeds this host, in the PostHog project of POSTHOG_HOST / POSTHOG_PROJECT_ID / POSTHOG_PERSONAL_API_KEY')
      .addOption(new Option('--url <url>', 'the address PostHog reaches this host at').env('COVERAGE_PUBLIC_URL'))
      .option('--name <name>', 'the destination\'s name in PostHog (how connect finds it again)', DEFAULT_DESTINATION_NAME)
      .addOption(new Option('--secret <whsec>', 'use this signing secret for the project instead of the stored one. Prefer the environment or --secret-file: ps shows a command line').env('COVERAGE_INGEST_SECRET'))
      .addOption(new Option('--secret-file <file>', 'read that signing secret from this file').env('COVERAGE_INGEST_SECRET_FILE'))
      .option('--dry-run', 'print the request instead of sending it', false),
  ).action(async (opts, cmd: Command) => {
    await runConnect(readSecretOptions(opts, (key) => cmd.getOptionValueSource(key), warn))
  })

  program
    .command('publish')
    .description('Write the review into the PostHog project of POSTHOG_HOST / POSTHOG_PROJECT_ID / POSTHOG_PERSONAL_API_KEY: coverage tags beside each flag, the "Experiment coverage" notebook, one event per flag')
    .option('--report <file>', 'publish this report (audit --format json) instead of running the online audit')
    .option('--tag-prefix <prefix>', 'only tags with this prefix are added or removed', 'coverage:')
    .addOption(new Option('--host-url <url>', 'the host\'s public address, for the notebook\'s embeds').env('COVERAGE_PUBLIC_URL'))
    .option('--config <file>', 'plugin settings as JSON, for the online audit')
    .option('--dry-run', 'print every request instead of writing', false)
    .action(async (opts) => {
      await runPublish(opts)
    })

  program
    .command('disconnect')
    .description('Remove the destination that connect created (PATCH deleted: true, as PostHog removes hog functions)')
    .option('--name <name>', 'the destination\'s name in PostHog', DEFAULT_DESTINATION_NAME)
    .option('--dry-run', 'say what would be sent', false)
    .action(async (opts) => {
      await runDisconnect(opts)
    })

  program
    .command('mcp')
    .description('Serve the coverage review to an assistant over MCP (stdio): from a report file (--report), a running host (--host, its token from COVERAGE_API_TOKEN), or the PostHog project of POSTHOG_HOST / POSTHOG_PROJECT_ID / POSTHOG_PERSONAL_API_KEY (the online audit). See docs/mcp.md')
    .option('--report <file>', 'a report as audit --format json writes it')
    .option('--previous <file...>', 'earlier reports of the same project (audit --format json), for what changed and the recurring gaps')
    .option('--flags <file>', "with --report: the flags as GET /api/projects/:id/feature_flags/ returns them, for their tags")
    .option('--host <url>', "a running host's address; its API token from COVERAGE_API_TOKEN or --api-token-file")
    .addOption(new Option('--api-token-file <file>', "read the host's API token from this file").env('COVERAGE_API_TOKEN_FILE'))
    .option('--config <file>', 'plugin settings as JSON, for the online audit')
    .action(async (opts) => {
      await runMcp({ ...opts, version: packageVersion() })
    })

  const hog = program.command('hog').description('Check a HogQL matcher before you save it: compile it to Hog bytecode, or run it on an event')
  hog
    .command('compile')
    .description('Print the bytecode of a HogQL expression as JSON (what PostHog\'s Hog VM runs)')
    .argument('<expression>', "a HogQL expression, e.g. \"properties.plan = 'pro'\"")
    .action(async (expression: string) => {
      await runHogCompile(expression)
    })
  hog
    .command('eval')
    .description('Run a HogQL expression on one event and print the result')
    .argument('<expression>', 'a HogQL expression')
    .requiredOption('--event <file>', 'one event as JSON: {event, distinct_id, properties, person?, ...}')
    .action(async (expression: string, opts: { event: string }) => {
      await runHogEval(expression, opts.event)
    })

  return program
}

/**
 * The exit code of bad input (an unknown option, a missing argument, a bad value), as for a file
 * that cannot be read: 2, so a CI step tells a typo from `--fail-on`'s finding (1).
 */
const USAGE_EXIT = 2

/** This package's version, from its package.json: two folders up from src/cli, three from dist/src/cli. */
function packageVersion(): string {
  for (const rel of ['../../package.json', '../../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(rel, import.meta.url), 'utf8')) as { name?: string; version?: string }
      if (pkg.name === 'experiment-coverage' && pkg.version) return pkg.version
    } catch {
      // not this folder
    }
  }
  return 'unknown'
}

/** A warning for a person, on stderr (machine output stays on stdout). */
function warn(message: string): void {
  process.stderr.write(`experiment-coverage: warning: ${forTerminal(message)}\n`)
}

function portArg(value: string): number {
  const n = Number(value)
  if (!Number.isSafeInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('--port must be a port number from 0 to 65535')
  return n
}

function shareArg(name: string) {
  return (value: string): number => {
    const n = Number(value)
    if (!(n >= 0 && n < 1)) throw new InvalidArgumentError(`${name} must be a share from 0 to below 1`)
    return n
  }
}

async function main(argv: string[]): Promise<void> {
  try {
    await buildProgram().parseAsync(argv)
  } catch (e) {
    // Commander has printed its message (and the help) already: --help and --version end with 0, a usage error with 2.
    if (e instanceof CommanderError) {
      process.exitCode = e.exitCode === 0 ? 0 : USAGE_EXIT
      return
    }
    if (e instanceof ProjectError) {
      process.stderr.write(`experiment-coverage: ${forTerminal(e.message)}${e.problems.map((p) => `\n- ${p.key}: ${forTerminal(p.message)}`).join('')}\n`)
      process.exitCode = 2
      return
    }
    if (e instanceof ExitError || e instanceof SettingsError) {
      process.stderr.write(`experiment-coverage: ${forTerminal(e.message)}\n`)
      process.exitCode = e instanceof ExitError ? e.code : 2
      return
    }
    throw e
  }
}

await main(process.argv)
