/**
 * A workflow definition after validation and compilation: the graph resolved, every expression parsed once,
 * retry policies and timeouts normalized. The engine runs only compiled workflows; `compileWorkflow`
 * (validate.ts) builds them and reports every problem at once.
 */
import type {
  JsonObject,
  JsonValue,
  OnFailure,
  TaskDefinition,
  TaskError,
  TaskStatus,
  TriggerRule,
  WorkflowDefinition,
} from './model.ts'

/** The names an expression can read. The engine keeps one scope per execution and mutates `tasks` in place. */
export interface ExpressionScope {
  workflow: { input: JsonObject; id: string; name: string; version?: string }
  /** Same object as `workflow.input`. */
  input: JsonObject
  tasks: Record<string, { output?: JsonValue; status: TaskStatus; error?: TaskError }>
  execution: { id: string; workflow_id: string; started_at?: string }
  /** Tekton's `${context.x}`: execution metadata (id, workflow_id, task, attempt...). */
  context: JsonObject
  /** Only the variables on the configured allow-list. */
  env: Record<string, string>
  item?: JsonValue
  item_index?: number
}

/** A value that may hold `${...}` expressions anywhere inside (strings, arrays, objects). */
export interface CompiledValue {
  /** True when the value holds no expression: `evaluate` returns it as it is. */
  readonly constant: boolean
  /** Throws ExpressionError naming the task, the field and the expression. */
  evaluate(scope: ExpressionScope): JsonValue
}

export interface CompiledCondition {
  readonly source: string
  evaluate(scope: ExpressionScope): boolean
}

export interface RetryPolicy {
  /** Total attempts, the first included (1 = no retry). */
  maxAttempts: number
  initialDelayMs: number
  backoffFactor: number
  maxDelayMs: number
  /** When set, only these error codes are retried; otherwise the error's `retriable` flag decides. */
  retriableErrors?: readonly string[]
  /** 0..1, share of each delay drawn at random. */
  jitter: number
}

export interface CompiledTask {
  name: string
  definition: TaskDefinition
  dependsOn: readonly string[]
  /** Tasks that name this one in `depends_on`. */
  dependents: readonly string[]
  input: CompiledValue
  when?: CompiledCondition
  forEach?: CompiledValue
  /** Items of a for_each run at once. */
  concurrency: number
  retry: RetryPolicy
  timeoutMs?: number
  onFailure: OnFailure
  triggerRule: TriggerRule
}

export interface CompiledWorkflow {
  /** Normalized: tasks keyed by name, each with `name`, `depends_on` as given or []. */
  definition: WorkflowDefinition
  tasks: ReadonlyMap<string, CompiledTask>
  /** Topological order. */
  order: readonly string[]
  output?: CompiledValue
  /** Applies schema defaults and validates; throws ValidationError listing every problem. */
  prepareInput(input: JsonObject): JsonObject
}
