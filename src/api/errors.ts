/**
 * The one place where error codes become HTTP statuses and the `{"error": {code, message, details}}` body.
 * HarmoniaError codes map by the table in core/errors.ts (docs/errors.md lists the same statuses, and a test keeps the
 * two in step); Fastify's own errors (bad JSON, body too large, schema violations) are translated to the
 * same codes; anything unexpected becomes a 500 `execution_error` whose message names the request id but
 * never the stack.
 */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { ErrorCode, HarmoniaError, statusForCode, type ValidationIssue } from '../core/errors.ts'
import type { JsonValue } from '../core/model.ts'

export { HTTP_STATUS_BY_CODE, statusForCode } from '../core/errors.ts'

export interface ErrorBody {
  error: { code: string; message: string; details: JsonValue }
}

export function errorBody(code: string, message: string, details?: JsonValue): ErrorBody {
  return { error: { code, message, details: details ?? {} } }
}

/** Statuses Fastify or a plugin may set on its own errors, and the code each stands for. */
const CODE_BY_CLIENT_STATUS: Readonly<Record<number, ErrorCode>> = {
  400: 'invalid_request',
  401: 'authentication_failed',
  403: 'permission_denied',
  404: 'not_found',
  409: 'conflict',
  413: 'payload_too_large',
  422: 'validation_error',
  429: 'rate_limit_exceeded',
}

/** Turns anything thrown by a handler, hook or Fastify itself into a status and an error body. */
export function toHttpError(
  error: unknown,
  requestId: string,
): { status: number; body: ErrorBody; unexpected: boolean } {
  if (error instanceof HarmoniaError) {
    return {
      status: statusForCode(error.code),
      body: errorBody(error.code, error.message, error.details),
      unexpected: false,
    }
  }
  const fastifyError = error as Partial<FastifyError> & { validation?: unknown[] }
  if (Array.isArray(fastifyError.validation)) {
    const issues = schemaIssues(fastifyError)
    return {
      status: 400,
      body: errorBody(
        ErrorCode.invalid_request,
        `invalid request: ${issues.map((i) => `${i.field ?? 'request'} ${i.message}`).join('; ')}`,
        { errors: issues as unknown as JsonValue },
      ),
      unexpected: false,
    }
  }
  if (fastifyError.code === 'FST_ERR_CTP_BODY_TOO_LARGE' || fastifyError.statusCode === 413) {
    return {
      status: 413,
      body: errorBody(
        ErrorCode.payload_too_large,
        'request body is larger than the server accepts (server.bodyLimitBytes); send less or raise the limit',
      ),
      unexpected: false,
    }
  }
  if (fastifyError.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
    return {
      status: 415,
      body: errorBody(
        ErrorCode.invalid_request,
        `${fastifyError.message}; send the body as application/json`,
      ),
      unexpected: false,
    }
  }
  const status = fastifyError.statusCode
  if (typeof status === 'number' && status >= 400 && status < 500) {
    const code = CODE_BY_CLIENT_STATUS[status] ?? ErrorCode.invalid_request
    const message =
      error instanceof SyntaxError || fastifyError.code === 'FST_ERR_CTP_INVALID_JSON_BODY'
        ? `request body is not valid JSON: ${fastifyError.message ?? ''}`.trim()
        : (fastifyError.message ?? code)
    return { status, body: errorBody(code, message), unexpected: false }
  }
  return {
    status: 500,
    body: errorBody(
      ErrorCode.execution_error,
      `unexpected server error; the server log has the details under request id ${requestId}`,
      { request_id: requestId },
    ),
    unexpected: true,
  }
}

/** Ajv errors as issues: `body.tasks`, `querystring.limit`… with Ajv's own wording. */
function schemaIssues(error: Partial<FastifyError> & { validation?: unknown[] }): ValidationIssue[] {
  const part = (error as { validationContext?: string }).validationContext ?? 'body'
  return (error.validation as Array<{ instancePath?: string; message?: string; params?: object }>).map(
    (item) => {
      const path = (item.instancePath ?? '').replace(/^\//, '').replaceAll('/', '.')
      const params = item.params as { additionalProperty?: string; allowedValues?: unknown[] } | undefined
      const extra =
        params?.additionalProperty !== undefined
          ? ` '${params.additionalProperty}'`
          : params?.allowedValues !== undefined
            ? `: ${params.allowedValues.join(', ')}`
            : ''
      return {
        field: path === '' ? part : `${part}.${path}`,
        message: `${item.message ?? 'is invalid'}${extra}`,
      }
    },
  )
}

/** Installs the error and not-found handlers so every failure answers in the one error shape. */
export function installErrorHandlers(app: FastifyInstance): void {
  app.setErrorHandler((error: unknown, request: FastifyRequest, reply: FastifyReply) => {
    const { status, body, unexpected } = toHttpError(error, String(request.id))
    if (unexpected) request.log.error({ err: error }, 'request failed unexpectedly')
    else if (status >= 500)
      request.log.warn({ code: body.error.code, message: body.error.message }, 'request failed')
    if (status === 429) {
      const retryAfter = (error as { details?: { retry_after_seconds?: number } }).details
        ?.retry_after_seconds
      if (retryAfter !== undefined) void reply.header('retry-after', String(retryAfter))
    }
    return reply.code(status).type('application/json; charset=utf-8').send(body)
  })
  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split('?')[0]
    return reply
      .code(404)
      .send(
        errorBody(
          ErrorCode.not_found,
          `Route ${request.method} ${path} not found; the API lives under /api/v1 (see /docs)`,
          { method: request.method, path: path ?? '' },
        ),
      )
  })
}
