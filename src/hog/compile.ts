import hogvm from '@posthog/hogvm'
import { HogQLError, parseExpression, type AstNode } from './parser.js'

// Operation codes as the VM itself numbers them (its `operations` table), so the two never drift.
const OPS = new Map(hogvm.operations.map((name, code) => [name, code]))
function code(name: string): number {
  const c = OPS.get(name)
  if (c === undefined) throw new Error(`@posthog/hogvm has no operation ${name}`)
  return c
}
const Operation = {
  GET_GLOBAL: code('GET_GLOBAL'),
  CALL_GLOBAL: code('CALL_GLOBAL'),
  AND: code('AND'),
  OR: code('OR'),
  NOT: code('NOT'),
  PLUS: code('PLUS'),
  MINUS: code('MINUS'),
  MULTIPLY: code('MULTIPLY'),
  DIVIDE: code('DIVIDE'),
  MOD: code('MOD'),
  EQ: code('EQ'),
  NOT_EQ: code('NOT_EQ'),
  GT: code('GT'),
  GT_EQ: code('GT_EQ'),
  LT: code('LT'),
  LT_EQ: code('LT_EQ'),
  LIKE: code('LIKE'),
  ILIKE: code('ILIKE'),
  NOT_LIKE: code('NOT_LIKE'),
  NOT_ILIKE: code('NOT_ILIKE'),
  IN: code('IN'),
  NOT_IN: code('NOT_IN'),
  REGEX: code('REGEX'),
  NOT_REGEX: code('NOT_REGEX'),
  IREGEX: code('IREGEX'),
  NOT_IREGEX: code('NOT_IREGEX'),
  TRUE: code('TRUE'),
  FALSE: code('FALSE'),
  NULL: code('NULL'),
  STRING: code('STRING'),
  INTEGER: code('INTEGER'),
  FLOAT: code('FLOAT'),
  POP: code('POP'),
  JUMP: code('JUMP'),
  JUMP_IF_FALSE: code('JUMP_IF_FALSE'),
  ARRAY: code('ARRAY'),
  TUPLE: code('TUPLE'),
  GET_PROPERTY: code('GET_PROPERTY'),
  JUMP_IF_STACK_NOT_NULL: code('JUMP_IF_STACK_NOT_NULL'),
  GET_PROPERTY_NULLISH: code('GET_PROPERTY_NULLISH'),
} as const

/** Bytecode header: PostHog's identifier and version (common/hogvm/python/operation.py). */
export const HOGQL_BYTECODE_IDENTIFIER = '_H'
export const HOGQL_BYTECODE_VERSION = 1

const COMPARE: Record<string, number> = {
  '==': Operation.EQ,
  '!=': Operation.NOT_EQ,
  '>': Operation.GT,
  '>=': Operation.GT_EQ,
  '<': Operation.LT,
  '<=': Operation.LT_EQ,
  like: Operation.LIKE,
  ilike: Operation.ILIKE,
  'not like': Operation.NOT_LIKE,
  'not ilike': Operation.NOT_ILIKE,
  in: Operation.IN,
  'not in': Operation.NOT_IN,
  '=~': Operation.REGEX,
  '!~': Operation.NOT_REGEX,
  '=~*': Operation.IREGEX,
  '!~*': Operation.NOT_IREGEX,
}

const ARITHMETIC: Record<string, number> = {
  '+': Operation.PLUS,
  '-': Operation.MINUS,
  '*': Operation.MULTIPLY,
  '/': Operation.DIVIDE,
  '%': Operation.MOD,
}

type Bytecode = (string | number | boolean)[]

function fail(message: string, node: AstNode, source: string): never {
  throw new HogQLError(message, node.start?.offset ?? null, source)
}

/**
 * Compiles one HogQL expression's AST to Hog bytecode, following PostHog's compiler
 * (posthog/hogql/compiler/bytecode.py): operands right before left, `and`/`or` with their arity,
 * fields as a chain read from the globals, short-circuit forms for if/multiIf/ifNull. What a
 * real-time filter cannot run (cohorts, unknown functions, queries) is refused with its position.
 */
class ExpressionCompiler {
  constructor(private readonly source: string) {}

  visit(node: AstNode): Bytecode {
    switch (node.node) {
      case 'Constant':
        return this.constant(node)
      case 'Field':
        return this.field(node)
      case 'And':
      case 'Or': {
        const exprs = node.exprs as AstNode[]
        return [...exprs.flatMap((e) => this.visit(e)), node.node === 'And' ? Operation.AND : Operation.OR, exprs.length]
      }
      case 'Not':
        return [...this.visit(node.expr as AstNode), Operation.NOT]
      case 'CompareOperation': {
        const op = node.op as string
        if (op === 'in cohort' || op === 'not in cohort') {
          const right = node.right as AstNode
          const id = right.node === 'Constant' ? ` (cohort ${String((right as { value?: unknown }).value)})` : ''
          fail(`Cohorts cannot be used in real-time filters; inline the cohort's conditions${id}`, node, this.source)
        }
        const code = COMPARE[op]
        if (code === undefined) fail(`The comparison "${op}" is not supported`, node, this.source)
        return [...this.visit(node.right as AstNode), ...this.visit(node.left as AstNode), code]
      }
      case 'ArithmeticOperation': {
        const code = ARITHMETIC[node.op as string]
        if (code === undefined) fail(`The operator "${String(node.op)}" is not supported`, node, this.source)
        return [...this.visit(node.right as AstNode), ...this.visit(node.left as AstNode), code]
      }
      case 'BetweenExpr': {
        const [expr, low, high] = [node.expr, node.low, node.high] as AstNode[]
        if (node.negated) return [...this.visit(low!), ...this.visit(expr!), Operation.LT, ...this.visit(high!), ...this.visit(expr!), Operation.GT, Operation.OR, 2]
        return [...this.visit(low!), ...this.visit(expr!), Operation.GT_EQ, ...this.visit(high!), ...this.visit(expr!), Operation.LT_EQ, Operation.AND, 2]
      }
      case 'Call':
        return this.call(node)
      case 'Array': {
        const exprs = (node.exprs as AstNode[]) ?? []
        return [...exprs.flatMap((e) => this.visit(e)), Operation.ARRAY, exprs.length]
      }
      case 'Tuple': {
        const exprs = (node.exprs as AstNode[]) ?? []
        return [...exprs.flatMap((e) => this.visit(e)), Operation.TUPLE, exprs.length]
      }
      case 'ArrayAccess': {
        const property = node.property as AstNode
        if (property.node === 'Constant' && (property as { value?: unknown }).value === 0) fail('Array access starts from 1', node, this.source)
        return [...this.visit(node.array as AstNode), ...this.visit(property), node.nullish ? Operation.GET_PROPERTY_NULLISH : Operation.GET_PROPERTY]
      }
      case 'TupleAccess':
        return [...this.visit(node.tuple as AstNode), Operation.INTEGER, node.index as number, node.nullish ? Operation.GET_PROPERTY_NULLISH : Operation.GET_PROPERTY]
      case 'Alias':
        return this.visit(node.expr as AstNode)
      default:
        return fail(`${node.node} is not supported in a real-time filter`, node, this.source)
    }
  }

  private constant(node: AstNode): Bytecode {
    const value = node.value as unknown
    if (value === true) return [Operation.TRUE]
    if (value === false) return [Operation.FALSE]
    if (value === null || value === undefined) return [Operation.NULL]
    if (typeof value === 'object' && value !== null && '__float' in value) return [Operation.FLOAT, (value as { __float: number }).__float]
    if (typeof value === 'number') return Number.isInteger(value) ? [Operation.INTEGER, value] : [Operation.FLOAT, value]
    if (typeof value === 'string') return [Operation.STRING, value]
    return fail(`A constant of type ${typeof value} is not supported`, node, this.source)
  }

  private field(node: AstNode): Bytecode {
    // An expression has no local variables: every field is read from the globals (the event).
    const chain = node.chain as (string | number)[]
    return [...[...chain].reverse().flatMap((part) => [Operation.STRING, part]), Operation.GET_GLOBAL, chain.length]
  }

  private call(node: AstNode): Bytecode {
    const name = node.name as string
    const args = (node.args as AstNode[]) ?? []
    if (name === 'not' && args.length === 1) return [...this.visit(args[0]!), Operation.NOT]
    if ((name === 'and' || name === 'or') && args.length > 1) return [...args.flatMap((a) => this.visit(a)), name === 'and' ? Operation.AND : Operation.OR, args.length]
    if (name === 'if' && args.length >= 2) return this.ifThen(args[0]!, args[1]!, args[2])
    if (name === 'multiIf' && args.length >= 2) {
      if (args.length <= 3) return this.ifThen(args[0]!, args[1]!, args[2])
      let rest: Bytecode | null = args.length % 2 === 0 ? null : this.visit(args[args.length - 1]!)
      for (let i = args.length - 2 - (args.length % 2); i >= 0; i -= 2) {
        const cond = this.visit(args[i]!)
        const then = this.visit(args[i + 1]!)
        rest = [...cond, Operation.JUMP_IF_FALSE, then.length + (rest ? 2 : 0), ...then, ...(rest ? [Operation.JUMP, rest.length, ...rest] : [])]
      }
      return rest!
    }
    if (name === 'ifNull' && args.length === 2) {
      const fallback = this.visit(args[1]!)
      return [...this.visit(args[0]!), Operation.JUMP_IF_STACK_NOT_NULL, fallback.length + 1, Operation.POP, ...fallback]
    }
    if (node.params) fail(`${name}(...)(...) with parameters is not supported in a real-time filter`, node, this.source)
    if (!(name in hogvm.STL)) fail(`The function ${name}() is not available in real-time filters`, node, this.source)
    return [...args.flatMap((a) => this.visit(a)), Operation.CALL_GLOBAL, name, args.length]
  }

  private ifThen(condition: AstNode, thenNode: AstNode, elseNode: AstNode | undefined): Bytecode {
    const cond = this.visit(condition)
    const then = this.visit(thenNode)
    const otherwise = elseNode ? this.visit(elseNode) : null
    return [...cond, Operation.JUMP_IF_FALSE, then.length + (otherwise ? 2 : 0), ...then, ...(otherwise ? [Operation.JUMP, otherwise.length, ...otherwise] : [])]
  }
}

export function compileAst(ast: AstNode, source: string): Bytecode {
  return [HOGQL_BYTECODE_IDENTIFIER, HOGQL_BYTECODE_VERSION, ...new ExpressionCompiler(source).visit(ast)]
}

/** Parses and compiles a HogQL expression; throws a HogQLError with the position of what is wrong. */
export async function compileExpression(source: string): Promise<Bytecode> {
  return compileAst(await parseExpression(source), source)
}
