/**
 * Errors: one base class with a stable string `code`. Codes are never reused; docs/errors.md lists each
 * one with its fix, and test/core/errors.test.ts keeps that table and this file in step.
 * Only the API layer maps codes to HTTP statuses.
 */
import type { JsonValue } from './model.ts'

export const ErrorCode = {
  invalid_request: 'invalid_request',
  validation_error: 'validation_error',
  expression_error: 'expression_error',
  workflow_not_found: 'workflow_not_found',
  execution_not_found: 'execution_not_found',
  template_not_found: 'template_not_found',
  checkpoint_not_found: 'checkpoint_not_found',
  not_found: 'not_found',
  conflict: 'conflict',
  authentication_failed: 'authentication_failed',
  permission_denied: 'permission_denied',
  rate_limit_exceeded: 'rate_limit_exceeded',
  payload_too_large: 'payload_too_large',
  component_error: 'component_error',
  execution_error: 'execution_error',
  store_error: 'store_error',
  lease_lost: 'lease_lost',
  llm_error: 'llm_error',
  not_configured: 'not_configured',
  timeout: 'timeout',
} as const
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode]

/** One problem found while validating (a definition, an input, a request). */
/**
 * The HTTP status of each error code, as the API answers it (and as a webhook's call record notes it): the
 * reference's error contract, so it lives with the codes.
 */
export const HTTP_STATUS_BY_CODE: Readonly<Record<ErrorCode, number>> = {
  invalid_request: 400,
  authentication_failed: 401,
  permission_denied: 403,
  workflow_not_found: 404,
  execution_not_found: 404,
  template_not_found: 404,
  checkpoint_not_found: 404,
  not_found: 404,
  conflict: 409,
  lease_lost: 409,
  payload_too_large: 413,
  validation_error: 422,
  expression_error: 422,
  rate_limit_exceeded: 429,
  component_error: 500,
  execution_error: 500,
  store_error: 500,
  not_configured: 501,
  llm_error: 502,
  timeout: 504,
}

/** The HTTP status of an error code; codes this table does not know (task codes, for instance) are 500s. */
export function statusForCode(code: string): number {
  return (HTTP_STATUS_BY_CODE as Record<string, number>)[code] ?? 500
}

export interface ValidationIssue {
  /** Task the problem concerns, when it concerns one. */
  task?: string
  /** Field path, e.g. `input.url` or `depends_on[1]`. */
  field?: string
  message: string
}

export class HarmoniaError extends Error {
  readonly code: string
  readonly details: JsonValue | undefined

  constructor(code: string, message: string, options: { details?: JsonValue; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = new.target.name
    this.code = code
    this.details = options.details
  }

  toJSON(): { code: string; message: string; details?: JsonValue } {
    return this.details === undefined
      ? { code: this.code, message: this.message }
      : { code: this.code, message: this.message, details: this.details }
  }
}

export class ValidationError extends HarmoniaError {
  readonly issues: ValidationIssue[]
  constructor(message: string, issues: ValidationIssue[] = [], code: string = ErrorCode.validation_error) {
    super(code, issues.length > 0 ? `${message}: ${issues.map(formatIssue).join('; ')}` : message, {
      details: { errors: issues.map((i) => ({ ...i })) as unknown as JsonValue },
    })
    this.issues = issues
  }
}

export class InvalidRequestError extends HarmoniaError {
  constructor(message: string, details?: JsonValue) {
    super(ErrorCode.invalid_request, message, { details })
  }
}

export class ExpressionError extends HarmoniaError {
  constructor(message: string, details?: JsonValue, cause?: unknown) {
    super(ErrorCode.expression_error, message, { details, cause })
  }
}

export class NotFoundError extends HarmoniaError {
  constructor(
    code:
      | 'workflow_not_found'
      | 'execution_not_found'
      | 'template_not_found'
      | 'checkpoint_not_found'
      | 'not_found'
      | 'component_error',
    message: string,
    details?: JsonValue,
  ) {
    super(code, message, { details })
  }
}

/**
 * A 409 `conflict`, the reference's one code for it. `reason` says which kind when a client may branch on
 * it: `invalid_state` when the action does not apply in the resource's current status.
 */
export class ConflictError extends HarmoniaError {
  constructor(message: string, details?: { [key: string]: JsonValue }, reason?: 'invalid_state') {
    super(ErrorCode.conflict, message, {
      details: reason === undefined ? details : { ...details, reason },
    })
  }
}

export class StoreError extends HarmoniaError {
  constructor(message: string, cause?: unknown) {
    super(ErrorCode.store_error, message, { cause })
  }
}

/** A node lost the lease of an execution: its late writes are discarded. */
export class LeaseLostError extends HarmoniaError {
  constructor(executionId: string) {
    super(ErrorCode.lease_lost, `lease of execution '${executionId}' is held by another node`, {
      details: { execution_id: executionId },
    })
  }
}

/**
 * A task attempt failed. `retriable` says whether a retry policy may try again; the `code` is the one
 * a policy's `retriable_errors` matches (e.g. TIMEOUT, CONNECTION_ERROR, SERVER_ERROR, HTTP_404).
 */
export class TaskFailure extends HarmoniaError {
  readonly retriable: boolean
  constructor(
    code: string,
    message: string,
    options: { retriable?: boolean; details?: JsonValue; cause?: unknown } = {},
  ) {
    super(code, message, { details: options.details, cause: options.cause })
    this.retriable = options.retriable ?? false
  }
}

/** A component could not be reached or answered outside its contract. Retriable by default. */
export class ComponentError extends TaskFailure {
  constructor(
    message: string,
    options: { retriable?: boolean; details?: JsonValue; cause?: unknown; code?: string } = {},
  ) {
    super(options.code ?? ErrorCode.component_error, message, {
      retriable: options.retriable ?? true,
      ...options,
    })
  }
}

export function formatIssue(issue: ValidationIssue): string {
  const where = [issue.task === undefined ? undefined : `task '${issue.task}'`, issue.field]
    .filter((part) => part !== undefined)
    .join(', ')
  return where === '' ? issue.message : `${where}: ${issue.message}`
}

/** Turns anything thrown into a TaskError record. */
export function toTaskError(error: unknown): {
  code: string
  message: string
  retriable: boolean
  details?: JsonValue
} {
  if (error instanceof TaskFailure) {
    return withDetails(
      { code: error.code, message: error.message, retriable: error.retriable },
      error.details,
    )
  }
  if (error instanceof HarmoniaError) {
    return withDetails({ code: error.code, message: error.message, retriable: false }, error.details)
  }
  if (error instanceof Error) {
    if (error.name === 'AbortError' || error.name === 'TimeoutError') {
      return { code: 'TIMEOUT', message: error.message, retriable: true }
    }
    return { code: 'TASK_ERROR', message: error.message, retriable: false }
  }
  return { code: 'TASK_ERROR', message: String(error), retriable: false }
}

function withDetails<T extends object>(
  value: T,
  details: JsonValue | undefined,
): T & { details?: JsonValue } {
  return details === undefined ? value : { ...value, details }
}
