/**
 * The SDK's outbound notifications (docs/triggers.md, "Notifications (outbound)"): subscriptions that send
 * an execution's events, signed with the subscription's secret, to an external URL; the deliveries of each
 * subscription with every attempt; and manual redelivery. Secrets are answered as `***`, except the one
 * the server generates, which create answers once.
 */
import type { CallOptions } from './harmonia-client.ts'
import type { Query } from './http-transport.ts'
import type { EventType, ExecutionEventMessage, JsonObject, JsonValue, Page } from './wire-types.ts'

/** An event type, or `*` for every event. */
export type SubscriptionEventType = EventType | '*'

/** How the receiver authenticates Harmonia (sent with every delivery, besides the signature). */
export type SubscriptionAuthType = 'none' | 'basic' | 'bearer' | 'api_key'

export interface SubscriptionRetryConfig {
  /** Attempts in all, the first included (1..100; default 6). */
  max_attempts: number
  initial_delay_ms: number
  /** 1..10; default 2. */
  backoff_factor: number
  max_delay_ms: number
  /** One attempt waits at most this long for an answer (100..300000; default 10000). */
  timeout_ms: number
}

/** `POST /subscriptions`, and (every field optional) `PUT /subscriptions/{id}`. */
export interface SubscriptionInput {
  subscription_id?: string
  name?: string
  /** Where deliveries are POSTed: an http:// or https:// URL. */
  external_url: string
  /** Default: an execution's start and end (`execution_started`, `_completed`, `_failed`, `_cancelled`). */
  event_types?: SubscriptionEventType[]
  /** Only this workflow's events (merged into `workflow_ids`). */
  workflow_id?: string
  /** Only these workflows' events; none: every workflow. */
  workflow_ids?: string[]
  /** The body sent: expressions (`${...}`) over `event`; default the event's JSON. */
  payload_template?: JsonValue
  /** Extra headers of every delivery. */
  headers?: Record<string, string>
  auth_type?: SubscriptionAuthType
  auth_config?: JsonObject
  /** Also accepts aliases such as `max_retries` or `retry_interval` (seconds). */
  retry_config?: Partial<SubscriptionRetryConfig> & JsonObject
  enabled?: boolean
  /** Signs every delivery; at least 8 characters. Generated when not given; `***` on update keeps it. */
  secret?: string
}

/** A subscription as answered: `secret` is `***` (but for the generated one, answered once by create). */
export interface Subscription {
  subscription_id: string
  name: string
  external_url: string
  event_types: SubscriptionEventType[]
  workflow_ids: string[]
  payload_template: JsonValue
  headers: Record<string, string>
  auth_type: SubscriptionAuthType
  /** The receiver's credentials, masked. */
  auth_config: JsonObject
  retry_config: SubscriptionRetryConfig
  enabled: boolean
  secret: string
  created_at: string
  updated_at: string
}

export type DeliveryStatus = 'pending' | 'succeeded' | 'failed'

/** One attempt to send a delivery. */
export interface DeliveryAttempt {
  /** 1-based. */
  attempt: number
  started_at: string
  success: boolean
  status_code: number | null
  response_excerpt: string | null
  duration_ms: number
  error: string | null
}

/** One event sent (or to be sent) to one subscription, with every attempt. */
export interface NotificationDelivery {
  delivery_id: string
  subscription_id: string
  event_type: EventType
  execution_id: string | null
  workflow_id: string | null
  /** The event as streams carry it (the default body). */
  event: Omit<ExecutionEventMessage, 'id'>
  status: DeliveryStatus
  attempt_count: number
  /** The latest attempts (at most 50), oldest first. */
  attempts: DeliveryAttempt[]
  /** When a pending delivery is tried again. */
  next_attempt_at: string | null
  created_at: string
  updated_at: string
  /** The outcome of the last attempt (once one was made). */
  retry_count?: number
  success?: boolean
  status_code?: number | null
  response?: string | null
  error?: string | null
  delivered_at?: string
  /** The delivery this one sends again (`redeliver`). */
  redelivery_of?: string
}

export interface SubscriptionsApi {
  /** Subscribes a URL; the answer shows a generated secret once (when none was given). */
  create(subscription: SubscriptionInput, options?: CallOptions): Promise<Subscription>
  list(query?: { page?: number; limit?: number }, options?: CallOptions): Promise<Page<Subscription>>
  get(subscriptionId: string, options?: CallOptions): Promise<Subscription>
  /** Fields not sent are kept; a `secret` of `***` keeps the secret. */
  update(
    subscriptionId: string,
    changes: Partial<SubscriptionInput>,
    options?: CallOptions,
  ): Promise<Subscription>
  /** Its pending deliveries fail. */
  delete(
    subscriptionId: string,
    options?: CallOptions,
  ): Promise<{ success: boolean; message: string; subscription_id: string }>
  /** The subscription's deliveries, newest first, with every attempt. */
  deliveries(
    subscriptionId: string,
    query?: { page?: number; limit?: number; status?: DeliveryStatus },
    options?: CallOptions,
  ): Promise<Page<NotificationDelivery>>
  delivery(subscriptionId: string, deliveryId: string, options?: CallOptions): Promise<NotificationDelivery>
  /** Sends a delivery's event again, as a new delivery (new id, fresh attempts, `redelivery_of`). */
  redeliver(subscriptionId: string, deliveryId: string, options?: CallOptions): Promise<NotificationDelivery>
}

type Api = <T>(
  method: string,
  path: string,
  init?: { query?: Query; body?: unknown; options?: CallOptions | undefined },
) => Promise<T>

export function createSubscriptionsApi(
  api: Api,
  segment: (value: string, what: string) => string,
): SubscriptionsApi {
  const at = (subscriptionId: string): string =>
    `/subscriptions/${segment(subscriptionId, 'subscription id')}`
  const deliveryAt = (subscriptionId: string, deliveryId: string): string =>
    `${at(subscriptionId)}/deliveries/${segment(deliveryId, 'delivery id')}`
  return {
    create: async (subscription, options) => api('POST', '/subscriptions', { body: subscription, options }),
    list: async (query = {}, options) => api('GET', '/subscriptions', { query: { ...query }, options }),
    get: async (subscriptionId, options) => api('GET', at(subscriptionId), { options }),
    update: async (subscriptionId, changes, options) =>
      api('PUT', at(subscriptionId), { body: changes, options }),
    delete: async (subscriptionId, options) => api('DELETE', at(subscriptionId), { options }),
    deliveries: async (subscriptionId, query = {}, options) =>
      api('GET', `${at(subscriptionId)}/deliveries`, { query: { ...query }, options }),
    delivery: async (subscriptionId, deliveryId, options) =>
      api('GET', deliveryAt(subscriptionId, deliveryId), { options }),
    redeliver: async (subscriptionId, deliveryId, options) =>
      api('POST', `${deliveryAt(subscriptionId, deliveryId)}/redeliver`, { options }),
  }
}
