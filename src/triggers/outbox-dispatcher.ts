/**
 * The outbox dispatcher: sends pending notification deliveries (`notification_deliveries/<delivery_id>`),
 * which the engine wrote in the same transaction as their event, so none is lost on a crash.
 *
 * - Woken, not polling: by the engine's event bus right after the commit that wrote a delivery, by
 *   `store.listen('notifications')` (a redelivery, another node), and by one timer set for the next due
 *   retry. On start it resumes every pending delivery; a slow sweep (default once a minute) picks up rows a
 *   crashed peer node left behind.
 * - One sender per attempt: attempt n of a delivery is claimed with `store.markOnce('notification_attempt',
 *   '<id>:<n>', ttl)` before it is sent, so neither two nodes nor two passes of one node send it twice. A
 *   node that dies mid-send leaves the claim to expire (the attempt's timeout plus a margin); then another
 *   node, or this one after a restart, sends it again (at-least-once: receivers drop repeats by the
 *   `X-Harmonia-Delivery` id).
 * - Failures retry with exponential backoff up to the subscription's `retry_config.max_attempts`; every
 *   attempt is recorded (status code, response excerpt, duration, error).
 */
import { isoNow, type Clock } from '../core/clock.ts'
import type { Logger } from '../core/logger.ts'
import type { JsonObject, JsonValue } from '../core/model.ts'
import type { Store } from '../core/store.ts'
import { sendSignedRequest, type AttemptResult } from './notifications-signing.ts'
import { compilePayloadTemplate, renderPayload, type Subscription } from './notifications-subscriptions.ts'

export const DELIVERIES = 'notification_deliveries'
export const NOTIFICATIONS_CHANNEL = 'notifications'
const ATTEMPT_SCOPE = 'notification_attempt'
/** Added to an attempt's timeout for its claim: a node that died mid-send gives it up after this. */
const CLAIM_MARGIN_MS = 5_000
const MAX_RECORDED_ATTEMPTS = 50
const SWEEP_PAGE = 500
/** Finished deliveries kept per subscription and status (succeeded, failed); older ones are deleted. */
export const MAX_FINISHED_DELIVERIES = 1000
const PRUNE_EVERY = 50

export const DeliveryStatus = { pending: 'pending', succeeded: 'succeeded', failed: 'failed' } as const
export type DeliveryStatus = (typeof DeliveryStatus)[keyof typeof DeliveryStatus]

export interface Delivery extends JsonObject {
  delivery_id: string
  subscription_id: string
  event_type: string
  execution_id: string | null
  workflow_id: string | null
  event: JsonObject
  status: DeliveryStatus
  attempt_count: number
  attempts: JsonObject[]
  next_attempt_at: string | null
  created_at: string
  updated_at: string
}

export interface DispatcherOptions {
  store: Store
  clock: Clock
  logger: Logger
  /** The subscription of a delivery (cached by the notification service). */
  subscription(subscriptionId: string): Promise<Subscription | undefined>
  /** How often pending rows are looked for besides the wake-ups (0: never). Default 60 s. */
  sweepIntervalMs?: number
  /** Default MAX_FINISHED_DELIVERIES. */
  maxFinishedDeliveries?: number
}

export class OutboxDispatcher {
  readonly #options: DispatcherOptions
  readonly #due = new Map<string, number>()
  readonly #inFlight = new Map<string, Promise<void>>()
  readonly #compiled = new Map<string, { updatedAt: string; render: (event: JsonObject) => JsonValue }>()
  #abort = new AbortController()
  #timer: ReturnType<typeof setTimeout> | undefined
  #timerDueMs = Infinity
  #sweepTimer: ReturnType<typeof setInterval> | undefined
  #unlisten: (() => void) | undefined
  #running = false
  readonly #finishedSincePrune = new Map<string, number>()

  constructor(options: DispatcherOptions) {
    this.#options = options
  }

  async start(): Promise<void> {
    if (this.#running) return
    this.#running = true
    this.#abort = new AbortController()
    this.#unlisten = this.#options.store.listen(NOTIFICATIONS_CHANNEL, (id) => this.schedule(id, 0))
    await this.sweep()
    const every = this.#options.sweepIntervalMs ?? 60_000
    if (every > 0) {
      this.#sweepTimer = setInterval(() => void this.sweep().catch(() => {}), every)
      this.#sweepTimer.unref()
    }
  }

  async stop(): Promise<void> {
    if (!this.#running) return
    this.#running = false
    this.#unlisten?.()
    if (this.#sweepTimer !== undefined) clearInterval(this.#sweepTimer)
    if (this.#timer !== undefined) clearTimeout(this.#timer)
    this.#timer = undefined
    this.#timerDueMs = Infinity
    this.#abort.abort(new Error('notification dispatcher stopping'))
    await Promise.allSettled([...this.#inFlight.values()])
    this.#due.clear()
  }

  /** Every pending delivery in the store, scheduled at its due time. */
  async sweep(): Promise<void> {
    for (let page = 1; this.#running; page++) {
      const found = await this.#options.store.listDocuments(DELIVERIES, {
        where: { status: DeliveryStatus.pending },
        page,
        limit: SWEEP_PAGE,
      })
      for (const item of found.items) {
        const delivery = item as Delivery
        this.schedule(delivery.delivery_id, dueMsOf(delivery))
      }
      if (page * SWEEP_PAGE >= found.total) break
    }
  }

  /** Sends `deliveryId` at `dueMs` (ms since the epoch; 0 = now). */
  schedule(deliveryId: string, dueMs: number): void {
    if (!this.#running) return
    const known = this.#due.get(deliveryId)
    if (known !== undefined && known <= dueMs) return
    this.#due.set(deliveryId, dueMs)
    this.#arm()
  }

  #arm(): void {
    let next = Infinity
    // An attempt in flight is looked at again when it settles (its `finally` re-arms).
    for (const [id, due] of this.#due) if (due < next && !this.#inFlight.has(id)) next = due
    if (next === Infinity || next >= this.#timerDueMs) return
    if (this.#timer !== undefined) clearTimeout(this.#timer)
    this.#timerDueMs = next
    this.#timer = setTimeout(
      () => {
        this.#timer = undefined
        this.#timerDueMs = Infinity
        this.#runDue()
      },
      Math.max(0, Math.min(next - this.#options.clock.now(), 2_147_483_647)),
    )
    this.#timer.unref()
  }

  #runDue(): void {
    const now = this.#options.clock.now()
    for (const [id, due] of [...this.#due]) {
      if (due > now || this.#inFlight.has(id)) continue
      this.#due.delete(id)
      const work = this.#attempt(id)
        .catch((error: unknown) => {
          this.#options.logger.warn('notification delivery attempt failed to run', {
            delivery_id: id,
            error: String(error),
          })
          // Store trouble: try again later rather than never.
          if (this.#running) this.schedule(id, this.#options.clock.now() + 5_000)
        })
        .finally(() => {
          this.#inFlight.delete(id)
          this.#arm()
        })
      this.#inFlight.set(id, work)
    }
    this.#arm()
  }

  async #attempt(deliveryId: string): Promise<void> {
    const { store, clock } = this.#options
    const delivery = (await store.getDocument(DELIVERIES, deliveryId)) as Delivery | undefined
    if (delivery === undefined || delivery.status !== DeliveryStatus.pending || !this.#running) return
    const dueMs = dueMsOf(delivery)
    if (dueMs > clock.now()) {
      this.schedule(deliveryId, dueMs)
      return
    }
    const subscription = await this.#options.subscription(delivery.subscription_id)
    const retry = subscription?.retry_config
    const attempt = delivery.attempt_count + 1
    const claimMs = (retry?.timeout_ms ?? 10_000) + CLAIM_MARGIN_MS
    if (!(await store.markOnce(ATTEMPT_SCOPE, `${deliveryId}:${attempt}`, claimMs))) {
      // Another node sends this attempt; look again once its claim would have expired.
      this.schedule(deliveryId, clock.now() + claimMs)
      return
    }
    const startedAt = isoNow(clock)
    let result: AttemptResult
    if (subscription === undefined) {
      result = { ok: false, duration_ms: 0, error: 'the subscription was deleted', retriable: false }
    } else if (!subscription.enabled) {
      result = { ok: false, duration_ms: 0, error: 'the subscription is disabled', retriable: false }
    } else {
      let body: string | undefined
      let renderProblem = ''
      try {
        body = JSON.stringify(this.#render(subscription, delivery.event))
      } catch (error) {
        renderProblem = (error as Error).message
      }
      result =
        body === undefined
          ? {
              ok: false,
              duration_ms: 0,
              error: `payload_template failed: ${renderProblem}`,
              retriable: false,
            }
          : await sendSignedRequest({
              url: subscription.external_url,
              body,
              deliveryId,
              secret: subscription.secret,
              eventType: delivery.event_type,
              headers: { ...subscription.headers, ...authHeaders(subscription) },
              timeoutMs: subscription.retry_config.timeout_ms,
              signal: this.#abort.signal,
            })
      if (this.#abort.signal.aborted && !result.ok) return // stopping: the attempt is made after a restart
    }
    const record: JsonObject = {
      attempt,
      started_at: startedAt,
      success: result.ok,
      status_code: result.status_code ?? null,
      response_excerpt: result.response_excerpt ?? null,
      duration_ms: result.duration_ms,
      error: result.error ?? null,
    }
    const attempts = [...delivery.attempts, record].slice(-MAX_RECORDED_ATTEMPTS)
    const maxAttempts = retry?.max_attempts ?? 1
    const again = !result.ok && result.retriable && attempt < maxAttempts
    const delayMs = again ? backoffMs(retry!, attempt) : 0
    const status: DeliveryStatus = result.ok
      ? DeliveryStatus.succeeded
      : again
        ? DeliveryStatus.pending
        : DeliveryStatus.failed
    const updated: Delivery = {
      ...delivery,
      status,
      attempt_count: attempt,
      retry_count: attempt - 1,
      attempts,
      success: result.ok,
      status_code: result.status_code ?? null,
      response: result.response_excerpt ?? null,
      error: result.error ?? null,
      next_attempt_at: again ? new Date(clock.now() + delayMs).toISOString() : null,
      updated_at: isoNow(clock),
      ...(result.ok ? { delivered_at: isoNow(clock) } : {}),
    }
    await store.putDocument(DELIVERIES, deliveryId, updated)
    if (again) this.schedule(deliveryId, clock.now() + delayMs)
    else await this.#pruneIfDue(delivery.subscription_id)
    if (!result.ok && !again) {
      this.#options.logger.warn('notification delivery failed', {
        delivery_id: deliveryId,
        subscription_id: delivery.subscription_id,
        attempts: attempt,
        error: result.error,
      })
    }
  }

  async #pruneIfDue(subscriptionId: string): Promise<void> {
    const max = this.#options.maxFinishedDeliveries ?? MAX_FINISHED_DELIVERIES
    const every = Math.min(PRUNE_EVERY, max)
    const count = (this.#finishedSincePrune.get(subscriptionId) ?? 0) + 1
    this.#finishedSincePrune.set(subscriptionId, count % every)
    if (count < every) return
    const { store } = this.#options
    for (const status of [DeliveryStatus.succeeded, DeliveryStatus.failed]) {
      const where = { subscription_id: subscriptionId, status }
      const { total } = await store.listDocuments(DELIVERIES, { where, limit: 1 })
      const excess = Math.min(total - max, 500)
      if (excess <= 0) continue
      const oldest = await store.listDocuments(DELIVERIES, { where, limit: excess, sort_order: 'asc' })
      for (const item of oldest.items) await store.deleteDocument(DELIVERIES, String(item['delivery_id']))
    }
  }

  #render(subscription: Subscription, event: JsonObject): JsonValue {
    if (subscription.payload_template === null) return event
    let entry = this.#compiled.get(subscription.subscription_id)
    if (entry === undefined || entry.updatedAt !== subscription.updated_at) {
      const { compiled } = compilePayloadTemplate(subscription.payload_template)
      entry = { updatedAt: subscription.updated_at, render: (e) => renderPayload(compiled, e) }
      this.#compiled.set(subscription.subscription_id, entry)
    }
    return entry.render(event)
  }
}

export function backoffMs(
  retry: { initial_delay_ms: number; backoff_factor: number; max_delay_ms: number },
  attempt: number,
): number {
  const delay = retry.initial_delay_ms * Math.pow(retry.backoff_factor, attempt - 1)
  return Math.min(delay, retry.max_delay_ms)
}

function dueMsOf(delivery: Delivery): number {
  if (delivery.next_attempt_at === null) return 0
  const ms = Date.parse(delivery.next_attempt_at)
  return Number.isFinite(ms) ? ms : 0
}

/** The receiver's credentials, as the subscription's auth_type says. */
export function authHeaders(subscription: Subscription): Record<string, string> {
  const config = subscription.auth_config
  switch (subscription.auth_type) {
    case 'basic':
      return {
        authorization: `Basic ${Buffer.from(`${String(config['username'])}:${String(config['password'])}`).toString('base64')}`,
      }
    case 'bearer':
      return { authorization: `Bearer ${String(config['token'])}` }
    case 'api_key':
      return { [String(config['header'] ?? 'X-API-Key')]: String(config['key']) }
    default:
      return {}
  }
}
