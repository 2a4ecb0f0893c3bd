/**
 * SQL for the PostgreSQL store's listings (filters, sorts, pages) and the mapping between execution records
 * and their rows. Only whitelisted column names are ever put into SQL text; every value is a parameter.
 */
import { createHash } from 'node:crypto'
import type pg from 'pg'
import { InvalidRequestError } from '../core/errors.ts'
import type { ExecutionRecord, JsonObject } from '../core/model.ts'
import type { DocumentQuery, ExecutionQuery, ListQuery, WorkflowQuery } from '../core/store.ts'
import { joinExecution } from './execution-parts.ts'

// What postgres-commit.ts writes to `executions.fixed` and `executions.state`.
export { executionFixed, executionState } from './execution-parts.ts'

/** Schema-qualified table names. */
export interface Tables {
  workflows: string
  executions: string
  tasks: string
  events: string
  checkpoints: string
  documents: string
  marks: string
}

const statementNames = new Map<string, string>()

/**
 * A named statement: PostgreSQL parses and plans it once per connection and reuses the plan (the unnest
 * upserts are costly to plan). Only for SQL texts drawn from a fixed set, since each name is kept.
 */
export function prepared(text: string, values: unknown[]): pg.QueryConfig {
  let name = statementNames.get(text)
  if (name === undefined) {
    name = `harmonia_${createHash('sha256').update(text).digest('hex').slice(0, 24)}`
    statementNames.set(text, name)
  }
  return { name, text, values }
}

/** A count statement and a page statement sharing one WHERE clause and its parameters. */
export interface PageSql {
  count: string
  rows: string
  params: unknown[]
  page: number
  limit: number
}

export interface ExecutionRow {
  fixed: JsonObject
  state: JsonObject
  definition?: JsonObject
}

export function executionFromRow(row: ExecutionRow): ExecutionRecord {
  return joinExecution(row.fixed, row.state, row.definition)
}

/** Page and limit, 1-based, defaults 1 and 20. */
export function checkPage(operation: string, query: ListQuery): { page: number; limit: number } {
  const page = query.page ?? 1
  const limit = query.limit ?? 20
  if (!Number.isInteger(page) || page < 1) {
    throw new InvalidRequestError(`${operation}: page must be an integer >= 1, got ${String(page)}`)
  }
  if (!Number.isInteger(limit) || limit < 1) {
    throw new InvalidRequestError(`${operation}: limit must be an integer >= 1, got ${String(limit)}`)
  }
  return { page, limit }
}

function sortOrder(operation: string, query: ListQuery, fallback: 'asc' | 'desc' = 'desc'): 'ASC' | 'DESC' {
  const order = query.sort_order ?? fallback
  if (order !== 'asc' && order !== 'desc') {
    throw new InvalidRequestError(`${operation}: sort_order must be asc or desc, got ${String(order)}`)
  }
  return order === 'asc' ? 'ASC' : 'DESC'
}

function sortColumn(operation: string, query: ListQuery, columns: Record<string, string>): string {
  const sortBy = query.sort_by ?? 'created_at'
  const column = Object.hasOwn(columns, sortBy) ? columns[sortBy] : undefined
  if (column === undefined) {
    throw new InvalidRequestError(
      `${operation}: sort_by must be one of ${Object.keys(columns).join(', ')}, got '${String(sortBy)}'`,
    )
  }
  return column
}

function timestamp(operation: string, field: string, value: string): string {
  const ms = typeof value === 'string' ? Date.parse(value) : Number.NaN
  if (Number.isNaN(ms)) {
    throw new InvalidRequestError(
      `${operation}: ${field} must be an ISO 8601 timestamp such as 2024-05-01T00:00:00Z, got ${JSON.stringify(value)}`,
    )
  }
  return new Date(ms).toISOString()
}

const WORKFLOW_SORTS = { created_at: 'w.created_at', updated_at: 'w.updated_at', name: 'w.name' }

/** Latest revision of each workflow, filtered, sorted and paged. */
export function workflowQuerySql(table: string, query: WorkflowQuery): PageSql {
  const operation = 'listWorkflows'
  const { page, limit } = checkPage(operation, query)
  const column = sortColumn(operation, query, WORKFLOW_SORTS)
  const order = sortOrder(operation, query)
  const params: unknown[] = []
  const where = [
    `NOT EXISTS (SELECT 1 FROM ${table} newer
       WHERE newer.workflow_id = w.workflow_id AND newer.revision > w.revision)`,
  ]
  if (query.include_drafts === false) where.push(`w.status <> 'draft'`)
  if (query.search !== undefined && query.search !== '') {
    params.push(query.search)
    const p = `lower($${params.length})`
    where.push(`(strpos(lower(w.name), ${p}) > 0 OR strpos(lower(coalesce(w.description, '')), ${p}) > 0)`)
  }
  const from = `FROM ${table} w WHERE ${where.join(' AND ')}`
  return {
    count: `SELECT count(*)::int AS total ${from}`,
    rows: `SELECT w.record ${from} ORDER BY ${column} ${order}, w.workflow_id ${order}
           LIMIT ${limit} OFFSET ${(page - 1) * limit}`,
    params,
    page,
    limit,
  }
}

const EXECUTION_SORTS = {
  created_at: 'created_at',
  updated_at: 'updated_at',
  started_at: 'started_at',
  completed_at: 'completed_at',
  status: 'status',
}

/** Execution summaries (no definition), filtered, sorted and paged. */
export function executionQuerySql(table: string, query: ExecutionQuery): PageSql {
  const operation = 'listExecutions'
  const { page, limit } = checkPage(operation, query)
  const column = sortColumn(operation, query, EXECUTION_SORTS)
  const order = sortOrder(operation, query)
  const params: unknown[] = []
  const where: string[] = []
  const add = (condition: (p: string) => string, value: unknown): void => {
    params.push(value)
    where.push(condition(`$${params.length}`))
  }
  if (query.workflow_id !== undefined) add((p) => `workflow_id = ${p}`, query.workflow_id)
  if (query.status !== undefined) {
    const statuses = Array.isArray(query.status) ? query.status : [query.status]
    add((p) => `status = ANY(${p}::text[])`, statuses)
  }
  if (query.parent_execution_id !== undefined) {
    add((p) => `parent_execution_id = ${p}`, query.parent_execution_id)
  }
  if (query.created_after !== undefined) {
    add((p) => `created_at >= ${p}::timestamptz`, timestamp(operation, 'created_after', query.created_after))
  }
  if (query.created_before !== undefined) {
    add(
      (p) => `created_at <= ${p}::timestamptz`,
      timestamp(operation, 'created_before', query.created_before),
    )
  }
  const from = `FROM ${table}${where.length === 0 ? '' : ` WHERE ${where.join(' AND ')}`}`
  return {
    count: `SELECT count(*)::int AS total ${from}`,
    // A missing time comes last in either order.
    rows: `SELECT fixed, state ${from}
           ORDER BY ${column} ${order} NULLS LAST, execution_id ${order}
           LIMIT ${limit} OFFSET ${(page - 1) * limit}`,
    params,
    page,
    limit,
  }
}

/**
 * Documents of one collection, in id order. `where` is typed equality on top-level fields (JSONB
 * containment, so `{done: false}` matches neither a missing `done` nor `0`); `null` matches a field that
 * is present and null.
 */
export function documentQuerySql(table: string, collection: string, query: DocumentQuery): PageSql {
  const operation = 'listDocuments'
  const { page, limit } = checkPage(operation, query)
  sortColumn(operation, { sort_by: query.sort_by ?? 'id' }, { id: 'id' })
  const order = sortOrder(operation, query, 'asc')
  const params: unknown[] = [collection]
  const where = ['collection = $1']
  const equal: JsonObject = {}
  for (const [field, value] of Object.entries(query.where ?? {})) {
    const scalar =
      value === null ||
      typeof value === 'string' ||
      typeof value === 'boolean' ||
      (typeof value === 'number' && Number.isFinite(value))
    if (!scalar) {
      throw new InvalidRequestError(
        `${operation}: where.${field} must be a string, a finite number, a boolean or null, got ${JSON.stringify(value) ?? String(value)}`,
      )
    }
    equal[field] = value
  }
  if (Object.keys(equal).length > 0) {
    params.push(JSON.stringify(equal))
    where.push(`doc @> $${params.length}::jsonb`)
  }
  const from = `FROM ${table} WHERE ${where.join(' AND ')}`
  return {
    count: `SELECT count(*)::int AS total ${from}`,
    rows: `SELECT doc ${from} ORDER BY id ${order} LIMIT ${limit} OFFSET ${(page - 1) * limit}`,
    params,
    page,
    limit,
  }
}
