/**
 * Checking a template before it is stored (create, update, import): its fields, its parameters, its
 * placeholders, and that it gives a valid workflow. Every problem is reported at once.
 *
 * The workflow is checked by instantiating it with sample values (each parameter's default, else its first
 * option, else a sample of its type) and validating the result, so a definition whose `timeout` is
 * `${param.timeout_seconds}` is checked as the number it will be.
 */
import { normalizeDefinition } from '../core/definition.ts'
import type { ValidationIssue } from '../core/errors.ts'
import type { JsonObject, JsonValue, WorkflowDefinition } from '../core/model.ts'
import {
  PARAMETER_NAME_PATTERN,
  checkParameterSpecs,
  describe,
  isPlainObject,
  sameJson,
  sampleParameterValues,
  valueProblem,
} from './parameters.ts'
import {
  canonicalizePlaceholders,
  instantiatePlaceholders,
  placeholderScope,
  type PlaceholderDefault,
} from './placeholders.ts'
import type { ParameterMap, TemplateDraft } from './template-model.ts'

/** Checks a workflow definition; the composition root passes core's validateWorkflow with its options. */
export type WorkflowValidator = (definition: unknown) => ValidationIssue[]

/** Ids given by clients: letters, digits, `.`, `_`, `-`, `:`; 1 to 128 characters (as for workflows). */
export const TEMPLATE_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/

/**
 * Checks what a client sent as a template (`name`, `description`, `workflow_definition`, `parameters`,
 * `tags`, `category`, `is_public`, `metadata`, optional `template_id`) and returns it in stored form:
 * the definition normalized, Tekton placeholders rewritten, `default()` filters merged into defaults.
 * Fields of a stored record (`version`, `created_at`, ...) and unknown fields are ignored.
 */
export function checkTemplateDraft(
  raw: unknown,
  validateWorkflow: WorkflowValidator,
): { draft: TemplateDraft; issues: ValidationIssue[] } {
  const issues: ValidationIssue[] = []
  const body: Record<string, unknown> = isPlainObject(raw) ? raw : {}
  if (!isPlainObject(raw)) issues.push({ message: `a template must be an object, got ${describe(raw)}` })

  const name = body.name
  if (name === undefined) issues.push({ field: 'name', message: 'is required' })
  else if (typeof name !== 'string')
    issues.push({ field: 'name', message: `expected a string, got ${describe(name)}` })
  else if (name.trim() === '') issues.push({ field: 'name', message: 'must not be blank' })
  const text = (field: string): string | undefined => {
    const value = body[field]
    if (value === undefined || value === null) return undefined
    if (typeof value === 'string') return value
    issues.push({ field, message: `expected a string, got ${describe(value)}` })
    return undefined
  }
  const description = text('description') ?? ''
  const category = text('category')
  const templateId = text('template_id')
  if (templateId !== undefined && !TEMPLATE_ID_PATTERN.test(templateId)) {
    issues.push({
      field: 'template_id',
      message: `'${templateId}' is not valid: use 1 to 128 letters, digits, '.', '_', '-' or ':'`,
    })
  }
  const tags = body.tags ?? []
  if (!Array.isArray(tags) || tags.some((tag) => typeof tag !== 'string')) {
    issues.push({ field: 'tags', message: `expected a list of strings, got ${describe(tags)}` })
  }
  const isPublic = body.is_public ?? true
  if (typeof isPublic !== 'boolean')
    issues.push({ field: 'is_public', message: `expected true or false, got ${describe(isPublic)}` })
  const metadata = body.metadata ?? {}
  if (!isPlainObject(metadata))
    issues.push({ field: 'metadata', message: `expected an object, got ${describe(metadata)}` })

  const { parameters, issues: parameterIssues } = checkParameterSpecs(body.parameters)
  issues.push(...parameterIssues)
  // Parameters with a bad declaration still count as declared, so placeholders naming them are not
  // reported a second time.
  const declared = isPlainObject(body.parameters)
    ? Object.keys(body.parameters).filter((key) => key !== '__proto__' && PARAMETER_NAME_PATTERN.test(key))
    : []
  const definition = checkDefinition(
    body.workflow_definition,
    typeof name === 'string' ? name : undefined,
    parameters,
    declared,
    validateWorkflow,
    issues,
  )

  const draft: TemplateDraft = {
    ...(templateId === undefined ? {} : { template_id: templateId }),
    name: typeof name === 'string' ? name : '',
    description,
    workflow_definition: definition,
    parameters,
    tags: Array.isArray(tags) ? (tags.filter((tag) => typeof tag === 'string') as string[]) : [],
    ...(category === undefined ? {} : { category }),
    is_public: isPublic === true,
    metadata: isPlainObject(metadata) ? (metadata as JsonObject) : {},
  }
  return { draft, issues }
}

function checkDefinition(
  raw: unknown,
  templateName: string | undefined,
  parameters: ParameterMap,
  declared: readonly string[],
  validateWorkflow: WorkflowValidator,
  issues: ValidationIssue[],
): WorkflowDefinition {
  if (raw === undefined || raw === null) {
    issues.push({
      field: 'workflow_definition',
      message: 'is required (or create the template from a workflow)',
    })
    return { name: templateName ?? '', tasks: {} }
  }
  if (!isPlainObject(raw)) {
    issues.push({
      field: 'workflow_definition',
      message: `expected a workflow definition object, got ${describe(raw)}`,
    })
    return { name: templateName ?? '', tasks: {} }
  }
  // A template's workflow may leave its name to the template (when the template has none, that problem
  // is reported once, for the template).
  const usableName = templateName !== undefined && templateName.trim() !== '' ? templateName : 'template'
  const named = raw.name === undefined ? { ...raw, name: usableName } : raw
  const normalized = normalizeDefinition(named)
  const scope = placeholderScope(normalized.definition, declared)
  const canonical = canonicalizePlaceholders(normalized.definition, scope)
  const definition = canonical.definition
  const workflowIssues: ValidationIssue[] = []
  const seen = new Set<string>()
  const add = (issue: ValidationIssue) => {
    const key = JSON.stringify([issue.task, issue.field, issue.message])
    if (seen.has(key)) return
    seen.add(key)
    workflowIssues.push(issue)
  }
  canonical.issues.forEach(add)
  mergeDefaults(canonical.defaults, parameters, definition, workflowIssues)

  const probe = instantiatePlaceholders(definition, scope, sampleParameterValues(parameters), {
    lenientPaths: true,
  })
  probe.issues.forEach(add)
  // Shape problems at a place that holds a placeholder are judged on the instantiated value instead.
  for (const issue of normalized.issues) {
    if (sameJson(valueAt(definition, issue), valueAt(probe.definition, issue))) add(issue)
  }
  for (const issue of validateWorkflow(probe.definition)) add(issue)
  for (const issue of workflowIssues) {
    if (issue.task !== undefined) issues.push(issue)
    else if (issue.field !== undefined) issues.push({ ...issue, field: `workflow_definition.${issue.field}` })
    else issues.push({ field: 'workflow_definition', message: issue.message })
  }
  return definition
}

/** Merges `{{ x | default(v) }}` filters into the parameter's or the workflow input's default. */
function mergeDefaults(
  defaults: readonly PlaceholderDefault[],
  parameters: ParameterMap,
  definition: WorkflowDefinition,
  issues: ValidationIssue[],
): void {
  for (const found of defaults) {
    const where = { ...(found.task === undefined ? {} : { task: found.task }), field: found.field }
    const target = found.kind === 'parameter' ? parameters[found.name] : inputProperty(definition, found.name)
    const label = found.kind === 'parameter' ? `parameter '${found.name}'` : `workflow input '${found.name}'`
    if (target === undefined) continue
    const current = target.default as JsonValue | undefined
    if (current === undefined) {
      const problem =
        found.kind === 'parameter' ? valueProblem(parameters[found.name]!, found.value) : undefined
      if (problem !== undefined)
        issues.push({
          ...where,
          message: `default(${JSON.stringify(found.value)}) does not fit ${label}: ${problem}`,
        })
      else target.default = found.value
    } else if (!sameJson(current, found.value)) {
      issues.push({
        ...where,
        message: `default(${JSON.stringify(found.value)}) differs from the default of ${label} (${JSON.stringify(current)}); a ${found.kind === 'parameter' ? 'parameter' : 'workflow input'} has one default`,
      })
    }
  }
}

function inputProperty(definition: WorkflowDefinition, name: string): JsonObject | undefined {
  const schema = (definition.input_schema ?? definition.input) as unknown
  if (!isPlainObject(schema)) return undefined
  const properties =
    definition.input_schema !== undefined ||
    (typeof schema.type === 'string' && isPlainObject(schema.properties))
      ? schema.properties
      : schema
  if (!isPlainObject(properties) || !Object.hasOwn(properties, name)) return undefined
  const property = properties[name]
  return isPlainObject(property) ? (property as JsonObject) : undefined
}

/** The value an issue points at (its task, then its field path), or undefined. */
function valueAt(definition: WorkflowDefinition, issue: ValidationIssue): unknown {
  let value: unknown = definition
  if (issue.task !== undefined) {
    const tasks = definition.tasks as unknown
    value = isPlainObject(tasks) && Object.hasOwn(tasks, issue.task) ? tasks[issue.task] : undefined
  }
  if (issue.field === undefined) return value
  for (const part of issue.field.match(/[^.[\]]+/g) ?? []) {
    if (Array.isArray(value) && /^\d+$/.test(part)) value = value[Number(part)]
    else if (isPlainObject(value) && Object.hasOwn(value, part)) value = value[part]
    else return undefined
  }
  return value
}
