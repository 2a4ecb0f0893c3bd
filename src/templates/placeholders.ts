/**
 * Placeholders in a template's workflow definition, in Harmonia's and in Tekton's syntax.
 *
 * Harmonia: `${param.x}` (alias `${parameters.x}`), with a path into the value (`${param.target.url}`,
 * `${param.hosts[0]}`). Inside a `${...}` expression or a `when` condition a parameter is read bare:
 * `${tasks.check.output.status == param.expected_status}`, `when: "tasks.a.output.n > param.limit"`.
 *
 * Tekton: `{{ x }}` where x is a parameter, `{{ task.output.y }}` for the output of a task of the same
 * workflow, `{{ x }}` where x is a workflow input (not a parameter), an optional `| default(v)` filter, and
 * `{{ '...' }}` for literal text (write a literal `{{` as `{{ '{{' }}`).
 *
 * Two passes use these rules:
 * - canonicalize (on create, update and import): Tekton placeholders become Harmonia syntax:
 *   `{{ x }}` → `${param.x}`, `{{ t.output.y }}` → `${tasks.t.output.y}`, `{{ i }}` → `${workflow.input.i}`
 *   (in `when` conditions the bare forms `param.x`, `tasks.t.output.y`, `workflow.input.i`); a `default(v)`
 *   filter is handed back to be merged into the parameter's (or input's) default. Literal escapes stay.
 * - instantiate: parameter placeholders are replaced by values. A string that is exactly one placeholder
 *   takes the value with its type; embedded ones are interpolated as text (strings as they are, other
 *   values as JSON, a parameter without value as ''). In conditions and expressions a parameter becomes
 *   a CEL literal (`"urgent"`, `3`, `["a"]`). Values inserted where Harmonia evaluates expressions (task
 *   `input`, `for_each`, workflow `output`) have `${` escaped as `$${`, so a value is never run as an
 *   expression.
 * Unknown placeholders are problems naming the task and field.
 */
import type { ValidationIssue } from '../core/errors.ts'
import { scanTemplate } from '../core/expression-template.ts'
import type { JsonObject, JsonValue, WorkflowDefinition } from '../core/model.ts'
import { describe } from './parameters.ts'
import {
  INPUT_REFERENCE,
  PARAM_PLACEHOLDER,
  REFERENCE,
  TASK_REFERENCE,
  celLiteral,
  formatPath,
  parseLiteral,
  parsePath,
  rewriteCelParameters,
  splitFilters,
  type PathSegment,
} from './placeholder-syntax.ts'

/** How a string is read: plain text, a value Harmonia evaluates (`${...}`), or a CEL condition. */
export type PlaceholderMode = 'text' | 'expression' | 'condition'

export interface PlaceholderScope {
  parameters: ReadonlySet<string>
  tasks: ReadonlySet<string>
  inputs: ReadonlySet<string>
}

/** A `| default(v)` filter found while canonicalizing: the caller merges it into a declared default. */
export interface PlaceholderDefault {
  kind: 'parameter' | 'input'
  name: string
  value: JsonValue
  task?: string
  field: string
}

/** What a placeholder refers to. */
type Reference =
  | { kind: 'parameter'; name: string; path: PathSegment[]; fallback?: JsonValue }
  | { kind: 'task'; name: string; path: PathSegment[] }
  | { kind: 'input'; name: string; path: PathSegment[] }
  | { kind: 'literal'; text: string; source: string }

const MAX_DEPTH = 512
/** A literal `${` in a value Harmonia evaluates (a function, since `$$` in a replacement string means `$`). */
const ESCAPED_OPEN = (): string => '$${'

/** The names placeholders can refer to in a definition: its parameters, tasks and workflow inputs. */
export function placeholderScope(
  definition: WorkflowDefinition,
  parameters: Iterable<string>,
): PlaceholderScope {
  return {
    parameters: new Set(parameters),
    tasks: new Set(isObject(definition.tasks) ? Object.keys(definition.tasks) : []),
    inputs: new Set(inputNames(definition)),
  }
}

function inputNames(definition: WorkflowDefinition): string[] {
  const schema = (definition.input_schema ?? definition.input) as unknown
  if (!isObject(schema)) return []
  if (
    definition.input_schema !== undefined ||
    (typeof schema.type === 'string' && isObject(schema.properties))
  ) {
    return isObject(schema.properties) ? Object.keys(schema.properties) : []
  }
  return Object.keys(schema)
}

/** Rewrites Tekton placeholders to Harmonia syntax (see the module comment). */
export function canonicalizePlaceholders(
  definition: WorkflowDefinition,
  scope: PlaceholderScope,
): { definition: WorkflowDefinition; issues: ValidationIssue[]; defaults: PlaceholderDefault[] } {
  const pass = new PlaceholderPass(scope, undefined)
  const result = pass.definition(definition)
  return { definition: result, issues: pass.issues, defaults: pass.defaults }
}

/** Replaces parameter placeholders by `values` (see the module comment); canonicalizes on the way. */
export function instantiatePlaceholders(
  definition: WorkflowDefinition,
  scope: PlaceholderScope,
  values: Readonly<Record<string, JsonValue>>,
  options: { lenientPaths?: boolean } = {},
): { definition: WorkflowDefinition; issues: ValidationIssue[] } {
  const pass = new PlaceholderPass(scope, values, options.lenientPaths === true)
  const result = pass.definition(definition)
  return { definition: result, issues: pass.issues }
}

/**
 * Writes a canonical definition's placeholders in Tekton's syntax where Tekton has one: `${param.x}` →
 * `{{ x }}`, `${tasks.t.output.y}` → `{{ t.output.y }}`, `${workflow.input.i}` → `{{ i }}` (when `i` names
 * no parameter or task). Conditions and other expressions stay as they are; canonicalizing the result
 * gives the definition back.
 */
export function tektonPlaceholders(
  definition: WorkflowDefinition,
  scope: PlaceholderScope,
): WorkflowDefinition {
  return mapStrings(
    definition,
    (text, where) => (where.mode === 'condition' ? text : toTekton(text, scope)),
    [],
  ) as unknown as WorkflowDefinition
}

function toTekton(text: string, scope: PlaceholderScope): string {
  if (!text.includes('${')) return text
  const scan = scanTemplate(text)
  if (!scan.ok) return text
  let out = ''
  for (const segment of scan.segments) {
    if (segment.kind === 'text') {
      out += segment.text.replaceAll('${', ESCAPED_OPEN)
      continue
    }
    const source = segment.source
    const param = PARAM_PLACEHOLDER.exec(source)
    const task = TASK_REFERENCE.exec(source)
    const input = INPUT_REFERENCE.exec(source)
    if (param !== null && source === `param.${param[1]}${param[2]}`) out += `{{ ${param[1]}${param[2]} }}`
    else if (task !== null && !/\s/.test(source) && !scope.parameters.has(task[1]!))
      out += `{{ ${task[1]}${task[2]} }}`
    else if (
      input !== null &&
      !/\s/.test(source) &&
      !scope.parameters.has(input[1]!) &&
      !scope.tasks.has(input[1]!)
    )
      out += `{{ ${input[1]}${input[2]} }}`
    else out += `\${${source}}`
  }
  return out
}

interface Where {
  task?: string
  field: string
  mode: PlaceholderMode
}

/** One canonicalize or instantiate pass over a definition, collecting problems. */
class PlaceholderPass {
  readonly issues: ValidationIssue[] = []
  readonly defaults: PlaceholderDefault[] = []
  readonly #scope: PlaceholderScope
  /** Set when instantiating. */
  readonly #values: Readonly<Record<string, JsonValue>> | undefined
  /** A path into a value that is not there gives null without a problem (checking with sample values). */
  readonly #lenientPaths: boolean

  constructor(
    scope: PlaceholderScope,
    values: Readonly<Record<string, JsonValue>> | undefined,
    lenientPaths = false,
  ) {
    this.#scope = scope
    this.#values = values
    this.#lenientPaths = lenientPaths
  }

  definition(definition: WorkflowDefinition): WorkflowDefinition {
    return mapStrings(
      definition,
      (text, where) => this.#string(text, where),
      this.issues,
    ) as unknown as WorkflowDefinition
  }

  #issue(where: Where, message: string): void {
    this.issues.push(
      where.task === undefined
        ? { field: where.field, message }
        : { task: where.task, field: where.field, message },
    )
  }

  #string(text: string, where: Where): JsonValue {
    if (
      !text.includes('${') &&
      !text.includes('{{') &&
      !(where.mode === 'condition' && text.includes('param'))
    ) {
      return text
    }
    return where.mode === 'condition' ? this.#condition(text, where) : this.#value(text, where)
  }

  /** A value or text: `${...}` segments and `{{ ... }}` in the text between them. */
  #value(text: string, where: Where): JsonValue {
    const scan = scanTemplate(text)
    // A string that does not scan is left for workflow validation to report.
    if (!scan.ok) return text
    const pieces: Array<{ text: string } | { reference: Reference } | { expression: string }> = []
    for (const segment of scan.segments) {
      if (segment.kind === 'expression') {
        const param = PARAM_PLACEHOLDER.exec(segment.source)
        if (param !== null) {
          if (this.#values === undefined) this.#checkDeclared(param[1]!, where)
          pieces.push({ reference: { kind: 'parameter', name: param[1]!, path: parsePath(param[2]!) } })
        } else {
          pieces.push({
            expression: where.mode === 'expression' ? this.#cel(segment.source, where) : segment.source,
          })
        }
        continue
      }
      let rest = segment.text
      for (;;) {
        const open = rest.indexOf('{{')
        const close = open === -1 ? -1 : rest.indexOf('}}', open + 2)
        if (close === -1) break
        if (open > 0) pieces.push({ text: rest.slice(0, open) })
        const source = rest.slice(open, close + 2)
        const reference = this.#tekton(source, rest.slice(open + 2, close), where)
        pieces.push(reference === undefined ? { text: source } : { reference })
        rest = rest.slice(close + 2)
      }
      if (rest !== '') pieces.push({ text: rest })
    }
    const escape = where.mode === 'expression'
    if (this.#values !== undefined && pieces.length === 1 && 'reference' in pieces[0]!) {
      const reference = pieces[0].reference
      if (reference.kind === 'parameter') {
        const value = this.#parameterValue(reference, where)
        return escape ? escapeDeep(value) : value
      }
    }
    let out = ''
    for (const piece of pieces) {
      // Text came unescaped from the scan: write `${` back as `$${` in every mode.
      if ('text' in piece) out += piece.text.replaceAll('${', ESCAPED_OPEN)
      else if ('expression' in piece) out += `\${${piece.expression}}`
      else out += this.#render(piece.reference, where, escape)
    }
    return out
  }

  /** How a reference is written in a value (canonical form, or its value when instantiating). */
  #render(reference: Reference, where: Where, escape: boolean): string {
    switch (reference.kind) {
      case 'task':
        return `\${tasks.${reference.name}${formatPath(reference.path)}}`
      case 'input':
        return `\${workflow.input.${reference.name}${formatPath(reference.path)}}`
      case 'literal': {
        if (this.#values === undefined) return reference.source
        return escape ? reference.text.replaceAll('${', ESCAPED_OPEN) : reference.text
      }
      case 'parameter': {
        if (this.#values === undefined) return `\${param.${reference.name}${formatPath(reference.path)}}`
        const value = this.#parameterValue(reference, where)
        const text = value === null ? '' : typeof value === 'string' ? value : JSON.stringify(value)
        return escape ? text.replaceAll('${', ESCAPED_OPEN) : text
      }
    }
  }

  /** A `when` condition: CEL, possibly wrapped in one `${...}`, possibly holding placeholders. */
  #condition(text: string, where: Where): string {
    let out = ''
    // `${param.x}` placeholders and `{{ ... }}` become bare CEL.
    const token = /\$\{([^{}]*)\}|\{\{([\s\S]*?)\}\}/g
    let last = 0
    for (let match = token.exec(text); match !== null; match = token.exec(text)) {
      let replacement: string | undefined
      if (match[1] !== undefined) {
        const param = PARAM_PLACEHOLDER.exec(match[1])
        if (param !== null) replacement = `param.${param[1]}${formatPath(parsePath(param[2]!))}`
        // Checked (or replaced by its value) with the other bare references below.
      } else {
        const reference = this.#tekton(match[0], match[2]!, where)
        if (reference?.kind === 'literal')
          replacement = this.#values === undefined ? match[0] : reference.text
        else if (reference?.kind === 'parameter')
          replacement = `param.${reference.name}${formatPath(reference.path)}`
        else if (reference?.kind === 'task')
          replacement = `tasks.${reference.name}${formatPath(reference.path)}`
        else if (reference?.kind === 'input')
          replacement = `workflow.input.${reference.name}${formatPath(reference.path)}`
      }
      if (replacement === undefined) continue
      out += text.slice(last, match.index) + replacement
      last = match.index + match[0].length
    }
    return this.#cel(out + text.slice(last), where)
  }

  /** Bare parameter references in CEL source: `parameters.x` → `param.x`; values as CEL literals. */
  #cel(source: string, where: Where): string {
    return rewriteCelParameters(source, (name, path) => {
      if (this.#values === undefined) {
        this.#checkDeclared(name, where)
        return `param.${name}${formatPath(path)}`
      }
      return celLiteral(this.#parameterValue({ kind: 'parameter', name, path }, where))
    })
  }

  /** Parses the inside of `{{ ... }}`; undefined (with a problem reported) when it cannot be resolved. */
  #tekton(source: string, inner: string, where: Where): Reference | undefined {
    const [head, ...filters] = splitFilters(inner)
    const expression = head!.trim()
    const literal = parseLiteral(expression)
    if (
      filters.length === 0 &&
      literal !== undefined &&
      typeof literal.value === 'string' &&
      /^['"]/.test(expression)
    ) {
      return { kind: 'literal', text: literal.value, source }
    }
    const match = REFERENCE.exec(expression)
    if (match === null) {
      this.#issue(
        where,
        `unsupported placeholder '${source}': expected a parameter, task output or workflow input name like {{ name }} or {{ task.output.field }}`,
      )
      return undefined
    }
    const name = match[1]!
    const path = parsePath(match[2]!)
    let reference: Reference
    if (this.#scope.parameters.has(name)) reference = { kind: 'parameter', name, path }
    else if (this.#scope.tasks.has(name) && path.length > 0) reference = { kind: 'task', name, path }
    else if (this.#scope.inputs.has(name)) reference = { kind: 'input', name, path }
    else {
      const task = this.#scope.tasks.has(name)
        ? `; to read task '${name}', name a field: {{ ${name}.output }}`
        : ''
      this.#issue(
        where,
        `unknown placeholder '${source}': '${name}' is not a parameter, a task or a workflow input; ${this.#declared()}${task}`,
      )
      return undefined
    }
    for (const filter of filters) {
      const fallback = /^\s*(?:default|d)\s*\(([\s\S]*)\)\s*$/.exec(filter)
      if (fallback === null) {
        this.#issue(
          where,
          `unsupported filter '${filter.trim()}' in placeholder '${source}'; only default(value) is supported`,
        )
        return undefined
      }
      const value = parseLiteral(fallback[1]!.trim())
      if (value === undefined) {
        this.#issue(
          where,
          `placeholder '${source}': default(${fallback[1]!.trim()}) is not a literal value (a number, a quoted string, true, false, null, a JSON list or object)`,
        )
        return undefined
      }
      if (reference.kind === 'task' || path.length > 0) {
        this.#issue(
          where,
          `placeholder '${source}': default() applies to a whole parameter or workflow input, not to ${reference.kind === 'task' ? 'a task output' : 'a field inside one'}`,
        )
        return undefined
      }
      if (reference.kind === 'parameter') reference.fallback = value.value
      if (this.#values === undefined) {
        this.defaults.push({
          kind: reference.kind as 'parameter' | 'input',
          name,
          value: value.value,
          ...(where.task === undefined ? {} : { task: where.task }),
          field: where.field,
        })
      }
    }
    return reference
  }

  /** Reports a parameter the template does not declare; true when it is declared. */
  #checkDeclared(name: string, where: Where): boolean {
    if (this.#scope.parameters.has(name)) return true
    this.#issue(where, `unknown parameter '${name}'; ${this.#declared()}`)
    return false
  }

  #parameterValue(reference: Extract<Reference, { kind: 'parameter' }>, where: Where): JsonValue {
    if (!this.#checkDeclared(reference.name, where)) return null
    let value: JsonValue | undefined = Object.hasOwn(this.#values!, reference.name)
      ? this.#values![reference.name]
      : undefined
    if (value === undefined) value = reference.fallback ?? null
    for (const segment of reference.path) {
      const next: JsonValue | undefined =
        typeof segment === 'number'
          ? Array.isArray(value)
            ? value[segment]
            : undefined
          : isObject(value) && Object.hasOwn(value, segment)
            ? value[segment]
            : undefined
      if (next === undefined) {
        if (this.#lenientPaths) return null
        this.#issue(
          where,
          `parameter '${reference.name}' has no ${typeof segment === 'number' ? `item ${segment}` : `field '${segment}'`} (value: ${describe(value)})`,
        )
        return null
      }
      value = next
    }
    return value
  }

  #declared(): string {
    const names = [...this.#scope.parameters]
    return names.length === 0 ? 'the template declares no parameters' : `parameters: ${names.join(', ')}`
  }
}

/** Calls `visit` on every string of a definition, with where it is; returns the rebuilt definition. */
function mapStrings(
  definition: WorkflowDefinition,
  visit: (text: string, where: Where) => JsonValue,
  issues: ValidationIssue[],
): JsonObject {
  const walk = (value: JsonValue, where: Where, depth: number): JsonValue => {
    if (typeof value === 'string') return visit(value, where)
    if (value === null || typeof value !== 'object') return value
    if (depth > MAX_DEPTH) {
      issues.push({
        ...(where.task === undefined ? {} : { task: where.task }),
        field: where.field,
        message: `value nests deeper than ${MAX_DEPTH} levels`,
      })
      return value
    }
    if (Array.isArray(value))
      return value.map((item, index) =>
        walk(item, { ...where, field: `${where.field}[${index}]` }, depth + 1),
      )
    const out: JsonObject = {}
    for (const [key, item] of Object.entries(value))
      setOwn(out, key, walk(item, { ...where, field: `${where.field}.${key}` }, depth + 1))
    return out
  }
  const out: JsonObject = {}
  for (const [key, value] of Object.entries(definition as unknown as JsonObject)) {
    if (key === 'tasks' && isObject(value)) {
      const tasks: JsonObject = {}
      for (const [name, task] of Object.entries(value)) {
        if (!isObject(task)) {
          setOwn(tasks, name, task)
          continue
        }
        const copy: JsonObject = {}
        for (const [field, item] of Object.entries(task)) {
          const mode: PlaceholderMode =
            field === 'when' ? 'condition' : field === 'input' || field === 'for_each' ? 'expression' : 'text'
          setOwn(copy, field, walk(item, { task: name, field, mode }, 1))
        }
        setOwn(tasks, name, copy)
      }
      out.tasks = tasks
      continue
    }
    setOwn(out, key, walk(value, { field: key, mode: key === 'output' ? 'expression' : 'text' }, 1))
  }
  return out
}

/** Escapes `${` in every string of a value, so inserting it into an evaluated field adds no expression. */
function escapeDeep(value: JsonValue): JsonValue {
  if (typeof value === 'string') return value.replaceAll('${', ESCAPED_OPEN)
  if (value === null || typeof value !== 'object') return value
  if (Array.isArray(value)) return value.map(escapeDeep)
  const out: JsonObject = {}
  for (const [key, item] of Object.entries(value)) setOwn(out, key, escapeDeep(item))
  return out
}

function setOwn(target: JsonObject, key: string, value: JsonValue): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true })
}

function isObject(value: unknown): value is JsonObject {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
}
