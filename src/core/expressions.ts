/**
 * `${...}` expressions in workflow values and `when` conditions, compiled once and evaluated many times.
 *
 * - A string that is exactly one `${expr}` yields the expression's typed value.
 * - A string with text around expressions is interpolated: strings as they are, other values as JSON.
 * - `$${` is a literal `${`.
 * - Values without expressions are constants: `evaluate` returns the very same object.
 * The language (CEL), its names, functions and limits are in expression-language.ts and docs/expressions.md.
 *
 * Evaluation reads the scope in place (cel-js does not copy context objects): its cost does not grow
 * with the number of tasks in the scope.
 */
import type { CompiledCondition, CompiledValue, ExpressionScope } from './compiled-workflow.ts'
import { ExpressionError, type ValidationIssue } from './errors.ts'
import {
  EXPRESSION_LIMITS,
  EXPRESSION_ROOTS,
  JsonResultError,
  analyzeExpression,
  celEnvironmentWith,
  isBuiltinName,
  isExpressionRoot,
  isPureSelection,
  setOwn,
  toJsonResult,
  type ExpressionRoot,
} from './expression-language.ts'
import { mayHoldExpression, scanTemplate } from './expression-template.ts'
import type { JsonValue } from './model.ts'

export { EXPRESSION_LIMITS, EXPRESSION_ROOTS, type ExpressionRoot } from './expression-language.ts'

/** Where a value sits in a definition: the task (if any) and the field path, e.g. `input.url`. */
export interface ExpressionLocation {
  task?: string
  field: string
}

/** Something an expression reads that validation checks against the graph or the configuration. */
export interface ExpressionReference {
  /** The task or environment variable named. */
  name: string
  /** The field holding the expression, e.g. `input.data`. */
  field: string
  /** The expression's source. */
  expression: string
}

export interface ExpressionReferences {
  /** `tasks.<name>` references. */
  tasks: ExpressionReference[]
  /** `env.<NAME>` references. */
  env: ExpressionReference[]
  /** Fields that read `tasks[<expression>]`: which task is only known at run time. */
  dynamicTaskFields: string[]
  /** Root names read anywhere in the value. */
  roots: Set<ExpressionRoot>
}

export interface ValueAnalysis<T> {
  /** Usable only when `issues` is empty. */
  compiled: T
  issues: ValidationIssue[]
  references: ExpressionReferences
}

export interface CompileOptions {
  /** Names the expressions may read; all of EXPRESSION_ROOTS when absent. */
  allowedRoots?: Iterable<ExpressionRoot>
  /**
   * Extra names (any JSON) the expressions may read besides the allowed roots, for expressions evaluated
   * outside workflows: a webhook's `payload`, `headers` and `query`, say. The scope must hold them.
   */
  variables?: readonly string[]
}

const ALL_ROOTS: ReadonlySet<ExpressionRoot> = new Set(EXPRESSION_ROOTS)
const MAX_VALUE_DEPTH = 512
const SOURCE_PREVIEW_LENGTH = 80

/** Compiles a value that may hold expressions anywhere inside. Throws ExpressionError listing the problems. */
export function compileValue(
  value: JsonValue,
  where: ExpressionLocation,
  allowedRoots?: Iterable<ExpressionRoot>,
): CompiledValue {
  const result = analyzeValue(value, where, { allowedRoots })
  throwIfInvalid(result.issues)
  return result.compiled
}

/** Compiles a condition: a bare CEL expression or one `${...}`, which must give a boolean. */
export function compileCondition(
  source: string,
  where: ExpressionLocation,
  allowedRoots?: Iterable<ExpressionRoot>,
): CompiledCondition {
  const result = analyzeCondition(source, where, { allowedRoots })
  throwIfInvalid(result.issues)
  return result.compiled
}

function throwIfInvalid(issues: ValidationIssue[]): void {
  if (issues.length === 0) return
  const first = issues[0]!
  throw new ExpressionError(issues.map((issue) => prefix(issue) + issue.message).join('; '), {
    ...(first.task === undefined ? {} : { task: first.task }),
    ...(first.field === undefined ? {} : { field: first.field }),
    errors: issues.map((issue) => ({ ...issue })),
  })
}

/** Like compileValue, but collects every problem as a ValidationIssue and reports what the value reads. */
export function analyzeValue(
  value: JsonValue,
  where: ExpressionLocation,
  options: CompileOptions = {},
): ValueAnalysis<CompiledValue> {
  const context = new CompileContext(where.task, options.allowedRoots, options.variables)
  const compiled = context.value(value, where.field, 0)
  return { compiled, issues: context.issues, references: context.references }
}

/** Like compileCondition, but collects every problem as a ValidationIssue. */
export function analyzeCondition(
  source: string,
  where: ExpressionLocation,
  options: CompileOptions = {},
): ValueAnalysis<CompiledCondition> {
  const context = new CompileContext(where.task, options.allowedRoots, options.variables)
  const compiled = context.condition(source, where.field)
  return { compiled, issues: context.issues, references: context.references }
}

const FAILED_CONDITION: CompiledCondition = {
  source: '',
  evaluate() {
    throw new ExpressionError('condition did not compile')
  },
}

class CompileContext {
  readonly issues: ValidationIssue[] = []
  readonly references: ExpressionReferences = {
    tasks: [],
    env: [],
    dynamicTaskFields: [],
    roots: new Set(),
  }
  readonly #task: string | undefined
  readonly #allowed: ReadonlySet<ExpressionRoot>
  readonly #variables: ReadonlySet<string>
  readonly #environment: ReturnType<typeof celEnvironmentWith>

  constructor(
    task: string | undefined,
    allowedRoots: Iterable<ExpressionRoot> | undefined,
    variables: readonly string[] = [],
  ) {
    this.#task = task
    this.#allowed = allowedRoots === undefined ? ALL_ROOTS : new Set(allowedRoots)
    this.#variables = new Set(variables)
    this.#environment = celEnvironmentWith(variables)
  }

  issue(field: string, message: string): void {
    this.issues.push(this.#task === undefined ? { field, message } : { task: this.#task, field, message })
  }

  value(value: JsonValue, field: string, depth: number): CompiledValue {
    if (typeof value === 'string') return this.string(value, field)
    if (value === null || typeof value !== 'object') return constant(value)
    if (depth >= MAX_VALUE_DEPTH) {
      this.issue(field, `value nests deeper than ${MAX_VALUE_DEPTH} levels`)
      return constant(value)
    }
    if (Array.isArray(value)) {
      const items = value.map((item, index) => this.value(item, `${field}[${index}]`, depth + 1))
      if (items.every((item) => item.constant)) {
        const same = items.every((item, index) => (item as ConstantValue).value === value[index])
        return constant(same ? value : items.map((item) => (item as ConstantValue).value))
      }
      return listValue(items)
    }
    const keys = Object.keys(value)
    const entries = keys.map(
      (key) => [key, this.value(value[key]!, fieldPath(field, key), depth + 1)] as const,
    )
    if (entries.every(([, item]) => item.constant)) {
      if (entries.every(([key, item]) => (item as ConstantValue).value === value[key])) return constant(value)
      const out: Record<string, JsonValue> = {}
      for (const [key, item] of entries) setOwn(out, key, (item as ConstantValue).value)
      return constant(out)
    }
    return objectValue(entries)
  }

  string(text: string, field: string): CompiledValue {
    if (!mayHoldExpression(text)) return constant(text)
    const scan = scanTemplate(text)
    if (!scan.ok) {
      this.issue(field, `${scan.error.message} (position ${scan.error.offset})`)
      return constant(text)
    }
    const parts: Array<string | Expression> = []
    let failed = false
    for (const segment of scan.segments) {
      if (segment.kind === 'text') {
        parts.push(segment.text)
        continue
      }
      const expression = this.expression(segment.source, segment.offset, field)
      if (expression === undefined) failed = true
      else parts.push(expression)
    }
    if (failed) return constant(text)
    if (parts.length === 1 && typeof parts[0] === 'string') return constant(parts[0])
    if (parts.length === 1) return singleValue(parts[0] as Expression)
    return templateValue(parts)
  }

  condition(text: string, field: string): CompiledCondition {
    let source = text
    let offset = 0
    const trimmed = text.trim()
    if (trimmed.startsWith('${')) {
      const scan = scanTemplate(trimmed)
      if (scan.ok && scan.segments.length === 1 && scan.segments[0]!.kind === 'expression') {
        source = scan.segments[0].source
        offset = text.indexOf('${') + 2
      } else if (!scan.ok || scan.segments.some((segment) => segment.kind === 'text')) {
        this.issue(
          field,
          'a condition is one expression: write it bare (tasks.a.output.ok == true) or as one ${...}',
        )
        return FAILED_CONDITION
      }
    }
    if (source.trim() === '') {
      this.issue(field, 'condition is empty')
      return FAILED_CONDITION
    }
    const expression = this.expression(source, offset, field)
    if (expression === undefined) return FAILED_CONDITION
    if (expression.checkedType !== 'bool' && expression.checkedType !== 'dyn') {
      this.issue(
        field,
        `condition '${preview(source)}' gives a ${expression.checkedType}, expected a boolean`,
      )
      return FAILED_CONDITION
    }
    return conditionOf(expression, text)
  }

  /** Parses and checks one CEL expression; undefined when it has problems (already reported). */
  expression(source: string, offset: number, field: string): Expression | undefined {
    const quoted = `'${preview(source)}'`
    if (source.length > EXPRESSION_LIMITS.maxExpressionLength) {
      this.issue(
        field,
        `expression at position ${offset} is longer than ${EXPRESSION_LIMITS.maxExpressionLength} characters`,
      )
      return undefined
    }
    let parsed: ReturnType<ReturnType<typeof celEnvironmentWith>['parse']>
    try {
      parsed = this.#environment.parse(source)
    } catch (error) {
      this.issue(field, `invalid expression ${quoted}: ${celProblem(error, offset)}`)
      return undefined
    }
    const analysis = analyzeExpression(parsed.ast)
    for (const name of analysis.tasks.keys()) this.references.tasks.push({ name, field, expression: source })
    for (const name of analysis.env.keys()) this.references.env.push({ name, field, expression: source })
    if (analysis.dynamicTaskAccess) this.references.dynamicTaskFields.push(field)
    let failed = false
    for (const problem of analysis.problems) {
      this.issue(field, `expression ${quoted}: ${problem.message} (position ${offset + problem.offset})`)
      failed = true
    }
    for (const [name, at] of analysis.roots) {
      if (this.#variables.has(name)) continue
      if (isExpressionRoot(name)) {
        if (this.#allowed.has(name)) {
          this.references.roots.add(name)
          continue
        }
        this.issue(field, `expression ${quoted}: ${unavailableRoot(name)} (position ${offset + at})`)
        failed = true
      } else if (!isBuiltinName(name)) {
        this.issue(
          field,
          `expression ${quoted}: unknown name '${name}' (position ${offset + at}); expressions can read ${[...this.#allowed, ...this.#variables].join(', ')}`,
        )
        failed = true
      }
    }
    if (failed) return undefined
    let checked: ReturnType<typeof parsed.check>
    try {
      checked = parsed.check()
    } catch (error) {
      checked = { valid: false, error: error as never }
    }
    if (!checked.valid) {
      this.issue(field, `invalid expression ${quoted}: ${celProblem(checked.error, offset)}`)
      return undefined
    }
    return new Expression(source, parsed, {
      task: this.#task,
      field,
      selection: isPureSelection(parsed.ast),
      checkedType: checked.type ?? 'dyn',
    })
  }
}

function unavailableRoot(name: ExpressionRoot): string {
  if (name === 'item' || name === 'item_index') {
    return `'${name}' is only available in the input of a task with for_each`
  }
  return `'${name}' is not available here`
}

/** One compiled CEL expression. */
class Expression {
  readonly source: string
  readonly checkedType: string
  readonly #run: (context: ExpressionScope) => unknown
  readonly #task: string | undefined
  readonly #field: string
  readonly #selection: boolean

  constructor(
    source: string,
    run: (context: ExpressionScope) => unknown,
    options: { task: string | undefined; field: string; selection: boolean; checkedType: string },
  ) {
    this.source = source
    this.#run = run
    this.#task = options.task
    this.#field = options.field
    this.#selection = options.selection
    this.checkedType = options.checkedType
  }

  evaluate(scope: ExpressionScope): JsonValue {
    let raw: unknown
    try {
      raw = this.#run(scope)
    } catch (error) {
      throw this.failure(`cannot evaluate: ${redact(runtimeProblem(error), scope.env)}`, error)
    }
    if (this.#selection) return raw as JsonValue
    try {
      return toJsonResult(raw)
    } catch (error) {
      if (error instanceof JsonResultError) throw this.failure(`gave ${error.message}`, error)
      throw this.failure(`cannot evaluate: ${redact(runtimeProblem(error), scope.env)}`, error)
    }
  }

  failure(problem: string, cause: unknown): ExpressionError {
    const where = prefix({ task: this.#task, field: this.#field })
    return new ExpressionError(
      `${where}expression '${preview(this.source)}' ${problem}`,
      {
        ...(this.#task === undefined ? {} : { task: this.#task }),
        field: this.#field,
        expression: preview(this.source, 500),
      },
      cause,
    )
  }
}

interface ConstantValue extends CompiledValue {
  readonly value: JsonValue
}

function constant(value: JsonValue): ConstantValue {
  return { constant: true, value, evaluate: () => value }
}

function singleValue(expression: Expression): CompiledValue {
  return { constant: false, evaluate: (scope) => expression.evaluate(scope) }
}

function templateValue(parts: ReadonlyArray<string | Expression>): CompiledValue {
  return {
    constant: false,
    evaluate(scope) {
      let text = ''
      for (const part of parts) {
        if (typeof part === 'string') {
          text += part
          continue
        }
        const value = part.evaluate(scope)
        text += typeof value === 'string' ? value : JSON.stringify(value)
      }
      return text
    },
  }
}

function listValue(items: readonly CompiledValue[]): CompiledValue {
  return {
    constant: false,
    evaluate(scope) {
      const out: JsonValue[] = new Array<JsonValue>(items.length)
      for (let index = 0; index < items.length; index++) out[index] = items[index]!.evaluate(scope)
      return out
    },
  }
}

function objectValue(entries: ReadonlyArray<readonly [string, CompiledValue]>): CompiledValue {
  return {
    constant: false,
    evaluate(scope) {
      const out: Record<string, JsonValue> = {}
      for (const [key, item] of entries) setOwn(out, key, item.evaluate(scope))
      return out
    },
  }
}

function conditionOf(expression: Expression, source: string): CompiledCondition {
  return {
    source,
    evaluate(scope) {
      const value = expression.evaluate(scope)
      if (typeof value === 'boolean') return value
      throw expression.failure(`gave ${describeKind(value)}, expected true or false`, undefined)
    },
  }
}

function describeKind(value: JsonValue): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'a list'
  if (typeof value === 'object') return 'an object'
  return `a ${typeof value}`
}

function fieldPath(parent: string, key: string): string {
  return /^[A-Za-z_][A-Za-z0-9_]*$/.test(key) ? `${parent}.${key}` : `${parent}[${JSON.stringify(key)}]`
}

function prefix(issue: { task?: string | undefined; field?: string | undefined }): string {
  const parts: string[] = []
  if (issue.task !== undefined) parts.push(`task '${issue.task}'`)
  if (issue.field !== undefined) parts.push(issue.field)
  return parts.length === 0 ? '' : `${parts.join(', ')}: `
}

function preview(source: string, length = SOURCE_PREVIEW_LENGTH): string {
  const flat = source.trim().replace(/\s+/g, ' ')
  return flat.length > length ? `${flat.slice(0, length - 1)}…` : flat
}

/** A parse or type error as one line with its position in the field's text. */
function celProblem(error: unknown, offset: number): string {
  if (error instanceof RangeError) return 'the expression nests too deeply'
  const cel = error as { summary?: unknown; range?: { start: number }; message?: unknown }
  const summary = typeof cel.summary === 'string' ? cel.summary : String(cel.message ?? error)
  return cel.range === undefined ? summary : `${summary} (position ${offset + cel.range.start})`
}

/**
 * Messages of failed conversions may quote the value (`No such key: <value>`); environment values are
 * masked in them, since the allow-list exposes them to expressions, not to whoever reads task errors.
 */
function redact(message: string, env: Record<string, string> | undefined): string {
  if (env === undefined) return message
  let out = message
  for (const value of Object.values(env)) {
    if (typeof value === 'string' && value.length >= 4 && out.includes(value))
      out = out.replaceAll(value, '***')
  }
  return out
}

function runtimeProblem(error: unknown): string {
  if (error instanceof RangeError) return `${error.message}`
  const cel = error as { summary?: unknown; message?: unknown }
  if (typeof cel.summary === 'string') return cel.summary
  return error instanceof Error ? error.message : String(error)
}
