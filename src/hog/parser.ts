import createHogQLParser, { type HogQLParser } from '@posthog/hogql-parser'

/** PostHog's own HogQL grammar (ANTLR, compiled to WebAssembly); loaded once, on first use. */
let parser: Promise<HogQLParser> | null = null

export function hogqlParser(): Promise<HogQLParser> {
  parser ??= createHogQLParser()
  return parser
}

export interface Position {
  readonly line: number
  readonly column: number
  readonly offset: number
}

export interface AstNode {
  readonly node: string
  readonly start?: Position
  readonly end?: Position
  readonly [key: string]: unknown
}

/** A HogQL text that does not parse, or uses what a real-time filter cannot: says where. */
export class HogQLError extends Error {
  constructor(
    message: string,
    readonly offset: number | null,
    readonly source: string,
  ) {
    super(offset === null ? message : `${message} (at character ${offset + 1}: ${JSON.stringify(source.slice(offset, offset + 20))})`)
    this.name = 'HogQLError'
  }
}

// Floats print with a decimal point in the parser's JSON ("2.0", "3.1400000000000001"); JSON.parse
// would make 2.0 an integer. Marking them keeps INTEGER and FLOAT apart, as PostHog's compiler does.
const FLOAT_VALUE = /"value":(-?\d+\.\d+(?:[eE][+-]?\d+)?|-?\d+[eE][+-]?\d+)(?=[,}])/g

function parseJson(text: string): AstNode | { error: true; message: string; start?: Position } {
  return JSON.parse(text.replace(FLOAT_VALUE, '"value":{"__float":$1}')) as AstNode
}

/** Parses one HogQL expression, or throws a HogQLError naming the position. */
export async function parseExpression(source: string): Promise<AstNode> {
  const p = await hogqlParser()
  const ast = parseJson(p.parseExpr(source, false))
  if ('error' in ast && ast.error) throw new HogQLError(`HogQL does not parse: ${ast.message}`, ast.start?.offset ?? null, source)
  return ast as AstNode
}

/** Parses a whole SELECT, or throws a HogQLError naming the position. */
export async function parseSelect(source: string): Promise<AstNode> {
  const p = await hogqlParser()
  return selectOfParserJson(p.parseSelect(source, false), source)
}

/**
 * The SELECT in the parser's JSON for `source` (parseSelect's answer, with or without positions),
 * or a HogQLError naming the position.
 */
export function selectOfParserJson(json: string, source: string): AstNode {
  const ast = parseJson(json)
  if ('error' in ast && ast.error) throw new HogQLError(`HogQL does not parse: ${ast.message}`, ast.start?.offset ?? null, source)
  return ast as AstNode
}

/** Parses a Hog program (statements, `let`, functions), or throws a HogQLError naming the position. */
export async function parseProgram(source: string): Promise<AstNode> {
  const p = await hogqlParser()
  const ast = parseJson(p.parseProgram(source, false))
  if ('error' in ast && ast.error) throw new HogQLError(`Hog does not parse: ${ast.message}`, ast.start?.offset ?? null, source)
  return ast as AstNode
}
