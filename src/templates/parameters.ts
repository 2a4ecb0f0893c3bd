/**
 * Template parameters: checking declarations, checking the values a caller gives when instantiating
 * (defaults applied, every problem named by its parameter), and the one explicit coercion from text that
 * the CLI needs (`--param n=3` gives the integer 3 when `n` is an integer parameter).
 *
 * Values given through the API are never coerced: `"3"` for an integer parameter is an error.
 * A `null` value counts as not given (the default applies, or the parameter is missing).
 */
import { ValidationError, type ValidationIssue } from '../core/errors.ts'
import type { JsonObject, JsonValue } from '../core/model.ts'
import {
  PARAMETER_TYPES,
  type ParameterMap,
  type ParameterSpec,
  type ParameterType,
} from './template-model.ts'

/** Placeholders read parameters as `${param.<name>}`, so names are identifiers. */
export const PARAMETER_NAME_PATTERN = /^[A-Za-z_][A-Za-z0-9_]{0,99}$/

const SPEC_KEYS = ['type', 'required', 'default', 'options', 'enum', 'description', 'title', 'name']

/** Checks declared parameters (as sent by a client) and returns them in canonical form. */
export function checkParameterSpecs(
  raw: unknown,
  field = 'parameters',
): { parameters: ParameterMap; issues: ValidationIssue[] } {
  const parameters: ParameterMap = {}
  const issues: ValidationIssue[] = []
  if (raw === undefined || raw === null) return { parameters, issues }
  if (!isPlainObject(raw)) {
    issues.push({
      field,
      message: `expected an object mapping parameter names to their types, got ${describe(raw)}`,
    })
    return { parameters, issues }
  }
  for (const [name, rawSpec] of Object.entries(raw)) {
    const at = `${field}.${name}`
    if (name === '__proto__') {
      issues.push({ field: at, message: "'__proto__' is reserved and cannot name a parameter" })
      continue
    }
    if (!PARAMETER_NAME_PATTERN.test(name)) {
      issues.push({
        field: at,
        message: `parameter names are letters, digits and '_' (at most 100, not starting with a digit), so placeholders can read them as \${param.<name>}`,
      })
      continue
    }
    if (!isPlainObject(rawSpec)) {
      issues.push({
        field: at,
        message: `expected an object describing the parameter (type, required, default, ...), got ${describe(rawSpec)}`,
      })
      continue
    }
    const spec = checkSpec(name, rawSpec, at, issues)
    if (spec !== undefined)
      Object.defineProperty(parameters, name, {
        value: spec,
        enumerable: true,
        writable: true,
        configurable: true,
      })
  }
  return { parameters, issues }
}

function checkSpec(
  name: string,
  raw: Record<string, unknown>,
  at: string,
  issues: ValidationIssue[],
): ParameterSpec | undefined {
  const before = issues.length
  for (const key of Object.keys(raw)) {
    if (!SPEC_KEYS.includes(key)) {
      issues.push({
        field: `${at}.${key}`,
        message: `unknown key; a parameter has ${SPEC_KEYS.filter((k) => k !== 'name').join(', ')}`,
      })
    }
  }
  const type = raw.type ?? 'string'
  if (typeof type !== 'string' || !PARAMETER_TYPES.includes(type as ParameterType)) {
    issues.push({
      field: `${at}.type`,
      message: `expected one of ${PARAMETER_TYPES.join(', ')}, got ${describe(type)}`,
    })
  }
  const required = raw.required ?? false
  if (typeof required !== 'boolean') {
    issues.push({ field: `${at}.required`, message: `expected true or false, got ${describe(required)}` })
  }
  for (const key of ['description', 'title', 'name'] as const) {
    if (raw[key] !== undefined && typeof raw[key] !== 'string') {
      issues.push({ field: `${at}.${key}`, message: `expected a string, got ${describe(raw[key])}` })
    }
  }
  const checkList = (key: 'options' | 'enum'): JsonValue[] | undefined => {
    const list = raw[key]
    if (list === undefined) return undefined
    if (!Array.isArray(list) || list.length === 0) {
      issues.push({
        field: `${at}.${key}`,
        message: `expected a non-empty list of values, got ${describe(list)}`,
      })
      return undefined
    }
    return list as JsonValue[]
  }
  const options = checkList('options')
  const allowed = checkList('enum')
  if (type === 'select') {
    if (raw.options === undefined) {
      issues.push({ field: `${at}.options`, message: 'a select parameter needs a non-empty list of options' })
    }
    if (raw.enum !== undefined) {
      issues.push({
        field: `${at}.enum`,
        message: 'a select parameter lists its values in options, not enum',
      })
    }
  } else if (raw.options !== undefined && PARAMETER_TYPES.includes(type as ParameterType)) {
    issues.push({
      field: `${at}.options`,
      message: `options apply to select parameters only; for a ${type as string} parameter use enum`,
    })
  }
  if (issues.length > before) return undefined

  const spec: ParameterSpec = { type: type as ParameterType, required: required as boolean }
  if (typeof raw.description === 'string') spec.description = raw.description
  const title = raw.title ?? (raw.name !== name ? raw.name : undefined)
  if (typeof title === 'string') spec.title = title
  if (options !== undefined) spec.options = options
  if (allowed !== undefined) spec.enum = allowed
  if (raw.default !== undefined && raw.default !== null) {
    const problem = valueProblem(spec, raw.default)
    if (problem !== undefined) {
      issues.push({ field: `${at}.default`, message: problem })
      return undefined
    }
    spec.default = raw.default as JsonValue
  }
  return spec
}

/**
 * Checks the values given for a template's parameters and applies defaults. Problems name the parameter:
 * `parameter 'priority': expected one of low, medium, high, critical, got "urgent"`,
 * `parameter 'bug_report' is required`. Optional parameters without a default that were not given are
 * absent from the result.
 */
export function resolveParameterValues(
  parameters: ParameterMap,
  given: unknown,
): { values: Record<string, JsonValue>; issues: ValidationIssue[] } {
  const values: Record<string, JsonValue> = {}
  const issues: ValidationIssue[] = []
  if (given !== undefined && given !== null && !isPlainObject(given)) {
    issues.push({
      field: 'parameter_values',
      message: `expected an object mapping parameter names to values, got ${describe(given)}`,
    })
    return { values, issues }
  }
  const supplied = (given ?? {}) as Record<string, unknown>
  for (const name of Object.keys(supplied)) {
    if (!Object.hasOwn(parameters, name)) {
      const declared = Object.keys(parameters)
      issues.push({
        message: `parameter '${name}' is not declared by the template; ${declared.length === 0 ? 'it has no parameters' : `declared: ${declared.join(', ')}`}`,
      })
    }
  }
  for (const [name, spec] of Object.entries(parameters)) {
    const value = Object.hasOwn(supplied, name) ? supplied[name] : undefined
    if (value === undefined || value === null) {
      if (spec.default !== undefined) values[name] = structuredClone(spec.default)
      else if (spec.required) issues.push({ message: `parameter '${name}' is required` })
      continue
    }
    const problem = valueProblem(spec, value)
    if (problem !== undefined) issues.push({ message: `parameter '${name}': ${problem}` })
    else values[name] = value as JsonValue
  }
  return { values, issues }
}

/** Like resolveParameterValues, but throws ValidationError listing every problem. */
export function requireParameterValues(
  parameters: ParameterMap,
  given: unknown,
  subject: string,
): Record<string, JsonValue> {
  const { values, issues } = resolveParameterValues(parameters, given)
  if (issues.length > 0) throw new ValidationError(`parameter values for ${subject} are invalid`, issues)
  return values
}

/** Why `value` does not fit `spec`, or undefined. */
export function valueProblem(spec: ParameterSpec, value: unknown): string | undefined {
  const typeProblem = ((): string | undefined => {
    switch (spec.type) {
      case 'string':
      case 'text':
        return typeof value === 'string' ? undefined : `expected a string, got ${describe(value)}`
      case 'number':
        return typeof value === 'number' && Number.isFinite(value)
          ? undefined
          : `expected a number, got ${describe(value)}`
      case 'integer':
        return typeof value === 'number' && Number.isSafeInteger(value)
          ? undefined
          : `expected an integer, got ${describe(value)}`
      case 'boolean':
        return typeof value === 'boolean' ? undefined : `expected true or false, got ${describe(value)}`
      case 'object':
        return isPlainObject(value) ? undefined : `expected an object, got ${describe(value)}`
      case 'array':
        return Array.isArray(value) ? undefined : `expected a list, got ${describe(value)}`
      case 'select':
        return undefined
    }
  })()
  if (typeProblem !== undefined) return typeProblem
  const allowed = spec.type === 'select' ? spec.options : spec.enum
  if (allowed !== undefined && !allowed.some((option) => sameJson(option, value))) {
    return `expected one of ${allowed.map(showOption).join(', ')}, got ${describe(value)}`
  }
  return undefined
}

/**
 * The CLI's explicit coercion: `['n=3', 'name=api', 'tags=["a"]']` to values typed by the declared
 * parameters (integer and number parse as numbers, boolean accepts true/false/yes/no/on/off/1/0, object
 * and array parse as JSON, select matches its options). Names the template does not declare keep their
 * text, so instantiation reports them. Throws ValidationError listing every assignment it cannot read.
 */
export function parseParameterAssignments(
  assignments: readonly string[],
  parameters: ParameterMap,
): Record<string, JsonValue> {
  const values: JsonObject = {}
  const issues: ValidationIssue[] = []
  const seen = new Set<string>()
  for (const assignment of assignments) {
    const equals = assignment.indexOf('=')
    if (equals <= 0) {
      issues.push({ message: `--param ${JSON.stringify(assignment)}: expected name=value` })
      continue
    }
    const name = assignment.slice(0, equals).trim()
    const text = assignment.slice(equals + 1)
    if (seen.has(name)) {
      issues.push({ message: `parameter '${name}' is given more than once` })
      continue
    }
    seen.add(name)
    const spec = Object.hasOwn(parameters, name) ? parameters[name] : undefined
    const coerced = spec === undefined ? { value: text } : coerceParameterText(spec, text)
    if ('problem' in coerced) issues.push({ message: `parameter '${name}': ${coerced.problem}` })
    else
      Object.defineProperty(values, name, {
        value: coerced.value,
        enumerable: true,
        writable: true,
        configurable: true,
      })
  }
  if (issues.length > 0) throw new ValidationError('--param values are invalid', issues)
  return values
}

/** Reads one parameter value from text by its declared type (see parseParameterAssignments). */
export function coerceParameterText(
  spec: ParameterSpec,
  text: string,
): { value: JsonValue } | { problem: string } {
  const trimmed = text.trim()
  switch (spec.type) {
    case 'integer': {
      const value = Number(trimmed)
      return /^[+-]?\d+$/.test(trimmed) && Number.isSafeInteger(value)
        ? { value }
        : { problem: `expected an integer, got ${describe(text)}` }
    }
    case 'number': {
      const value = Number(trimmed)
      return trimmed !== '' && Number.isFinite(value)
        ? { value }
        : { problem: `expected a number, got ${describe(text)}` }
    }
    case 'boolean': {
      const word = trimmed.toLowerCase()
      if (['true', 'yes', 'on', '1'].includes(word)) return { value: true }
      if (['false', 'no', 'off', '0'].includes(word)) return { value: false }
      return { problem: `expected true or false, got ${describe(text)}` }
    }
    case 'object':
    case 'array': {
      let value: unknown
      try {
        value = JSON.parse(text)
      } catch (error) {
        return {
          problem: `expected ${spec.type === 'object' ? 'an object' : 'a list'} in JSON: ${(error as Error).message}`,
        }
      }
      const problem = valueProblem({ type: spec.type, required: false }, value)
      return problem === undefined ? { value: value as JsonValue } : { problem }
    }
    case 'select': {
      if (spec.options === undefined || spec.options.includes(text)) return { value: text }
      try {
        const parsed = JSON.parse(text) as JsonValue
        if (spec.options.some((option) => sameJson(option, parsed))) return { value: parsed }
      } catch {
        // Not JSON: keep the text, so instantiation reports it against the options.
      }
      return { value: text }
    }
    case 'string':
    case 'text':
      return { value: text }
  }
}

/**
 * Values that satisfy every parameter: its default, else its first option or allowed value, else a
 * sample of its type. Used to check that a template gives a valid workflow before it is stored.
 */
export function sampleParameterValues(parameters: ParameterMap): Record<string, JsonValue> {
  const values: Record<string, JsonValue> = {}
  for (const [name, spec] of Object.entries(parameters)) {
    values[name] = structuredClone(spec.default ?? spec.options?.[0] ?? spec.enum?.[0] ?? SAMPLES[spec.type])
  }
  return values
}

const SAMPLES: Record<ParameterType, JsonValue> = {
  string: 'sample',
  text: 'sample',
  number: 1,
  integer: 1,
  boolean: true,
  object: {},
  array: [],
  select: 'sample',
}

function showOption(option: JsonValue): string {
  return typeof option === 'string' ? option : JSON.stringify(option)
}

/** Structural equality of JSON values (object key order ignored). */
export function sameJson(a: unknown, b: unknown): boolean {
  if (a === b) return true
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false
  if (Array.isArray(a) !== Array.isArray(b)) return false
  if (Array.isArray(a)) {
    const other = b as unknown[]
    return a.length === other.length && a.every((item, index) => sameJson(item, other[index]))
  }
  const aKeys = Object.keys(a)
  const bObject = b as Record<string, unknown>
  return (
    aKeys.length === Object.keys(bObject).length &&
    aKeys.every(
      (key) => Object.hasOwn(bObject, key) && sameJson((a as Record<string, unknown>)[key], bObject[key]),
    )
  )
}

/** A short description of a value for messages: strings quoted and cut, containers by kind. */
export function describe(value: unknown): string {
  if (value === null) return 'null'
  if (value === undefined) return 'nothing'
  if (Array.isArray(value)) return 'a list'
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 39)}…` : value)
  if (typeof value === 'object') return 'an object'
  return String(value)
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
}
