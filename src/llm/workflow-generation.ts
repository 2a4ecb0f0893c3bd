/**
 * Creating a workflow from a sentence. The prompt tells the model the definition format, the expression
 * syntax, and the components and actions really registered (with their descriptions and input schemas);
 * the answer is validated as a workflow definition (unknown components and actions are errors), and the
 * problems go back to the model for a bounded number of repair rounds. The result is a draft: callers
 * save it only when asked.
 */
import type { ComponentDescriptor, ComponentResolver } from '../core/component.ts'
import { formatIssue, type ValidationIssue } from '../core/errors.ts'
import type { JsonObject, JsonValue, WorkflowDefinition } from '../core/model.ts'
import { validateWorkflow } from '../core/validate.ts'
import { DEFAULT_REPAIR_ROUNDS, jsonInstruction, requestJson } from './json-output.ts'
import { LlmError, LlmFailure, type ChatMessage, type LlmProvider, type TokenUsage } from './provider.ts'

/** What generation needs of the component registry. */
export type ComponentCatalog = ComponentResolver & { list(): ComponentDescriptor[] }

export interface GenerateWorkflowOptions {
  provider: LlmProvider
  components: ComponentCatalog
  /** Rounds in which the model may fix a definition that does not validate. Default 2. */
  maxRepairRounds?: number
  /** Environment variables expressions may read (the server's allow-list). */
  envAllowList?: readonly string[]
  signal?: AbortSignal
}

export interface GeneratedWorkflow {
  /** The model's definition (a draft: not saved). */
  definition: WorkflowDefinition
  /** The model's own explanation of the workflow. */
  explanation: string
  /** True when the definition validates against the registered components. */
  valid: boolean
  /** The definition's problems when it is not valid. */
  issues: ValidationIssue[]
  /** Requests made: 1 plus the repair rounds used. */
  rounds: number
  usage: TokenUsage
  model: string
}

export const MAX_DESCRIPTION_CHARS = 10_000
/** Characters of one action's input schema shown in the prompt. */
const MAX_SCHEMA_CHARS = 1_500
/** Characters of the whole component catalog in the prompt; beyond it, actions are listed by name. */
const MAX_CATALOG_CHARS = 40_000

export async function generateWorkflow(
  description: string,
  options: GenerateWorkflowOptions,
): Promise<GeneratedWorkflow> {
  const validation = {
    components: options.components,
    unknownComponents: 'error' as const,
    ...(options.envAllowList === undefined ? {} : { envAllowList: options.envAllowList }),
  }
  const messages: ChatMessage[] = [
    { role: 'system', content: workflowGenerationPrompt(options.components.list()) },
    { role: 'user', content: `Create a workflow that does this:\n${description.trim()}` },
  ]
  const answer = await requestJson(options.provider, {
    messages,
    maxRepairRounds: options.maxRepairRounds ?? DEFAULT_REPAIR_ROUNDS,
    chat: {
      purpose: 'workflow_generation',
      ...(options.signal === undefined ? {} : { signal: options.signal }),
    },
    check: (value) => {
      const definition = definitionOf(value)
      if (definition === undefined) {
        return ['expected a JSON object {"explanation": "...", "workflow": {...the definition...}}']
      }
      return validateWorkflow(definition, validation).map(formatIssue)
    },
  })
  const definition = answer.value === undefined ? undefined : definitionOf(answer.value)
  if (definition === undefined) {
    throw new LlmError(
      LlmFailure.invalid_output,
      `the model gave no workflow definition after ${answer.rounds} ${answer.rounds === 1 ? 'answer' : 'answers'}: ${answer.problems.join('; ')}`,
      { details: { rounds: answer.rounds, problems: answer.problems } },
    )
  }
  const issues = answer.ok ? [] : validateWorkflow(definition, validation)
  return {
    definition: definition as unknown as WorkflowDefinition,
    explanation: explanationOf(answer.value!),
    valid: issues.length === 0,
    issues,
    rounds: answer.rounds,
    usage: answer.usage,
    model: answer.model,
  }
}

/** The definition in an answer: its `workflow` member, or the answer itself when it has `tasks`. */
function definitionOf(value: JsonValue): JsonObject | undefined {
  if (!isObject(value)) return undefined
  if (isObject(value['workflow'])) return value['workflow']
  if (isObject(value['definition'])) return value['definition']
  return value['tasks'] !== undefined ? value : undefined
}

function explanationOf(value: JsonValue): string {
  if (!isObject(value)) return ''
  const explanation = value['explanation']
  return typeof explanation === 'string' ? explanation : ''
}

function isObject(value: JsonValue | undefined): value is JsonObject {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
}

/** The system prompt: format, expressions, the registered components, and the answer's shape. */
export function workflowGenerationPrompt(components: readonly ComponentDescriptor[]): string {
  return [
    'You design workflows for Harmonia, a durable workflow orchestration engine. Given a description, you write',
    'one workflow definition that uses only the components and actions listed below.',
    '',
    DEFINITION_FORMAT,
    '',
    EXPRESSION_SYNTAX,
    '',
    '## Components and actions available (use no others)',
    catalog(components),
    '',
    '## Your answer',
    'A JSON object {"explanation": "<two or three sentences on what the workflow does and why it is built so>",',
    '"workflow": {<the definition>}}.',
    jsonInstruction(),
  ].join('\n')
}

export const DEFINITION_FORMAT = `## Definition format
{
  "name": "snake_case_name",                       (required)
  "description": "what it does",
  "input": {"<param>": {"type": "string|number|integer|boolean|object|array", "required": true,
            "default": <value>, "description": "..."}},   (the workflow's input parameters)
  "tasks": {                                        (required, at least one task; keys are task names)
    "<task_name>": {
      "component": "<component>", "action": "<action>",   (required; from the list below)
      "input": {...},                  (the action's input, matching its input schema; may hold \${...})
      "depends_on": ["<task_name>"],   (tasks that finish first; a task may read only tasks upstream of it)
      "when": "<condition>",           (optional; the task runs only when true, else it is skipped)
      "for_each": "\${<expression giving a list>}", "concurrency": <items at once>,
                                       (optional; runs once per item, reading item and item_index)
      "timeout": <seconds>,
      "retry": <number of retries> or {"max_attempts": n, "initial_delay_ms": n, "backoff_factor": n},
      "on_failure": "fail" | "continue"
    }
  },
  "output": {"<key>": "\${tasks.<task_name>.output...}"}   (optional; the execution's result)
}
Tasks without depends_on between them run in parallel. Keep the workflow as small as the description allows.`

export const EXPRESSION_SYNTAX = `## Expressions
Values in task inputs, when, for_each and output may hold \${...} expressions in CEL (Common Expression Language).
- "\${workflow.input.count}" alone keeps the value's type; "Hello \${input.name}!" builds text.
- Names: workflow.input (also input), tasks.<name>.output, tasks.<name>.status, tasks.<name>.error,
  tasks["a-name"] for names that are not identifiers, execution.id, item and item_index (inside for_each only),
  env.<NAME> (allow-listed variables only). Any other name is an error.
- Operators and functions: == != < > && || ! ?:, + (numbers, strings, lists), size(x), x in list, has(a.b),
  s.contains(t), s.startsWith(t), s.split(","), list.join(", "), l.map(x, f), l.filter(x, pred), l.all(x, p),
  l.exists(x, p), string(x), int(x), double(x), s.lower(), s.upper(), s.replace(a, b), json(x), parseJson(s),
  default(x, fallback) (fallback when x reads a missing key or is null).
- A condition (when) is written bare or wrapped: tasks.check.output.ok == true
- Reading a missing key is an error: use has(...) or default(...).
- "$\${" writes a literal "\${".`

/** Components and their actions with descriptions and (trimmed) input schemas. */
function catalog(components: readonly ComponentDescriptor[]): string {
  if (components.length === 0) return '(none registered)'
  const lines: string[] = []
  let used = 0
  for (const component of components) {
    lines.push(
      `### ${component.name}${component.description === undefined ? '' : ` — ${oneLine(component.description)}`}`,
    )
    for (const action of component.actions) {
      const head = `- ${component.name}.${action.name}${action.description === undefined ? '' : `: ${oneLine(action.description)}`}`
      let schema = ''
      if (action.input_schema !== undefined && used < MAX_CATALOG_CHARS) {
        const text = JSON.stringify(action.input_schema)
        schema =
          text.length > MAX_SCHEMA_CHARS
            ? `\n  input schema (shortened): ${text.slice(0, MAX_SCHEMA_CHARS)}…`
            : `\n  input schema: ${text}`
      }
      used += head.length + schema.length
      lines.push(head + schema)
    }
  }
  return lines.join('\n')
}

function oneLine(text: string): string {
  return text.replace(/\s+/g, ' ').trim()
}
