/**
 * How the embedded stores (memory, file, SQLite) read a listing query: 1-based pages, whitelisted sort
 * fields, ISO timestamps. Every adapter answers the same query the same way, and bad input is refused
 * with an InvalidRequestError naming the operation, the field, what was expected and what was given.
 */
import { InvalidRequestError } from '../core/errors.ts'
import type { ListQuery } from '../core/store.ts'

export const DEFAULT_PAGE_LIMIT = 20

export interface PageWindow {
  page: number
  limit: number
  offset: number
}

/** Page and limit, 1-based, defaults 1 and 20. */
export function resolvePage(operation: string, query: ListQuery): PageWindow {
  const page = query.page ?? 1
  const limit = query.limit ?? DEFAULT_PAGE_LIMIT
  if (!Number.isSafeInteger(page) || page < 1) {
    throw new InvalidRequestError(`${operation}: page must be an integer >= 1, got ${describe(page)}`)
  }
  if (!Number.isSafeInteger(limit) || limit < 1) {
    throw new InvalidRequestError(`${operation}: limit must be an integer >= 1, got ${describe(limit)}`)
  }
  return { page, limit, offset: (page - 1) * limit }
}

export interface SortSpec<F extends string> {
  field: F
  descending: boolean
}

/**
 * The sort a query asks for, checked against the fields an operation allows (never user text in SQL).
 * `defaultOrder` applies when `sort_order` is absent.
 */
export function resolveSort<F extends string>(
  operation: string,
  query: ListQuery,
  allowed: readonly F[],
  defaults: { field: F; order: 'asc' | 'desc' },
): SortSpec<F> {
  const field = query.sort_by ?? defaults.field
  if (!(allowed as readonly string[]).includes(field)) {
    throw new InvalidRequestError(
      `${operation}: sort_by must be one of ${allowed.join(', ')}, got ${describe(field)}`,
    )
  }
  const order = query.sort_order ?? defaults.order
  if (order !== 'asc' && order !== 'desc') {
    throw new InvalidRequestError(`${operation}: sort_order must be asc or desc, got ${describe(order)}`)
  }
  return { field: field as F, descending: order === 'desc' }
}

export const WORKFLOW_SORT_FIELDS = ['created_at', 'updated_at', 'name'] as const
export type WorkflowSortField = (typeof WORKFLOW_SORT_FIELDS)[number]

export const EXECUTION_SORT_FIELDS = [
  'created_at',
  'updated_at',
  'started_at',
  'completed_at',
  'status',
] as const
export type ExecutionSortField = (typeof EXECUTION_SORT_FIELDS)[number]

/** Documents sort by id only (code point order). */
export const DOCUMENT_SORT_FIELDS = ['id'] as const

const CANONICAL_ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/

/**
 * A timestamp as the canonical UTC ISO form (`2024-05-01T00:00:00.000Z`), which sorts as text in time
 * order. Text that is not a date is returned unchanged (a record keeps what it was given).
 */
export function sortableTime(value: string): string {
  if (CANONICAL_ISO.test(value)) return value
  const ms = Date.parse(value)
  return Number.isNaN(ms) ? value : new Date(ms).toISOString()
}

/** A query's timestamp bound, canonical; refuses anything that is not a date. */
export function timestampBound(operation: string, field: string, value: unknown): string {
  const ms = typeof value === 'string' ? Date.parse(value) : Number.NaN
  if (Number.isNaN(ms)) {
    throw new InvalidRequestError(
      `${operation}: ${field} must be an ISO 8601 timestamp such as 2024-05-01T00:00:00Z, got ${describe(value)}`,
    )
  }
  return new Date(ms).toISOString()
}

/** A count argument (limit, leaseMs, ttlMs): a finite number >= 0. */
export function checkCount(operation: string, field: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new InvalidRequestError(
      `${operation}: ${field} must be a finite number >= 0, got ${describe(value)}`,
    )
  }
  return value
}

export function checkNodeId(operation: string, nodeId: unknown): string {
  if (typeof nodeId !== 'string' || nodeId === '') {
    throw new InvalidRequestError(`${operation}: nodeId must be a non-empty string, got ${describe(nodeId)}`)
  }
  return nodeId
}

/**
 * Compares strings as JavaScript does (UTF-16 code units): for text without characters above U+FFFF this
 * is the order of SQLite's BINARY and PostgreSQL's "C" collations.
 */
export function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}

export function describe(value: unknown): string {
  if (value === undefined) return 'undefined'
  if (typeof value === 'number') return String(value)
  const text = JSON.stringify(value) ?? String(value)
  return text.length > 80 ? `${text.slice(0, 77)}...` : text
}

/** Most executions one `deleteExecutions` call removes (a retention sweep pages through the rest). */
export const MAX_DELETION_LIMIT = 10_000

export interface ResolvedDeletion {
  /** Undefined: any execution. */
  ids: string[] | undefined
  /** Canonical ISO, or undefined: any finish time. */
  before: string | undefined
  limit: number
}

/** A `deleteExecutions` query, checked: ids are strings, the bound a timestamp, the limit 1..10 000. */
export function resolveDeletion(
  operation: string,
  query: { execution_ids?: unknown; finished_before?: unknown; limit?: unknown },
): ResolvedDeletion {
  const { execution_ids: ids, finished_before: before, limit } = query
  if (ids !== undefined && (!Array.isArray(ids) || ids.some((id) => typeof id !== 'string'))) {
    throw new InvalidRequestError(
      `${operation}: execution_ids must be an array of strings, got ${describe(ids)}`,
    )
  }
  if (typeof limit !== 'number' || !Number.isSafeInteger(limit) || limit < 1 || limit > MAX_DELETION_LIMIT) {
    throw new InvalidRequestError(
      `${operation}: limit must be an integer from 1 to ${MAX_DELETION_LIMIT}, got ${describe(limit)}`,
    )
  }
  return {
    ids: ids === undefined ? undefined : [...new Set(ids as string[])],
    before: before === undefined ? undefined : timestampBound(operation, 'finished_before', before),
    limit,
  }
}
