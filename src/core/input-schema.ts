/**
 * The workflow input's JSON Schema: built from `input_schema` (a full schema) or from Tekton's map of
 * properties (`input: {x: {type, default, enum, format, description, required: true}}`), compiled once with
 * Ajv (JSON Schema 2020-12, or draft-07 when the schema says so) and ajv-formats, and applied to each
 * execution's input: defaults filled in, every problem reported with its field (`input.count: expected
 * integer, got "abc"`). Types are not coerced.
 */
import type { ValidateFunction } from 'ajv'
import { ValidationError, type ValidationIssue } from './errors.ts'
import { ajvIssues, createSchemaCompiler, unsafePatternIssues } from './json-schema.ts'
import type { JsonObject, JsonValue, WorkflowDefinition } from './model.ts'

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
const compileWithAjv = createSchemaCompiler({ useDefaults: true })

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
    issues.push(...unsafePatternIssues(schema, field))
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
        ajvIssues(validate.errors ?? [], {
          unknownField: 'is not an allowed input',
          got: (segments) => {
            const value = valueAt(copy, segments)
            return `got ${sensitive(segments) ? kindOf(value) : show(value)}`
          },
        }),
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
  // The compiler keeps nothing in Ajv; this cache is the one that decides what stays.
  const validate = compileWithAjv(schema)
  compiledSchemas.set(key, validate)
  if (compiledSchemas.size > CACHE_LIMIT) compiledSchemas.delete(compiledSchemas.keys().next().value!)
  return validate
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
