#!/usr/bin/env node
import { Command, InvalidArgumentError, Option } from 'commander'
import { SettingsError } from '../coverage/settings.js'
import { runDemo } from './demo.js'
import { ExitError } from './errors.js'

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
    .showHelpAfterError()

  program
    .command('demo')
    .description('Feed a simulated project through the plugin (in-memory cache, no PostHog account) and print the per-variant counters')
    .option('--seed <n>', 'simulation seed', positiveInt('--seed'), 1)
    .option('--users <n>', 'simulated users', positiveInt('--users'), 3000)
    .option('--days <n>', 'days of traffic', positiveInt('--days'), 14)
    .addOption(new Option('--format <format>', 'output format').choices(['table', 'json']).default('table'))
    .action(async (opts) => {
      process.stdout.write(await runDemo(opts))
    })

  return program
}

async function main(argv: string[]): Promise<void> {
  try {
    await buildProgram().parseAsync(argv)
  } catch (e) {
    if (e instanceof ExitError || e instanceof SettingsError) {
      process.stderr.write(`experiment-coverage: ${e.message}\n`)
      process.exitCode = e instanceof ExitError ? e.code : 2
      return
    }
    throw e
  }
}

await main(process.argv)
