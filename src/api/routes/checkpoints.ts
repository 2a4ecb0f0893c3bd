/**
 * Checkpoints: take one of an execution, list them, read one, and restore it as a new execution that keeps
 * the outputs of the tasks completed at the checkpoint. Also the older document's `/state/*` routes.
 */
import type { FastifyInstance } from 'fastify'
import { NotFoundError } from '../../core/errors.ts'
import type { ExecutionOptions } from '../../core/model.ts'
import { routeSchema, type ApiContext } from '../context.ts'
import {
  CheckpointBody,
  CheckpointIdParams,
  CheckpointList,
  ExecutionIdParams,
  LegacyCheckpointBody,
  LegacyRestoreBody,
  RestoreBody,
  errorResponses,
} from '../schemas.ts'
import { checkpointToWire, executionToWire } from '../wire-format.ts'

export async function checkpointRoutes(app: FastifyInstance, context: ApiContext): Promise<void> {
  const { engine, store } = context.harmonia
  const tag = 'checkpoints'
  const checkpointRef = { $ref: 'Checkpoint#' }
  const executionRef = { $ref: 'Execution#' }

  const take = async (executionId: string, body: { name?: string; description?: string }) =>
    checkpointToWire(
      await engine.checkpoint(executionId, {
        ...(body.name === undefined ? {} : { name: body.name }),
        ...(body.description === undefined ? {} : { description: body.description }),
      }),
    )
  const restore = async (checkpointId: string, executionOptions: ExecutionOptions | undefined) =>
    executionToWire(
      await engine.restore(
        checkpointId,
        executionOptions === undefined ? {} : { execution_options: executionOptions },
      ),
    )

  app.post(
    '/executions/:execution_id/checkpoint',
    {
      schema: routeSchema(
        context,
        tag,
        'Checkpoint an execution: a snapshot of its task states and outputs',
        {
          params: ExecutionIdParams,
          body: CheckpointBody,
          response: { 201: checkpointRef, ...errorResponses(400, 401, 403, 404) },
        },
      ),
    },
    async (request, reply) => {
      const { execution_id: executionId } = request.params as { execution_id: string }
      return reply
        .code(201)
        .send(await take(executionId, request.body as { name?: string; description?: string }))
    },
  )

  app.get(
    '/executions/:execution_id/checkpoints',
    {
      schema: routeSchema(context, tag, "An execution's checkpoints", {
        params: ExecutionIdParams,
        response: { 200: CheckpointList, ...errorResponses(401, 403, 404) },
      }),
    },
    async (request) => {
      const { execution_id: executionId } = request.params as { execution_id: string }
      if ((await store.getExecution(executionId)) === undefined) {
        throw new NotFoundError('execution_not_found', `Execution with ID '${executionId}' not found`, {
          execution_id: executionId,
        })
      }
      const checkpoints = await store.listCheckpoints(executionId)
      return {
        items: checkpoints.map(checkpointToWire),
        total: checkpoints.length,
        page: 1,
        limit: Math.max(checkpoints.length, 1),
      }
    },
  )

  app.get(
    '/checkpoints/:checkpoint_id',
    {
      schema: routeSchema(context, tag, 'A checkpoint', {
        params: CheckpointIdParams,
        response: { 200: checkpointRef, ...errorResponses(401, 403, 404) },
      }),
    },
    async (request) => {
      const { checkpoint_id: checkpointId } = request.params as { checkpoint_id: string }
      const checkpoint = await store.getCheckpoint(checkpointId)
      if (checkpoint === undefined) {
        throw new NotFoundError('checkpoint_not_found', `Checkpoint with ID '${checkpointId}' not found`, {
          checkpoint_id: checkpointId,
        })
      }
      return checkpointToWire(checkpoint)
    },
  )

  app.post(
    '/checkpoints/:checkpoint_id/restore',
    {
      schema: routeSchema(
        context,
        tag,
        'Start a new execution from a checkpoint; tasks completed there keep their outputs and do not run again',
        {
          params: CheckpointIdParams,
          body: RestoreBody,
          response: { 201: executionRef, ...errorResponses(400, 401, 403, 404) },
        },
      ),
    },
    async (request, reply) => {
      const { checkpoint_id: checkpointId } = request.params as { checkpoint_id: string }
      const body = request.body as { execution_options?: ExecutionOptions }
      return reply.code(201).send(await restore(checkpointId, body.execution_options))
    },
  )

  app.post(
    '/state/checkpoints',
    {
      schema: routeSchema(context, tag, 'Older form of POST /executions/{id}/checkpoint', {
        body: LegacyCheckpointBody,
        response: { 201: checkpointRef, ...errorResponses(400, 401, 403, 404) },
      }),
    },
    async (request, reply) => {
      const body = request.body as { execution_id: string; name?: string; description?: string }
      return reply.code(201).send(await take(body.execution_id, body))
    },
  )

  app.post(
    '/state/restore',
    {
      schema: routeSchema(context, tag, 'Older form of POST /checkpoints/{id}/restore', {
        body: LegacyRestoreBody,
        response: { 201: executionRef, ...errorResponses(400, 401, 403, 404) },
      }),
    },
    async (request, reply) => {
      const body = request.body as { checkpoint_id: string; execution_options?: ExecutionOptions }
      return reply.code(201).send(await restore(body.checkpoint_id, body.execution_options))
    },
  )
}
