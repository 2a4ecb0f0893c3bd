/**
 * The `notify` component: `notify.send` makes one signed call from inside a workflow, to a subscription
 * (`subscription_id`: its URL, headers, receiver auth and secret; the secret stays out of the definition)
 * or to a `url` with an optional `secret`. The body is `payload` (default: the execution, workflow and task
 * names); headers are those of every notification (X-Harmonia-Signature over `<timestamp>.<body>`,
 * X-Harmonia-Timestamp, X-Harmonia-Delivery). The delivery id is derived from the task's idempotency key,
 * so a retry or a restart sends the same id and receivers can drop the repeat.
 *
 * Failures carry the codes retry policies match: 5xx `SERVER_ERROR`, 429 `RATE_LIMITED`, no answer
 * `CONNECTION_ERROR` / `TIMEOUT` are retriable; other 4xx `HTTP_<status>` are not.
 */
import type { ActionHandler } from '../core/component.ts'
import { TaskFailure } from '../core/errors.ts'
import type { JsonObject, JsonValue } from '../core/model.ts'
import { authHeaders } from '../triggers/outbox-dispatcher.ts'
import { sendSignedRequest } from '../triggers/notifications-signing.ts'
import type { Subscription } from '../triggers/notifications-subscriptions.ts'
import type { ComponentRegistration } from './registry.ts'

export const notifyComponent: ComponentRegistration = {
  name: 'notify',
  description: 'Sends one signed notification (HMAC-SHA256) from inside a workflow',
  kind: 'builtin',
}

export interface NotifyOptions {
  /** The subscription with its secret; rejects when there is none. */
  subscription(subscriptionId: string): Promise<Subscription>
}

interface SendInput {
  subscription_id?: string
  url?: string
  secret?: string
  headers?: Record<string, string>
  event?: string
  payload?: JsonValue
  timeout_ms?: number
}

const DEFAULT_TIMEOUT_MS = 10_000

export function createNotifyActions(options: NotifyOptions): ActionHandler[] {
  const send: ActionHandler = {
    descriptor: {
      name: 'send',
      description:
        'POSTs `payload` as JSON, signed (X-Harmonia-Signature: sha256=<hex> over "<timestamp>.<body>"), to a subscription (subscription_id) or a url with a secret. Answers {delivery_id, status_code, success, response}.',
      input_schema: {
        type: 'object',
        properties: {
          subscription_id: { type: 'string', minLength: 1 },
          url: { type: 'string', pattern: '^https?://' },
          secret: {
            type: 'string',
            minLength: 1,
            description: 'Signs the call (use ${env.X} to keep it out of the definition).',
          },
          headers: { type: 'object', additionalProperties: { type: 'string' } },
          event: { type: 'string', minLength: 1, maxLength: 100, default: 'workflow_notification' },
          payload: { description: 'Any JSON; default {execution_id, workflow_id, task}.' },
          timeout_ms: { type: 'integer', minimum: 100, maximum: 300_000 },
        },
        additionalProperties: false,
        description: 'Give either subscription_id or url.',
      },
      output_schema: {
        type: 'object',
        properties: {
          delivery_id: { type: 'string' },
          status_code: { type: 'integer' },
          success: { type: 'boolean' },
          response: { type: 'string' },
          duration_ms: { type: 'integer' },
        },
      },
    },
    async invoke(input, context) {
      const given = (input ?? {}) as SendInput
      if ((given.subscription_id === undefined) === (given.url === undefined)) {
        throw new TaskFailure(
          'INVALID_INPUT',
          `task '${context.task}': notify.send needs either 'subscription_id' or 'url', got ${given.url === undefined ? 'neither' : 'both'} (not retriable)`,
          { details: { component: 'notify', action: 'send' } },
        )
      }
      let url = given.url
      let secret = given.secret
      let headers: Record<string, string> = { ...given.headers }
      let timeoutMs = given.timeout_ms ?? DEFAULT_TIMEOUT_MS
      if (given.subscription_id !== undefined) {
        let subscription: Subscription
        try {
          subscription = await options.subscription(given.subscription_id)
        } catch {
          throw new TaskFailure(
            'INVALID_INPUT',
            `task '${context.task}': subscription '${given.subscription_id}' does not exist (not retriable)`,
            { details: { field: 'input.subscription_id' } },
          )
        }
        url = subscription.external_url
        secret = subscription.secret
        headers = { ...subscription.headers, ...authHeaders(subscription), ...headers }
        timeoutMs = given.timeout_ms ?? subscription.retry_config.timeout_ms
      }
      const payload: JsonValue = given.payload ?? {
        execution_id: context.executionId,
        workflow_id: context.workflowId,
        task: context.task,
      }
      const deliveryId = `ntf-${context.idempotencyKey}`
      const result = await sendSignedRequest({
        url: url!,
        body: JSON.stringify(payload),
        deliveryId,
        ...(secret === undefined ? {} : { secret }),
        eventType: given.event ?? 'workflow_notification',
        headers,
        timeoutMs,
        signal: context.signal,
      })
      const output: JsonObject = {
        delivery_id: deliveryId,
        status_code: result.status_code ?? null,
        success: result.ok,
        response: result.response_excerpt ?? null,
        duration_ms: result.duration_ms,
      }
      if (result.ok) return output
      if (context.signal.aborted) throw context.signal.reason
      const status = result.status_code
      const code =
        status === undefined
          ? /no answer within/.test(result.error ?? '')
            ? 'TIMEOUT'
            : 'CONNECTION_ERROR'
          : status >= 500
            ? 'SERVER_ERROR'
            : status === 429
              ? 'RATE_LIMITED'
              : `HTTP_${status}`
      throw new TaskFailure(
        code,
        `task '${context.task}': notify.send ${result.error ?? 'failed'}${result.retriable ? '' : ' (not retriable)'}`,
        { retriable: result.retriable, details: output },
      )
    },
  }
  return [send]
}
