/**
 * Subscription routes: outbound notifications (create, list, get, update, delete; secrets masked), the
 * deliveries of a subscription with every attempt, and manual redelivery.
 */
import type { FastifyInstance } from 'fastify'
import { NotFoundError } from '../../core/errors.ts'
import { routeSchema, type ApiContext } from '../context.ts'
import { errorResponses } from '../schemas.ts'

const SubscriptionParams = {
  type: 'object',
  required: ['subscription_id'],
  properties: { subscription_id: { type: 'string', minLength: 1, maxLength: 256 } },
} as const

const DeliveryParams = {
  type: 'object',
  required: ['subscription_id', 'delivery_id'],
  properties: {
    subscription_id: { type: 'string', minLength: 1, maxLength: 256 },
    delivery_id: { type: 'string', minLength: 1, maxLength: 256 },
  },
} as const

const Paging = {
  page: { type: 'integer', minimum: 1, default: 1 },
  limit: { type: 'integer', minimum: 1, maximum: 500, default: 20 },
} as const

const openObject = { type: 'object', additionalProperties: true } as const

export async function subscriptionRoutes(app: FastifyInstance, context: ApiContext): Promise<void> {
  const { notifications } = context.harmonia
  const tag = 'subscriptions'
  const idOf = (params: unknown): string => (params as { subscription_id: string }).subscription_id

  app.post(
    '/subscriptions',
    {
      schema: routeSchema(
        context,
        tag,
        'Subscribe a URL to events; deliveries are signed with the secret (generated and answered once when not given)',
        { body: openObject, response: { 201: openObject, ...errorResponses(400, 401, 403, 409, 422) } },
      ),
    },
    async (request, reply) => reply.code(201).send(await notifications.create(request.body)),
  )

  app.get(
    '/subscriptions',
    {
      schema: routeSchema(context, tag, 'List subscriptions (secrets masked)', {
        querystring: { type: 'object', properties: Paging },
        response: { 200: openObject, ...errorResponses(400, 401, 403) },
      }),
    },
    async (request) => notifications.list(request.query as { page: number; limit: number }),
  )

  app.get(
    '/subscriptions/:subscription_id',
    {
      schema: routeSchema(context, tag, 'A subscription (secrets masked)', {
        params: SubscriptionParams,
        response: { 200: openObject, ...errorResponses(401, 403, 404) },
      }),
    },
    async (request) => notifications.get(idOf(request.params)),
  )

  app.put(
    '/subscriptions/:subscription_id',
    {
      schema: routeSchema(
        context,
        tag,
        'Update a subscription (fields not sent are kept; "***" keeps a secret)',
        {
          params: SubscriptionParams,
          body: openObject,
          response: { 200: openObject, ...errorResponses(400, 401, 403, 404, 422) },
        },
      ),
    },
    async (request) => notifications.update(idOf(request.params), request.body),
  )

  app.delete(
    '/subscriptions/:subscription_id',
    {
      schema: routeSchema(context, tag, 'Delete a subscription (its pending deliveries fail)', {
        params: SubscriptionParams,
        response: { 200: openObject, ...errorResponses(401, 403, 404) },
      }),
    },
    async (request) => {
      const id = idOf(request.params)
      await notifications.delete(id)
      return { success: true, message: `Subscription '${id}' deleted`, subscription_id: id }
    },
  )

  app.get(
    '/subscriptions/:subscription_id/deliveries',
    {
      schema: routeSchema(context, tag, 'Deliveries of a subscription, newest first, with every attempt', {
        params: SubscriptionParams,
        querystring: {
          type: 'object',
          properties: { ...Paging, status: { enum: ['pending', 'succeeded', 'failed'] } },
        },
        response: { 200: openObject, ...errorResponses(400, 401, 403, 404) },
      }),
    },
    async (request) =>
      notifications.listDeliveries(
        idOf(request.params),
        request.query as { page: number; limit: number; status?: string },
      ),
  )

  app.get(
    '/subscriptions/:subscription_id/deliveries/:delivery_id',
    {
      schema: routeSchema(context, tag, 'One delivery with its attempts', {
        params: DeliveryParams,
        response: { 200: openObject, ...errorResponses(401, 403, 404) },
      }),
    },
    async (request) => {
      const { subscription_id: subscriptionId, delivery_id: deliveryId } = request.params as {
        subscription_id: string
        delivery_id: string
      }
      return deliveryOf(subscriptionId, deliveryId)
    },
  )

  app.post(
    '/subscriptions/:subscription_id/deliveries/:delivery_id/redeliver',
    {
      schema: routeSchema(context, tag, 'Send a delivery again, as a new delivery (new id, fresh attempts)', {
        params: DeliveryParams,
        response: { 202: openObject, ...errorResponses(401, 403, 404) },
      }),
    },
    async (request, reply) => {
      const { subscription_id: subscriptionId, delivery_id: deliveryId } = request.params as {
        subscription_id: string
        delivery_id: string
      }
      await deliveryOf(subscriptionId, deliveryId)
      return reply.code(202).send(await notifications.redeliver(deliveryId))
    },
  )

  const deliveryOf = async (subscriptionId: string, deliveryId: string) => {
    const delivery = await notifications.getDelivery(deliveryId)
    if (delivery['subscription_id'] !== subscriptionId) {
      throw new NotFoundError(
        'not_found',
        `Delivery with ID '${deliveryId}' not found for subscription '${subscriptionId}'`,
        { subscription_id: subscriptionId, delivery_id: deliveryId },
      )
    }
    return delivery
  }
}
