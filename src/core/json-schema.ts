/**
 * JSON Schema plumbing shared by the workflow input, action input and model output checks: Ajv compilers
 * (JSON Schema 2020-12, or draft-07 when the schema says so, with ajv-formats), the scan for regular
 * expressions that could backtrack for ever, and Ajv errors turned into problems naming the field.
 */
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv'
import { Ajv2020 } from 'ajv/dist/2020.js'
import formatsPlugin from 'ajv-formats'
import type { ValidationIssue } from './errors.ts'
import type { JsonObject, JsonValue } from './model.ts'
import { regexProblem } from './regex-safety.ts'

/** Compiles one schema; throws Ajv's error when it cannot be compiled. */
export type SchemaCompiler = (schema: JsonObject) => ValidateFunction

/**
 * A compiler with Ajv instances of its own (every error reported, types not coerced, not strict; defaults
 * filled in only when asked). Each schema is compiled from a copy removed from Ajv's own cache at once: the
 * caller decides how long a compiled schema lives, and the same `$id` may be compiled again later.
 */
export function createSchemaCompiler(options: { useDefaults: boolean }): SchemaCompiler {
  const ajvOptions = {
    allErrors: true,
    useDefaults: options.useDefaults,
    coerceTypes: false,
    strict: false,
  } as const
  let ajv2020: Ajv2020 | undefined
  let ajvDraft07: Ajv | undefined
  return (schema) => {
    const draft07 = typeof schema.$schema === 'string' && /draft-0[4-7]/.test(schema.$schema)
    const ajv = draft07
      ? (ajvDraft07 ??= withFormats(new Ajv(ajvOptions)))
      : (ajv2020 ??= withFormats(new Ajv2020(ajvOptions)))
    const copy = structuredClone(schema)
    try {
      return ajv.compile(copy)
    } finally {
      ajv.removeSchema(copy)
    }
  }
}

function withFormats<T extends Ajv | Ajv2020>(ajv: T): T {
  ;(formatsPlugin as unknown as (ajv: T) => T)(ajv)
  return ajv
}

/**
 * Every `pattern` and `patternProperties` key in a schema that could backtrack for ever, each named by its
 * path from `root` (`input_schema.properties.name.pattern`).
 */
export function unsafePatternIssues(schema: JsonValue, root: string): ValidationIssue[] {
  const issues: ValidationIssue[] = []
  const stack: Array<[JsonValue, string, number]> = [[schema, root, 0]]
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
      if (
        key === 'patternProperties' &&
        value !== null &&
        typeof value === 'object' &&
        !Array.isArray(value)
      ) {
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

export interface IssueWording {
  /** The message for a field that `additionalProperties` does not allow. */
  unknownField: string
  /**
   * What was given at a failing field (`got "abc"`), added after the expectation; when absent the value is
   * not mentioned.
   */
  got?: (segments: readonly string[]) => string
}

/**
 * Ajv's errors as problems naming the field from `input` (`input.items[0].name: expected string`), one per
 * distinct field and message.
 */
export function ajvIssues(errors: readonly ErrorObject[], wording: IssueWording): ValidationIssue[] {
  const issues: ValidationIssue[] = []
  const seen = new Set<string>()
  for (const error of errors) {
    const segments = pointerSegments(error.instancePath)
    const params = error.params as Record<string, unknown>
    const got = () => (wording.got === undefined ? '' : `, ${wording.got(segments)}`)
    let field = fieldOf(segments)
    let message: string
    switch (error.keyword) {
      case 'required':
        field = fieldOf([...segments, String(params.missingProperty)])
        message = 'is required'
        break
      case 'additionalProperties':
        field = fieldOf([...segments, String(params.additionalProperty)])
        message = wording.unknownField
        break
      case 'type':
        message = `expected ${String(params.type).replaceAll(',', ' or ')}${got()}`
        break
      case 'enum':
        message = `expected one of ${(params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}${got()}`
        break
      case 'const':
        message = `expected ${JSON.stringify(params.allowedValue)}${got()}`
        break
      case 'format':
        message = `expected format '${String(params.format)}'${got()}`
        break
      default:
        message = `${error.message ?? 'is invalid'}${got()}`
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
