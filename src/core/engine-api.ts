/**
 * The engine's public surface, which the CLI, the API, triggers and the MCP server drive.
 * `createEngine` (engine.ts) implements it.
 */
import type { EventBus, ExecutionEvent } from './events.ts'
import type { DocumentWrite } from './store.ts'
import type {
  CheckpointRecord,
  ExecutionOptions,
  ExecutionRecord,
  ExecutionStatus,
  JsonObject,
  TaskState,
  WorkflowDefinition,
} from './model.ts'

export interface StartExecutionRequest {
  /** A saved workflow (latest revision unless `revision` is given)... */
  workflow_id?: string
  revision?: number
  /** ...or an inline definition, run without being saved (its workflow_id is `inline:<name>`). */
  workflow?: WorkflowDefinition
  input?: JsonObject
  execution_options?: ExecutionOptions
  /** Starting twice with the same key returns the first execution. */
  idempotency_key?: string
  parent?: { execution_id: string; task: string; item_index: number }
}

export interface ExecutionDetail {
  execution: ExecutionRecord
  /** Task rows and for_each item rows. */
  tasks: TaskState[]
  /** Tasks running now (names). */
  current_tasks: string[]
}

export interface Engine {
  readonly bus: EventBus
  readonly nodeId: string
  /** Recovers unfinished executions this node can claim, then runs. */
  start(): Promise<void>
  /** Stops starting tasks; waits up to `graceMs` for running ones to reach a persisted point; aborts the rest. */
  stop(options?: { graceMs?: number }): Promise<void>

  /** Validates the input and persists the execution before it resolves; tasks run in the background. */
  startExecution(request: StartExecutionRequest): Promise<ExecutionRecord>
  getExecution(executionId: string): Promise<ExecutionDetail>
  /** Resolves when the execution is finished (completed, failed or cancelled), or rejects on timeout. */
  waitForExecution(executionId: string, options?: { timeoutMs?: number }): Promise<ExecutionRecord>

  cancel(executionId: string, reason?: string): Promise<ExecutionRecord>
  pause(executionId: string): Promise<ExecutionRecord>
  resume(executionId: string): Promise<ExecutionRecord>
  /** Runs a failed or cancelled execution again from its unfinished tasks, keeping completed outputs. */
  rerun(executionId: string): Promise<ExecutionRecord>
  checkpoint(executionId: string, options: { name?: string; description?: string }): Promise<CheckpointRecord>
  /**
   * Deletes a finished execution with its task states, events and checkpoints. A 409 `conflict` while it
   * runs or a rerun holds it.
   */
  deleteExecution(executionId: string): Promise<void>
  /**
   * Deletes every finished execution that finished before `finishedBefore` (ISO), in batches (one
   * transaction each); returns how many. Executions being rerun are kept. An abort stops after the batch.
   */
  pruneExecutions(options: {
    finishedBefore: string
    batchSize?: number
    signal?: AbortSignal
  }): Promise<number>
  /** A new execution that starts from the checkpoint; tasks completed there are not run again. */
  restore(checkpointId: string, options?: { execution_options?: ExecutionOptions }): Promise<ExecutionRecord>

  /**
   * Adds writes (documents) to the same transaction as each persisted event: the outbox of outbound
   * notifications uses it, so a delivery row exists if and only if its event does. Returns the remover.
   */
  addEventWriteHook(hook: (event: ExecutionEvent) => DocumentWrite[]): () => void

  /** True while this node runs the execution (it holds its lease). */
  hosts(executionId: string): boolean

  /** Running executions on this node and tasks running now (for metrics and health). */
  stats(): {
    running_executions: number
    running_tasks: number
    by_status?: Partial<Record<ExecutionStatus, number>>
  }
}
