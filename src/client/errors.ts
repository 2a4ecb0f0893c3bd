/**
 * The one error the client throws: `HarmoniaApiError`, carrying the server's stable `code`, the HTTP
 * `status`, the `details` of the `{"error": {code, message, details}}` body and the request id the server
 * logged it under. Failures that never got an answer use status 0 and a client-side code.
 */
import type { JsonValue } from './wire-types.ts'

/** Codes the client itself gives to failures without a server answer (status 0) or with an odd one. */
export const ClientErrorCode = {
  /** The server could not be reached, or the connection broke. */
  network_error: 'network_error',
  /** No answer within the request's `timeoutMs`, or the wait ran out. */
  timeout: 'timeout',
  /** The caller's AbortSignal aborted the request. */
  aborted: 'aborted',
  /** The answer was not what the API documents (not JSON, or an error without our error shape). */
  unexpected_response: 'unexpected_response',
  /** The caller gave the client something it cannot send (for example an empty id). */
  invalid_argument: 'invalid_argument',
} as const
export type ClientErrorCode = (typeof ClientErrorCode)[keyof typeof ClientErrorCode]

export interface HarmoniaApiErrorOptions {
  status: number
  details?: JsonValue
  requestId?: string
  cause?: unknown
}

export class HarmoniaApiError extends Error {
  /** The server's error code (`workflow_not_found`, `validation_error`, ...) or a ClientErrorCode. */
  readonly code: string
  /** The HTTP status; 0 when no answer was received. */
  readonly status: number
  /** The error body's `details` (for a 422: every problem found). */
  readonly details: JsonValue
  /** The server's `x-request-id` for this request, when it answered. */
  readonly requestId: string | undefined

  constructor(code: string, message: string, options: HarmoniaApiErrorOptions) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'HarmoniaApiError'
    this.code = code
    this.status = options.status
    this.details = options.details ?? {}
    this.requestId = options.requestId
  }
}

/** Codes for answers that carry no error body (a proxy's page, for instance), by status. */
const CODE_BY_STATUS: Readonly<Record<number, string>> = {
  400: 'invalid_request',
  401: 'authentication_failed',
  403: 'permission_denied',
  404: 'not_found',
  409: 'conflict',
  413: 'payload_too_large',
  422: 'validation_error',
  429: 'rate_limit_exceeded',
}

/** The longest excerpt of an unexpected body kept in an error's details. */
const BODY_EXCERPT_CHARS = 500

/**
 * The error for a failed answer: the server's error body when it has one, else a code by status with an
 * excerpt of what came back.
 */
export function errorFromAnswer(
  status: number,
  bodyText: string,
  context: { method: string; path: string; requestId?: string },
): HarmoniaApiError {
  const requestId = context.requestId
  const parsed = parseErrorBody(bodyText)
  if (parsed !== undefined) {
    return new HarmoniaApiError(parsed.code, parsed.message, {
      status,
      details: parsed.details,
      ...(requestId === undefined ? {} : { requestId }),
    })
  }
  const code = CODE_BY_STATUS[status] ?? ClientErrorCode.unexpected_response
  const excerpt = bodyText.slice(0, BODY_EXCERPT_CHARS)
  return new HarmoniaApiError(
    code,
    `${context.method} ${context.path} answered HTTP ${status} without an error body` +
      (excerpt.trim() === '' ? '' : `: ${excerpt.trim().split('\n')[0]}`),
    { status, details: { body: excerpt }, ...(requestId === undefined ? {} : { requestId }) },
  )
}

function parseErrorBody(text: string): { code: string; message: string; details: JsonValue } | undefined {
  let body: unknown
  try {
    body = JSON.parse(text)
  } catch {
    return undefined
  }
  const error = (body as { error?: unknown } | null)?.error
  if (typeof error !== 'object' || error === null) return undefined
  const { code, message, details } = error as { code?: unknown; message?: unknown; details?: unknown }
  if (typeof code !== 'string' || typeof message !== 'string') return undefined
  return { code, message, details: (details ?? {}) as JsonValue }
}
