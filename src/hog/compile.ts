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
  DICT: code('DICT'),
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
  /**
   * `filter`: the expression will run on each event as a real-time filter, so a query or `sql()`
   * inside it (which PostHog compiles to AST data, never true) is refused; otherwise it compiles
   * as PostHog's compiler does.
   */
  constructor(
    private readonly source: string,
    private readonly filter: boolean,
  ) {}

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
          // PostHog's own message (compiler/bytecode.py, visit_compare_operation).
          const value = (node.right as { node: string; value?: unknown }).node === 'Constant' ? (node.right as { value?: unknown }).value : undefined
          const name = value === undefined ? '' : Number.isInteger(value) ? ` (cohort id=${String(value)})` : ` (cohort: ${String(value)})`
          fail(`Can't use cohorts in real-time filters. Please inline the relevant expressions${name}.`, node, this.source)
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
      case 'Dict': {
        const items = (node.items as [AstNode, AstNode][]) ?? []
        return [...items.flatMap(([k, v]) => [...this.visit(k), ...this.visit(v)]), Operation.DICT, items.length]
      }
      case 'SelectQuery':
      case 'SelectSetQuery':
        // A query inside an expression is data (PostHog's "ast" mode), not something to compute.
        if (this.filter) fail(`${node.node} is not supported in a real-time filter`, node, this.source)
        return serializeAst(node)
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
    // PostHog's compiler turns and(...)/or(...) with two or more arguments into AND/OR. With one it
    // would call the STL function of that name; the filters PostHog stores are built from And/Or
    // nodes, whose text is exactly `or(and(event = '$pageview'))`, and their bytecode is AND 1 / OR 1
    // (["_H", 1, 32, "$pageview", 32, "event", 1, 1, 11, 3, 1, 4, 1]): the same result, the stored form.
    if ((name === 'and' || name === 'or') && args.length >= 1) return [...args.flatMap((a) => this.visit(a)), name === 'and' ? Operation.AND : Operation.OR, args.length]
    if (name === 'sql' && args.length === 1) {
      if (this.filter) fail('sql() builds a query, which a real-time filter cannot run', node, this.source)
      return serializeAst(args[0]!)
    }
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

/**
 * The fields of PostHog's AST nodes in their dataclass order (posthog/hogql/ast.py), with the
 * defaults the Python AST has and the parser's JSON leaves out. PostHog serialises a node as a
 * dict `{__hx_ast: <class>, <field>: <value>...}`, skipping start/end/type and None.
 */
const AST_FIELDS: Record<string, readonly (string | [string, unknown])[]> = {
  Constant: ['value'],
  Field: ['chain', ['from_asterisk', false]],
  ArithmeticOperation: ['left', 'right', 'op'],
  CompareOperation: ['left', 'right', 'op'],
  And: ['exprs'],
  Or: ['exprs'],
  Not: ['expr'],
  Alias: ['alias', 'expr', ['hidden', false]],
  Array: ['exprs'],
  Tuple: ['exprs'],
  Call: ['name', 'args', 'params', ['distinct', false]],
  SelectQuery: ['ctes', 'select', 'distinct', 'select_from', 'array_join_op', 'array_join_list', 'window_exprs', 'where', 'prewhere', 'having', 'group_by', 'order_by', 'limit', 'limit_by', 'limit_with_ties', 'offset', 'settings', 'view_name'],
  JoinExpr: ['join_type', 'table', 'table_args', 'alias', 'table_final', 'constraint', 'next_join', 'sample'],
  JoinConstraint: ['expr', 'constraint_type'],
  OrderExpr: ['expr', 'order'],
}

function serializeValue(value: unknown): Bytecode {
  if (Array.isArray(value)) return [...value.flatMap(serializeValue), Operation.ARRAY, value.length]
  if (value !== null && typeof value === 'object' && 'node' in value) return serializeAst(value as AstNode)
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
    return [...entries.flatMap(([k, v]) => [Operation.STRING, k, ...serializeValue(v)]), Operation.DICT, entries.length]
  }
  // PostHog checks `isinstance(value, int)` before `value is False`: Python booleans are ints, so they
  // go out as INTEGER true/false, as its compiler test expects (`op.INTEGER, False`).
  if (typeof value === 'boolean') return [Operation.INTEGER, value]
  if (typeof value === 'number') return Number.isInteger(value) ? [Operation.INTEGER, value] : [Operation.FLOAT, value]
  if (typeof value === 'string') return [Operation.STRING, value]
  return [Operation.NULL]
}

function serializeAst(node: AstNode): Bytecode {
  const raw = node as Record<string, unknown>
  const known = AST_FIELDS[node.node]
  const fields = known ?? Object.keys(raw).filter((k) => !['node', 'start', 'end', 'type'].includes(k))
  const out: Bytecode = [Operation.STRING, '__hx_ast', Operation.STRING, node.node]
  let count = 1
  for (const f of fields) {
    const [name, fallback] = Array.isArray(f) ? f : [f, undefined]
    const value = raw[name] ?? fallback
    if (value === undefined || value === null) continue
    out.push(Operation.STRING, name, ...serializeValue(value))
    count++
  }
  return [...out, Operation.DICT, count]
}

export function compileAst(ast: AstNode, source: string, opts: { realtimeFilter?: boolean } = {}): Bytecode {
  return [HOGQL_BYTECODE_IDENTIFIER, HOGQL_BYTECODE_VERSION, ...new ExpressionCompiler(source, opts.realtimeFilter ?? true).visit(ast)]
}

/**
 * Parses and compiles a HogQL expression; throws a HogQLError with the position of what is wrong.
 * By default it is compiled as a real-time filter; `realtimeFilter: false` compiles queries and
 * `sql()` to AST data as PostHog's compiler does.
 */
export async function compileExpression(source: string, opts: { realtimeFilter?: boolean } = {}): Promise<Bytecode> {
  return compileAst(await parseExpression(source), source, opts)
}
