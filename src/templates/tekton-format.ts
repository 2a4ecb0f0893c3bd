/**
 * Tekton template files: import into a template draft, and export a template back.
 *
 * Mapping (Tekton → Harmonia):
 * - parameters: `parameter_type` → `type` (aliases float, int, bool, list, dict, json accepted),
 *   `default_value` → `default`, `options`, `required`, `description`; a `name` that differs from the key
 *   becomes `title`.
 * - tasks: `dependencies` → `depends_on`, `parameters` → `input`, the display `name` → `title` (the key
 *   is the task's identity). A task without `action` calls the action named like its key
 *   (`investigate`, `fix`): Tekton's files name only the component, and the step's key is what tells the
 *   component what to do.
 * - placeholders: `{{ x }}`, `{{ task.output.y }}` and `| default(v)` become Harmonia's syntax (see
 *   placeholders.ts).
 * - workflow `output` given as JSON-Schema-like descriptors (`{bug_fixed: {type: boolean, description}}`)
 *   becomes `output_schema` (`{type: object, properties: ...}`); an output mapping stays `output`.
 * - `category`: the file's own, else its workflow's `metadata.category`, else its `metadata.category`.
 * Export writes the same format, so importing an exported template gives the template back.
 */
import { parseDefinition } from '../core/definition.ts'
import { ValidationError, type ValidationIssue } from '../core/errors.ts'
import type { JsonObject, JsonValue, WorkflowDefinition } from '../core/model.ts'
import { validateWorkflow as coreValidateWorkflow } from '../core/validate.ts'
import { describe, isPlainObject } from './parameters.ts'
import { placeholderScope, tektonPlaceholders } from './placeholders.ts'
import { checkTemplateDraft, type WorkflowValidator } from './template-draft.ts'
import type { ParameterSpec, Template, TemplateDraft } from './template-model.ts'

export interface TektonParameter {
  name: string
  parameter_type: string
  description?: string
  options?: JsonValue[]
  enum?: JsonValue[]
  default_value?: JsonValue
  required: boolean
}

export interface TektonTask {
  name: string
  description?: string
  component: string
  action: string
  dependencies: string[]
  parameters?: JsonValue
  [field: string]: JsonValue | undefined
}

export interface TektonWorkflowDefinition {
  name: string
  description?: string
  tasks: Record<string, TektonTask>
  input?: Record<string, JsonObject>
  /** Output descriptors (`{x: {type, description}}`) or an output mapping. */
  output?: JsonObject
  version?: string
  metadata?: JsonObject
  [field: string]: unknown
}

export interface TektonTemplateFile {
  name: string
  description: string
  workflow_definition: TektonWorkflowDefinition
  parameters: Record<string, TektonParameter>
  tags: string[]
  category?: string
  is_public: boolean
  metadata: JsonObject
  usage_count: number
}

const TYPE_ALIASES: Record<string, string> = {
  float: 'number',
  double: 'number',
  int: 'integer',
  bool: 'boolean',
  list: 'array',
  dict: 'object',
  json: 'object',
}
const SCHEMA_TYPES = new Set(['string', 'number', 'integer', 'boolean', 'object', 'array', 'null'])
const SCHEMA_KEYS = new Set([
  'type',
  'description',
  'enum',
  'default',
  'format',
  'items',
  'properties',
  'required',
  'title',
  'examples',
  'minimum',
  'maximum',
  'pattern',
])

/**
 * Reads a Tekton template file (an object, or its JSON or YAML text) into a template draft, with every
 * problem found. Problems name Tekton's fields (`parameter_type`, `dependencies`, task `parameters`).
 */
export function readTektonTemplate(
  file: unknown,
  options: { validateWorkflow?: WorkflowValidator } = {},
): { draft: TemplateDraft; issues: ValidationIssue[] } {
  const json = typeof file === 'string' ? parseDefinition(file) : file
  if (!isPlainObject(json)) {
    return {
      draft: {
        name: '',
        description: '',
        workflow_definition: { name: '', tasks: {} },
        parameters: {},
        tags: [],
        is_public: true,
        metadata: {},
      },
      issues: [{ message: `a Tekton template file must be an object, got ${describe(json)}` }],
    }
  }
  const renames: Array<[string, string]> = []
  const body: Record<string, unknown> = {
    name: json.name,
    description: json.description,
    parameters: tektonParameters(json.parameters, renames),
    workflow_definition: tektonDefinition(json.workflow_definition, renames),
    tags: json.tags,
    category: json.category ?? categoryOf(json.workflow_definition) ?? categoryOf(json),
    is_public: json.is_public,
    metadata: json.metadata,
  }
  const { draft, issues } = checkTemplateDraft(body, options.validateWorkflow ?? coreValidateWorkflow)
  return { draft, issues: issues.map((issue) => renameField(issue, renames)) }
}

/** Like readTektonTemplate, but throws ValidationError listing every problem. */
export function importTektonTemplate(
  file: unknown,
  options: { validateWorkflow?: WorkflowValidator } = {},
): TemplateDraft {
  const { draft, issues } = readTektonTemplate(file, options)
  if (issues.length > 0) {
    const name = draft.name === '' ? 'Tekton template file' : `Tekton template '${draft.name}'`
    throw new ValidationError(`${name} cannot be imported`, issues)
  }
  return draft
}

function tektonParameters(raw: unknown, renames: Array<[string, string]>): unknown {
  if (!isPlainObject(raw)) return raw
  const out: Record<string, unknown> = {}
  for (const [name, spec] of Object.entries(raw)) {
    if (!isPlainObject(spec)) {
      define(out, name, spec)
      continue
    }
    const { parameter_type: tektonType, default_value: defaultValue, ...rest } = spec
    const converted: Record<string, unknown> = { ...rest }
    if (tektonType !== undefined) {
      converted.type = typeof tektonType === 'string' ? (TYPE_ALIASES[tektonType] ?? tektonType) : tektonType
      renames.push([`parameters.${name}.type`, `parameters.${name}.parameter_type`])
    }
    if (defaultValue !== undefined) {
      converted.default = defaultValue
      renames.push([`parameters.${name}.default`, `parameters.${name}.default_value`])
    }
    define(out, name, converted)
  }
  return out
}

function tektonDefinition(raw: unknown, renames: Array<[string, string]>): unknown {
  if (!isPlainObject(raw)) return raw
  const definition: Record<string, unknown> = { ...raw }
  if (isPlainObject(raw.tasks)) {
    const tasks: Record<string, unknown> = {}
    for (const [key, task] of Object.entries(raw.tasks)) {
      if (isPlainObject(task) && task.action === undefined && typeof task.component === 'string') {
        define(tasks, key, { ...task, action: key })
      } else define(tasks, key, task)
      if (isPlainObject(task) && task.parameters !== undefined && task.input === undefined) {
        renames.push([`task '${key}'/input`, 'parameters'])
      }
      if (isPlainObject(task) && task.dependencies !== undefined && task.depends_on === undefined) {
        renames.push([`task '${key}'/depends_on`, 'dependencies'])
      }
    }
    definition.tasks = tasks
  } else if (Array.isArray(raw.tasks)) {
    // The list form names each task in `name`, which is then also its key and its default action.
    definition.tasks = raw.tasks.map((task: unknown) =>
      isPlainObject(task) &&
      task.action === undefined &&
      typeof task.component === 'string' &&
      typeof task.name === 'string'
        ? { ...task, action: task.name }
        : task,
    )
  }
  if (isOutputDescriptors(raw.output)) {
    if (raw.output_schema === undefined) {
      definition.output_schema = { type: 'object', properties: raw.output }
      delete definition.output
    }
  }
  return definition
}

/** True for `{x: {type: 'boolean', description: '...'}}`: a schema of the output, not a mapping. */
function isOutputDescriptors(output: unknown): output is JsonObject {
  if (!isPlainObject(output) || Object.keys(output).length === 0) return false
  return Object.values(output).every(
    (descriptor) =>
      isPlainObject(descriptor) &&
      typeof descriptor.type === 'string' &&
      SCHEMA_TYPES.has(descriptor.type) &&
      Object.keys(descriptor).every((key) => SCHEMA_KEYS.has(key)) &&
      !JSON.stringify(descriptor).includes('${') &&
      !JSON.stringify(descriptor).includes('{{'),
  )
}

function categoryOf(value: unknown): string | undefined {
  if (!isPlainObject(value) || !isPlainObject(value.metadata)) return undefined
  const category = value.metadata.category
  return typeof category === 'string' ? category : undefined
}

/** Says `parameters.x.parameter_type` (not `.type`) and task `parameters` (not `input`) where the file did. */
function renameField(issue: ValidationIssue, renames: ReadonlyArray<[string, string]>): ValidationIssue {
  if (issue.field === undefined) return issue
  for (const [from, to] of renames) {
    if (from.startsWith('task ')) {
      const [task, field] = from.slice(6).split("'/") as [string, string]
      if (
        issue.task === task &&
        (issue.field === field || issue.field.startsWith(`${field}.`) || issue.field.startsWith(`${field}[`))
      ) {
        return { ...issue, field: to + issue.field.slice(field.length) }
      }
    } else if (issue.field === from) return { ...issue, field: to }
  }
  return issue
}

/** Writes a template (or draft) as a Tekton template file. */
export function exportTektonTemplate(template: Template | TemplateDraft): TektonTemplateFile {
  const scope = placeholderScope(template.workflow_definition, Object.keys(template.parameters))
  const definition = tektonPlaceholders(template.workflow_definition, scope)
  const parameters: Record<string, TektonParameter> = {}
  for (const [name, spec] of Object.entries(template.parameters))
    define(parameters, name, tektonParameter(name, spec))
  return {
    name: template.name,
    description: template.description,
    workflow_definition: tektonWorkflow(definition),
    parameters,
    tags: [...template.tags],
    ...(template.category === undefined ? {} : { category: template.category }),
    is_public: template.is_public,
    metadata: structuredClone(template.metadata),
    usage_count: 'usage_count' in template ? template.usage_count : 0,
  }
}

function tektonParameter(name: string, spec: ParameterSpec): TektonParameter {
  return {
    name: spec.title ?? name,
    parameter_type: spec.type,
    ...(spec.description === undefined ? {} : { description: spec.description }),
    ...(spec.options === undefined ? {} : { options: structuredClone(spec.options) }),
    ...(spec.enum === undefined ? {} : { enum: structuredClone(spec.enum) }),
    ...(spec.default === undefined ? {} : { default_value: structuredClone(spec.default) }),
    required: spec.required,
  }
}

function tektonWorkflow(definition: WorkflowDefinition): TektonWorkflowDefinition {
  const {
    name,
    description,
    tasks,
    input,
    output,
    output_schema: outputSchema,
    version,
    metadata,
    ...rest
  } = definition
  const tektonTasks: Record<string, TektonTask> = {}
  for (const [key, task] of Object.entries(tasks)) {
    const {
      name: _key,
      title,
      description: taskDescription,
      component,
      action,
      depends_on: dependsOn,
      input: taskInput,
      ...taskRest
    } = task
    define(tektonTasks, key, {
      name: title ?? key,
      ...(taskDescription === undefined ? {} : { description: taskDescription }),
      component,
      action,
      dependencies: [...(dependsOn ?? [])],
      ...(taskInput === undefined ? {} : { parameters: taskInput }),
      ...(taskRest as Record<string, JsonValue>),
    })
  }
  // Output descriptors only when the schema is exactly what an import of descriptors gives.
  const schemaAsDescriptors =
    output === undefined &&
    isPlainObject(outputSchema) &&
    outputSchema.type === 'object' &&
    Object.keys(outputSchema).length === 2 &&
    isOutputDescriptors(outputSchema.properties)
  return {
    name,
    ...(description === undefined ? {} : { description }),
    tasks: tektonTasks,
    ...(input === undefined ? {} : { input }),
    ...(schemaAsDescriptors
      ? { output: outputSchema.properties as JsonObject }
      : output === undefined
        ? {}
        : { output }),
    ...(outputSchema === undefined || schemaAsDescriptors ? {} : { output_schema: outputSchema }),
    ...(version === undefined ? {} : { version }),
    ...(metadata === undefined ? {} : { metadata }),
    ...(rest as Record<string, JsonValue>),
  }
}

function define(target: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true })
}
