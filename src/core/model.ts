/**
 * The workflow model: the wire shapes of definitions and the records the engine persists.
 *
 * Terminology
 * - workflow:   a named, versioned definition: tasks keyed by name, an input schema and an output mapping.
 * - task:       one step of a workflow; it calls `component` + `action` with an `input` that may hold
 *               `${...}` expressions, after the tasks named in `depends_on`.
 * - execution:  one run of one version of a workflow with a given input.
 * - attempt:    one invocation of a task (or of one `for_each` item); retries add attempts.
 * - checkpoint: a snapshot of an execution's task states and outputs, from which a new execution can start.
 * - template:   a parameterized workflow from which workflows are instantiated.
 * - trigger:    what starts an execution from outside: webhook, schedule, event.
 * - component:  a service (built-in or remote) that offers named actions.
 * - action:     one operation of a component, with an input and output schema.
 *
 * Wire shapes (definitions, API bodies, events) use Tekton's snake_case; code uses camelCase for its own
 * variables only.
 */

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue }
export type JsonObject = { [key: string]: JsonValue }

export const ExecutionStatus = {
  pending: 'pending',
  running: 'running',
  paused: 'paused',
  completed: 'completed',
  failed: 'failed',
  cancelled: 'cancelled',
} as const
export type ExecutionStatus = (typeof ExecutionStatus)[keyof typeof ExecutionStatus]

export const TaskStatus = {
  pending: 'pending',
  running: 'running',
  /** Failed an attempt and waits (durably) for the next one. */
  retrying: 'retrying',
  completed: 'completed',
  failed: 'failed',
  skipped: 'skipped',
  cancelled: 'cancelled',
} as const
export type TaskStatus = (typeof TaskStatus)[keyof typeof TaskStatus]

export const FINISHED_EXECUTION_STATUSES: ReadonlySet<ExecutionStatus> = new Set([
  'completed',
  'failed',
  'cancelled',
])
export const FINISHED_TASK_STATUSES: ReadonlySet<TaskStatus> = new Set([
  'completed',
  'failed',
  'skipped',
  'cancelled',
])

export const OnFailure = { fail: 'fail', continue: 'continue' } as const
export type OnFailure = (typeof OnFailure)[keyof typeof OnFailure]

/**
 * When a task runs, given its dependencies' final statuses.
 * - `none_failed_min_one_success` (default): no dependency failed (tolerated failures of `on_failure: continue`
 *   tasks count as done) and at least one completed; a task whose dependencies were all skipped is skipped.
 * - `all_success`: every dependency completed; any skipped dependency skips the task.
 * - `all_done`: runs once every dependency is finished, whatever its status.
 */
export const TriggerRule = {
  none_failed_min_one_success: 'none_failed_min_one_success',
  all_success: 'all_success',
  all_done: 'all_done',
} as const
export type TriggerRule = (typeof TriggerRule)[keyof typeof TriggerRule]

/** Long form of a retry policy, as in Tekton's documents. */
export interface RetryPolicySpec {
  /** Total attempts, the first included. */
  max_attempts?: number
  initial_delay_ms?: number
  backoff_factor?: number
  max_delay_ms?: number
  /** Error codes that may be retried; when absent, the error's own `retriable` flag decides. */
  retriable_errors?: string[]
  /** 0..1: the share of each delay drawn at random (full jitter when 1). Default 0.2. */
  jitter?: number
}

export interface TaskDefinition {
  /** The key in `tasks`; a display name may differ in imported files, see `title`. */
  name: string
  title?: string
  description?: string
  component: string
  action: string
  input?: JsonValue
  depends_on?: string[]
  /** Seconds. */
  timeout?: number
  /** A number of retries (short form) or a policy. */
  retry?: number | RetryPolicySpec
  when?: string
  for_each?: string | JsonValue[]
  /** Items of a `for_each` run at once. */
  concurrency?: number
  on_failure?: OnFailure
  trigger_rule?: TriggerRule
  metadata?: JsonObject
}

/** JSON Schema of the workflow input, as a full schema or as Tekton's map of properties. */
export type InputSchema = JsonObject

export interface WorkflowDefinition {
  name: string
  description?: string
  version?: string
  tasks: Record<string, TaskDefinition>
  /** Tekton's map of input properties (`{x: {type, default, ...}}`). */
  input?: Record<string, JsonObject>
  /** A full JSON Schema for the input (wins over `input` when both are given). */
  input_schema?: InputSchema
  /** JSON Schema the output is checked against. */
  output_schema?: JsonObject
  /** Output mapping: values may hold expressions over `tasks` and `workflow.input`. */
  output?: JsonObject
  on_failure?: OnFailure
  /** Seconds for the whole execution. */
  timeout?: number
  /** Executions of this workflow that may run tasks at once (default from config). */
  concurrency?: number
  metadata?: JsonObject
}

export interface WorkflowRecord {
  workflow_id: string
  /** Incremented on every published change. */
  revision: number
  definition: WorkflowDefinition
  status: 'published' | 'draft'
  created_at: string
  updated_at: string
}

export interface TaskError {
  code: string
  message: string
  retriable: boolean
  details?: JsonValue
}

export interface ExecutionError {
  code: string
  message: string
  task?: string
  details?: JsonValue
}

/** The persisted state of one task (item_index -1) or of one `for_each` item (item_index >= 0). */
export interface TaskState {
  execution_id: string
  task: string
  item_index: number
  status: TaskStatus
  /** Attempts made so far (the running one included). */
  attempts: number
  input?: JsonValue
  output?: JsonValue
  error?: TaskError
  started_at?: string
  completed_at?: string
  /** When a `retrying` task (or item) becomes due. */
  next_attempt_at?: string
  /** For a `for_each` task: how many items the list had. */
  item_count?: number
}

export interface ExecutionOptions {
  /** Seconds for the whole execution. */
  timeout?: number
  /** Default retry policy for tasks that have none. */
  retry_policy?: { max_retries?: number; retry_interval?: number }
  async?: boolean
  [key: string]: JsonValue | undefined
}

export interface ExecutionRecord {
  execution_id: string
  workflow_id: string
  workflow_revision: number
  workflow_name: string
  /** The definition the execution runs, frozen at start. */
  definition: WorkflowDefinition
  status: ExecutionStatus
  input: JsonObject
  output?: JsonValue
  error?: ExecutionError
  execution_options: ExecutionOptions
  created_at: string
  updated_at: string
  started_at?: string
  completed_at?: string
  completed_tasks: number
  total_tasks: number
  /** Sequence number of the last persisted event of this execution. */
  last_event_seq: number
  parent?: { execution_id: string; task: string; item_index: number }
  restored_from_checkpoint?: string
  /** A caller-chosen key that makes starting this execution idempotent. */
  idempotency_key?: string
  /** Set when a later status change is asked for but not yet applied (`cancelling`, `pausing`). */
  requested?: 'cancel' | 'pause'
}

export interface CheckpointRecord {
  checkpoint_id: string
  execution_id: string
  workflow_id: string
  name: string
  description?: string
  created_at: string
  task_states: TaskState[]
}

/** Item index of a task's own state (as opposed to one of its `for_each` items). */
export const TASK_ROW = -1

/**
 * How deep JSON values the engine takes in may nest (an execution's input, a task's output). Deeper ones
 * are refused with a clear error instead of overflowing the stack in a copy or a serializer.
 */
export const MAX_JSON_DEPTH = 200

/** The first path (`a.b[0]`) at which `value` nests deeper than `max`, or undefined when it does not. */
export function tooDeepAt(value: unknown, max: number = MAX_JSON_DEPTH): string | undefined {
  const stack: Array<[unknown, number, string]> = [[value, 0, '']]
  while (stack.length > 0) {
    const [node, depth, path] = stack.pop()!
    if (node === null || typeof node !== 'object') continue
    if (depth >= max) return path === '' ? '(top)' : path
    if (Array.isArray(node)) {
      for (let i = 0; i < node.length; i++) stack.push([node[i], depth + 1, `${path}[${i}]`])
    } else {
      for (const [key, child] of Object.entries(node))
        stack.push([child, depth + 1, path === '' ? key : `${path}.${key}`])
    }
  }
  return undefined
}
