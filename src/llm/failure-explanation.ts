/**
 * Explaining a failed execution: the rule-based diagnosis always answers (failure-rules.ts); with an LLM
 * configured, the model gets the failed task, its resolved input, error and attempts, the upstream outputs
 * (trimmed, secrets redacted) and the definition, and answers a diagnosis and a suggested fix — a JSON merge
 * patch of the definition when it can, checked to leave a valid definition (bounded repair rounds). When
 * the model fails or answers nothing usable, the rule-based diagnosis is the answer and says why.
 */
import type { ExecutionDetail } from '../core/engine-api.ts'
import { formatIssue } from '../core/errors.ts'
import type { JsonObject, JsonValue, WorkflowDefinition } from '../core/model.ts'
import { validateWorkflow } from '../core/validate.ts'
import { buildFailureContext, promptView, type FailureContext } from './failure-context.ts'
import {
  diagnoseByRules,
  type Diagnosis,
  type FailureCategory,
  type KnownComponents,
} from './failure-rules.ts'
import { DEFAULT_REPAIR_ROUNDS, jsonInstruction, requestJson } from './json-output.ts'
import { applyMergePatch } from './merge-patch.ts'
import { LlmError, LlmFailure, type LlmProvider, type TokenUsage } from './provider.ts'
import { REDACTED, redactSecrets } from './redaction.ts'
import { DEFINITION_FORMAT, EXPRESSION_SYNTAX } from './workflow-generation.ts'

export interface ExplainOptions {
  /** Without one, the rule-based diagnosis answers. */
  provider?: LlmProvider
  /** The registry, to name registered components and check patches against them. */
  components?: KnownComponents
  /** Rounds in which the model may fix an answer (or a patch that breaks the definition). Default 2. */
  maxRepairRounds?: number
  signal?: AbortSignal
}

export interface ExecutionExplanation {
  execution_id: string
  workflow_id: string
  status: string
  /** The task examined (the first that failed), or null when none failed. */
  failed_task: string | null
  item_index?: number
  error: JsonValue
  category: FailureCategory
  diagnosis: string
  suggested_fix: string
  /** JSON merge patch (RFC 7386) of the definition, or null. */
  patch: JsonObject | null
  /** Who wrote the diagnosis. */
  source: 'rules' | 'llm'
  /** The rule-based diagnosis, also given when the model wrote the answer. */
  rules: Diagnosis
  /** What was considered (trimmed, secrets redacted). */
  context: JsonObject
  usage?: TokenUsage
  model?: string
  /** Why the model's diagnosis is not the answer, when a model was asked. */
  llm_error?: string
}

const ANSWER_SCHEMA: JsonObject = {
  type: 'object',
  required: ['diagnosis', 'suggested_fix'],
  properties: {
    diagnosis: { type: 'string', minLength: 1 },
    suggested_fix: { type: 'string', minLength: 1 },
    patch: { type: ['object', 'null'] },
  },
}

export async function explainExecution(
  detail: ExecutionDetail,
  options: ExplainOptions = {},
): Promise<ExecutionExplanation> {
  const context = buildFailureContext(detail)
  const rules = diagnoseByRules(context, options.components)
  const view = promptView(context)
  const base: ExecutionExplanation = {
    execution_id: context.executionId,
    workflow_id: context.workflowId,
    status: context.status,
    failed_task: context.failedTask?.name ?? null,
    ...(context.failedTask?.itemIndex === undefined ? {} : { item_index: context.failedTask.itemIndex }),
    error: ((view['failed_task'] as JsonObject | null)?.['error'] ??
      context.executionError ??
      null) as JsonValue,
    ...rules,
    source: 'rules',
    rules,
    context: view,
  }
  if (options.provider === undefined || rules.category === 'none') return base

  try {
    const answer = await requestJson(options.provider, {
      messages: [
        { role: 'system', content: EXPLAIN_PROMPT },
        { role: 'user', content: userMessage(context, view, rules) },
      ],
      schema: ANSWER_SCHEMA,
      check: (value) => patchProblems(context.definition, (value as JsonObject)['patch'], options.components),
      maxRepairRounds: options.maxRepairRounds ?? DEFAULT_REPAIR_ROUNDS,
      chat: {
        purpose: 'failure_explanation',
        ...(options.signal === undefined ? {} : { signal: options.signal }),
      },
    })
    const value = answer.value as JsonObject | undefined
    const usable =
      value !== undefined &&
      typeof value['diagnosis'] === 'string' &&
      typeof value['suggested_fix'] === 'string'
    if (!usable) {
      return {
        ...base,
        usage: answer.usage,
        model: answer.model,
        llm_error: `the model's answer could not be used after ${answer.rounds} ${answer.rounds === 1 ? 'try' : 'tries'}: ${answer.problems.join('; ')}`,
      }
    }
    const patch = answer.ok ? cleanPatch(value['patch']) : null
    return {
      ...base,
      diagnosis: value['diagnosis'] as string,
      suggested_fix: value['suggested_fix'] as string,
      patch,
      source: 'llm',
      usage: answer.usage,
      model: answer.model,
      ...(answer.ok ? {} : { llm_error: `the model's patch was dropped: ${answer.problems.join('; ')}` }),
    }
  } catch (error) {
    if (!(error instanceof LlmError) || error.reason === LlmFailure.aborted) throw error
    return { ...base, llm_error: error.message }
  }
}

const EXPLAIN_PROMPT = [
  'You diagnose failed executions of Harmonia workflows (Harmonia is a durable workflow orchestration engine).',
  'You get the failed task, the input it was invoked with, its error and attempts, the outputs of the tasks it',
  'reads or waits for, the workflow definition, and a rule-based first look. Values shown as *** are secrets',
  'that were redacted: never write *** anywhere in your answer.',
  '',
  DEFINITION_FORMAT,
  '',
  EXPRESSION_SYNTAX,
  '',
  '## Your answer',
  'A JSON object {"diagnosis": "<what went wrong and why, naming the task>", "suggested_fix": "<what to change>",',
  '"patch": <a JSON merge patch (RFC 7386) of the workflow definition that applies the fix, e.g.',
  '{"tasks": {"fetch": {"timeout": 60}}}, or null when the fix is not a change of the definition>}.',
  jsonInstruction(ANSWER_SCHEMA),
].join('\n')

function userMessage(context: FailureContext, view: JsonObject, rules: Diagnosis): string {
  return [
    'Execution and failure:',
    JSON.stringify(view),
    '',
    'Workflow definition (secrets redacted):',
    JSON.stringify(redactSecrets(context.definition as unknown as JsonValue)),
    '',
    'Rule-based first look:',
    JSON.stringify(rules),
  ].join('\n')
}

/** Problems of a suggested patch: it must be an object or null and leave a valid definition. */
function patchProblems(
  definition: WorkflowDefinition,
  patch: JsonValue | undefined,
  components: KnownComponents | undefined,
): string[] {
  if (patch === undefined || patch === null) return []
  if (typeof patch !== 'object' || Array.isArray(patch))
    return ['patch: expected an object (a JSON merge patch) or null']
  const patched = applyMergePatch(definition as unknown as JsonValue, cleanPatch(patch) ?? {})
  const issues = validateWorkflow(
    patched,
    components === undefined ? {} : { components, unknownComponents: 'error' },
  )
  return issues.map((issue) => `the patch makes the definition invalid: ${formatIssue(issue)}`)
}

/** The patch without members set to the redaction mark (applying them would overwrite the real secret). */
function cleanPatch(patch: JsonValue | undefined): JsonObject | null {
  if (patch === undefined || patch === null || typeof patch !== 'object' || Array.isArray(patch)) return null
  const strip = (value: JsonValue): JsonValue | undefined => {
    if (value === REDACTED) return undefined
    if (value === null || typeof value !== 'object' || Array.isArray(value)) return value
    const out: JsonObject = {}
    for (const [key, item] of Object.entries(value)) {
      const kept = strip(item)
      if (kept !== undefined && key !== '__proto__') out[key] = kept
    }
    return out
  }
  const cleaned = strip(patch) as JsonObject
  return Object.keys(cleaned).length === 0 ? null : cleaned
}
