/** Event trigger routes: start workflow B when an execution of workflow A completes or fails. */
import type { FastifyInstance } from 'fastify'
import { routeSchema, type ApiContext } from '../context.ts'
import { errorResponses } from '../schemas.ts'

const openObject = { type: 'object', additionalProperties: true } as const
const IdParams = {
  type: 'object',
  required: ['trigger_id'],
  properties: { trigger_id: { type: 'string', minLength: 1, maxLength: 256 } },
} as const

export async function triggerRoutes(app: FastifyInstance, context: ApiContext): Promise<void> {
  const service = context.harmonia.triggers
  const tag = 'triggers'
  const idOf = (request: { params: unknown }): string => (request.params as { trigger_id: string }).trigger_id
  const one = (summary: string) => ({
    schema: routeSchema(context, tag, summary, {
      params: IdParams,
      response: { 200: openObject, ...errorResponses(401, 403, 404) },
    }),
  })

  app.post(
    '/triggers',
    {
      schema: routeSchema(
        context,
        tag,
        'Create an event trigger: {source_workflow_id, on: [completed|failed], workflow_id, input_mapping}',
        { body: openObject, response: { 201: openObject, ...errorResponses(400, 401, 403, 422) } },
      ),
    },
    async (request, reply) => reply.code(201).send(await service.create(request.body)),
  )
  app.get(
    '/triggers',
    {
      schema: routeSchema(context, tag, 'List event triggers', {
        response: { 200: openObject, ...errorResponses(401, 403) },
      }),
    },
    async () => {
      const triggers = await service.list()
      return { items: triggers, total: triggers.length }
    },
  )
  app.get('/triggers/:trigger_id', one('An event trigger'), async (request) => service.get(idOf(request)))
  app.put(
    '/triggers/:trigger_id',
    {
      schema: routeSchema(context, tag, 'Change an event trigger', {
        params: IdParams,
        body: openObject,
        response: { 200: openObject, ...errorResponses(400, 401, 403, 404, 422) },
      }),
    },
    async (request) => service.update(idOf(request), request.body),
  )
  app.delete('/triggers/:trigger_id', one('Delete an event trigger'), async (request) => {
    await service.delete(idOf(request))
    return { success: true, trigger_id: idOf(request) }
  })
  app.get('/triggers/:trigger_id/runs', one('Executions an event trigger started'), async (request) => {
    const runs = await service.runs(idOf(request))
    return { trigger_id: idOf(request), items: runs, total: runs.length }
  })
}
