/**
 * The `http` component: `http.request` calls any HTTP service with the global fetch.
 *
 * - Every call carries `Idempotency-Key: <execution_id>:<task>[:<item>]` (the same on each retry and
 *   after a restart) unless the task sets that header itself, so services can drop repeated deliveries.
 * - The attempt's signal (task timeout, cancellation) and the call's own `timeout_ms` both abort it.
 * - Answers `{status, headers, body}`: JSON parsed when the content type says JSON, text otherwise, base64
 *   for binary bodies (with `body_encoding: 'base64'`); bodies past the cap (10 MiB) fail the task.
 * - Failures carry codes retry policies match: 5xx `SERVER_ERROR` and 429 `RATE_LIMITED` (with
 *   `retry_after_ms`), connection problems `CONNECTION_ERROR` and timeouts `TIMEOUT` are retriable; other
 *   4xx `HTTP_<status>` and bad input `INVALID_INPUT` are not. Error details hold the status and an excerpt
 *   of the answer, never the request's headers (they may hold secrets) nor its query string.
 * - Redirects (at most 5) are followed here rather than by fetch, so that each hop is checked when private
 *   networks are disallowed; 303 (and 301/302 after POST) continue as GET, and credentials
 *   (Authorization, Cookie) are dropped when a redirect leaves the origin.
 */
import type { ActionHandler, TaskContext } from '../core/component.ts'
import { TaskFailure } from '../core/errors.ts'
import type { JsonObject, JsonValue } from '../core/model.ts'
import { abortReason } from './abort-reason.ts'
import { decodeBody, excerpt, headersObject, readCapped, retryAfterMs, textOf } from './http-response.ts'
import { assertPublicHost } from './network-guard.ts'
import type { ComponentRegistration } from './registry.ts'

export interface HttpComponentOptions {
  /**
   * Whether `http.request` may call loopback, private and link-local addresses (default true: Tekton
   * components usually listen on localhost). Servers that run workflows from untrusted authors set false.
   */
  allowPrivateNetworks?: boolean
  /** Largest response body read (default 10 MiB). */
  maxResponseBytes?: number
  /** `timeout_ms` when the task gives none (default 60 s). */
  defaultTimeoutMs?: number
  /** Redirects followed at most (default 5). */
  maxRedirects?: number
}

export const DEFAULT_MAX_RESPONSE_BYTES = 10 * 1024 * 1024
export const DEFAULT_HTTP_TIMEOUT_MS = 60_000
const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const
const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308])
/** Headers dropped when a redirect leaves the origin. */
const CREDENTIAL_HEADERS = ['authorization', 'cookie', 'proxy-authorization']

export const httpComponent: ComponentRegistration = {
  name: 'http',
  description: 'Calls any HTTP service',
  kind: 'builtin',
}

interface HttpRequestInput {
  method?: (typeof METHODS)[number]
  url: string
  headers?: Record<string, string | number | boolean>
  query?: Record<string, string | number | boolean | Array<string | number | boolean>>
  json?: JsonValue
  body?: string
  timeout_ms?: number
  expect_status?: number[]
}

const scalar = { type: ['string', 'number', 'boolean'] }

export function createHttpActions(options: HttpComponentOptions = {}): ActionHandler[] {
  const settings = {
    allowPrivateNetworks: options.allowPrivateNetworks ?? true,
    maxResponseBytes: options.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES,
    defaultTimeoutMs: options.defaultTimeoutMs ?? DEFAULT_HTTP_TIMEOUT_MS,
    maxRedirects: options.maxRedirects ?? 5,
  }
  const request: ActionHandler = {
    descriptor: {
      name: 'request',
      description:
        'Sends an HTTP request and answers {status, headers, body}; JSON answers are parsed. Sends Idempotency-Key unless the task sets it. 5xx, 429, timeouts and connection errors are retriable; other 4xx are not.',
      input_schema: {
        type: 'object',
        properties: {
          method: { enum: [...METHODS], default: 'GET' },
          url: { type: 'string', minLength: 1, description: 'An http:// or https:// URL.' },
          headers: { type: 'object', additionalProperties: scalar },
          query: {
            type: 'object',
            description: 'Query parameters added to the URL; a list repeats the parameter.',
            additionalProperties: { type: ['string', 'number', 'boolean', 'array'], items: scalar },
          },
          json: { description: 'Any JSON value, sent as the body with Content-Type: application/json.' },
          body: { type: 'string', description: 'A raw body (instead of json).' },
          timeout_ms: {
            type: 'integer',
            minimum: 1,
            maximum: 3_600_000,
            description: `Default ${settings.defaultTimeoutMs} ms.`,
          },
          expect_status: {
            type: 'array',
            minItems: 1,
            items: { type: 'integer', minimum: 100, maximum: 599 },
            description: 'Statuses that count as success (default: any status below 400).',
          },
        },
        required: ['url'],
        additionalProperties: false,
      },
      output_schema: {
        type: 'object',
        properties: {
          status: { type: 'integer' },
          headers: { type: 'object', additionalProperties: { type: 'string' } },
          body: { description: 'Parsed JSON, text, or base64 when body_encoding says so.' },
          body_encoding: { const: 'base64' },
        },
        required: ['status', 'headers', 'body'],
      },
    },
    invoke: (input, context) => sendRequest(input as unknown as HttpRequestInput, context, settings),
  }
  return [request]
}

async function sendRequest(
  input: HttpRequestInput,
  context: TaskContext,
  settings: Required<HttpComponentOptions>,
): Promise<JsonValue> {
  let method: string = input.method ?? 'GET'
  const url = parseUrl(input, context)
  const where = (target: URL = url): string => `http.request ${method} ${target.origin}${target.pathname}`
  const invalid = (message: string, field: string): TaskFailure =>
    new TaskFailure('INVALID_INPUT', `task '${context.task}': ${where()}: ${message} (not retriable)`, {
      retriable: false,
      details: { component: 'http', action: 'request', field },
    })

  const headers = new Headers()
  for (const [name, value] of Object.entries(input.headers ?? {})) {
    try {
      headers.set(name, String(value))
    } catch {
      throw invalid(`header '${name}' has an invalid name or value`, `input.headers.${name}`)
    }
  }
  if (!headers.has('idempotency-key')) headers.set('idempotency-key', context.idempotencyKey)

  let body: string | undefined
  if (input.json !== undefined && input.body !== undefined) {
    throw invalid("give the body as 'json' or as 'body', not both", 'input.body')
  }
  if (input.json !== undefined) {
    body = JSON.stringify(input.json)
    if (!headers.has('content-type')) headers.set('content-type', 'application/json')
  } else if (input.body !== undefined) {
    body = input.body
  }
  if (body !== undefined && (method === 'GET' || method === 'HEAD')) {
    throw invalid(`a ${method} request cannot have a body; use POST, PUT or PATCH`, 'input.method')
  }

  const timeoutMs = input.timeout_ms ?? settings.defaultTimeoutMs
  const timeout = AbortSignal.timeout(timeoutMs)
  const signal = AbortSignal.any([context.signal, timeout])
  const fail = (error: unknown, target: URL): never => {
    if (context.signal.aborted) throw abortReason(context.signal)
    if (error instanceof TaskFailure) throw error
    if (timeout.aborted) {
      throw new TaskFailure(
        'TIMEOUT',
        `${where(target)}: no complete answer within ${timeoutMs} ms (retriable)`,
        {
          retriable: true,
          details: { timeout_ms: timeoutMs },
        },
      )
    }
    throw connectionFailure(error, where(target))
  }

  let target = url
  let response: Response
  let bytes: Uint8Array
  try {
    for (let redirects = 0; ; redirects++) {
      if (!settings.allowPrivateNetworks) await assertPublicHost(target, where(target))
      response = await fetch(target, {
        method,
        headers,
        signal,
        // Redirects are followed here, not by fetch, so every hop can be checked for private addresses.
        redirect: 'manual',
        ...(body === undefined ? {} : { body }),
      })
      const location = response.headers.get('location')
      if (!REDIRECT_STATUSES.has(response.status) || location === null) break
      await response.body?.cancel().catch(() => {})
      if (redirects >= settings.maxRedirects) {
        throw new TaskFailure(
          'TOO_MANY_REDIRECTS',
          `${where(target)}: more than ${settings.maxRedirects} redirects (not retriable)`,
          {
            retriable: false,
          },
        )
      }
      const next = new URL(location, target)
      if (next.protocol !== 'http:' && next.protocol !== 'https:') {
        throw new TaskFailure(
          'INVALID_RESPONSE',
          `${where(target)}: redirected to unsupported scheme '${next.protocol.slice(0, -1)}' (not retriable)`,
          {
            retriable: false,
          },
        )
      }
      if (
        response.status === 303 ||
        ((response.status === 301 || response.status === 302) && method === 'POST')
      ) {
        if (method !== 'HEAD') method = 'GET'
        body = undefined
        headers.delete('content-type')
      }
      if (next.origin !== target.origin) for (const name of CREDENTIAL_HEADERS) headers.delete(name)
      target = next
    }
    bytes = await readCapped(response, settings.maxResponseBytes, where(target))
  } catch (error) {
    return fail(error, target)
  }

  const status = response.status
  const contentType = response.headers.get('content-type')
  const succeeded = input.expect_status === undefined ? status < 400 : input.expect_status.includes(status)
  if (!succeeded) throw statusFailure(response, bytes, where(target), input.expect_status)
  const decoded = decodeBody(bytes, contentType, where(target))
  const output: JsonObject = { status, headers: headersObject(response.headers), body: decoded.body }
  if (decoded.encoding !== undefined) output.body_encoding = decoded.encoding
  return output
}

function parseUrl(input: HttpRequestInput, context: TaskContext): URL {
  const invalid = (message: string): TaskFailure =>
    new TaskFailure('INVALID_INPUT', `task '${context.task}': http.request: ${message} (not retriable)`, {
      retriable: false,
      details: { component: 'http', action: 'request', field: 'input.url' },
    })
  let url: URL
  try {
    url = new URL(input.url)
  } catch {
    throw invalid('url is not a valid absolute URL (expected http://host/path or https://host/path)')
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw invalid(`url has unsupported scheme '${url.protocol.slice(0, -1)}'; expected http or https`)
  }
  if (url.username !== '' || url.password !== '') {
    throw invalid('url holds credentials; send them in an Authorization header instead')
  }
  for (const [name, value] of Object.entries(input.query ?? {})) {
    for (const item of Array.isArray(value) ? value : [value]) url.searchParams.append(name, String(item))
  }
  return url
}

function statusFailure(
  response: Response,
  bytes: Uint8Array,
  where: string,
  expected: number[] | undefined,
): TaskFailure {
  const status = response.status
  const text = textOf(bytes, response.headers.get('content-type'))
  const details: JsonObject = { status }
  if (expected !== undefined) details.expected_status = expected
  if (text !== undefined && text !== '') details.body_excerpt = excerpt(text)
  const answered = `${where} answered ${status}${response.statusText === '' ? '' : ` ${response.statusText}`}`
  if (status === 429) {
    const waitMs = retryAfterMs(response.headers.get('retry-after'), Date.now())
    if (waitMs !== undefined) details.retry_after_ms = waitMs
    const after = waitMs === undefined ? '' : `; the server asks to wait ${waitMs} ms`
    return new TaskFailure('RATE_LIMITED', `${answered}${after} (retriable)`, { retriable: true, details })
  }
  if (status >= 500) {
    return new TaskFailure('SERVER_ERROR', `${answered} (retriable)`, { retriable: true, details })
  }
  const wanted = expected === undefined ? '' : `; expected ${expected.join(', ')}`
  return new TaskFailure(`HTTP_${status}`, `${answered}${wanted} (not retriable)`, {
    retriable: false,
    details,
  })
}

/** fetch rejects with TypeError('fetch failed') whose cause holds the system error. */
function connectionFailure(error: unknown, where: string): TaskFailure {
  const cause = (error as { cause?: { code?: string; message?: string } }).cause
  const code = cause?.code ?? (error as { code?: string }).code
  const reason = code ?? cause?.message ?? (error as Error).message ?? String(error)
  if (code !== undefined && /CERT|SSL|TLS|SELF_SIGNED/i.test(code)) {
    return new TaskFailure('TLS_ERROR', `${where}: TLS failed (${reason}) (not retriable)`, {
      retriable: false,
      details: { cause: reason },
      cause: error,
    })
  }
  return new TaskFailure(
    'CONNECTION_ERROR',
    `${where}: could not complete the exchange (${reason}) (retriable)`,
    {
      retriable: true,
      details: { cause: reason },
      cause: error,
    },
  )
}
