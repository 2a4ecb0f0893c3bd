/**
 * Workflow definitions from outside: parsing JSON or YAML text, and normalizing what Tekton's clients send
 * into the one shape the rest of Harmonia uses.
 *
 * Normalization accepts `tasks` as an object keyed by name or as a list of task objects with `name`,
 * fills each task's `name` from its key, and maps Tekton's aliases: `dependencies` → `depends_on`,
 * `parameters` → `input` (when `input` is absent), and a task `name` that differs from its key → `title`
 * (the key is the task's identity). Unknown keys are kept, for forward compatibility; known keys of the
 * wrong type are reported, every one with its task and field.
 */
import { parseDocument } from 'yaml'
import { InvalidRequestError, type ValidationIssue } from './errors.ts'
import {
  OnFailure,
  TriggerRule,
  type JsonObject,
  type JsonValue,
  type TaskDefinition,
  type WorkflowDefinition,
} from './model.ts'

export type DefinitionFormat = 'json' | 'yaml'

/** Longest task name accepted. */
export const MAX_TASK_NAME_LENGTH = 200

/**
 * Parses a definition written as JSON or YAML (guessed from the first character when `format` is not
 * given). Throws InvalidRequestError with the line and column of a syntax error.
 */
export function parseDefinition(text: string, format?: DefinitionFormat): unknown {
  if (typeof text !== 'string') throw new InvalidRequestError('definition must be text (JSON or YAML)')
  if (text.trim() === '') throw new InvalidRequestError('definition is empty')
  const chosen = format ?? (/^\s*[[{]/.test(text) ? 'json' : 'yaml')
  return chosen === 'json' ? parseJson(text) : parseYaml(text)
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown
  } catch (error) {
    const found = findJsonError(text) ?? { offset: text.length, message: (error as Error).message }
    const { line, column } = lineAndColumn(text, found.offset)
    throw new InvalidRequestError(
      `definition is not valid JSON: ${found.message} at line ${line}, column ${column}`,
      { line, column, position: found.offset },
    )
  }
}

function parseYaml(text: string): unknown {
  const document = parseDocument(text, { uniqueKeys: true, prettyErrors: true })
  const error = document.errors[0]
  if (error !== undefined) {
    const position = error.linePos?.[0]
    const summary = error.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '')
    throw new InvalidRequestError(
      position === undefined
        ? `definition is not valid YAML: ${summary}`
        : `definition is not valid YAML: ${summary} at line ${position.line}, column ${position.col}`,
      position === undefined ? undefined : { line: position.line, column: position.col },
    )
  }
  let value: unknown
  try {
    value = document.toJS({ maxAliasCount: 100 })
  } catch (cause) {
    throw new InvalidRequestError(`definition is not valid YAML: ${(cause as Error).message}`)
  }
  const problem = nonJsonValue(value)
  if (problem !== undefined) {
    throw new InvalidRequestError(`definition is not valid: ${problem.path}: ${problem.message}`)
  }
  return value
}

/** YAML can express values JSON cannot (infinities, NaN, dates with custom tags): find the first one. */
function nonJsonValue(root: unknown): { path: string; message: string } | undefined {
  const stack: Array<[unknown, string]> = [[root, '(root)']]
  while (stack.length > 0) {
    const [value, path] = stack.pop()!
    if (typeof value === 'number' && !Number.isFinite(value)) {
      return { path, message: `${value} is not a JSON number` }
    }
    if (value === null || typeof value !== 'object') {
      if (typeof value === 'bigint' || typeof value === 'undefined' || typeof value === 'function') {
        return { path, message: `a ${typeof value} is not a JSON value` }
      }
      continue
    }
    if (Array.isArray(value)) {
      value.forEach((item, index) => stack.push([item, `${path}[${index}]`]))
      continue
    }
    const prototype = Object.getPrototypeOf(value) as unknown
    if (prototype !== Object.prototype && prototype !== null) {
      return { path, message: `a ${(value as object).constructor?.name ?? 'object'} is not a JSON value` }
    }
    for (const [key, item] of Object.entries(value))
      stack.push([item, path === '(root)' ? key : `${path}.${key}`])
  }
  return undefined
}

/**
 * Where JSON.parse failed and why, found by a small iterative scanner (V8's messages do not always say
 * where). Returns undefined if the scanner finds no problem.
 */
function findJsonError(text: string): { offset: number; message: string } | undefined {
  type Expect = 'value' | 'valueOrEnd' | 'key' | 'keyOrEnd' | 'colon' | 'commaOrEnd' | 'done'
  const stack: Array<'{' | '['> = []
  let expect: Expect = 'value'
  let index = 0
  const afterValue = () => {
    expect = stack.length === 0 ? 'done' : 'commaOrEnd'
  }
  while (index < text.length) {
    const char = text[index]!
    if (char === ' ' || char === '\t' || char === '\n' || char === '\r') {
      index++
      continue
    }
    switch (expect as Expect) {
      case 'value':
      case 'valueOrEnd': {
        if (expect === 'valueOrEnd' && char === ']') {
          stack.pop()
          index++
          afterValue()
          break
        }
        if (char === '{' || char === '[') {
          stack.push(char)
          expect = char === '{' ? 'keyOrEnd' : 'valueOrEnd'
          index++
          break
        }
        if (char === '"') {
          const end = scanJsonString(text, index)
          if (typeof end !== 'number') return end
          index = end
          afterValue()
          break
        }
        const literal = /true|false|null|-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y
        literal.lastIndex = index
        const match = literal.exec(text)
        if (match === null)
          return { offset: index, message: `unexpected ${describeChar(char)}, expected a value` }
        index += match[0].length
        afterValue()
        break
      }
      case 'key':
      case 'keyOrEnd': {
        if (expect === 'keyOrEnd' && char === '}') {
          stack.pop()
          index++
          afterValue()
          break
        }
        if (char !== '"') {
          return {
            offset: index,
            message: `unexpected ${describeChar(char)}, expected a property name in double quotes`,
          }
        }
        const end = scanJsonString(text, index)
        if (typeof end !== 'number') return end
        index = end
        expect = 'colon'
        break
      }
      case 'colon':
        if (char !== ':') return { offset: index, message: `unexpected ${describeChar(char)}, expected ':'` }
        index++
        expect = 'value'
        break
      case 'commaOrEnd': {
        const close = stack[stack.length - 1] === '{' ? '}' : ']'
        if (char === ',') {
          expect = close === '}' ? 'key' : 'value'
          index++
        } else if (char === close) {
          stack.pop()
          index++
          afterValue()
        } else {
          return { offset: index, message: `unexpected ${describeChar(char)}, expected ',' or '${close}'` }
        }
        break
      }
      case 'done':
        return { offset: index, message: `unexpected ${describeChar(char)} after the end of the document` }
    }
  }
  return (expect as Expect) === 'done'
    ? undefined
    : { offset: text.length, message: 'unexpected end of text' }
}

function scanJsonString(text: string, open: number): number | { offset: number; message: string } {
  let index = open + 1
  while (index < text.length) {
    const char = text[index]!
    if (char === '"') return index + 1
    if (char === '\\') {
      const next = text[index + 1]
      if (next === 'u') {
        if (!/^[0-9a-fA-F]{4}$/.test(text.slice(index + 2, index + 6))) {
          return { offset: index, message: 'invalid \\u escape in string' }
        }
        index += 6
        continue
      }
      if (next === undefined || !'"\\/bfnrt'.includes(next)) {
        return { offset: index, message: 'invalid escape in string' }
      }
      index += 2
      continue
    }
    if (char < ' ') return { offset: index, message: 'control character in string (escape it)' }
    index++
  }
  return { offset: open, message: 'unterminated string' }
}

function describeChar(char: string): string {
  return char < ' ' ? `character U+${char.charCodeAt(0).toString(16).padStart(4, '0')}` : `'${char}'`
}

function lineAndColumn(text: string, offset: number): { line: number; column: number } {
  let line = 1
  let lineStart = 0
  for (let index = 0; index < offset && index < text.length; index++) {
    if (text[index] === '\n') {
      line++
      lineStart = index + 1
    }
  }
  return { line, column: offset - lineStart + 1 }
}

// ---------------------------------------------------------------------------------------------------
// Normalization

/** Turns what a client sent into a WorkflowDefinition, reporting every problem of shape or type. */
export function normalizeDefinition(raw: unknown): {
  definition: WorkflowDefinition
  issues: ValidationIssue[]
} {
  const issues: ValidationIssue[] = []
  if (!isObject(raw)) {
    issues.push({ message: `a workflow definition must be an object, got ${describe(raw)}` })
    return { definition: { name: '', tasks: {} }, issues }
  }
  const { tasks: rawTasks, ...rest } = raw
  const definition = { ...rest } as unknown as WorkflowDefinition
  const check = new FieldChecker(issues, undefined, definition as unknown as Record<string, unknown>)

  if (raw.name === undefined) issues.push({ field: 'name', message: 'is required' })
  else if (typeof raw.name !== 'string')
    issues.push({ field: 'name', message: `expected a string, got ${describe(raw.name)}` })
  else if (raw.name.trim() === '') issues.push({ field: 'name', message: 'must not be blank' })
  if (typeof raw.version === 'number') definition.version = String(raw.version)
  check.string('description')
  check.string('version')
  check.object('input', 'an object mapping input names to their types')
  check.object('input_schema', 'a JSON Schema object')
  check.object('output_schema', 'a JSON Schema object')
  check.object('output', 'an object mapping output names to values or expressions')
  check.object('metadata', 'an object')
  check.oneOf('on_failure', Object.values(OnFailure))
  check.positiveNumber('timeout', 'a positive number of seconds')
  check.positiveInteger('concurrency')

  definition.tasks = normalizeTasks(rawTasks, issues)
  return { definition, issues }
}

function normalizeTasks(rawTasks: unknown, issues: ValidationIssue[]): Record<string, TaskDefinition> {
  const tasks: Record<string, TaskDefinition> = {}
  if (rawTasks === undefined) {
    issues.push({ field: 'tasks', message: 'is required' })
    return tasks
  }
  if (Array.isArray(rawTasks)) {
    const positions = new Map<string, number>()
    rawTasks.forEach((rawTask: unknown, index) => {
      const field = `tasks[${index}]`
      if (!isObject(rawTask)) {
        issues.push({ field, message: `expected a task object, got ${describe(rawTask)}` })
        return
      }
      const name = rawTask.name
      if (typeof name !== 'string' || name.trim() === '') {
        issues.push({
          field: `${field}.name`,
          message: name === undefined ? 'is required' : `expected a task name, got ${describe(name)}`,
        })
        return
      }
      const first = positions.get(name)
      if (first !== undefined) {
        issues.push({
          task: name,
          field: `${field}.name`,
          message: `duplicate task name '${name}': tasks[${first}] and tasks[${index}]`,
        })
        return
      }
      positions.set(name, index)
      addTask(tasks, name, rawTask, false, issues)
    })
  } else if (isObject(rawTasks)) {
    for (const [key, rawTask] of Object.entries(rawTasks)) {
      if (!isObject(rawTask)) {
        issues.push({ task: key, message: `expected a task object, got ${describe(rawTask)}` })
        continue
      }
      addTask(tasks, key, rawTask, true, issues)
    }
  } else {
    issues.push({
      field: 'tasks',
      message: `expected an object keyed by task name or a list of tasks, got ${describe(rawTasks)}`,
    })
    return tasks
  }
  if (Object.keys(rawTasks).length === 0)
    issues.push({ field: 'tasks', message: 'must hold at least one task' })
  return tasks
}

function addTask(
  tasks: Record<string, TaskDefinition>,
  name: string,
  raw: Record<string, unknown>,
  keyed: boolean,
  issues: ValidationIssue[],
): void {
  const nameProblem = taskNameProblem(name)
  if (nameProblem !== undefined) {
    issues.push({ task: name.slice(0, 60), message: nameProblem })
    return
  }
  const { name: givenName, dependencies, parameters, ...rest } = raw
  const task = { name, ...rest } as unknown as TaskDefinition & Record<string, unknown>
  if (keyed && givenName !== undefined && givenName !== name) {
    if (typeof givenName !== 'string') {
      issues.push({ task: name, field: 'name', message: `expected a string, got ${describe(givenName)}` })
    } else if (task.title === undefined) {
      task.title = givenName
    }
  }
  if (dependencies !== undefined) {
    if (task.depends_on === undefined) task.depends_on = dependencies as string[]
    else if (JSON.stringify(task.depends_on) !== JSON.stringify(dependencies)) {
      issues.push({
        task: name,
        field: 'dependencies',
        message: 'differs from depends_on; give only one of them',
      })
    }
  }
  if (parameters !== undefined) {
    if (task.input === undefined) task.input = parameters as JsonValue
    else task.parameters = parameters
  }
  const check = new FieldChecker(issues, name, task)
  check.requiredName('component')
  check.requiredName('action')
  check.string('title')
  check.string('description')
  if (task.depends_on === undefined) task.depends_on = []
  else if (!Array.isArray(task.depends_on)) {
    check.issue('depends_on', `expected a list of task names, got ${describe(task.depends_on)}`)
  } else {
    task.depends_on.forEach((dep: unknown, index) => {
      if (typeof dep !== 'string')
        check.issue(`depends_on[${index}]`, `expected a task name, got ${describe(dep)}`)
    })
  }
  check.positiveNumber('timeout', 'a positive number of seconds')
  const retry = task.retry as unknown
  if (retry !== undefined && typeof retry !== 'number' && !isObject(retry)) {
    check.issue('retry', `expected a number of retries or a retry policy object, got ${describe(retry)}`)
  }
  if (task.when !== undefined && typeof task.when !== 'string') {
    check.issue('when', `expected a condition (a string), got ${describe(task.when)}`)
  }
  const forEach = task.for_each as unknown
  if (forEach !== undefined && typeof forEach !== 'string' && !Array.isArray(forEach)) {
    check.issue('for_each', `expected a list or an expression giving a list, got ${describe(forEach)}`)
  }
  check.positiveInteger('concurrency')
  check.oneOf('on_failure', Object.values(OnFailure))
  check.oneOf('trigger_rule', Object.values(TriggerRule))
  check.object('metadata', 'an object')
  tasks[name] = task
}

/** Why a task name cannot be used, or undefined. */
export function taskNameProblem(name: string): string | undefined {
  if (name.trim() === '') return 'task name must not be blank'
  if (name.length > MAX_TASK_NAME_LENGTH) return `task name is longer than ${MAX_TASK_NAME_LENGTH} characters`
  for (let index = 0; index < name.length; index++) {
    const code = name.charCodeAt(index)
    if (code < 0x20 || code === 0x7f) return 'task name must not hold control characters'
  }
  if (name === '__proto__') return "'__proto__' is reserved and cannot name a task"
  return undefined
}

class FieldChecker {
  readonly #issues: ValidationIssue[]
  readonly #task: string | undefined
  readonly #target: Record<string, unknown>

  constructor(issues: ValidationIssue[], task: string | undefined, target: Record<string, unknown>) {
    this.#issues = issues
    this.#task = task
    this.#target = target
  }

  issue(field: string, message: string): void {
    this.#issues.push(this.#task === undefined ? { field, message } : { task: this.#task, field, message })
  }

  requiredName(field: string): void {
    const value = this.#target[field]
    if (value === undefined) this.issue(field, 'is required')
    else if (typeof value !== 'string') this.issue(field, `expected a string, got ${describe(value)}`)
    else if (value.trim() === '') this.issue(field, 'must not be blank')
  }

  string(field: string): void {
    const value = this.#target[field]
    if (value !== undefined && typeof value !== 'string')
      this.issue(field, `expected a string, got ${describe(value)}`)
  }

  object(field: string, expected: string): void {
    const value = this.#target[field]
    if (value !== undefined && !isObject(value))
      this.issue(field, `expected ${expected}, got ${describe(value)}`)
  }

  oneOf(field: string, allowed: readonly string[]): void {
    const value = this.#target[field]
    if (value !== undefined && !allowed.includes(value as string)) {
      this.issue(field, `expected one of ${allowed.join(', ')}, got ${describe(value)}`)
    }
  }

  positiveNumber(field: string, expected: string): void {
    const value = this.#target[field]
    if (value === undefined) return
    if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
      this.issue(field, `expected ${expected}, got ${describe(value)}`)
    }
  }

  positiveInteger(field: string): void {
    const value = this.#target[field]
    if (value === undefined) return
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0) {
      this.issue(field, `expected a positive integer, got ${describe(value)}`)
    }
  }
}

function isObject(value: unknown): value is Record<string, unknown> & JsonObject {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
}

/** A short description of a value for messages: strings quoted and cut, containers by kind. */
function describe(value: unknown): string {
  if (value === null) return 'null'
  if (value === undefined) return 'nothing'
  if (Array.isArray(value)) return 'a list'
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 39)}…` : value)
  if (typeof value === 'object') return 'an object'
  return String(value)
}
