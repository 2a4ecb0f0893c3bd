/**
 * Signal routes: `POST /executions/{id}/signals/{name}` delivers a signal (its JSON body is the payload,
 * which becomes the output of the `core.wait_for_signal` task waiting for that name), and
 * `GET /executions/{id}/signals` lists the signals received and the tasks waiting.
 */
import type { FastifyInstance } from 'fastify'
import { isoNow, systemClock } from '../../core/clock.ts'
import { ConflictError, HarmoniaError } from '../../core/errors.ts'
import { FINISHED_EXECUTION_STATUSES, type JsonValue } from '../../core/model.ts'
import { listSignals, sendSignal } from '../../components/signal-wait.ts'
import { routeSchema, type ApiContext } from '../context.ts'
import { ExecutionIdParams, errorResponses } from '../schemas.ts'

const SignalParams = {
  type: 'object',
  required: ['execution_id', 'name'],
  properties: {
    execution_id: { type: 'string', minLength: 1, maxLength: 256 },
    name: { type: 'string', minLength: 1, maxLength: 128 },
  },
} as const

const openObject = { type: 'object', additionalProperties: true } as const

export async function signalRoutes(app: FastifyInstance, context: ApiContext): Promise<void> {
  const { store } = context.harmonia
  const tag = 'executions'

  const existing = async (executionId: string) => {
    const record = await store.getExecution(executionId)
    if (record === undefined) {
      throw new HarmoniaError('execution_not_found', `Execution with ID '${executionId}' not found`, {
        details: { execution_id: executionId },
      })
    }
    return record
  }

  app.post(
    '/executions/:execution_id/signals/:name',
    {
      schema: routeSchema(
        context,
        tag,
        'Send a signal to an execution; the body (any JSON) is the output of the core.wait_for_signal task waiting for it',
        {
          params: SignalParams,
          body: {},
          response: { 202: openObject, ...errorResponses(400, 401, 403, 404, 409) },
        },
      ),
    },
    async (request, reply) => {
      const { execution_id: executionId, name } = request.params as { execution_id: string; name: string }
      const record = await existing(executionId)
      if (FINISHED_EXECUTION_STATUSES.has(record.status)) {
        throw new ConflictError(
          `execution '${executionId}' is already ${record.status}; it takes no more signals`,
          { execution_id: executionId, status: record.status },
          'invalid_state',
        )
      }
      const payload = (request.body ?? null) as JsonValue
      const signal = await sendSignal(store, executionId, name, payload, isoNow(systemClock))
      return reply.code(202).send({ success: true, ...signal })
    },
  )

  app.get(
    '/executions/:execution_id/signals',
    {
      schema: routeSchema(context, tag, 'Signals an execution received and the tasks waiting for one', {
        params: ExecutionIdParams,
        response: { 200: openObject, ...errorResponses(401, 403, 404) },
      }),
    },
    async (request) => {
      const { execution_id: executionId } = request.params as { execution_id: string }
      await existing(executionId)
      return { execution_id: executionId, ...(await listSignals(store, executionId)) }
    },
  )
}
