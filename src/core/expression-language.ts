/**
 * The expression language: CEL (via @marcbachmann/cel-js) with Harmonia's names, functions, limits and
 * typing rules. docs/expressions.md describes it for users; expressions.ts compiles workflow values with it.
 *
 * Typing: JSON numbers are CEL doubles and CEL integer literals are ints (BigInt), so mixed int/double
 * arithmetic and equality are registered here (`tasks.a.output.count + 1`, `item_index * 2`). Results are
 * turned back into plain JSON by `toJsonResult`.
 *
 * Safety: cel-js interprets an AST (no eval, no `new Function`), reads fields only through own-property
 * checks, and knows only the variables registered below. On top of that, `analyzeExpression` enforces
 * limits that keep evaluation bounded: nested macros, literal regular expressions checked for
 * catastrophic backtracking, and the parser's structural limits.
 */
import { Environment, EvaluationError, Optional, type ASTNode } from '@marcbachmann/cel-js'
import { Duration, UnsignedInt } from '@marcbachmann/cel-js/evaluator'
import { Buffer } from 'node:buffer'
import type { JsonValue } from './model.ts'
import { regexProblem } from './regex-safety.ts'

/** The names an expression can read (see ExpressionScope in compiled-workflow.ts). */
export const EXPRESSION_ROOTS = [
  'workflow',
  'input',
  'tasks',
  'execution',
  'context',
  'env',
  'item',
  'item_index',
] as const
export type ExpressionRoot = (typeof EXPRESSION_ROOTS)[number]

const ROOT_NAMES: ReadonlySet<string> = new Set(EXPRESSION_ROOTS)

export const EXPRESSION_LIMITS = Object.freeze({
  /** Characters of one expression (the text between `${` and `}`, or a condition). */
  maxExpressionLength: 4096,
  maxAstNodes: 2000,
  /** Nesting of calls, member accesses, indexes and literals. */
  maxDepth: 48,
  maxListElements: 256,
  maxMapEntries: 256,
  maxCallArguments: 16,
  /** Macros (map, filter, all, exists, exists_one, cel.bind) inside one another. */
  maxMacroNesting: 2,
  /** Nesting of lists and maps in a result. */
  maxResultDepth: 512,
})

const COMPREHENSIONS: ReadonlySet<string> = new Set(['all', 'exists', 'exists_one', 'map', 'filter'])

let environment: Environment | undefined

/** The shared CEL environment, built on first use (building it costs a few milliseconds). */
export function celEnvironment(): Environment {
  environment ??= buildEnvironment()
  return environment
}

const environmentsWithVariables = new Map<string, Environment>()

/**
 * The shared environment plus extra `dyn` variables (a webhook's `payload`, `headers`, `query`; a
 * notification's `event`), for expressions outside workflows. Cached per set of names.
 */
export function celEnvironmentWith(variables: readonly string[]): Environment {
  if (variables.length === 0) return celEnvironment()
  const key = [...variables].sort().join(',')
  let env = environmentsWithVariables.get(key)
  if (env === undefined) {
    env = celEnvironment().clone()
    for (const name of variables) if (!env.hasVariable(name)) env.registerVariable(name, 'dyn')
    environmentsWithVariables.set(key, env)
  }
  return env
}

function buildEnvironment(): Environment {
  const env = new Environment({
    unlistedVariablesAreDyn: false,
    homogeneousAggregateLiterals: false,
    enableOptionalTypes: true,
    limits: {
      maxAstNodes: EXPRESSION_LIMITS.maxAstNodes,
      maxDepth: EXPRESSION_LIMITS.maxDepth,
      maxListElements: EXPRESSION_LIMITS.maxListElements,
      maxMapEntries: EXPRESSION_LIMITS.maxMapEntries,
      maxCallArguments: EXPRESSION_LIMITS.maxCallArguments,
    },
  })
  for (const name of ['workflow', 'input', 'tasks', 'execution', 'context']) env.registerVariable(name, 'map')
  env.registerVariable('env', 'map<string, string>')
  env.registerVariable('item', 'dyn')
  env.registerVariable('item_index', 'dyn')
  registerMixedArithmetic(env)
  registerFunctions(env)
  return env
}

function registerMixedArithmetic(env: Environment): void {
  const arithmetic: Record<string, (a: number, b: number) => number> = {
    '+': (a, b) => a + b,
    '-': (a, b) => a - b,
    '*': (a, b) => a * b,
    '/': (a, b) => a / b,
    '%': (a, b) => a % b,
  }
  for (const [op, apply] of Object.entries(arithmetic)) {
    env.registerOperator(`double ${op} int`, (a: number, b: bigint) => apply(a, Number(b)))
    env.registerOperator(`int ${op} double`, (a: bigint, b: number) => apply(Number(a), b))
  }
  // CEL has no double modulo; JSON numbers are doubles, so `n % 2` must work on them.
  env.registerOperator('double % double', (a: number, b: number) => a % b)
  // Registers `int == double` and both `!=` too.
  env.registerOperator('double == int', (a: number, b: bigint) => a === Number(b))
}

function registerFunctions(env: Environment): void {
  env.registerFunction('string.lower(): string', (s: string) => s.toLowerCase(), {
    description: 'The string in lower case (Unicode).',
  })
  env.registerFunction('string.upper(): string', (s: string) => s.toUpperCase(), {
    description: 'The string in upper case (Unicode).',
  })
  env.registerFunction(
    'string.replace(string, string): string',
    (s: string, search: string, replacement: string) => s.replaceAll(search, () => replacement),
    { description: 'Replaces every occurrence of a text (not a pattern).' },
  )
  env.registerFunction('json(dyn): string', (value: unknown) => JSON.stringify(toJsonResult(value)), {
    description: 'The value as JSON text.',
  })
  env.registerFunction(
    'parseJson(string): dyn',
    (text: string) => {
      try {
        return JSON.parse(text) as unknown
      } catch {
        // V8's message quotes the text, which may be anything: say only where the problem is.
        throw new EvaluationError('parseJson: the text is not valid JSON')
      }
    },
    { description: 'Parses JSON text; numbers become doubles.' },
  )
  env.registerFunction('default(ast, ast): dyn', defaultMacro, {
    description: 'The first value, or the second when the first is missing (no such key or index) or null.',
  })
}

/** `default(a, b)`: evaluates `a`; on a missing key or index, or null, evaluates `b` instead. */
function defaultMacro({ args }: { args: ASTNode[] }): object {
  return {
    args,
    async: false,
    typeCheck(checker: CelChecker, macro: { args: ASTNode[] }, ctx: unknown) {
      checker.check(macro.args[0]!, ctx)
      checker.check(macro.args[1]!, ctx)
      return checker.getType('dyn')
    },
    evaluate(evaluator: CelEvaluator, macro: { args: ASTNode[] }, ctx: unknown) {
      const value = evaluator.tryEval(macro.args[0]!, ctx)
      if (value instanceof Error) {
        const code = (value as { code?: unknown }).code
        if (code === 'no_such_key' || code === 'index_out_of_bounds') {
          return evaluator.run(macro.args[1]!, ctx)
        }
        throw value
      }
      if (value === null || (value instanceof Optional && !value.hasValue())) {
        return evaluator.run(macro.args[1]!, ctx)
      }
      return value instanceof Optional ? value.value() : value
    },
  }
}

interface CelChecker {
  check(node: ASTNode, ctx: unknown): unknown
  getType(name: string): unknown
}
interface CelEvaluator {
  tryEval(node: ASTNode, ctx: unknown): unknown
  run(node: ASTNode, ctx: unknown): unknown
}

// ---------------------------------------------------------------------------------------------------
// Static analysis of a parsed expression.

export interface ExpressionProblem {
  /** Offset in the expression source. */
  offset: number
  message: string
}

export interface ExpressionAnalysis {
  /** Top-level names read (iteration variables of macros excluded), with the offset of the first use. */
  roots: Map<string, number>
  /** Tasks named statically (`tasks.x`, `tasks["x"]`), with the offset of the first reference. */
  tasks: Map<string, number>
  /** `tasks[<expression>]`: which task is read is only known at run time. */
  dynamicTaskAccess: boolean
  /** Environment variables named statically (`env.X`, `env["X"]`). */
  env: Map<string, number>
  problems: ExpressionProblem[]
}

/** Finds what an expression reads and what it does that the limits forbid. */
export function analyzeExpression(ast: ASTNode): ExpressionAnalysis {
  const analysis: ExpressionAnalysis = {
    roots: new Map(),
    tasks: new Map(),
    dynamicTaskAccess: false,
    env: new Map(),
    problems: [],
  }
  walk(ast, new Set(), 0, analysis)
  return analysis
}

function walk(
  node: ASTNode,
  shadowed: ReadonlySet<string>,
  macroDepth: number,
  out: ExpressionAnalysis,
): void {
  switch (node.op) {
    case 'value':
      return
    case 'id':
      if (!shadowed.has(node.args) && !out.roots.has(node.args)) out.roots.set(node.args, node.start)
      return
    case '.':
    case '.?': {
      const [target, field] = node.args
      const root = rootName(target, shadowed)
      if (root === 'tasks') addFirst(out.tasks, field, node.start)
      else if (root === 'env') addFirst(out.env, field, node.start)
      return walk(target, shadowed, macroDepth, out)
    }
    case '[]':
    case '[?]': {
      const [target, index] = node.args
      const root = rootName(target, shadowed)
      if (root === 'tasks' || root === 'env') {
        if (index.op === 'value' && typeof index.args === 'string') {
          addFirst(root === 'tasks' ? out.tasks : out.env, index.args, node.start)
        } else if (root === 'tasks') {
          out.dynamicTaskAccess = true
        }
      }
      walk(target, shadowed, macroDepth, out)
      return walk(index, shadowed, macroDepth, out)
    }
    case 'rcall': {
      const [name, receiver, args] = node.args
      const isBind = name === 'bind' && receiver.op === 'id' && receiver.args === 'cel'
      if ((COMPREHENSIONS.has(name) || isBind) && args[0]?.op === 'id') {
        const depth = macroDepth + 1
        if (depth > EXPRESSION_LIMITS.maxMacroNesting) {
          out.problems.push({
            offset: node.start,
            message: `macros are nested more than ${EXPRESSION_LIMITS.maxMacroNesting} deep`,
          })
          return
        }
        const inner = new Set(shadowed).add(args[0].args as string)
        if (isBind) {
          walk(args[1]!, shadowed, macroDepth, out)
          for (const arg of args.slice(2)) walk(arg, inner, depth, out)
        } else {
          walk(receiver, shadowed, macroDepth, out)
          for (const arg of args.slice(1)) walk(arg, inner, depth, out)
        }
        return
      }
      if (name === 'matches') checkPattern(args[0], out)
      walk(receiver, shadowed, macroDepth, out)
      for (const arg of args) walk(arg, shadowed, macroDepth, out)
      return
    }
    case 'call':
      for (const arg of node.args[1]) walk(arg, shadowed, macroDepth, out)
      return
    case 'map':
      for (const [key, value] of node.args) {
        walk(key, shadowed, macroDepth, out)
        walk(value, shadowed, macroDepth, out)
      }
      return
    case '!_':
    case '-_':
      return walk(node.args, shadowed, macroDepth, out)
    default:
      for (const child of node.args as ASTNode[]) walk(child, shadowed, macroDepth, out)
  }
}

function rootName(node: ASTNode, shadowed: ReadonlySet<string>): string | undefined {
  return node.op === 'id' && !shadowed.has(node.args) ? node.args : undefined
}

function addFirst(map: Map<string, number>, key: string, offset: number): void {
  if (!map.has(key)) map.set(key, offset)
}

function checkPattern(pattern: ASTNode | undefined, out: ExpressionAnalysis): void {
  if (pattern === undefined) return
  if (pattern.op !== 'value' || typeof pattern.args !== 'string') {
    out.problems.push({
      offset: pattern.start,
      message: 'matches() takes a literal pattern (a quoted string), so that it can be checked in advance',
    })
    return
  }
  const problem = regexProblem(pattern.args)
  if (problem !== undefined) out.problems.push({ offset: pattern.start, message: problem })
}

/** True when a name may be read though it is not one of the roots: CEL's constants (`cel`, type names). */
export function isBuiltinName(name: string): boolean {
  return !ROOT_NAMES.has(name) && celEnvironment().hasVariable(name)
}

export function isExpressionRoot(name: string): name is ExpressionRoot {
  return ROOT_NAMES.has(name)
}

/**
 * True when the expression only selects from the scope (`tasks.a.output`, `input.items[0]`): its result is
 * already plain JSON, so it needs no conversion.
 */
export function isPureSelection(node: ASTNode): boolean {
  let current = node
  for (;;) {
    if (current.op === 'id') return true
    if (current.op === '.') current = current.args[0]
    else if (current.op === '[]') current = current.args[0]
    else return false
  }
}

// ---------------------------------------------------------------------------------------------------
// Results back to JSON.

/** Why a CEL value cannot be a JSON value (thrown by `toJsonResult`). */
export class JsonResultError extends Error {}

/**
 * Turns what CEL returns into plain JSON: ints (BigInt) to numbers (only when safe integers), maps to plain
 * objects, bytes to base64, timestamps to ISO text, durations to text like "1.5s", optionals to their
 * value or null. Returns the value itself when nothing needs changing.
 */
export function toJsonResult(value: unknown): JsonValue {
  return convert(value, 0)
}

function convert(value: unknown, depth: number): JsonValue {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return value
    case 'number':
      if (!Number.isFinite(value)) throw new JsonResultError(`${value} is not a finite number`)
      return value
    case 'bigint':
      if (value > BigInt(Number.MAX_SAFE_INTEGER) || value < BigInt(Number.MIN_SAFE_INTEGER)) {
        throw new JsonResultError(`integer ${value} is outside the safe range of ±(2^53 - 1)`)
      }
      return Number(value)
    case 'object':
      break
    default:
      throw new JsonResultError(`a value of type ${typeof value} is not JSON`)
  }
  if (value === null) return null
  if (depth >= EXPRESSION_LIMITS.maxResultDepth) {
    throw new JsonResultError(`the result nests deeper than ${EXPRESSION_LIMITS.maxResultDepth} levels`)
  }
  if (Array.isArray(value)) return convertList(value, depth)
  if (value instanceof Set) return [...value].map((item) => convert(item, depth + 1))
  if (value instanceof Map) {
    const out: Record<string, JsonValue> = {}
    for (const [key, item] of value) setOwn(out, String(key), convert(item, depth + 1))
    return out
  }
  if (value instanceof Uint8Array) return Buffer.from(value).toString('base64')
  if (value instanceof Date) return value.toISOString()
  if (value instanceof Duration) return String(value)
  if (value instanceof UnsignedInt) return convert(value.value, depth)
  if (value instanceof Optional) return value.hasValue() ? convert(value.value(), depth) : null
  const prototype = Object.getPrototypeOf(value) as unknown
  if (prototype === Object.prototype || prototype === null) {
    return convertObject(value as Record<string, unknown>, depth, false)
  }
  if ((value as object).constructor === Object) {
    // A CEL map literal whose key `__proto__` replaced its prototype: copy its own keys only.
    return convertObject(value as Record<string, unknown>, depth, true)
  }
  const typeName = (value as object).constructor?.name ?? 'object'
  throw new JsonResultError(`a value of type ${typeName === 'Type' ? 'type' : typeName} is not JSON`)
}

function convertList(list: unknown[], depth: number): JsonValue[] {
  let out: JsonValue[] | undefined
  for (let index = 0; index < list.length; index++) {
    const item = list[index]
    const converted = convert(item, depth + 1)
    if (out === undefined && converted !== item) out = list.slice(0, index) as JsonValue[]
    if (out !== undefined) out.push(converted)
  }
  return out ?? (list as JsonValue[])
}

function convertObject(
  object: Record<string, unknown>,
  depth: number,
  forceCopy: boolean,
): { [key: string]: JsonValue } {
  const keys = Object.keys(object)
  let out: Record<string, JsonValue> | undefined = forceCopy ? {} : undefined
  for (let index = 0; index < keys.length; index++) {
    const key = keys[index]!
    const item = object[key]
    const converted = convert(item, depth + 1)
    if (out === undefined && converted !== item) {
      out = {}
      for (let before = 0; before < index; before++) {
        setOwn(out, keys[before]!, object[keys[before]!] as JsonValue)
      }
    }
    if (out !== undefined) setOwn(out, key, converted)
  }
  return out ?? (object as { [key: string]: JsonValue })
}

/** Sets an own property, also for the key `__proto__` (which plain assignment would treat as the prototype). */
export function setOwn(target: Record<string, unknown>, key: string, value: unknown): void {
  if (key === '__proto__') {
    Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true })
  } else {
    target[key] = value
  }
}
