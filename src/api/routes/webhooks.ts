/**
 * Webhook routes: definitions (create, list, get, update, delete), the record of calls per webhook, a
 * replay (`POST /webhooks/{id}/deliver`), and the receiving route `GET|POST /hooks/<endpoint>`, which needs
 * no Harmonia API key (the webhook's own auth applies) and reads the body raw, so an HMAC signature is
 * checked over exactly the bytes that were sent.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { MAX_WAIT_SECONDS, DEFAULT_WAIT_SECONDS } from '../../triggers/webhooks.ts'
import { routeSchema, type ApiContext } from '../context.ts'
import { errorResponses } from '../schemas.ts'

const WebhookParams = {
  type: 'object',
  required: ['webhook_id'],
  properties: { webhook_id: { type: 'string', minLength: 1, maxLength: 256 } },
} as const

const Paging = {
  page: { type: 'integer', minimum: 1, default: 1 },
  limit: { type: 'integer', minimum: 1, maximum: 500, default: 20 },
} as const

const ListQuery = {
  type: 'object',
  properties: { ...Paging, enabled: { type: 'boolean' } },
} as const

const HookQuery = {
  type: 'object',
  properties: {
    wait: { type: 'boolean', description: 'Answer with the outputs once the execution ends' },
    timeout: {
      type: 'number',
      exclusiveMinimum: 0,
      maximum: MAX_WAIT_SECONDS,
      description: `Seconds to wait with ?wait=true (default ${DEFAULT_WAIT_SECONDS})`,
    },
  },
  additionalProperties: true,
} as const

const openObject = { type: 'object', additionalProperties: true } as const

function waitMsOf(request: FastifyRequest): number | undefined {
  const query = request.query as { wait?: unknown; timeout?: unknown }
  const wait = query.wait === true || query.wait === 'true'
  if (!wait) return undefined
  const seconds = Number(query.timeout ?? DEFAULT_WAIT_SECONDS)
  return (
    Math.min(Number.isFinite(seconds) && seconds > 0 ? seconds : DEFAULT_WAIT_SECONDS, MAX_WAIT_SECONDS) *
    1000
  )
}

export async function webhookRoutes(app: FastifyInstance, context: ApiContext): Promise<void> {
  const { webhooks } = context.harmonia
  const tag = 'webhooks'

  app.post(
    '/webhooks',
    {
      schema: routeSchema(context, tag, 'Create an inbound webhook', {
        body: openObject,
        response: { 201: openObject, ...errorResponses(400, 401, 403, 409, 422) },
      }),
    },
    async (request, reply) => reply.code(201).send(await webhooks.create(request.body)),
  )

  app.get(
    '/webhooks',
    {
      schema: routeSchema(context, tag, 'List webhooks', {
        querystring: ListQuery,
        response: { 200: openObject, ...errorResponses(400, 401, 403) },
      }),
    },
    async (request) => webhooks.list(request.query as { page: number; limit: number; enabled?: boolean }),
  )

  app.get(
    '/webhooks/:webhook_id',
    {
      schema: routeSchema(context, tag, 'A webhook (secrets masked)', {
        params: WebhookParams,
        response: { 200: openObject, ...errorResponses(401, 403, 404) },
      }),
    },
    async (request) => webhooks.get((request.params as { webhook_id: string }).webhook_id),
  )

  app.put(
    '/webhooks/:webhook_id',
    {
      schema: routeSchema(context, tag, 'Update a webhook (fields not sent are kept; "***" keeps a secret)', {
        params: WebhookParams,
        body: openObject,
        response: { 200: openObject, ...errorResponses(400, 401, 403, 404, 409, 422) },
      }),
    },
    async (request) => webhooks.update((request.params as { webhook_id: string }).webhook_id, request.body),
  )

  app.delete(
    '/webhooks/:webhook_id',
    {
      schema: routeSchema(context, tag, 'Delete a webhook', {
        params: WebhookParams,
        response: { 200: openObject, ...errorResponses(401, 403, 404) },
      }),
    },
    async (request) => {
      const { webhook_id: webhookId } = request.params as { webhook_id: string }
      await webhooks.delete(webhookId)
      return { success: true, message: `Webhook '${webhookId}' deleted`, webhook_id: webhookId }
    },
  )

  const callPaths = ['calls', 'events', 'deliveries', 'history'].map(
    (name) => `/webhooks/:webhook_id/${name}`,
  )
  for (const path of callPaths) {
    app.get(
      path,
      {
        schema: routeSchema(
          context,
          tag,
          path.endsWith('calls')
            ? 'Calls the webhook received, newest first: payload, headers (secrets masked), source, result, execution'
            : 'Alias of /webhooks/{webhook_id}/calls',
          {
            params: WebhookParams,
            querystring: { type: 'object', properties: Paging },
            response: { 200: openObject, ...errorResponses(400, 401, 403, 404) },
          },
        ),
      },
      async (request) =>
        webhooks.listCalls(
          (request.params as { webhook_id: string }).webhook_id,
          request.query as { page: number; limit: number },
        ),
    )
  }

  app.post(
    '/webhooks/:webhook_id/deliver',
    {
      schema: routeSchema(
        context,
        tag,
        'Replay a payload through the webhook (its input_mapping; no webhook auth): body {payload, headers, query} or the payload itself',
        {
          params: WebhookParams,
          querystring: HookQuery,
          response: { 200: openObject, 202: openObject, ...errorResponses(400, 401, 403, 404, 422) },
        },
      ),
    },
    async (request, reply) => {
      const waitMs = waitMsOf(request)
      const answer = await context.harmonia.webhooks.deliver(
        (request.params as { webhook_id: string }).webhook_id,
        request.body,
        { ...(waitMs === undefined ? {} : { waitMs }), signal: context.closing },
      )
      return reply.code(answer.status as 200 | 202).send(answer.body)
    },
  )

  await app.register(webhookReceiverRoutes, context)
}

/**
 * `GET|POST /hooks/<endpoint>`: public (no API key), body kept raw for the signature check. Registered in
 * its own scope so its content-type parsers do not change other routes.
 */
export async function webhookReceiverRoutes(app: FastifyInstance, context: ApiContext): Promise<void> {
  app.removeAllContentTypeParsers()
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body))
  app.route({
    method: ['GET', 'POST'],
    url: '/hooks/*',
    config: { access: 'public' },
    schema: routeSchema(
      context,
      'webhooks',
      "Call a webhook: no Harmonia API key; the webhook's own auth applies. 202 {execution_id}, or with ?wait=true 200 with the output",
      {
        querystring: HookQuery,
        response: { 200: openObject, 202: openObject, ...errorResponses(400, 401, 404, 409, 422, 429) },
      },
    ),
    handler: async (request, reply) => {
      const endpoint = (request.params as { '*': string })['*']
      const waitMs = waitMsOf(request)
      const query = { ...(request.query as Record<string, unknown>) }
      const answer = await context.harmonia.webhooks.receive({
        endpoint,
        method: request.method,
        headers: request.headers,
        query,
        rawBody: Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0),
        sourceIp: request.ip,
        ...(waitMs === undefined ? {} : { waitMs }),
        signal: context.closing,
      })
      return reply.code(answer.status as 200 | 202).send(answer.body)
    },
  })
}
