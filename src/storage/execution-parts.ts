/**
 * An execution record as the stores keep it: the part written once, at insert (store.ts's immutability
 * rule), the definition, and the state every upsert rewrites.
 */
import type { ExecutionRecord, JsonObject } from '../core/model.ts'

/** Lease a fenced batch gives the executions it inserts, when the fence names none. */
export const DEFAULT_LEASE_MS = 30_000

/** Written once, on insert, with the definition; every other field is the execution's state. */
export const FIXED_EXECUTION_FIELDS: ReadonlySet<string> = new Set([
  'execution_id',
  'input',
  'execution_options',
  'parent',
  'restored_from_checkpoint',
  'idempotency_key',
  'created_at',
])

/** The mutable part of a record: everything but the fixed fields and the definition. */
export function executionState(record: ExecutionRecord): JsonObject {
  const state: JsonObject = {}
  for (const key in record) {
    if (key === 'definition' || FIXED_EXECUTION_FIELDS.has(key)) continue
    const value = (record as unknown as JsonObject)[key]
    if (value !== undefined) state[key] = value
  }
  return state
}

/** The immutable part, without the definition (stored on its own). */
export function executionFixed(record: ExecutionRecord): JsonObject {
  const fixed: JsonObject = {}
  for (const key of FIXED_EXECUTION_FIELDS) {
    const value = (record as unknown as JsonObject)[key]
    if (value !== undefined) fixed[key] = value
  }
  return fixed
}

/** Rebuilds a record from its parts; without a definition it is an execution summary. */
export function joinExecution(
  fixed: JsonObject,
  state: JsonObject,
  definition?: JsonObject,
): ExecutionRecord {
  const record = { ...fixed, ...state } as unknown as ExecutionRecord
  if (definition !== undefined) record.definition = definition as unknown as ExecutionRecord['definition']
  return record
}
