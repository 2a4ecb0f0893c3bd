/**
 * Workflow routes: create, list, get, update (a new revision), delete, drafts, versions, validate, execute.
 */
import type { FastifyInstance } from 'fastify'
import { NotFoundError } from '../../core/errors.ts'
import type { ExecutionOptions, JsonObject } from '../../core/model.ts'
import type { WorkflowQuery } from '../../core/store.ts'
import { routeSchema, type ApiContext } from '../context.ts'
import {
  DefinitionBody,
  ExecuteWorkflowBody,
  SuccessAnswer,
  ValidationResult,
  WaitQuery,
  WorkflowGetQuery,
  WorkflowIdParams,
  WorkflowList,
  WorkflowListQuery,
  WorkflowVersions,
  errorResponses,
} from '../schemas.ts'
import { workflowToWire } from '../wire-format.ts'
import { startExecutionAndAnswer, StartHeaders } from './executions.ts'

const workflowRef = { $ref: 'Workflow#' }
const executionRef = { $ref: 'Execution#' }

export async function workflowRoutes(app: FastifyInstance, context: ApiContext): Promise<void> {
  const { workflows } = context.harmonia
  const tag = 'workflows'

  app.post(
    '/workflows',
    {
      schema: routeSchema(context, tag, 'Create a workflow', {
        body: DefinitionBody,
        response: { 201: workflowRef, ...errorResponses(400, 401, 403, 409, 413, 422) },
      }),
    },
    async (request, reply) => {
      const record = await workflows.create(request.body)
      return reply.code(201).send(workflowToWire(record))
    },
  )

  app.get(
    '/workflows',
    {
      schema: routeSchema(context, tag, 'List workflows (latest revision of each)', {
        querystring: WorkflowListQuery,
        response: { 200: WorkflowList, ...errorResponses(400, 401, 403) },
      }),
    },
    async (request) => {
      const query = request.query as WorkflowQuery & { page: number; limit: number }
      const page = await workflows.list({
        page: query.page,
        limit: query.limit,
        sort_by: query.sort_by ?? 'created_at',
        sort_order: query.sort_order ?? 'desc',
        ...(query.search === undefined || query.search === '' ? {} : { search: query.search }),
        ...(query.include_drafts === undefined ? {} : { include_drafts: query.include_drafts }),
      })
      return { items: page.items.map(workflowToWire), total: page.total, page: page.page, limit: page.limit }
    },
  )

  app.post(
    '/workflows/validate',
    {
      schema: routeSchema(context, tag, 'Check a definition without saving it; lists every problem', {
        body: DefinitionBody,
        response: { 200: ValidationResult, ...errorResponses(400, 401, 403, 413) },
      }),
      config: { access: 'read' },
    },
    async (request) => {
      const errors = workflows.validate(request.body)
      return { valid: errors.length === 0, errors }
    },
  )

  app.get(
    '/workflows/:workflow_id',
    {
      schema: routeSchema(context, tag, 'Get a workflow (latest revision, or ?revision=)', {
        params: WorkflowIdParams,
        querystring: WorkflowGetQuery,
        response: { 200: workflowRef, ...errorResponses(401, 403, 404) },
      }),
    },
    async (request) => {
      const { workflow_id: workflowId } = request.params as { workflow_id: string }
      const { revision } = request.query as { revision?: number }
      return workflowToWire(await workflows.get(workflowId, revision))
    },
  )

  app.put(
    '/workflows/:workflow_id',
    {
      schema: routeSchema(context, tag, 'Update a workflow: publishes a new revision', {
        params: WorkflowIdParams,
        body: DefinitionBody,
        response: { 200: workflowRef, ...errorResponses(400, 401, 403, 404, 413, 422) },
      }),
    },
    async (request) => {
      const { workflow_id: workflowId } = request.params as { workflow_id: string }
      return workflowToWire(await workflows.update(workflowId, request.body))
    },
  )

  app.delete(
    '/workflows/:workflow_id',
    {
      schema: routeSchema(context, tag, 'Delete a workflow and all its revisions', {
        params: WorkflowIdParams,
        response: { 200: SuccessAnswer, ...errorResponses(401, 403, 404) },
      }),
    },
    async (request) => {
      const { workflow_id: workflowId } = request.params as { workflow_id: string }
      await workflows.delete(workflowId)
      return { success: true, message: `Workflow '${workflowId}' deleted`, workflow_id: workflowId }
    },
  )

  app.post(
    '/workflows/:workflow_id/draft',
    {
      schema: routeSchema(context, tag, 'Save a draft revision without publishing it', {
        params: WorkflowIdParams,
        body: DefinitionBody,
        response: { 200: workflowRef, 201: workflowRef, ...errorResponses(400, 401, 403, 413, 422) },
      }),
    },
    async (request, reply) => {
      const { workflow_id: workflowId } = request.params as { workflow_id: string }
      try {
        return workflowToWire(await workflows.saveDraft(workflowId, request.body))
      } catch (error) {
        if (!(error instanceof NotFoundError && error.code === 'workflow_not_found')) throw error
        // A first draft creates the workflow, unpublished.
        const record = await workflows.create(request.body, { draft: true, workflowId })
        return reply.code(201).send(workflowToWire(record))
      }
    },
  )

  app.get(
    '/workflows/:workflow_id/versions',
    {
      schema: routeSchema(context, tag, 'Every revision of a workflow, oldest first', {
        params: WorkflowIdParams,
        response: { 200: WorkflowVersions, ...errorResponses(401, 403, 404) },
      }),
    },
    async (request) => {
      const { workflow_id: workflowId } = request.params as { workflow_id: string }
      const revisions = await workflows.versions(workflowId)
      return { workflow_id: workflowId, items: revisions.map(workflowToWire), total: revisions.length }
    },
  )

  app.post(
    '/workflows/:workflow_id/execute',
    {
      schema: routeSchema(context, tag, 'Start an execution of this workflow', {
        params: WorkflowIdParams,
        querystring: WaitQuery,
        headers: StartHeaders,
        body: ExecuteWorkflowBody,
        response: { 201: executionRef, ...errorResponses(400, 401, 403, 404, 409, 413, 422) },
      }),
    },
    async (request, reply) => {
      const { workflow_id: workflowId } = request.params as { workflow_id: string }
      const body = request.body as {
        input?: JsonObject
        execution_options?: ExecutionOptions
        revision?: number
      }
      return startExecutionAndAnswer(context, request, reply, { ...body, workflow_id: workflowId })
    },
  )
}
