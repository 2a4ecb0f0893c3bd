/**
 * Checks a task's resolved input against its action's `input_schema` before the action runs. Schemas are
 * compiled once per registered action with Ajv (JSON Schema 2020-12, or draft-07 when the schema says so)
 * and ajv-formats. Input is never modified (no defaults, no coercion): actions apply their own defaults.
 * Problems name the field and what was expected, never the value given (inputs may hold secrets).
 */
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv'
import { Ajv2020 } from 'ajv/dist/2020.js'
import formatsPlugin from 'ajv-formats'
import { TaskFailure, type ValidationIssue } from '../core/errors.ts'
import type { JsonObject, JsonValue } from '../core/model.ts'
import { regexProblem } from '../core/regex-safety.ts'

/** Throws TaskFailure `INVALID_INPUT` (not retriable) naming every problem. */
export type InputCheck = (input: JsonValue, task: string) => void

const AJV_OPTIONS = { allErrors: true, useDefaults: false, coerceTypes: false, strict: false } as const
/** Problems listed in one error message; the details hold them all. */
const MAX_LISTED_PROBLEMS = 10

let ajv2020: Ajv2020 | undefined
let ajvDraft07: Ajv | undefined

/**
 * Compiles the check of one action's input. Throws an Error naming the problem when the schema cannot be
 * compiled or holds a regular expression that could backtrack for ever.
 */
export function compileInputCheck(component: string, action: string, schema: JsonObject): InputCheck {
  const unsafe = unsafePatterns(schema)
  if (unsafe.length > 0) throw new Error(unsafe.join('; '))
  const validate = compileSchema(schema)
  const name = `${component}.${action}`
  return (input, task) => {
    if (validate(input)) return
    const issues = toIssues(validate.errors ?? [])
    const listed = issues.slice(0, MAX_LISTED_PROBLEMS).map((issue) => `${issue.field}: ${issue.message}`)
    if (issues.length > MAX_LISTED_PROBLEMS) listed.push(`and ${issues.length - MAX_LISTED_PROBLEMS} more`)
    throw new TaskFailure(
      'INVALID_INPUT',
      `task '${task}': input of ${name} is invalid: ${listed.join('; ')} (not retriable)`,
      {
        retriable: false,
        details: { component, action, errors: issues.map((issue) => ({ ...issue })) as unknown as JsonValue },
      },
    )
  }
}

function compileSchema(schema: JsonObject): ValidateFunction {
  const draft07 = typeof schema.$schema === 'string' && /draft-0[4-7]/.test(schema.$schema)
  const ajv = draft07
    ? (ajvDraft07 ??= withFormats(new Ajv(AJV_OPTIONS)))
    : (ajv2020 ??= withFormats(new Ajv2020(AJV_OPTIONS)))
  // A copy, removed from Ajv's own cache at once: the registry decides how long a compiled schema lives,
  // and the same `$id` may be registered again when a remote component comes back.
  const copy = structuredClone(schema)
  try {
    return ajv.compile(copy)
  } finally {
    ajv.removeSchema(copy)
  }
}

function withFormats<T extends Ajv | Ajv2020>(ajv: T): T {
  ;(formatsPlugin as unknown as (ajv: T) => T)(ajv)
  return ajv
}

function unsafePatterns(schema: JsonValue): string[] {
  const problems: string[] = []
  const stack: Array<[JsonValue, string, number]> = [[schema, 'input_schema', 0]]
  while (stack.length > 0) {
    const [node, path, depth] = stack.pop()!
    if (node === null || typeof node !== 'object' || depth > 64) continue
    if (Array.isArray(node)) {
      node.forEach((item, index) => stack.push([item, `${path}[${index}]`, depth + 1]))
      continue
    }
    for (const [key, value] of Object.entries(node)) {
      const patterns =
        key === 'pattern' && typeof value === 'string'
          ? [value]
          : key === 'patternProperties' &&
              value !== null &&
              typeof value === 'object' &&
              !Array.isArray(value)
            ? Object.keys(value)
            : []
      for (const pattern of patterns) {
        const problem = regexProblem(pattern, 'u')
        if (problem !== undefined) problems.push(`${path}.${key}: ${problem}`)
      }
      stack.push([value, `${path}.${key}`, depth + 1])
    }
  }
  return problems
}

function toIssues(errors: ErrorObject[]): ValidationIssue[] {
  const issues: ValidationIssue[] = []
  const seen = new Set<string>()
  for (const error of errors) {
    const segments = pointerSegments(error.instancePath)
    const params = error.params as Record<string, unknown>
    let field = fieldOf(segments)
    let message: string
    switch (error.keyword) {
      case 'required':
        field = fieldOf([...segments, String(params.missingProperty)])
        message = 'is required'
        break
      case 'additionalProperties':
        field = fieldOf([...segments, String(params.additionalProperty)])
        message = 'is not a known field of this action'
        break
      case 'type':
        message = `expected ${String(params.type).replaceAll(',', ' or ')}`
        break
      case 'enum':
        message = `expected one of ${(params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`
        break
      case 'const':
        message = `expected ${JSON.stringify(params.allowedValue)}`
        break
      case 'format':
        message = `expected format '${String(params.format)}'`
        break
      default:
        message = error.message ?? 'is invalid'
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
