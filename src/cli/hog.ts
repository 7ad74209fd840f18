import { compileExpression } from '../hog/compile.js'
import { HogQLError } from '../hog/parser.js'
import { globalsOf, runBytecode } from '../hog/run.js'
import { readJsonFile } from './audit.js'
import { ExitError } from './errors.js'

async function compileOrExit(expression: string): Promise<unknown[]> {
  try {
    return await compileExpression(expression)
  } catch (e) {
    if (e instanceof HogQLError) throw new ExitError(e.message, 2)
    throw e
  }
}

/** `experiment-coverage hog compile 'EXPR'`: the bytecode PostHog's VM runs, as JSON. */
export async function runHogCompile(expression: string): Promise<void> {
  process.stdout.write(`${JSON.stringify(await compileOrExit(expression))}\n`)
}

/** `experiment-coverage hog eval 'EXPR' --event FILE.json`: what the expression gives on that event. */
export async function runHogEval(expression: string, eventFile: string): Promise<void> {
  const bytecode = await compileOrExit(expression)
  const event = readJsonFile(eventFile)
  if (typeof event !== 'object' || event === null || Array.isArray(event)) throw new ExitError(`${eventFile}: expected one event as a JSON object`, 2)
  let result: unknown
  try {
    result = runBytecode(bytecode, globalsOf(event as Record<string, unknown>))
  } catch (e) {
    throw new ExitError(`the expression failed on ${eventFile}: ${(e as Error).message}`, 1)
  }
  process.stdout.write(`${JSON.stringify(result)}\n`)
}
