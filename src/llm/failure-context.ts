/**
 * What is known about a failed execution, gathered for a diagnosis: which task failed first (and which
 * `for_each` item), its resolved input, its error and attempts, the outputs of the tasks it reads or waits
 * for, and the definition. Values are trimmed and secrets redacted (redaction.ts) before anything leaves:
 * `promptView` is what a model or an API answer sees.
 */
import type { ExecutionDetail } from '../core/engine-api.ts'
import {
  TASK_ROW,
  type ExecutionError,
  type JsonObject,
  type JsonValue,
  type TaskDefinition,
  type TaskError,
  type TaskState,
  type TaskStatus,
  type WorkflowDefinition,
} from '../core/model.ts'
import { redactAndTrim, redactSecrets } from './redaction.ts'

export interface FailedTask {
  name: string
  /** The failed `for_each` item, when the task fanned out. */
  itemIndex?: number
  definition: TaskDefinition
  /** The input the task was invoked with (redacted, trimmed); absent when it could not be resolved. */
  input?: JsonValue
  error: TaskError
  attempts: number
  /** For a `for_each` task: items in the list, and how many failed. */
  itemCount?: number
  failedItems?: number
}

export interface UpstreamTask {
  status: TaskStatus
  /** Redacted, trimmed. */
  output?: JsonValue
  error?: TaskError
}

export interface FailureContext {
  executionId: string
  workflowId: string
  workflowName: string
  status: ExecutionDetail['execution']['status']
  /** The definition the execution ran, as stored (patches are computed against it; never shown as is). */
  definition: WorkflowDefinition
  failedTask?: FailedTask
  executionError?: ExecutionError
  /** Tasks the failed task depends on or reads, with their outcome. */
  upstream: Record<string, UpstreamTask>
  /** Other tasks that failed (besides the one examined). */
  otherFailedTasks: string[]
  /** The execution's input (redacted, trimmed). */
  workflowInput: JsonValue
}

/** Finds the first failure of an execution and gathers what explains it. */
export function buildFailureContext(detail: ExecutionDetail): FailureContext {
  const { execution } = detail
  const definition = execution.definition
  const rows = new Map<string, TaskState>()
  const items = new Map<string, TaskState[]>()
  for (const state of detail.tasks) {
    if (state.item_index === TASK_ROW) rows.set(state.task, state)
    else {
      let list = items.get(state.task)
      if (list === undefined) items.set(state.task, (list = []))
      list.push(state)
    }
  }
  const failed = [...rows.values()]
    .filter((state) => state.status === 'failed')
    .sort((a, b) => (a.completed_at ?? '').localeCompare(b.completed_at ?? ''))
  const named = execution.error?.task
  const first = failed.find((state) => state.task === named) ?? failed[0]
  const context: FailureContext = {
    executionId: execution.execution_id,
    workflowId: execution.workflow_id,
    workflowName: execution.workflow_name,
    status: execution.status,
    definition,
    upstream: {},
    otherFailedTasks: failed.filter((state) => state !== first).map((state) => state.task),
    workflowInput: redactAndTrim(execution.input),
    ...(execution.error === undefined ? {} : { executionError: execution.error }),
  }
  if (first === undefined) return context

  const taskDefinition = definition.tasks[first.task] ?? {
    name: first.task,
    component: 'unknown',
    action: 'unknown',
  }
  const itemRows = items.get(first.task) ?? []
  const failedItems = itemRows.filter((state) => state.status === 'failed')
  const item = failedItems.sort((a, b) => a.item_index - b.item_index)[0]
  const source = item ?? first
  const error: TaskError = source.error ??
    first.error ?? {
      code: 'TASK_ERROR',
      message: 'the task failed without an error record',
      retriable: false,
    }
  context.failedTask = {
    name: first.task,
    ...(item === undefined ? {} : { itemIndex: item.item_index }),
    definition: taskDefinition,
    ...(source.input === undefined ? {} : { input: redactAndTrim(source.input) }),
    error: redactAndTrim(error as unknown as JsonValue) as unknown as TaskError,
    attempts: source.attempts,
    ...(first.item_count === undefined
      ? {}
      : { itemCount: first.item_count, failedItems: failedItems.length }),
  }

  for (const name of upstreamNames(taskDefinition)) {
    const state = rows.get(name)
    if (state === undefined) continue
    context.upstream[name] = {
      status: state.status,
      ...(state.output === undefined ? {} : { output: redactAndTrim(state.output) }),
      ...(state.error === undefined ? {} : { error: state.error }),
    }
  }
  return context
}

/** The tasks a task waits for (depends_on) and reads (`tasks.x` or `tasks["x"]` in its expressions). */
export function upstreamNames(task: TaskDefinition): string[] {
  const names = new Set<string>(Array.isArray(task.depends_on) ? task.depends_on : [])
  const text = JSON.stringify([task.input ?? null, task.when ?? null, task.for_each ?? null])
  for (const match of text.matchAll(
    /tasks\s*(?:\.\s*([A-Za-z_][A-Za-z0-9_]*)|\[\s*\\?["']([^"'\\]+)\\?["']\s*\])/g,
  )) {
    names.add(match[1] ?? match[2]!)
  }
  names.delete(task.name)
  return [...names]
}

/** The context as a model or an API answer may see it: snake_case, redacted, trimmed. */
export function promptView(context: FailureContext): JsonObject {
  const failed = context.failedTask
  return {
    execution_id: context.executionId,
    workflow_id: context.workflowId,
    workflow_name: context.workflowName,
    status: context.status,
    execution_error: (context.executionError ?? null) as JsonValue,
    workflow_input: context.workflowInput,
    failed_task:
      failed === undefined
        ? null
        : {
            name: failed.name,
            ...(failed.itemIndex === undefined ? {} : { item_index: failed.itemIndex }),
            component: failed.definition.component,
            action: failed.definition.action,
            definition: redactSecrets(failed.definition as unknown as JsonValue),
            resolved_input: failed.input ?? null,
            error: failed.error as unknown as JsonValue,
            attempts: failed.attempts,
            ...(failed.itemCount === undefined
              ? {}
              : { item_count: failed.itemCount, failed_items: failed.failedItems ?? 0 }),
          },
    upstream: context.upstream as unknown as JsonValue,
    other_failed_tasks: context.otherFailedTasks,
  }
}
