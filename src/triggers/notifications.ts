/**
 * Outbound notifications: subscriptions (CRUD), the outbox hook that writes one delivery row per
 * interested subscription in the same store transaction as each event, the dispatcher that sends them
 * signed (outbox-dispatcher.ts), the list of deliveries per subscription, and manual redelivery.
 *
 * The hook runs synchronously inside the engine's group commit, so it reads subscriptions from a cache:
 * loaded on start, updated by this node's changes, and reloaded when another node announces one on the
 * `subscriptions` channel.
 */
import { timeOrderedId } from '../core/ids.ts'
import { isoNow, systemClock, type Clock } from '../core/clock.ts'
import type { Engine } from '../core/engine-api.ts'
import { ConflictError, NotFoundError } from '../core/errors.ts'
import type { ExecutionEvent } from '../core/events.ts'
import type { Logger } from '../core/logger.ts'
import type { JsonObject } from '../core/model.ts'
import type { DocumentWrite, Page, Store } from '../core/store.ts'
import {
  DELIVERIES,
  DeliveryStatus,
  NOTIFICATIONS_CHANNEL,
  OutboxDispatcher,
  type Delivery,
} from './outbox-dispatcher.ts'
import {
  SUBSCRIPTIONS,
  normalizeSubscription,
  subscriptionToWire,
  wants,
  type Subscription,
} from './notifications-subscriptions.ts'

const SUBSCRIPTIONS_CHANNEL = 'subscriptions'

export interface NotificationService {
  create(body: unknown): Promise<JsonObject>
  list(query: { page?: number; limit?: number }): Promise<Page<JsonObject>>
  get(subscriptionId: string): Promise<JsonObject>
  update(subscriptionId: string, body: unknown): Promise<JsonObject>
  delete(subscriptionId: string): Promise<void>
  /** The subscription with its secret (for `notify.send` with a `subscription_id`). */
  secretSubscription(subscriptionId: string): Promise<Subscription>
  listDeliveries(
    subscriptionId: string,
    query: { page?: number; limit?: number; status?: string },
  ): Promise<Page<JsonObject>>
  getDelivery(deliveryId: string): Promise<JsonObject>
  /** Sends a delivery's event again, as a new delivery (new id, fresh attempts). */
  redeliver(deliveryId: string): Promise<JsonObject>
  /** Loads subscriptions and resumes pending deliveries; call before the engine starts. */
  start(): Promise<void>
  stop(): Promise<void>
}

export interface NotificationServiceOptions {
  store: Store
  engine: Engine
  logger: Logger
  clock?: Clock
  /** See DispatcherOptions.sweepIntervalMs. */
  sweepIntervalMs?: number
}

export function createNotificationService(options: NotificationServiceOptions): NotificationService {
  const { store, engine, logger } = options
  const clock = options.clock ?? systemClock
  const cache = new Map<string, Subscription>()
  /** Delivery ids written with each event, sent once the bus announces the event (after its commit). */
  const written = new WeakMap<ExecutionEvent, string[]>()
  const dispatcher = new OutboxDispatcher({
    store,
    clock,
    logger: logger.child({ module: 'notifications' }),
    subscription: async (id) =>
      cache.get(id) ?? ((await store.getDocument(SUBSCRIPTIONS, id)) as Subscription | undefined),
    ...(options.sweepIntervalMs === undefined ? {} : { sweepIntervalMs: options.sweepIntervalMs }),
  })
  const removers: Array<() => void> = []

  const load = async (id: string): Promise<Subscription> => {
    const doc = (await store.getDocument(SUBSCRIPTIONS, id)) as Subscription | undefined
    if (doc === undefined) {
      throw new NotFoundError('not_found', `Subscription with ID '${id}' not found`, { subscription_id: id })
    }
    return doc
  }

  const refresh = async (id: string): Promise<void> => {
    const doc = (await store.getDocument(SUBSCRIPTIONS, id)) as Subscription | undefined
    if (doc === undefined) cache.delete(id)
    else cache.set(id, doc)
  }

  const announce = (id: string): void => {
    void store.notify(SUBSCRIPTIONS_CHANNEL, id).catch(() => {})
  }

  const outboxWrites = (event: ExecutionEvent): DocumentWrite[] => {
    if (cache.size === 0) return []
    const writes: DocumentWrite[] = []
    let wire: JsonObject | undefined
    for (const subscription of cache.values()) {
      if (!wants(subscription, event)) continue
      wire ??= eventJson(event)
      const now = isoNow(clock)
      const id = timeOrderedId('dlv', clock.now())
      const delivery: Delivery = {
        delivery_id: id,
        subscription_id: subscription.subscription_id,
        event_type: event.type,
        execution_id: event.execution_id,
        workflow_id: event.workflow_id,
        event: wire,
        status: DeliveryStatus.pending,
        attempt_count: 0,
        attempts: [],
        next_attempt_at: null,
        created_at: now,
        updated_at: now,
      }
      writes.push({ collection: DELIVERIES, id, doc: delivery })
    }
    if (writes.length > 0)
      written.set(
        event,
        writes.map((write) => write.id),
      )
    return writes
  }

  const service: NotificationService = {
    async create(body) {
      const subscription = normalizeSubscription(body, isoNow(clock))
      const given = (body as Record<string, unknown>)['subscription_id']
      if (typeof given === 'string' && /^[A-Za-z0-9._:-]{1,128}$/.test(given)) {
        if ((await store.getDocument(SUBSCRIPTIONS, given)) !== undefined) {
          throw new ConflictError(`subscription '${given}' already exists`, { subscription_id: given })
        }
        subscription.subscription_id = given
      }
      await store.putDocument(SUBSCRIPTIONS, subscription.subscription_id, subscription)
      cache.set(subscription.subscription_id, subscription)
      announce(subscription.subscription_id)
      const generated = (body as Record<string, unknown>)['secret'] === undefined
      return subscriptionToWire(subscription, generated)
    },
    async list(query) {
      const page = await store.listDocuments(SUBSCRIPTIONS, {
        page: query.page ?? 1,
        limit: query.limit ?? 20,
      })
      return { ...page, items: page.items.map((item) => subscriptionToWire(item as Subscription)) }
    },
    async get(id) {
      return subscriptionToWire(await load(id))
    },
    async update(id, body) {
      const previous = await load(id)
      const subscription = normalizeSubscription(body, isoNow(clock), previous)
      await store.putDocument(SUBSCRIPTIONS, id, subscription)
      cache.set(id, subscription)
      announce(id)
      return subscriptionToWire(subscription)
    },
    async delete(id) {
      await load(id)
      await store.deleteDocument(SUBSCRIPTIONS, id)
      cache.delete(id)
      announce(id)
    },
    secretSubscription: load,
    async listDeliveries(id, query) {
      await load(id)
      const page = await store.listDocuments(DELIVERIES, {
        where: {
          subscription_id: id,
          ...(query.status === undefined ? {} : { status: query.status }),
        },
        page: query.page ?? 1,
        limit: query.limit ?? 20,
        sort_order: 'desc',
      })
      return page
    },
    async getDelivery(deliveryId) {
      const doc = await store.getDocument(DELIVERIES, deliveryId)
      if (doc === undefined) {
        throw new NotFoundError('not_found', `Delivery with ID '${deliveryId}' not found`, {
          delivery_id: deliveryId,
        })
      }
      return doc
    },
    async redeliver(deliveryId) {
      const original = (await service.getDelivery(deliveryId)) as Delivery
      await load(original.subscription_id)
      const now = isoNow(clock)
      const id = timeOrderedId('dlv', clock.now())
      const copy: Delivery = {
        ...original,
        delivery_id: id,
        status: DeliveryStatus.pending,
        attempt_count: 0,
        attempts: [],
        next_attempt_at: null,
        created_at: now,
        updated_at: now,
        redelivery_of: deliveryId,
      }
      for (const key of ['success', 'status_code', 'response', 'error', 'retry_count', 'delivered_at']) {
        delete copy[key]
      }
      await store.putDocument(DELIVERIES, id, copy)
      await store.notify(NOTIFICATIONS_CHANNEL, id)
      return copy
    },

    async start() {
      for (let page = 1; ; page++) {
        const found = await store.listDocuments(SUBSCRIPTIONS, { page, limit: 500 })
        for (const item of found.items) cache.set(String(item['subscription_id']), item as Subscription)
        if (page * 500 >= found.total) break
      }
      removers.push(engine.addEventWriteHook(outboxWrites))
      removers.push(
        engine.bus.subscribe((event) => {
          const ids = written.get(event)
          if (ids === undefined) return
          written.delete(event)
          for (const id of ids) dispatcher.schedule(id, 0)
        }),
      )
      removers.push(store.listen(SUBSCRIPTIONS_CHANNEL, (id) => void refresh(id).catch(() => {})))
      await dispatcher.start()
    },
    async stop() {
      for (const remove of removers.splice(0)) remove()
      await dispatcher.stop()
    },
  }
  return service
}

/** The event as sent by default: the same shape as over WebSocket and SSE. */
export function eventJson(event: ExecutionEvent): JsonObject {
  return JSON.parse(
    JSON.stringify({
      type: event.type,
      timestamp: event.timestamp,
      execution_id: event.execution_id,
      workflow_id: event.workflow_id,
      seq: event.seq,
      data: event.data,
    }),
  ) as JsonObject
}
