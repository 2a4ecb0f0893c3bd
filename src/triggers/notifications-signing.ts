/**
 * Signed outbound calls, shared by subscriptions (the outbox dispatcher) and the `notify.send` action.
 *
 * Every call is a JSON POST with:
 * - `X-Harmonia-Delivery`: the delivery id (the same on every retry, so receivers can drop repeats);
 * - `X-Harmonia-Timestamp`: Unix seconds when this attempt was sent;
 * - `X-Harmonia-Signature`: `sha256=<hex HMAC-SHA256 of "<timestamp>.<body>" keyed by the secret>`, when there
 *   is a secret. Receivers recompute it over the raw body and compare in constant time, and refuse stale
 *   timestamps against replays.
 */
import { createHmac } from 'node:crypto'

export const SIGNATURE_HEADER = 'X-Harmonia-Signature'
export const TIMESTAMP_HEADER = 'X-Harmonia-Timestamp'
export const DELIVERY_HEADER = 'X-Harmonia-Delivery'
export const EVENT_HEADER = 'X-Harmonia-Event'

/** Characters of a receiver's answer kept in an attempt record. */
export const RESPONSE_EXCERPT_CHARS = 500

/** `sha256=<hex>` over `<timestampSeconds>.<body>`. */
export function signPayload(secret: string, timestampSeconds: number | string, body: string): string {
  const hex = createHmac('sha256', secret).update(`${timestampSeconds}.${body}`, 'utf8').digest('hex')
  return `sha256=${hex}`
}

export interface SignedRequest {
  url: string
  body: string
  deliveryId: string
  secret?: string
  eventType?: string
  /** Extra headers (the subscription's, the task's); they cannot override the signature headers. */
  headers?: Record<string, string>
  timeoutMs: number
  signal?: AbortSignal
  /** Seconds since the epoch to sign with (default: now). */
  timestampSeconds?: number
}

export interface AttemptResult {
  ok: boolean
  /** Absent when no answer came (connection refused, timeout). */
  status_code?: number
  response_excerpt?: string
  duration_ms: number
  error?: string
  /** Whether another attempt may succeed (5xx, 408, 429, connection errors and timeouts). */
  retriable: boolean
}

/** Sends one signed POST; never throws (the result says what happened). */
export async function sendSignedRequest(request: SignedRequest): Promise<AttemptResult> {
  const timestamp = request.timestampSeconds ?? Math.floor(Date.now() / 1000)
  const headers: Record<string, string> = {
    'user-agent': 'Harmonia-Notifications',
    ...request.headers,
    'content-type': 'application/json',
    [DELIVERY_HEADER]: request.deliveryId,
    [TIMESTAMP_HEADER]: String(timestamp),
  }
  if (request.eventType !== undefined) headers[EVENT_HEADER] = request.eventType
  if (request.secret !== undefined && request.secret !== '') {
    headers[SIGNATURE_HEADER] = signPayload(request.secret, timestamp, request.body)
  }
  const started = Date.now()
  const timeout = AbortSignal.timeout(request.timeoutMs)
  const signal = request.signal === undefined ? timeout : AbortSignal.any([timeout, request.signal])
  try {
    const response = await fetch(request.url, {
      method: 'POST',
      headers,
      body: request.body,
      signal,
      redirect: 'manual',
    })
    const text = await response.text().catch(() => '')
    const ok = response.status >= 200 && response.status < 300
    const status = response.status
    return {
      ok,
      status_code: status,
      response_excerpt: text.slice(0, RESPONSE_EXCERPT_CHARS),
      duration_ms: Date.now() - started,
      ...(ok ? {} : { error: `receiver answered HTTP ${status}` }),
      retriable: !ok && (status >= 500 || status === 408 || status === 429),
    }
  } catch (error) {
    const timedOut = timeout.aborted
    const cause = (error as { cause?: { code?: string; message?: string } }).cause
    const reason = timedOut
      ? `no answer within ${request.timeoutMs} ms`
      : `${cause?.code ?? (error as Error).name}: ${cause?.message ?? (error as Error).message}`
    return {
      ok: false,
      duration_ms: Date.now() - started,
      error: `could not deliver to ${safeUrl(request.url)}: ${reason}`,
      retriable: request.signal?.aborted !== true,
    }
  }
}

/** The URL without credentials, query or fragment (they may hold secrets). */
export function safeUrl(url: string): string {
  try {
    const parsed = new URL(url)
    return `${parsed.protocol}//${parsed.host}${parsed.pathname}`
  } catch {
    return '(invalid URL)'
  }
}
