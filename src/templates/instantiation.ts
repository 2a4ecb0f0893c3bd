/**
 * Instantiation: one version of a template plus parameter values gives a plain workflow definition,
 * validated like any workflow. The definition's `metadata` records `template_id` and `template_version`.
 */
import { ValidationError, type ValidationIssue } from '../core/errors.ts'
import type { JsonValue, WorkflowDefinition } from '../core/model.ts'
import { describe, isPlainObject, requireParameterValues } from './parameters.ts'
import { instantiatePlaceholders, placeholderScope } from './placeholders.ts'
import type { WorkflowValidator } from './template-draft.ts'
import { TEMPLATE_METADATA_KEYS, type Template } from './template-model.ts'

export interface InstantiateRequest {
  /** Name of the new workflow; default: the template's workflow name. */
  name?: string
  description?: string
  parameter_values?: Record<string, JsonValue>
  /** Which version of the template; default: the latest. */
  version?: number
}

/** Checks the request's fields (not the parameter values, which depend on the template's version). */
export function checkInstantiateRequest(raw: unknown): InstantiateRequest {
  const issues: ValidationIssue[] = []
  if (raw === undefined || raw === null) return {}
  if (!isPlainObject(raw))
    throw new ValidationError('instantiate request is invalid', [
      { message: `expected an object, got ${describe(raw)}` },
    ])
  for (const field of ['name', 'description'] as const) {
    const value = raw[field]
    if (value !== undefined && value !== null && typeof value !== 'string')
      issues.push({ field, message: `expected a string, got ${describe(value)}` })
  }
  if (typeof raw.name === 'string' && raw.name.trim() === '')
    issues.push({ field: 'name', message: 'must not be blank' })
  const version = raw.version
  if (
    version !== undefined &&
    version !== null &&
    (typeof version !== 'number' || !Number.isSafeInteger(version) || version < 1)
  ) {
    issues.push({
      field: 'version',
      message: `expected a template version (an integer from 1), got ${describe(version)}`,
    })
  }
  const values = raw.parameter_values
  if (values !== undefined && values !== null && !isPlainObject(values)) {
    issues.push({
      field: 'parameter_values',
      message: `expected an object mapping parameter names to values, got ${describe(values)}`,
    })
  }
  if (issues.length > 0) throw new ValidationError('instantiate request is invalid', issues)
  return {
    ...(typeof raw.name === 'string' ? { name: raw.name } : {}),
    ...(typeof raw.description === 'string' ? { description: raw.description } : {}),
    ...(isPlainObject(values) ? { parameter_values: values as Record<string, JsonValue> } : {}),
    ...(typeof version === 'number' ? { version } : {}),
  }
}

/**
 * The workflow definition a template gives for these parameter values. Throws ValidationError naming each
 * bad parameter (`parameter 'priority': expected one of low, medium, high, critical, got "urgent"`), or
 * listing the problems of the resulting workflow.
 */
export function instantiateTemplate(
  template: Template,
  request: InstantiateRequest,
  validateWorkflow: WorkflowValidator,
): WorkflowDefinition {
  const subject = `template '${template.template_id}'`
  const values = requireParameterValues(template.parameters, request.parameter_values, subject)
  const scope = placeholderScope(template.workflow_definition, Object.keys(template.parameters))
  const { definition, issues } = instantiatePlaceholders(template.workflow_definition, scope, values)
  if (issues.length > 0) throw new ValidationError(`${subject} cannot be instantiated`, issues)
  if (request.name !== undefined) definition.name = request.name
  if (request.description !== undefined) definition.description = request.description
  definition.metadata = {
    ...(isPlainObject(definition.metadata) ? definition.metadata : {}),
    [TEMPLATE_METADATA_KEYS.templateId]: template.template_id,
    [TEMPLATE_METADATA_KEYS.templateVersion]: template.version,
  }
  const problems = validateWorkflow(definition)
  if (problems.length > 0) {
    throw new ValidationError(
      `workflow instantiated from ${subject} (version ${template.version}) is invalid`,
      problems,
    )
  }
  return definition
}
