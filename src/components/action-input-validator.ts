/**
 * Checks a task's resolved input against its action's `input_schema` before the action runs. Schemas are
 * compiled once per registered action with Ajv (JSON Schema 2020-12, or draft-07 when the schema says so)
 * and ajv-formats. Input is never modified (no defaults, no coercion): actions apply their own defaults.
 * Problems name the field and what was expected, never the value given (inputs may hold secrets).
 */
import { TaskFailure } from '../core/errors.ts'
import { ajvIssues, createSchemaCompiler, unsafePatternIssues } from '../core/json-schema.ts'
import type { JsonObject, JsonValue } from '../core/model.ts'

/** Throws TaskFailure `INVALID_INPUT` (not retriable) naming every problem. */
export type InputCheck = (input: JsonValue, task: string) => void

/** Problems listed in one error message; the details hold them all. */
const MAX_LISTED_PROBLEMS = 10
/** Problems listed by field, never showing the value given. */
const WORDING = { unknownField: 'is not a known field of this action' }
const compileSchema = createSchemaCompiler({ useDefaults: false })

/**
 * Compiles the check of one action's input. Throws an Error naming the problem when the schema cannot be
 * compiled or holds a regular expression that could backtrack for ever.
 */
export function compileInputCheck(component: string, action: string, schema: JsonObject): InputCheck {
  const unsafe = unsafePatternIssues(schema, 'input_schema').map(
    ({ field, message }) => `${field}: ${message}`,
  )
  if (unsafe.length > 0) throw new Error(unsafe.join('; '))
  const validate = compileSchema(schema)
  const name = `${component}.${action}`
  return (input, task) => {
    if (validate(input)) return
    const issues = ajvIssues(validate.errors ?? [], WORDING)
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
