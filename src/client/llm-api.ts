/**
 * The LLM features of the client SDK (docs/llm.md): create a workflow from a sentence, explain a failed
 * execution, suggest optimizations of a workflow, and the token usage of the configured model.
 */
import type { JsonObject } from './wire-types.ts'
import type { CallOptions } from './harmonia-client.ts'

export interface LlmTokenUsage {
  prompt_tokens: number
  completion_tokens: number
  total_tokens: number
}

/** `POST /llm/workflows`: a draft definition (saved only with `save: true`) and the model's explanation. */
export interface GeneratedWorkflowAnswer {
  definition: JsonObject
  explanation: string
  valid: boolean
  issues: JsonObject[]
  rounds: number
  usage: LlmTokenUsage
  model?: string
  saved: boolean
  /** The saved workflow (with `save: true`). */
  workflow?: JsonObject
}

/** `POST /executions/{id}/explain`: a diagnosis, a suggested fix, and a merge patch when one fits. */
export interface ExecutionExplanationAnswer {
  execution_id: string
  workflow_id?: string
  status?: string
  failed_task: string | null
  item_index?: number
  error?: unknown
  category: string
  diagnosis: string
  suggested_fix: string
  /** A JSON merge patch (RFC 7386) of the definition, or null. */
  patch: JsonObject | null
  source: 'rules' | 'llm'
  rules?: JsonObject
  context?: JsonObject
  usage?: LlmTokenUsage
  model?: string
  /** Why the model's answer was not used (the rule-based diagnosis answers then). */
  llm_error?: string
}

/** `POST /workflows/{id}/optimize`: static findings, the critical path, and an LLM narrative when configured. */
export interface OptimizationAnswer {
  workflow_id: string
  revision: number
  workflow?: string
  findings: JsonObject[]
  patch: JsonObject | null
  critical_path: JsonObject | null
  source: 'static' | 'static+llm'
  narrative?: string
  usage?: LlmTokenUsage
  model?: string
  llm_error?: string
}

export interface LlmUsageAnswer {
  configured: boolean
  model: string | null
  base_url: string | null
  usage: JsonObject | null
}

export interface LlmApi {
  /** A workflow from a description; a draft unless `save` (then `workflow` is the saved record). */
  createWorkflow(
    description: string,
    request?: { save?: boolean; max_repair_rounds?: number },
    options?: CallOptions,
  ): Promise<GeneratedWorkflowAnswer>
  /** Why an execution failed; rule-based without an LLM (or with `use_llm: false`). */
  explain(
    executionId: string,
    request?: { use_llm?: boolean },
    options?: CallOptions,
  ): Promise<ExecutionExplanationAnswer>
  /** Optimization findings for a workflow (static analysis, plus a narrative with an LLM). */
  optimize(
    workflowId: string,
    request?: { revision?: number; executions?: number; use_llm?: boolean },
    options?: CallOptions,
  ): Promise<OptimizationAnswer>
  usage(options?: CallOptions): Promise<LlmUsageAnswer>
}

type Api = <T>(
  method: string,
  path: string,
  init?: { body?: JsonObject; options?: CallOptions },
) => Promise<T>

export function createLlmApi(api: Api, segment: (value: string, what: string) => string): LlmApi {
  return {
    createWorkflow: async (description, request = {}, options) =>
      api('POST', '/llm/workflows', { body: { description, ...request }, ...(options ? { options } : {}) }),
    explain: async (executionId, request = {}, options) =>
      api('POST', `/executions/${segment(executionId, 'execution id')}/explain`, {
        body: { ...request },
        ...(options ? { options } : {}),
      }),
    optimize: async (workflowId, request = {}, options) =>
      api('POST', `/workflows/${segment(workflowId, 'workflow id')}/optimize`, {
        body: { ...request },
        ...(options ? { options } : {}),
      }),
    usage: async (options) => api('GET', '/llm/usage', options ? { options } : {}),
  }
}
