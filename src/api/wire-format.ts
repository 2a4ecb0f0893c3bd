/**
 * Records as the API answers them, in Tekton's documented shapes: a workflow is its definition with
 * `workflow_id`, `created_at` and `updated_at` merged in; an execution detail carries `progress` and
 * `task_status`; stream messages are `{type, timestamp, execution_id, data, seq, id}`.
 */
import type { ExecutionDetail } from '../core/engine-api.ts'
import type { ExecutionEvent } from '../core/events.ts'
import {
  TASK_ROW,
  type CheckpointRecord,
  type ExecutionRecord,
  type JsonObject,
  type JsonValue,
  type TaskState,
  type WorkflowRecord,
} from '../core/model.ts'
import type { ExecutionSummary } from '../core/store.ts'

export function workflowToWire(record: WorkflowRecord): JsonObject {
  return {
    ...(record.definition as unknown as JsonObject),
    workflow_id: record.workflow_id,
    revision: record.revision,
    status: record.status,
    created_at: record.created_at,
    updated_at: record.updated_at,
  }
}

export interface ProgressWire {
  completed_tasks: number
  total_tasks: number
  current_task: string | null
  current_tasks: string[]
  percent: number
}

function progressOf(
  record: Pick<ExecutionRecord, 'completed_tasks' | 'total_tasks'>,
  current: string[],
): ProgressWire {
  const percent =
    record.total_tasks === 0 ? 100 : Math.floor((record.completed_tasks / record.total_tasks) * 100)
  return {
    completed_tasks: record.completed_tasks,
    total_tasks: record.total_tasks,
    current_task: current[0] ?? null,
    current_tasks: current,
    percent,
  }
}

/** An execution as lists and start/rerun answers show it (no task states, no definition). */
export function executionToWire(
  record: ExecutionSummary | ExecutionRecord,
  current: string[] = [],
): JsonObject {
  const wire: JsonObject = {
    execution_id: record.execution_id,
    workflow_id: record.workflow_id,
    workflow_name: record.workflow_name,
    workflow_revision: record.workflow_revision,
    status: record.status,
    input: record.input,
    output: record.output ?? null,
    error: (record.error ?? null) as JsonValue,
    execution_options: record.execution_options as JsonObject,
    progress: progressOf(record, current) as unknown as JsonValue,
    created_at: record.created_at,
    updated_at: record.updated_at,
    started_at: record.started_at ?? null,
    completed_at: record.completed_at ?? null,
    last_event_seq: record.last_event_seq,
  }
  if (record.parent !== undefined) wire['parent'] = record.parent
  if (record.restored_from_checkpoint !== undefined) {
    wire['restored_from_checkpoint'] = record.restored_from_checkpoint
  }
  if (record.requested !== undefined) wire['requested'] = record.requested
  return wire
}

/** The answer of `GET /executions/{id}`: the execution plus `task_status` keyed by task name. */
export function executionDetailToWire(detail: ExecutionDetail): JsonObject {
  const wire = executionToWire(detail.execution, detail.current_tasks)
  wire['task_status'] = taskStatusToWire(detail.tasks)
  return wire
}

function taskToWire(state: TaskState): JsonObject {
  const wire: JsonObject = {
    status: state.status,
    started_at: state.started_at ?? null,
    completed_at: state.completed_at ?? null,
    output: state.output ?? null,
    error: (state.error ?? null) as JsonValue,
    attempts: state.attempts,
    input: state.input ?? null,
  }
  if (state.next_attempt_at !== undefined) wire['next_attempt_at'] = state.next_attempt_at
  if (state.item_count !== undefined) wire['item_count'] = state.item_count
  return wire
}

/** Task rows keyed by name; a `for_each` task lists its items (ordered by index) under `items`. */
export function taskStatusToWire(states: TaskState[]): JsonObject {
  const byTask: Record<string, JsonObject> = {}
  const items = new Map<string, JsonObject[]>()
  for (const state of states) {
    if (state.item_index === TASK_ROW) {
      byTask[state.task] = taskToWire(state)
    } else {
      let list = items.get(state.task)
      if (list === undefined) items.set(state.task, (list = []))
      list.push({ index: state.item_index, ...taskToWire(state) })
    }
  }
  for (const [task, list] of items) {
    const row = byTask[task]
    if (row === undefined) continue
    list.sort((a, b) => (a['index'] as number) - (b['index'] as number))
    row['items'] = list
  }
  return byTask
}

export function checkpointToWire(checkpoint: CheckpointRecord): JsonObject {
  return {
    checkpoint_id: checkpoint.checkpoint_id,
    execution_id: checkpoint.execution_id,
    workflow_id: checkpoint.workflow_id,
    name: checkpoint.name,
    description: checkpoint.description ?? null,
    created_at: checkpoint.created_at,
    task_states: taskStatusToWire(checkpoint.task_states),
  }
}

/** A stream message: what WebSocket and SSE clients receive, one per event. */
export interface StreamMessage {
  type: string
  timestamp: string
  execution_id?: string
  workflow_id?: string
  data: JsonValue
  seq?: number
  id?: number
}

export function eventToMessage(event: ExecutionEvent): StreamMessage {
  const message: StreamMessage = {
    type: event.type,
    timestamp: event.timestamp,
    execution_id: event.execution_id,
    workflow_id: event.workflow_id,
    data: stripUndefined(event.data),
    seq: event.seq,
  }
  if (event.id !== undefined) message.id = event.id
  return message
}

export function eventToWire(event: ExecutionEvent): JsonObject {
  return eventToMessage(event) as unknown as JsonObject
}

function stripUndefined(data: ExecutionEvent['data']): JsonObject {
  const out: JsonObject = {}
  for (const [key, value] of Object.entries(data)) if (value !== undefined) out[key] = value
  return out
}
