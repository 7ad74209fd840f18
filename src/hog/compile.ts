import hogvm from '@posthog/hogvm'
import { HogQLError, parseExpression, parseProgram, type AstNode } from './parser.js'

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
  SET_PROPERTY: code('SET_PROPERTY'),
  RETURN: code('RETURN'),
  GET_LOCAL: code('GET_LOCAL'),
  SET_LOCAL: code('SET_LOCAL'),
  GET_UPVALUE: code('GET_UPVALUE'),
  SET_UPVALUE: code('SET_UPVALUE'),
  CLOSE_UPVALUE: code('CLOSE_UPVALUE'),
  CALLABLE: code('CALLABLE'),
  CLOSURE: code('CLOSURE'),
  CALL_LOCAL: code('CALL_LOCAL'),
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
/** A variable of a Hog program, as PostHog's compiler tracks it. */
interface Local {
  readonly name: string
  readonly depth: number
  captured: boolean
}
interface UpValue {
  readonly index: number
  readonly isLocal: boolean
}

class BytecodeCompiler {
  readonly locals: Local[] = []
  readonly upvalues: UpValue[] = []
  private depth = 0

  /**
   * `filter`: the expression will run on each event as a real-time filter, so a query or `sql()`
   * inside it (which PostHog compiles to AST data, never true) is refused, and every function must
   * exist in the Hog VM; otherwise it compiles as PostHog's compiler does. A function's body is
   * compiled by a compiler of its own whose `enclosing` is the function's, with `args` as locals.
   */
  constructor(
    private readonly source: string,
    private readonly filter: boolean,
    private readonly enclosing: BytecodeCompiler | null = null,
    args: readonly string[] = [],
    private readonly inRepl = false,
  ) {
    for (const arg of args) this.declareLocal(arg, null)
  }

  private startScope(): void {
    this.depth++
  }

  /** Pops the scope's locals (closing the captured ones); a REPL keeps its top-level locals. */
  private endScope(): Bytecode {
    this.depth--
    if (this.inRepl && this.depth === 0) return []
    const out: Bytecode = []
    while (this.locals.length > 0 && this.locals[this.locals.length - 1]!.depth > this.depth) {
      out.push(this.locals.pop()!.captured ? Operation.CLOSE_UPVALUE : Operation.POP)
    }
    return out
  }

  private declareLocal(name: string, node: AstNode | null): number {
    for (let i = this.locals.length - 1; i >= 0 && this.locals[i]!.depth >= this.depth; i--) {
      if (this.locals[i]!.name === name) fail(`Variable \`${name}\` already declared in this scope`, node ?? { node: 'Program' }, this.source)
    }
    this.locals.push({ name, depth: this.depth, captured: false })
    return this.locals.length - 1
  }

  private localIndex(name: string): number {
    for (let i = this.locals.length - 1; i >= 0; i--) if (this.locals[i]!.name === name) return i
    return -1
  }

  private addUpvalue(index: number, isLocal: boolean): number {
    const found = this.upvalues.findIndex((u) => u.index === index && u.isLocal === isLocal)
    if (found >= 0) return found
    this.upvalues.push({ index, isLocal })
    return this.upvalues.length - 1
  }

  /** A variable of an enclosing function: captured there, reached here through an upvalue. */
  private resolveUpvalue(name: string): number {
    if (!this.enclosing) return -1
    const local = this.enclosing.localIndex(name)
    if (local >= 0) {
      this.enclosing.locals[local]!.captured = true
      return this.addUpvalue(local, true)
    }
    const up = this.enclosing.resolveUpvalue(name)
    return up === -1 ? -1 : this.addUpvalue(up, false)
  }

  private statements(list: readonly AstNode[]): Bytecode {
    this.startScope()
    const out = list.flatMap((d) => this.visit(d))
    return [...out, ...this.endScope()]
  }

  visit(node: AstNode): Bytecode {
    switch (node.node) {
      case 'Program':
      case 'Block':
        return this.statements((node.declarations as AstNode[]) ?? [])
      case 'ExprStatement':
        return node.expr ? [...this.visit(node.expr as AstNode), Operation.POP] : []
      case 'ReturnStatement':
        return [...(node.expr ? this.visit(node.expr as AstNode) : [Operation.NULL]), Operation.RETURN]
      case 'IfStatement':
        return this.ifThen(node.expr as AstNode, node.then as AstNode, (node.else_ as AstNode | null) ?? undefined)
      case 'VariableDeclaration':
        this.declareLocal(node.name as string, node)
        return node.expr ? this.visit(node.expr as AstNode) : [Operation.NULL]
      case 'VariableAssignment':
        return this.assignment(node)
      case 'Function':
        return this.function(node)
      case 'HogQLXTag':
        return this.tag(node)
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
    const chain = node.chain as (string | number)[]
    const head = String(chain[0])
    const local = this.localIndex(head)
    const up = local >= 0 ? -1 : this.resolveUpvalue(head)
    if (local >= 0 || up >= 0) {
      const out: Bytecode = local >= 0 ? [Operation.GET_LOCAL, local] : [Operation.GET_UPVALUE, up]
      for (const part of chain.slice(1)) out.push(typeof part === 'number' ? Operation.INTEGER : Operation.STRING, part, Operation.GET_PROPERTY)
      return out
    }
    // Neither a local nor an upvalue: read from the globals (in a filter, the event).
    return [...[...chain].reverse().flatMap((part) => [Operation.STRING, part]), Operation.GET_GLOBAL, chain.length]
  }

  /** `x := value` on a local or an upvalue, or on a property of one; never on a global (PostHog's rule and message). */
  private assignment(node: AstNode): Bytecode {
    const left = node.left as AstNode
    if (left.node === 'TupleAccess') return [...this.visit(left.tuple as AstNode), Operation.INTEGER, left.index as number, ...this.visit(node.right as AstNode), Operation.SET_PROPERTY]
    if (left.node === 'ArrayAccess') return [...this.visit(left.array as AstNode), ...this.visit(left.property as AstNode), ...this.visit(node.right as AstNode), Operation.SET_PROPERTY]
    if (left.node !== 'Field') return fail('Can not assign to this type of expression', node, this.source)
    const chain = left.chain as (string | number)[]
    const name = String(chain[0])
    const local = this.localIndex(name)
    const up = local >= 0 ? -1 : this.resolveUpvalue(name)
    if (local < 0 && up < 0) fail(`Variable "${name}" not declared in this scope. Can not assign to globals.`, node, this.source)
    const right = this.visit(node.right as AstNode)
    if (chain.length === 1) return [...right, local >= 0 ? Operation.SET_LOCAL : Operation.SET_UPVALUE, local >= 0 ? local : up]
    const out: Bytecode = local >= 0 ? [Operation.GET_LOCAL, local] : [Operation.GET_UPVALUE, up]
    for (const part of chain.slice(1, -1)) out.push(typeof part === 'number' ? Operation.INTEGER : Operation.STRING, part, Operation.GET_PROPERTY)
    const last = chain[chain.length - 1]!
    return [...out, typeof last === 'number' ? Operation.INTEGER : Operation.STRING, last, ...right, Operation.SET_PROPERTY]
  }

  /** `fun name(params) { ... }`: a callable with an implicit `return null`, closed over its upvalues. */
  private function(node: AstNode): Bytecode {
    const name = node.name as string
    const params = (node.params as string[]) ?? []
    let body = node.body as AstNode
    const declarations = body.node === 'Block' ? ((body.declarations as AstNode[]) ?? []) : [body]
    if (body.node !== 'ReturnStatement' && (declarations.length === 0 || declarations[declarations.length - 1]!.node !== 'ReturnStatement')) {
      body = { node: 'Block', declarations: [...declarations, { node: 'ReturnStatement', expr: null }] }
    }
    this.declareLocal(name, node)
    const inner = new BytecodeCompiler(this.source, this.filter, this, params)
    const code = inner.visit(body)
    return [
      Operation.CALLABLE,
      name,
      params.length,
      inner.upvalues.length,
      code.length,
      ...code,
      Operation.CLOSURE,
      inner.upvalues.length,
      ...inner.upvalues.flatMap((u) => [u.isLocal, u.index]),
    ]
  }

  /** `<Tag attr={...} />`: a dict with `__hx_tag`, or a call when the tag names a local function. */
  private tag(node: AstNode): Bytecode {
    const kind = node.kind as string
    const attributes = ((node.attributes as AstNode[]) ?? []).map((a) => [a.name as string, a.value] as const)
    const value = (v: unknown): Bytecode => (v !== null && typeof v === 'object' && 'node' in v ? this.visit(v as AstNode) : serializeValue(v))
    const attrs = attributes.flatMap(([k, v]) => [Operation.STRING, k, ...value(v)])
    if (this.localIndex(kind) >= 0 || this.resolveUpvalue(kind) >= 0) {
      return [...attrs, Operation.DICT, attributes.length, ...this.field({ node: 'Field', chain: [kind] }), Operation.CALL_LOCAL, 1]
    }
    return [Operation.STRING, '__hx_tag', Operation.STRING, kind, ...attrs, Operation.DICT, attributes.length + 1]
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
    const pushed = args.flatMap((a) => this.visit(a))
    // A function of the program itself (a local, or one of an enclosing function) is called as a closure.
    const local = this.localIndex(name)
    if (local >= 0) return [...pushed, Operation.GET_LOCAL, local, Operation.CALL_LOCAL, args.length]
    const up = this.resolveUpvalue(name)
    if (up >= 0) return [...pushed, Operation.GET_UPVALUE, up, Operation.CALL_LOCAL, args.length]
    if (this.filter && !(name in hogvm.STL)) fail(`The function ${name}() is not available in real-time filters`, node, this.source)
    return [...pushed, Operation.CALL_GLOBAL, name, args.length]
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

export function compileAst(ast: AstNode, source: string, opts: { realtimeFilter?: boolean; inRepl?: boolean } = {}): Bytecode {
  return [HOGQL_BYTECODE_IDENTIFIER, HOGQL_BYTECODE_VERSION, ...new BytecodeCompiler(source, opts.realtimeFilter ?? true, null, [], opts.inRepl ?? false).visit(ast)]
}

/**
 * Parses and compiles a Hog program (statements, `let`, functions), as PostHog's compiler does;
 * `inRepl` keeps the top-level locals on the stack, as its REPL does.
 */
export async function compileProgram(source: string, opts: { inRepl?: boolean } = {}): Promise<Bytecode> {
  return compileAst(await parseProgram(source), source, { realtimeFilter: false, inRepl: opts.inRepl })
}

/**
 * Compiles and runs a Hog program in @posthog/hogvm, as PostHog's `execute_hog` does: a one-line
 * program that is not an assignment is returned (`return <line>;`).
 */
export async function executeHog(source: string, globals: Record<string, unknown> = {}): Promise<unknown> {
  let text = source.trim()
  if (!text.includes('\n')) {
    if (!text.startsWith('return') && !text.includes(':=')) text = `return ${text}`
    if (!text.endsWith(';')) text = `${text};`
  }
  return plain(hogvm.exec(await compileProgram(text), { globals }).result)
}

/** The VM's dicts are Maps; as values they read like PostHog's (Python dicts): plain objects. */
function plain(value: unknown): unknown {
  if (value instanceof Map) return Object.fromEntries([...value].map(([k, v]) => [k, plain(v)]))
  if (Array.isArray(value)) return value.map(plain)
  return value
}

/**
 * Parses and compiles a HogQL expression; throws a HogQLError with the position of what is wrong.
 * By default it is compiled as a real-time filter; `realtimeFilter: false` compiles queries and
 * `sql()` to AST data as PostHog's compiler does.
 */
export async function compileExpression(source: string, opts: { realtimeFilter?: boolean } = {}): Promise<Bytecode> {
  return compileAst(await parseExpression(source), source, opts)
}
