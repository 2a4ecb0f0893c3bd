/**
 * What the embedded stores check in their input before writing anything: rows must carry what the store
 * keys them by. Bad input is refused with an InvalidRequestError naming the operation, the row and the
 * field. Cheap (type checks only): `checkBatch` runs on the engine's hot path.
 */
import { InvalidRequestError } from '../core/errors.ts'
import type { CheckpointRecord, WorkflowRecord } from '../core/model.ts'
import type { WriteBatch } from '../core/store.ts'
import { checkCount, describe } from './list-query.ts'

export function checkBatch(batch: WriteBatch): void {
  if (typeof batch !== 'object' || batch === null) {
    throw new InvalidRequestError(`commit: the batch must be an object, got ${describe(batch)}`)
  }
  const executions = list(batch.executions, 'executions')
  for (let i = 0; i < executions.length; i++) {
    const record = executions[i]!
    text(record, 'execution_id', `executions[${i}]`)
    text(record, 'workflow_id', `executions[${i}]`, true)
    text(record, 'status', `executions[${i}]`)
    text(record, 'created_at', `executions[${i}]`)
    text(record, 'updated_at', `executions[${i}]`)
    if (typeof record.definition !== 'object' || record.definition === null) {
      throw new InvalidRequestError(
        `commit: executions[${i}] ('${record.execution_id}'): definition must be an object, got ${describe(record.definition)}`,
      )
    }
  }
  const tasks = list(batch.tasks, 'tasks')
  for (let i = 0; i < tasks.length; i++) {
    const state = tasks[i]!
    text(state, 'execution_id', `tasks[${i}]`)
    text(state, 'task', `tasks[${i}]`)
    text(state, 'status', `tasks[${i}]`)
    if (!Number.isSafeInteger(state.item_index) || state.item_index < -1) {
      throw new InvalidRequestError(
        `commit: tasks[${i}].item_index must be an integer >= -1 (-1 for the task's own row), got ${describe(state.item_index)}`,
      )
    }
  }
  const events = list(batch.events, 'events')
  for (let i = 0; i < events.length; i++) {
    const event = events[i]!
    text(event, 'execution_id', `events[${i}]`)
    text(event, 'workflow_id', `events[${i}]`, true)
    text(event, 'type', `events[${i}]`)
    text(event, 'timestamp', `events[${i}]`)
    if (!Number.isSafeInteger(event.seq) || event.seq < 1) {
      throw new InvalidRequestError(
        `commit: events[${i}].seq must be an integer >= 1, got ${describe(event.seq)}`,
      )
    }
  }
  const documents = list(batch.documents, 'documents')
  for (let i = 0; i < documents.length; i++) {
    const write = documents[i]!
    text(write, 'collection', `documents[${i}]`)
    text(write, 'id', `documents[${i}]`)
    if (write.doc !== null) checkDocument(`commit: documents[${i}].doc`, write.doc)
  }
  const fence = batch.fence
  if (fence !== undefined) {
    if (typeof fence !== 'object' || fence === null) {
      throw new InvalidRequestError(`commit: fence must be an object, got ${describe(fence)}`)
    }
    text(fence, 'node_id', 'fence')
    const ids = list(fence.execution_ids, 'fence.execution_ids')
    for (let i = 0; i < ids.length; i++) {
      if (typeof ids[i] !== 'string') {
        throw new InvalidRequestError(
          `commit: fence.execution_ids[${i}] must be a string, got ${describe(ids[i])}`,
        )
      }
    }
    const leaseMs = fence.lease_ms
    if (leaseMs !== undefined && (typeof leaseMs !== 'number' || !Number.isFinite(leaseMs) || leaseMs < 0)) {
      throw new InvalidRequestError(
        `commit: fence.lease_ms must be a finite number >= 0, got ${describe(leaseMs)}`,
      )
    }
  }
}

/** A document is a JSON object (not an array, not null). */
export function checkDocument(where: string, doc: unknown): void {
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) {
    throw new InvalidRequestError(`${where} must be a JSON object, got ${describe(doc)}`)
  }
}

export function checkCollection(operation: string, collection: unknown): void {
  if (typeof collection !== 'string' || collection === '') {
    throw new InvalidRequestError(
      `${operation}: collection must be a non-empty string, got ${describe(collection)}`,
    )
  }
}

/** Collection and id of a document: non-empty strings. */
export function checkDocumentKey(operation: string, collection: unknown, id: unknown): void {
  checkCollection(operation, collection)
  if (typeof id !== 'string' || id === '') {
    throw new InvalidRequestError(`${operation}: id must be a non-empty string, got ${describe(id)}`)
  }
}

function list<T>(value: T[] | undefined, field: string): readonly T[] {
  if (value === undefined) return []
  if (!Array.isArray(value))
    throw new InvalidRequestError(`commit: ${field} must be an array, got ${describe(value)}`)
  return value
}

function text(row: object, field: string, where: string, emptyAllowed = false): void {
  if (typeof row !== 'object' || row === null) {
    throw new InvalidRequestError(`commit: ${where} must be an object, got ${describe(row)}`)
  }
  const value = (row as Record<string, unknown>)[field]
  if (typeof value !== 'string' || (!emptyAllowed && value === '')) {
    throw new InvalidRequestError(
      `commit: ${where}.${field} must be a ${emptyAllowed ? '' : 'non-empty '}string, got ${describe(value)}`,
    )
  }
}

export function checkWorkflow(record: WorkflowRecord): void {
  if (typeof record !== 'object' || record === null) {
    throw new InvalidRequestError(`saveWorkflow: the record must be an object, got ${describe(record)}`)
  }
  if (typeof record.workflow_id !== 'string' || record.workflow_id === '') {
    throw new InvalidRequestError(
      `saveWorkflow: workflow_id must be a non-empty string, got ${describe(record.workflow_id)}`,
    )
  }
  if (!Number.isSafeInteger(record.revision) || record.revision < 1) {
    throw new InvalidRequestError(
      `saveWorkflow: workflow '${record.workflow_id}': revision must be an integer >= 1, got ${describe(record.revision)}`,
    )
  }
  if (typeof record.definition !== 'object' || record.definition === null) {
    throw new InvalidRequestError(
      `saveWorkflow: workflow '${record.workflow_id}': definition must be an object, got ${describe(record.definition)}`,
    )
  }
}

export function checkCheckpoint(checkpoint: CheckpointRecord): void {
  for (const field of ['checkpoint_id', 'execution_id', 'created_at'] as const) {
    if (typeof checkpoint?.[field] !== 'string' || checkpoint[field] === '') {
      throw new InvalidRequestError(
        `saveCheckpoint: ${field} must be a non-empty string, got ${describe(checkpoint?.[field])}`,
      )
    }
  }
}

export function checkMark(scope: unknown, key: unknown, ttlMs: unknown): void {
  if (typeof scope !== 'string' || scope === '') {
    throw new InvalidRequestError(`markOnce: scope must be a non-empty string, got ${describe(scope)}`)
  }
  if (typeof key !== 'string') {
    throw new InvalidRequestError(`markOnce: key must be a string, got ${describe(key)}`)
  }
  if (ttlMs !== undefined) checkCount('markOnce', 'ttlMs', ttlMs)
}
