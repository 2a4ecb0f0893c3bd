/**
 * Execution routes: start (by workflow id or inline definition, idempotent with `Idempotency-Key`, optionally
 * waiting for the end), list, get, cancel (and its `/stop` alias), pause, resume, rerun, and the persisted
 * event history.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { StartExecutionRequest } from '../../core/engine-api.ts'
import { ConflictError, HarmoniaError, InvalidRequestError } from '../../core/errors.ts'
import { pruneCutoff } from '../../core/retention.ts'
import {
  FINISHED_EXECUTION_STATUSES,
  type ExecutionOptions,
  type ExecutionStatus,
  type JsonObject,
  type WorkflowDefinition,
} from '../../core/model.ts'
import type { ExecutionQuery } from '../../core/store.ts'
import { routeSchema, type ApiContext } from '../context.ts'
import {
  CancelBody,
  ControlAnswer,
  DeleteExecutionAnswer,
  EXECUTION_STATUSES,
  EmptyBody,
  EventsPage,
  EventsQuery,
  ExecutionIdParams,
  ExecutionList,
  ExecutionListQuery,
  PruneAnswer,
  PruneBody,
  StartExecutionBody,
  WaitQuery,
  errorResponses,
} from '../schemas.ts'
import { eventToWire, executionDetailToWire, executionToWire } from '../wire-format.ts'

/** Longest an answer waits for an execution's end when the execution has no timeout of its own. */
const DEFAULT_WAIT_SECONDS = 300
/** Extra time over the execution's own timeout, so its timeout outcome is what the answer shows. */
const WAIT_MARGIN_MS = 2_000
/** Idempotency keys given over HTTP are namespaced, apart from the engine's own keys. */
const IDEMPOTENCY_PREFIX = 'api:'

export const StartHeaders = {
  type: 'object',
  properties: {
    'idempotency-key': {
      type: 'string',
      minLength: 1,
      maxLength: 255,
      description: 'Starting again with the same key answers the first execution (200) instead of a new one',
    },
  },
} as const

interface StartBody {
  workflow_id?: string
  workflow?: WorkflowDefinition
  revision?: number
  input?: JsonObject
  execution_options?: ExecutionOptions
}

/** Starts an execution and answers 201 (or 200 for a repeated Idempotency-Key), waiting when asked. */
export async function startExecutionAndAnswer(
  context: ApiContext,
  request: FastifyRequest,
  reply: FastifyReply,
  body: StartBody,
): Promise<FastifyReply> {
  const { engine, store } = context.harmonia
  const header = request.headers['idempotency-key']
  const idempotencyKey = typeof header === 'string' && header !== '' ? IDEMPOTENCY_PREFIX + header : undefined
  if (idempotencyKey !== undefined) {
    const existing = await store.findExecutionByIdempotencyKey(idempotencyKey)
    if (existing !== undefined) {
      if (body.workflow_id !== undefined && existing.workflow_id !== body.workflow_id) {
        throw new ConflictError(
          `Idempotency-Key '${header}' was used for an execution of workflow '${existing.workflow_id}', not '${body.workflow_id}'; use a new key`,
          { execution_id: existing.execution_id, workflow_id: existing.workflow_id },
        )
      }
      return reply.code(200).header('idempotent-replayed', 'true').send(executionToWire(existing))
    }
  }
  const startRequest: StartExecutionRequest = {
    ...(body.workflow_id === undefined ? {} : { workflow_id: body.workflow_id }),
    ...(body.workflow === undefined ? {} : { workflow: body.workflow }),
    ...(body.revision === undefined ? {} : { revision: body.revision }),
    input: body.input ?? {},
    execution_options: body.execution_options ?? {},
    ...(idempotencyKey === undefined ? {} : { idempotency_key: idempotencyKey }),
  }
  const record = await engine.startExecution(startRequest)
  const wait = (request.query as { wait?: boolean }).wait === true || body.execution_options?.async === false
  if (!wait) return reply.code(201).send(executionToWire(record))

  const timeoutSeconds = record.execution_options.timeout ?? DEFAULT_WAIT_SECONDS
  await waitUnlessClosing(context, record.execution_id, timeoutSeconds * 1000 + WAIT_MARGIN_MS)
  return reply.code(201).send(executionDetailToWire(await engine.getExecution(record.execution_id)))
}

/** Waits for the end; a shutdown cuts the wait short (the answer then shows the state at that moment). */
async function waitUnlessClosing(context: ApiContext, executionId: string, timeoutMs: number): Promise<void> {
  const { engine } = context.harmonia
  if (context.closing.aborted) return
  let onClose = (): void => {}
  const closed = new Promise<void>((resolve) => {
    onClose = resolve
    context.closing.addEventListener('abort', onClose, { once: true })
  })
  try {
    await Promise.race([engine.waitForExecution(executionId, { timeoutMs }), closed])
  } finally {
    context.closing.removeEventListener('abort', onClose)
  }
}

function parseStatuses(raw: string | undefined): ExecutionStatus[] | undefined {
  if (raw === undefined || raw.trim() === '') return undefined
  const statuses = raw
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
  const unknown = statuses.filter((s) => !(EXECUTION_STATUSES as string[]).includes(s))
  if (unknown.length > 0) {
    throw new InvalidRequestError(
      `status '${unknown.join(', ')}' is not an execution status; use one or more of: ${EXECUTION_STATUSES.join(', ')}`,
      { field: 'querystring.status', allowed: EXECUTION_STATUSES },
    )
  }
  return statuses as ExecutionStatus[]
}

export async function executionRoutes(app: FastifyInstance, context: ApiContext): Promise<void> {
  const { engine, store } = context.harmonia
  const tag = 'executions'
  const executionRef = { $ref: 'Execution#' }
  const detailRef = { $ref: 'ExecutionDetail#' }

  app.post(
    '/executions',
    {
      schema: routeSchema(context, tag, 'Start an execution of a saved workflow or of an inline definition', {
        querystring: WaitQuery,
        headers: StartHeaders,
        body: StartExecutionBody,
        response: {
          200: {
            ...executionRef,
            description: 'The execution an earlier request with this Idempotency-Key started',
          },
          201: {
            ...executionRef,
            description:
              'Started; with ?wait=true or execution_options.async=false, the detail once it ended',
          },
          ...errorResponses(400, 401, 403, 404, 409, 413, 422),
        },
      }),
    },
    async (request, reply) => startExecutionAndAnswer(context, request, reply, request.body as StartBody),
  )

  app.get(
    '/executions',
    {
      schema: routeSchema(context, tag, 'List executions with filters, paging and sorting', {
        querystring: ExecutionListQuery,
        response: { 200: ExecutionList, ...errorResponses(400, 401, 403) },
      }),
    },
    async (request) => {
      const query = request.query as Omit<ExecutionQuery, 'status'> & { status?: string }
      const statuses = parseStatuses(query.status)
      const page = await store.listExecutions({
        page: query.page,
        limit: query.limit,
        sort_by: query.sort_by ?? 'created_at',
        sort_order: query.sort_order ?? 'desc',
        ...(query.workflow_id === undefined ? {} : { workflow_id: query.workflow_id }),
        ...(statuses === undefined ? {} : { status: statuses }),
        ...(query.parent_execution_id === undefined
          ? {}
          : { parent_execution_id: query.parent_execution_id }),
        ...(query.created_after === undefined ? {} : { created_after: query.created_after }),
        ...(query.created_before === undefined ? {} : { created_before: query.created_before }),
      })
      return {
        items: page.items.map((item) => executionToWire(item)),
        total: page.total,
        page: page.page,
        limit: page.limit,
      }
    },
  )

  app.get(
    '/executions/:execution_id',
    {
      schema: routeSchema(context, tag, 'An execution with its progress and the status of every task', {
        params: ExecutionIdParams,
        response: { 200: detailRef, ...errorResponses(401, 403, 404) },
      }),
    },
    async (request) => {
      const { execution_id: executionId } = request.params as { execution_id: string }
      return executionDetailToWire(await engine.getExecution(executionId))
    },
  )

  /** Control actions apply to unfinished executions only: 409 conflict (reason invalid_state) otherwise. */
  const assertUnfinished = async (executionId: string, action: string): Promise<void> => {
    const { execution } = await engine.getExecution(executionId)
    if (FINISHED_EXECUTION_STATUSES.has(execution.status)) {
      throw new ConflictError(
        `cannot ${action} execution '${executionId}': it is already ${execution.status}`,
        { execution_id: executionId, status: execution.status },
        'invalid_state',
      )
    }
  }

  const cancel = async (request: FastifyRequest) => {
    const { execution_id: executionId } = request.params as { execution_id: string }
    const { reason } = (request.body ?? {}) as { reason?: string }
    await assertUnfinished(executionId, 'cancel')
    await engine.cancel(executionId, reason ?? 'cancelled by request')
    return {
      success: true,
      message: `Execution '${executionId}' cancelled`,
      execution_id: executionId,
      status: 'cancelling',
    }
  }
  const cancelSchema = (summary: string) =>
    routeSchema(context, tag, summary, {
      params: ExecutionIdParams,
      body: CancelBody,
      response: { 200: ControlAnswer, ...errorResponses(400, 401, 403, 404, 409) },
    })
  app.post(
    '/executions/:execution_id/cancel',
    { schema: cancelSchema('Cancel an execution; its final state is readable as soon as this answers') },
    cancel,
  )
  app.post(
    '/executions/:execution_id/stop',
    { schema: cancelSchema('Alias of cancel (Tekton UI shell)') },
    cancel,
  )

  for (const action of ['pause', 'resume'] as const) {
    app.post(
      `/executions/:execution_id/${action}`,
      {
        schema: routeSchema(
          context,
          tag,
          action === 'pause'
            ? 'Pause: running tasks finish, no new task starts'
            : 'Resume a paused execution',
          {
            params: ExecutionIdParams,
            body: EmptyBody,
            response: { 200: ControlAnswer, ...errorResponses(401, 403, 404, 409) },
          },
        ),
      },
      async (request) => {
        const { execution_id: executionId } = request.params as { execution_id: string }
        await assertUnfinished(executionId, action)
        const record = action === 'pause' ? await engine.pause(executionId) : await engine.resume(executionId)
        return {
          success: true,
          message: `Execution '${executionId}' ${action === 'pause' ? 'paused' : 'resumed'}`,
          execution_id: executionId,
          status: record.status,
        }
      },
    )
  }

  app.delete(
    '/executions/:execution_id',
    {
      schema: routeSchema(
        context,
        tag,
        'Delete a finished execution with its task states, events and checkpoints (admin scope)',
        {
          params: ExecutionIdParams,
          response: { 200: DeleteExecutionAnswer, ...errorResponses(401, 403, 404, 409) },
        },
      ),
    },
    async (request) => {
      const { execution_id: executionId } = request.params as { execution_id: string }
      await engine.deleteExecution(executionId)
      return { success: true, message: `Execution '${executionId}' deleted`, execution_id: executionId }
    },
  )

  app.post(
    '/executions/prune',
    {
      config: { access: 'admin' },
      schema: routeSchema(
        context,
        tag,
        'Delete every finished execution that finished before a time, or more than some days ago (admin scope)',
        {
          body: PruneBody,
          response: { 200: PruneAnswer, ...errorResponses(400, 401, 403) },
        },
      ),
    },
    async (request) => {
      const body = (request.body ?? {}) as { finished_before?: string; older_than_days?: number }
      if ((body.finished_before === undefined) === (body.older_than_days === undefined)) {
        throw new InvalidRequestError(
          'give exactly one of finished_before (ISO timestamp) or older_than_days',
          {
            fields: ['finished_before', 'older_than_days'],
          },
        )
      }
      const cutoff = pruneCutoff(
        body.finished_before !== undefined
          ? { finishedBefore: body.finished_before }
          : { olderThanDays: body.older_than_days! },
        Date.now(),
      )
      const deleted = await engine.pruneExecutions({ finishedBefore: cutoff })
      return { deleted, finished_before: cutoff }
    },
  )

  app.post(
    '/executions/:execution_id/rerun',
    {
      schema: routeSchema(
        context,
        tag,
        'Run a failed or cancelled execution again from its unfinished tasks (completed outputs are kept)',
        {
          params: ExecutionIdParams,
          body: EmptyBody,
          response: { 200: executionRef, ...errorResponses(401, 403, 404, 409) },
        },
      ),
    },
    async (request) => {
      const { execution_id: executionId } = request.params as { execution_id: string }
      return executionToWire(await engine.rerun(executionId))
    },
  )

  app.get(
    '/executions/:execution_id/events',
    {
      schema: routeSchema(context, tag, 'The persisted events of an execution, after a sequence number', {
        params: ExecutionIdParams,
        querystring: EventsQuery,
        response: { 200: EventsPage, ...errorResponses(400, 401, 403, 404) },
      }),
    },
    async (request) => {
      const { execution_id: executionId } = request.params as { execution_id: string }
      const { after, limit } = request.query as { after: number; limit: number }
      const record = await store.getExecution(executionId)
      if (record === undefined) {
        throw new HarmoniaError('execution_not_found', `Execution with ID '${executionId}' not found`, {
          details: { execution_id: executionId },
        })
      }
      // One more than asked tells whether another page follows.
      const events = await store.listEvents(executionId, after, limit + 1)
      const items = events.slice(0, limit)
      return {
        execution_id: executionId,
        items: items.map(eventToWire),
        after,
        limit,
        next_after: items.length === 0 ? after : items[items.length - 1]!.seq,
        has_more: events.length > limit,
      }
    },
  )
}
