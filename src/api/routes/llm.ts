/**
 * LLM routes: create a workflow from a sentence (a draft, saved only on request), explain a failed
 * execution, suggest optimizations of a workflow, and the token usage since the server started.
 * Explain and optimize answer without an LLM (rule-based diagnosis, static analysis); creating a workflow
 * needs one (`not_configured`, 501). A failing LLM endpoint is `llm_error` (502); its key never appears.
 */
import type { FastifyInstance, FastifyReply } from 'fastify'
import { HarmoniaError } from '../../core/errors.ts'
import { FINISHED_EXECUTION_STATUSES, type JsonValue } from '../../core/model.ts'
import { explainExecution } from '../../llm/failure-explanation.ts'
import { MAX_REPAIR_ROUNDS } from '../../llm/json-output.ts'
import { narrateOptimizations, suggestOptimizations, type PastExecution } from '../../llm/optimization.ts'
import { llmNotConfigured } from '../../llm/provider.ts'
import { MAX_DESCRIPTION_CHARS, generateWorkflow } from '../../llm/workflow-generation.ts'
import { routeSchema, type ApiContext } from '../context.ts'
import { ExecutionIdParams, WorkflowIdParams, errorResponses } from '../schemas.ts'
import { workflowToWire } from '../wire-format.ts'

/** Past executions an optimization looks at by default, and at most. */
const DEFAULT_PAST_EXECUTIONS = 20
const MAX_PAST_EXECUTIONS = 200

const openObject = { type: 'object', additionalProperties: true } as const
const usageSchema = {
  type: 'object',
  properties: {
    prompt_tokens: { type: 'integer' },
    completion_tokens: { type: 'integer' },
    total_tokens: { type: 'integer' },
  },
} as const

const GenerateBody = {
  type: 'object',
  additionalProperties: false,
  required: ['description'],
  properties: {
    description: {
      type: 'string',
      minLength: 1,
      maxLength: MAX_DESCRIPTION_CHARS,
      description: 'What the workflow should do, in plain words',
    },
    save: { type: 'boolean', default: false, description: 'Save the workflow when it is valid' },
    max_repair_rounds: {
      type: 'integer',
      minimum: 0,
      maximum: MAX_REPAIR_ROUNDS,
      description: 'Rounds in which the model may fix an invalid definition (default 2)',
    },
  },
} as const

const GeneratedAnswer = {
  type: 'object',
  required: ['definition', 'explanation', 'valid', 'issues', 'rounds', 'usage', 'saved'],
  properties: {
    definition: { description: 'The workflow definition (a draft unless saved)', ...openObject },
    explanation: { type: 'string' },
    valid: { type: 'boolean' },
    issues: { type: 'array', items: openObject, description: 'Problems of an invalid definition' },
    rounds: { type: 'integer', description: 'Model requests made (1 plus repair rounds)' },
    usage: usageSchema,
    model: { type: 'string' },
    saved: { type: 'boolean' },
    workflow: { description: 'The saved workflow (with save: true)', ...openObject },
  },
} as const

const ExplainBody = {
  type: 'object',
  additionalProperties: false,
  properties: {
    use_llm: {
      type: 'boolean',
      default: true,
      description: 'Ask the configured LLM (the rule-based diagnosis answers without one)',
    },
  },
} as const

const ExplanationAnswer = {
  type: 'object',
  required: ['execution_id', 'category', 'diagnosis', 'suggested_fix', 'patch', 'source'],
  properties: {
    execution_id: { type: 'string' },
    workflow_id: { type: 'string' },
    status: { type: 'string' },
    failed_task: { type: ['string', 'null'] },
    item_index: { type: 'integer' },
    error: {},
    category: { type: 'string', example: 'timeout' },
    diagnosis: { type: 'string' },
    suggested_fix: { type: 'string' },
    patch: { type: ['object', 'null'], description: 'JSON merge patch (RFC 7386) of the definition' },
    source: { enum: ['rules', 'llm'] },
    rules: openObject,
    context: { description: 'What was considered (trimmed, secrets redacted)', ...openObject },
    usage: usageSchema,
    model: { type: 'string' },
    llm_error: { type: 'string' },
  },
} as const

const OptimizeBody = {
  type: 'object',
  additionalProperties: false,
  properties: {
    revision: { type: 'integer', minimum: 1, description: 'Revision to analyze (default: the latest)' },
    executions: {
      type: 'integer',
      minimum: 0,
      maximum: MAX_PAST_EXECUTIONS,
      default: DEFAULT_PAST_EXECUTIONS,
      description: 'Most recent finished executions whose task durations give the critical path',
    },
    use_llm: { type: 'boolean', default: true, description: 'Add a narrative from the configured LLM' },
  },
} as const

const OptimizationAnswer = {
  type: 'object',
  required: ['workflow_id', 'revision', 'findings', 'patch', 'critical_path', 'source'],
  properties: {
    workflow_id: { type: 'string' },
    revision: { type: 'integer' },
    workflow: { type: 'string' },
    findings: { type: 'array', items: openObject },
    patch: { type: ['object', 'null'] },
    critical_path: { type: ['object', 'null'] },
    source: { enum: ['static', 'static+llm'] },
    narrative: { type: 'string' },
    usage: usageSchema,
    model: { type: 'string' },
    llm_error: { type: 'string' },
  },
} as const

const UsageAnswer = {
  type: 'object',
  required: ['configured', 'usage'],
  properties: {
    configured: { type: 'boolean' },
    model: { type: ['string', 'null'] },
    base_url: { type: ['string', 'null'] },
    usage: { type: ['object', 'null'] },
  },
} as const

export async function llmRoutes(app: FastifyInstance, context: ApiContext): Promise<void> {
  const { harmonia } = context
  const tag = 'llm'

  app.post(
    '/llm/workflows',
    {
      schema: routeSchema(context, tag, 'Create a workflow from a description (a draft unless saved)', {
        body: GenerateBody,
        response: {
          200: GeneratedAnswer,
          201: GeneratedAnswer,
          ...errorResponses(400, 401, 403, 409, 422, 501, 502),
        },
      }),
    },
    async (request, reply) => {
      const provider = harmonia.llm
      if (provider === undefined) throw llmNotConfigured('creating a workflow from a description')
      const body = request.body as { description: string; save: boolean; max_repair_rounds?: number }
      const generated = await generateWorkflow(body.description, {
        provider,
        components: harmonia.components,
        envAllowList: harmonia.config.expressions.envAllowList,
        signal: abortOnHangUp(context, reply),
        ...(body.max_repair_rounds === undefined ? {} : { maxRepairRounds: body.max_repair_rounds }),
      })
      const answer = { ...generated, saved: false }
      if (!body.save) return answer
      if (!generated.valid) {
        throw new HarmoniaError(
          'validation_error',
          `the generated workflow is not valid after ${generated.rounds} ${generated.rounds === 1 ? 'answer' : 'answers'}, so it was not saved; fix the draft in details.definition and save it with POST /workflows`,
          {
            details: {
              errors: generated.issues as unknown as JsonValue,
              definition: generated.definition as unknown as JsonValue,
              explanation: generated.explanation,
            },
          },
        )
      }
      const record = await harmonia.workflows.create(generated.definition)
      return reply.code(201).send({ ...answer, saved: true, workflow: workflowToWire(record) })
    },
  )

  app.post(
    '/executions/:execution_id/explain',
    {
      schema: routeSchema(context, tag, 'Explain why an execution failed and suggest a fix', {
        params: ExecutionIdParams,
        body: ExplainBody,
        response: { 200: ExplanationAnswer, ...errorResponses(400, 401, 403, 404) },
      }),
      config: { access: 'read' },
    },
    async (request, reply) => {
      const { execution_id: executionId } = request.params as { execution_id: string }
      const { use_llm: useLlm } = request.body as { use_llm: boolean }
      const detail = await harmonia.engine.getExecution(executionId)
      return explainExecution(detail, {
        components: harmonia.components,
        signal: abortOnHangUp(context, reply),
        ...(useLlm && harmonia.llm !== undefined ? { provider: harmonia.llm } : {}),
      })
    },
  )

  app.post(
    '/workflows/:workflow_id/optimize',
    {
      schema: routeSchema(context, tag, 'Suggest optimizations of a workflow', {
        params: WorkflowIdParams,
        body: OptimizeBody,
        response: { 200: OptimizationAnswer, ...errorResponses(400, 401, 403, 404) },
      }),
      config: { access: 'read' },
    },
    async (request, reply) => {
      const { workflow_id: workflowId } = request.params as { workflow_id: string }
      const body = request.body as { revision?: number; executions: number; use_llm: boolean }
      const record = await harmonia.workflows.get(workflowId, body.revision)
      const past: PastExecution[] = []
      if (body.executions > 0) {
        const page = await harmonia.store.listExecutions({
          workflow_id: workflowId,
          status: [...FINISHED_EXECUTION_STATUSES],
          sort_by: 'created_at',
          sort_order: 'desc',
          limit: body.executions,
        })
        const states = await Promise.all(
          page.items.map((execution) => harmonia.store.getTaskStates(execution.execution_id)),
        )
        page.items.forEach((execution, index) => past.push({ execution, tasks: states[index]! }))
      }
      let report = suggestOptimizations(record.definition, past, {
        components: harmonia.components,
        forEachConcurrency: harmonia.config.engine.forEachConcurrency,
        ...(harmonia.config.engine.defaultTaskTimeoutSeconds === undefined
          ? {}
          : { defaultTaskTimeoutSeconds: harmonia.config.engine.defaultTaskTimeoutSeconds }),
      })
      if (body.use_llm && harmonia.llm !== undefined) {
        report = await narrateOptimizations(report, record.definition, harmonia.llm, {
          signal: abortOnHangUp(context, reply),
        })
      }
      return { workflow_id: workflowId, revision: record.revision, ...report }
    },
  )

  app.get(
    '/llm/usage',
    {
      schema: routeSchema(context, tag, 'Token usage of the configured LLM since the server started', {
        response: { 200: UsageAnswer, ...errorResponses(401, 403) },
      }),
    },
    async () => {
      const provider = harmonia.llm
      return provider === undefined
        ? { configured: false, model: null, base_url: null, usage: null }
        : { configured: true, model: provider.model, base_url: provider.baseUrl, usage: provider.usage() }
    },
  )
}

/** Aborted when the server closes or the client goes away before the answer, so the LLM call stops. */
function abortOnHangUp(context: ApiContext, reply: FastifyReply): AbortSignal {
  const controller = new AbortController()
  reply.raw.once('close', () => {
    if (!reply.raw.writableFinished) controller.abort()
  })
  return AbortSignal.any([context.closing, controller.signal])
}
