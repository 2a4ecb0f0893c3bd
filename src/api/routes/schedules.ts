/** Schedule routes: CRUD, enable/disable, the next run times and the slots fired. */
import type { FastifyInstance } from 'fastify'
import { routeSchema, type ApiContext } from '../context.ts'
import { errorResponses } from '../schemas.ts'

const openObject = { type: 'object', additionalProperties: true } as const
const IdParams = {
  type: 'object',
  required: ['schedule_id'],
  properties: { schedule_id: { type: 'string', minLength: 1, maxLength: 256 } },
} as const

export async function scheduleRoutes(app: FastifyInstance, context: ApiContext): Promise<void> {
  const service = context.harmonia.schedules
  const tag = 'schedules'
  const idOf = (request: { params: unknown }): string =>
    (request.params as { schedule_id: string }).schedule_id
  const one = (summary: string) => ({
    schema: routeSchema(context, tag, summary, {
      params: IdParams,
      response: { 200: openObject, ...errorResponses(400, 401, 403, 404, 422) },
    }),
  })

  app.post(
    '/schedules',
    {
      schema: routeSchema(
        context,
        tag,
        'Create a schedule: {cron, timezone, workflow_id or template_id, input, misfire_policy}',
        { body: openObject, response: { 201: openObject, ...errorResponses(400, 401, 403, 404, 422) } },
      ),
    },
    async (request, reply) => reply.code(201).send(await service.create(request.body)),
  )
  app.get(
    '/schedules',
    {
      schema: routeSchema(context, tag, 'List schedules with their next run times', {
        response: { 200: openObject, ...errorResponses(401, 403) },
      }),
    },
    async () => {
      const schedules = await service.list()
      return { items: schedules, total: schedules.length }
    },
  )
  app.get('/schedules/:schedule_id', one('A schedule with its next run times'), async (request) =>
    service.get(idOf(request)),
  )
  app.put(
    '/schedules/:schedule_id',
    {
      schema: routeSchema(context, tag, 'Change a schedule', {
        params: IdParams,
        body: openObject,
        response: { 200: openObject, ...errorResponses(400, 401, 403, 404, 422) },
      }),
    },
    async (request) => service.update(idOf(request), request.body),
  )
  app.delete('/schedules/:schedule_id', one('Delete a schedule'), async (request) => {
    await service.delete(idOf(request))
    return { success: true, schedule_id: idOf(request) }
  })
  app.post('/schedules/:schedule_id/enable', one('Enable a schedule'), async (request) =>
    service.setEnabled(idOf(request), true),
  )
  app.post('/schedules/:schedule_id/disable', one('Disable a schedule'), async (request) =>
    service.setEnabled(idOf(request), false),
  )
  app.get(
    '/schedules/:schedule_id/runs',
    one('Slots a schedule fired and their executions'),
    async (request) => {
      const runs = await service.runs(idOf(request))
      return { schedule_id: idOf(request), items: runs, total: runs.length }
    },
  )
}
