/**
 * The workflow input's JSON Schema: built from `input_schema` (a full schema) or from Tekton's map of
 * properties (`input: {x: {type, default, enum, format, description, required: true}}`), compiled once with
 * Ajv (JSON Schema 2020-12, or draft-07 when the schema says so) and ajv-formats, and applied to each
 * execution's input: defaults filled in, every problem reported with its field (`input.count: expected
 * integer, got "abc"`). Types are not coerced.
 */
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv'
import { Ajv2020 } from 'ajv/dist/2020.js'
import formatsPlugin from 'ajv-formats'
import { ValidationError, type ValidationIssue } from './errors.ts'
import type { JsonObject, JsonValue, WorkflowDefinition } from './model.ts'
import { regexProblem } from './regex-safety.ts'

export interface InputValidator {
  /** The schema applied; undefined when the workflow declares no input. */
  readonly schema: JsonObject | undefined
  /** Returns a copy of the input with defaults applied; throws ValidationError listing every problem. */
  prepare(input: unknown): JsonObject
}

type InputDeclaration = Pick<WorkflowDefinition, 'name' | 'input' | 'input_schema'>

const CACHE_LIMIT = 256
const compiledSchemas = new Map<string, ValidateFunction>()
const validatorsByDefinition = new WeakMap<object, InputValidator>()
let ajv2020: Ajv2020 | undefined
let ajvDraft07: Ajv | undefined

/** The JSON Schema a definition declares for its input (undefined when none), or the problems found. */
export function buildInputSchema(definition: InputDeclaration): {
  schema: JsonObject | undefined
  issues: ValidationIssue[]
} {
  const issues: ValidationIssue[] = []
  if (definition.input_schema !== undefined) {
    const schema = definition.input_schema as unknown
    if (!isPlainObject(schema)) {
      issues.push({ field: 'input_schema', message: 'expected a JSON Schema object' })
      return { schema: undefined, issues }
    }
    return { schema: schema as JsonObject, issues }
  }
  const map = definition.input as unknown
  if (map === undefined || map === null) return { schema: undefined, issues }
  if (!isPlainObject(map)) {
    issues.push({ field: 'input', message: 'expected an object mapping input names to their types' })
    return { schema: undefined, issues }
  }
  if (typeof map.type === 'string' && isPlainObject(map.properties))
    return { schema: map as JsonObject, issues }
  const properties: JsonObject = {}
  const required: string[] = []
  for (const [name, spec] of Object.entries(map)) {
    if (!isPlainObject(spec)) {
      issues.push({
        field: `input.${name}`,
        message:
          'expected an object describing the input (type, default, enum, format, description, required)',
      })
      continue
    }
    const { required: isRequired, ...property } = spec
    if (isRequired !== undefined && typeof isRequired !== 'boolean') {
      issues.push({
        field: `input.${name}.required`,
        message: `expected true or false, got ${show(isRequired)}`,
      })
    }
    Object.defineProperty(properties, name, {
      value: property,
      enumerable: true,
      writable: true,
      configurable: true,
    })
    if (isRequired === true && property.default === undefined) required.push(name)
  }
  const schema: JsonObject = { type: 'object', properties }
  if (required.length > 0) schema.required = required
  return { schema, issues }
}

/** Builds and compiles the input validator of a definition, collecting problems instead of throwing. */
export function compileInputValidator(definition: InputDeclaration): {
  validator: InputValidator
  issues: ValidationIssue[]
} {
  const cached = validatorsByDefinition.get(definition)
  if (cached !== undefined) return { validator: cached, issues: [] }
  const { schema, issues } = buildInputSchema(definition)
  const field = definition.input_schema !== undefined ? 'input_schema' : 'input'
  let validate: ValidateFunction | undefined
  if (schema !== undefined && issues.length === 0) {
    issues.push(...patternIssues(schema, field))
    if (issues.length === 0) {
      try {
        validate = compileSchema(schema)
      } catch (error) {
        issues.push({ field, message: `invalid JSON Schema: ${(error as Error).message}` })
      }
    }
  }
  const name = definition.name
  const validator: InputValidator = {
    schema,
    prepare(input) {
      const value = input === undefined || input === null ? {} : input
      if (!isPlainObject(value)) {
        throw new ValidationError(`input of workflow '${name}' is invalid`, [
          { field: 'input', message: `expected an object, got ${show(value)}` },
        ])
      }
      if (validate === undefined) return value as JsonObject
      const copy = structuredClone(value) as JsonObject
      if (validate(copy)) return copy
      throw new ValidationError(
        `input of workflow '${name}' is invalid`,
        toIssues(validate.errors ?? [], copy),
      )
    },
  }
  if (issues.length === 0) validatorsByDefinition.set(definition, validator)
  return { validator, issues }
}

/** The cached input validator of a definition; throws ValidationError when its schema is invalid. */
export function inputValidatorFor(definition: InputDeclaration): InputValidator {
  const { validator, issues } = compileInputValidator(definition)
  if (issues.length > 0) throw new ValidationError(`workflow '${definition.name}' is invalid`, issues)
  return validator
}

function compileSchema(schema: JsonObject): ValidateFunction {
  const key = JSON.stringify(schema)
  const cached = compiledSchemas.get(key)
  if (cached !== undefined) {
    compiledSchemas.delete(key)
    compiledSchemas.set(key, cached)
    return cached
  }
  const draft07 = typeof schema.$schema === 'string' && /draft-0[4-7]/.test(schema.$schema)
  const ajv = draft07
    ? (ajvDraft07 ??= withFormats(new Ajv(AJV_OPTIONS)))
    : (ajv2020 ??= withFormats(new Ajv2020(AJV_OPTIONS)))
  const copy = structuredClone(schema)
  const validate = ajv.compile(copy)
  // Ajv keeps every compiled schema; this cache is the one that decides what stays.
  ajv.removeSchema(copy)
  compiledSchemas.set(key, validate)
  if (compiledSchemas.size > CACHE_LIMIT) compiledSchemas.delete(compiledSchemas.keys().next().value!)
  return validate
}

const AJV_OPTIONS = { allErrors: true, useDefaults: true, coerceTypes: false, strict: false } as const

function withFormats<T extends Ajv | Ajv2020>(ajv: T): T {
  ;(formatsPlugin as unknown as (ajv: T) => T)(ajv)
  return ajv
}

/** Every `pattern` and `patternProperties` key in a schema, checked for catastrophic backtracking. */
function patternIssues(schema: JsonValue, field: string): ValidationIssue[] {
  const issues: ValidationIssue[] = []
  const stack: Array<[JsonValue, string, number]> = [[schema, field, 0]]
  while (stack.length > 0) {
    const [node, path, depth] = stack.pop()!
    if (node === null || typeof node !== 'object' || depth > 64) continue
    if (Array.isArray(node)) {
      node.forEach((item, index) => stack.push([item, `${path}[${index}]`, depth + 1]))
      continue
    }
    for (const [key, value] of Object.entries(node)) {
      if (key === 'pattern' && typeof value === 'string') {
        const problem = regexProblem(value, 'u')
        if (problem !== undefined) issues.push({ field: `${path}.pattern`, message: problem })
      }
      if (key === 'patternProperties' && isPlainObject(value)) {
        for (const pattern of Object.keys(value)) {
          const problem = regexProblem(pattern, 'u')
          if (problem !== undefined) issues.push({ field: `${path}.patternProperties`, message: problem })
        }
      }
      stack.push([value, `${path}.${key}`, depth + 1])
    }
  }
  return issues
}

function toIssues(errors: ErrorObject[], data: JsonObject): ValidationIssue[] {
  const issues: ValidationIssue[] = []
  const seen = new Set<string>()
  for (const error of errors) {
    const segments = pointerSegments(error.instancePath)
    const params = error.params as Record<string, unknown>
    let field = fieldOf(segments)
    let message: string
    const value = valueAt(data, segments)
    const got = () => `got ${sensitive(segments) ? kindOf(value) : show(value)}`
    switch (error.keyword) {
      case 'required':
        field = fieldOf([...segments, String(params.missingProperty)])
        message = 'is required'
        break
      case 'additionalProperties':
        field = fieldOf([...segments, String(params.additionalProperty)])
        message = 'is not an allowed input'
        break
      case 'type':
        message = `expected ${String(params.type).replaceAll(',', ' or ')}, ${got()}`
        break
      case 'enum':
        message = `expected one of ${(params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}, ${got()}`
        break
      case 'const':
        message = `expected ${JSON.stringify(params.allowedValue)}, ${got()}`
        break
      case 'format':
        message = `expected format '${String(params.format)}', ${got()}`
        break
      default:
        message = `${error.message ?? 'is invalid'}, ${got()}`
    }
    const key = `${field}\u0000${message}`
    if (seen.has(key)) continue
    seen.add(key)
    issues.push({ field, message })
  }
  return issues
}

function pointerSegments(pointer: string): string[] {
  if (pointer === '') return []
  return pointer
    .slice(1)
    .split('/')
    .map((segment) => segment.replaceAll('~1', '/').replaceAll('~0', '~'))
}

function fieldOf(segments: readonly string[]): string {
  let field = 'input'
  for (const segment of segments) {
    if (/^\d+$/.test(segment)) field += `[${segment}]`
    else if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(segment)) field += `.${segment}`
    else field += `[${JSON.stringify(segment)}]`
  }
  return field
}

function valueAt(data: JsonValue, segments: readonly string[]): unknown {
  let current: unknown = data
  for (const segment of segments) {
    if (current === null || typeof current !== 'object') return undefined
    current = Object.hasOwn(current, segment) ? (current as Record<string, unknown>)[segment] : undefined
  }
  return current
}

const SENSITIVE = /pass(word)?|secret|token|api[_-]?key|credential|auth|private/i

/** Values of fields that look secret are described by kind only, never shown. */
function sensitive(segments: readonly string[]): boolean {
  return segments.some((segment) => SENSITIVE.test(segment))
}

function kindOf(value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'a list'
  if (typeof value === 'object') return 'an object'
  return `a ${typeof value}`
}

function show(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 60 ? `${value.slice(0, 59)}…` : value)
  if (typeof value === 'number' || typeof value === 'boolean' || value === null) return String(value)
  return kindOf(value)
}

function isPlainObject(value: unknown): value is Record<string, JsonValue> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false
  const prototype = Object.getPrototypeOf(value) as unknown
  return prototype === Object.prototype || prototype === null
}
