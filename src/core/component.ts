/**
 * What the engine needs from components: find an action by component and action name, describe it for
 * validation and for the API, and invoke it with a task context. The registry and the built-in and remote
 * components live in src/components.
 */
import type { Logger } from './logger.ts'
import type { JsonObject, JsonValue, WorkflowDefinition } from './model.ts'

export interface ActionDescriptor {
  name: string
  description?: string
  input_schema?: JsonObject
  output_schema?: JsonObject
}

export interface ComponentDescriptor {
  name: string
  description?: string
  kind: 'builtin' | 'remote'
  /** Remote components: where they are called. */
  base_url?: string
  actions: ActionDescriptor[]
  health?: {
    status: 'healthy' | 'unhealthy' | 'unknown'
    circuit?: 'closed' | 'open' | 'half_open'
    detail?: string
  }
}

/** A request to run a child workflow from inside a task (the `workflow.run` action). */
export interface ChildWorkflowRequest {
  workflow_id?: string
  /** Inline definition instead of `workflow_id`. */
  workflow?: WorkflowDefinition
  revision?: number
  input?: JsonObject
}

export interface TaskContext {
  executionId: string
  workflowId: string
  task: string
  /** Set for a `for_each` item. */
  itemIndex?: number
  /** 1 for the first attempt. */
  attempt: number
  /** `<execution_id>:<task>[:<item_index>]`, the same on every attempt and after a restart. */
  idempotencyKey: string
  /** Aborted on timeout and on cancel; components pass it to their I/O. */
  signal: AbortSignal
  /** When this attempt first started, in ms since the epoch; survives restarts (durable delays use it). */
  attemptStartedAtMs: number
  /** Reports progress (0..1) as a `task_progress` event. */
  progress(fraction: number, message?: string): void
  log: Logger
  /** Starts the child execution once (idempotent across retries and restarts) and waits for its output. */
  runChildWorkflow(request: ChildWorkflowRequest): Promise<JsonValue>
}

export interface ActionHandler {
  readonly descriptor: ActionDescriptor
  invoke(input: JsonValue, context: TaskContext): Promise<JsonValue>
  /**
   * The action only waits, and its wait survives a restart (a durable delay, a signal): a stopping node
   * aborts it at once instead of giving it the grace period, and the next node to run the task waits on.
   */
  readonly resumable?: boolean
}

/** The engine's view of the component registry. */
export interface ComponentResolver {
  /** The handler of `component.action`, or undefined when there is no such component or action. */
  resolve(component: string, action: string): ActionHandler | undefined
  /** Action names of a known component, or undefined when the component is unknown. */
  actionsOf(component: string): string[] | undefined
  /**
   * Why a component that is not registered cannot be used, when the resolver knows (e.g. `shell` is
   * disabled in config), so error messages can say how to fix it.
   */
  unavailableReason?(component: string): string | undefined
}
