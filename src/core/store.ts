/**
 * The persistence port the engine needs. Adapters (src/storage) implement it: memory, file, SQLite, and
 * PostgreSQL, which several Harmonia nodes share. One contract suite (test/storage/contract.ts) runs
 * against every adapter.
 *
 * Rules every adapter keeps:
 * - `commit` applies its whole batch atomically (all or nothing) and durably before it resolves; the engine
 *   announces nothing before the commit that records it.
 * - An execution's `definition`, `input`, `execution_options`, `parent`, `idempotency_key`,
 *   `restored_from_checkpoint` and `created_at` never change after insert: adapters write them when the row
 *   is first inserted and neither serialize nor write them on later upserts (large definitions stay cheap).
 * - Returned records are copies: mutating them never changes what is stored.
 * - Pages are 1-based; `total` counts every match, not just the page.
 */
import type { ExecutionEvent } from './events.ts'
import type {
  CheckpointRecord,
  ExecutionRecord,
  ExecutionStatus,
  JsonObject,
  TaskState,
  WorkflowRecord,
} from './model.ts'

export interface Page<T> {
  items: T[]
  total: number
  page: number
  limit: number
}

export interface ListQuery {
  /** 1-based. Default 1. */
  page?: number
  /** Default 20. */
  limit?: number
  sort_by?: string
  sort_order?: 'asc' | 'desc'
}

export interface WorkflowQuery extends ListQuery {
  /** Case-insensitive substring of the name or description. */
  search?: string
  /** Include workflows whose latest revision is a draft. Default true. */
  include_drafts?: boolean
}

export interface ExecutionQuery extends ListQuery {
  workflow_id?: string
  status?: ExecutionStatus | ExecutionStatus[]
  parent_execution_id?: string
  /** ISO timestamps, inclusive. */
  created_after?: string
  created_before?: string
}

/**
 * Which finished executions `deleteExecutions` removes: all of `execution_ids` (when given) that finished
 * before `finished_before` (when given), oldest first, at most `limit`.
 */
export interface ExecutionDeletion {
  execution_ids?: string[]
  /** ISO timestamp, exclusive: executions whose `completed_at` is earlier. */
  finished_before?: string
  limit: number
}

/** An execution as listed: everything but the (possibly large) definition. */
export type ExecutionSummary = Omit<ExecutionRecord, 'definition'>

export interface DocumentWrite {
  collection: string
  id: string
  /** `null` deletes the document. */
  doc: JsonObject | null
}

export interface WriteBatch {
  /** Upserts by `execution_id` (see the immutability rule above). */
  executions?: ExecutionRecord[]
  /** Upserts by (`execution_id`, `task`, `item_index`). */
  tasks?: TaskState[]
  /** Appends. The store assigns each a global increasing `id` (and sets it on the object passed in). */
  events?: ExecutionEvent[]
  /** Upserts or deletes generic documents in the same transaction (outbox rows, for instance). */
  documents?: DocumentWrite[]
  /**
   * The batch applies only while `node_id` holds the lease of every listed execution that already exists;
   * otherwise nothing is written and `commit` rejects with LeaseLostError (a node's late result is discarded,
   * never applied twice). Listed executions that this same batch inserts are claimed by `node_id` for
   * `lease_ms` (default 30 000) as part of the insert, so a starting node owns its new executions at once.
   */
  fence?: { node_id: string; execution_ids: string[]; lease_ms?: number }
}

export interface DocumentQuery extends ListQuery {
  /** Equality on top-level fields of the document. */
  where?: Record<string, string | number | boolean | null>
}

export interface StoreHealth {
  ok: boolean
  detail?: string
}

export type StoreKind = 'memory' | 'file' | 'sqlite' | 'postgres'

export interface Store {
  readonly kind: StoreKind
  /** Opens, migrates. Idempotent. */
  init(): Promise<void>
  close(): Promise<void>
  health(): Promise<StoreHealth>

  // Workflows: every save adds a revision; the latest revision is the workflow.
  saveWorkflow(record: WorkflowRecord): Promise<void>
  /** The latest revision, or the given one. */
  getWorkflow(workflowId: string, revision?: number): Promise<WorkflowRecord | undefined>
  listWorkflowRevisions(workflowId: string): Promise<WorkflowRecord[]>
  /** Latest revision of each workflow. Sort by `created_at` (default), `updated_at` or `name`. */
  listWorkflows(query: WorkflowQuery): Promise<Page<WorkflowRecord>>
  /** Deletes every revision. False when there was none. */
  deleteWorkflow(workflowId: string): Promise<boolean>

  // Executions, task states and events.
  commit(batch: WriteBatch): Promise<void>
  getExecution(executionId: string): Promise<ExecutionRecord | undefined>
  findExecutionByIdempotencyKey(key: string): Promise<ExecutionRecord | undefined>
  /** Sort by `created_at` (default), `updated_at`, `started_at`, `completed_at` or `status`. */
  listExecutions(query: ExecutionQuery): Promise<Page<ExecutionSummary>>
  /**
   * Removes finished executions (completed, failed, cancelled) with their task states, events and
   * checkpoints, in one transaction; one a node holds a live lease on (a rerun starting) is left alone.
   * Returns the ids removed. History retention and `DELETE /executions/{id}` use it.
   */
  deleteExecutions(query: ExecutionDeletion): Promise<string[]>
  /** Every state of the execution: task rows and for_each item rows, ordered by task, then item_index. */
  getTaskStates(executionId: string): Promise<TaskState[]>
  /** Events of one execution with `seq` > afterSeq, in order. */
  listEvents(executionId: string, afterSeq: number, limit: number): Promise<ExecutionEvent[]>
  /** The id of the newest persisted event (0 when there is none); where event relays start. */
  lastEventId?(): Promise<number>
  /** Events of all executions with `id` > afterId, in id order. */
  listAllEvents(afterId: number, limit: number, filter?: { workflow_id?: string }): Promise<ExecutionEvent[]>

  // Checkpoints.
  saveCheckpoint(checkpoint: CheckpointRecord): Promise<void>
  getCheckpoint(checkpointId: string): Promise<CheckpointRecord | undefined>
  listCheckpoints(executionId: string): Promise<CheckpointRecord[]>

  // Execution ownership by lease (several nodes on one PostgreSQL; one node on the embedded stores).
  /**
   * Takes up to `limit` unfinished executions (pending, running or paused) that no other node holds a live
   * lease on, or that `nodeId` already holds; sets their lease to now + leaseMs. Returns their ids.
   */
  claimExecutions(nodeId: string, leaseMs: number, limit: number): Promise<string[]>
  /**
   * Takes one execution, finished or not (a rerun claims a failed one), unless another node holds a live
   * lease on it. True when `nodeId` now holds it.
   */
  claimExecution(nodeId: string, executionId: string, leaseMs: number): Promise<boolean>
  /** Extends the leases `nodeId` still holds among `executionIds`; returns those ids. */
  renewLeases(nodeId: string, executionIds: string[], leaseMs: number): Promise<string[]>
  releaseExecution(nodeId: string, executionId: string): Promise<void>

  // Generic documents: templates, webhooks, schedules, subscriptions, deliveries, components.
  putDocument(collection: string, id: string, doc: JsonObject): Promise<void>
  getDocument(collection: string, id: string): Promise<JsonObject | undefined>
  listDocuments(collection: string, query?: DocumentQuery): Promise<Page<JsonObject>>
  deleteDocument(collection: string, id: string): Promise<boolean>
  /**
   * Records `key` in `scope` once: true the first time, false ever after (until `ttlMs`, when given, has
   * passed). Deduplicates schedule slots, webhook deliveries and child-execution starts across nodes.
   */
  markOnce(scope: string, key: string, ttlMs?: number): Promise<boolean>

  /**
   * Cluster wake-ups (PostgreSQL LISTEN/NOTIFY). Embedded stores deliver to listeners in the same process.
   * Channels: 'executions' (work is ready), 'events' (payload: the event id), or any a subsystem picks.
   */
  notify(channel: string, payload: string): Promise<void>
  listen(channel: string, listener: (payload: string) => void): () => void
}
