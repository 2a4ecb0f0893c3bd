/**
 * What the memory store and the file store share: the Store contract on top of an InMemoryState. Reads
 * are answered from the state; writes are checked and planned here, then handed to the store's `write*`
 * hooks, which make the change visible (the file store journals it first). Notifications stay in this
 * process (LocalNotifier).
 */
import type { ExecutionEvent } from '../core/events.ts'
import { silentLogger, type Logger } from '../core/logger.ts'
import type {
  CheckpointRecord,
  ExecutionRecord,
  JsonObject,
  TaskState,
  WorkflowRecord,
} from '../core/model.ts'
import type {
  DocumentQuery,
  DocumentWrite,
  ExecutionDeletion,
  ExecutionQuery,
  ExecutionSummary,
  Page,
  Store,
  StoreHealth,
  WorkflowQuery,
  WriteBatch,
} from '../core/store.ts'
import { copy, InMemoryState, type CommitPlan, type LeaseChange } from './in-memory-state.ts'
import {
  checkCheckpoint,
  checkCollection,
  checkDocument,
  checkDocumentKey,
  checkMark,
  checkWorkflow,
} from './input-checks.ts'
import { checkCount, checkNodeId, resolveDeletion } from './list-query.ts'
import { LocalNotifier } from './local-notifier.ts'

/** Marks are swept of expired entries every this many `markOnce` calls. */
const MARK_SWEEP_EVERY = 1000

export abstract class InMemoryStateStore implements Store {
  abstract readonly kind: 'memory' | 'file'
  #state = new InMemoryState()
  readonly #notifier: LocalNotifier
  #marksSinceSweep = 0

  /** `name` tags the notifier's log lines (`store: name`). */
  constructor(name: 'memory' | 'file', logger: Logger | undefined) {
    this.#notifier = new LocalNotifier((logger ?? silentLogger).child({ store: name }))
  }

  /** Everything the store holds; what readers see. (An accessor: the state is no property of the store.) */
  protected get state(): InMemoryState {
    return this.#state
  }

  protected set state(state: InMemoryState) {
    this.#state = state
  }

  protected get notifier(): LocalNotifier {
    return this.#notifier
  }

  abstract init(): Promise<void>
  abstract close(): Promise<void>
  abstract health(): Promise<StoreHealth>

  // Each hook gets a change that is checked and copied, and makes it visible before returning.

  /** Adds a workflow revision. */
  protected abstract writeWorkflow(record: WorkflowRecord): void
  /** Removes a stored workflow with all its revisions. */
  protected abstract writeWorkflowDeletion(workflowId: string): void
  protected abstract writeCommit(plan: CommitPlan): void
  /** Removes executions with their task states, events and checkpoints. */
  protected abstract writeExecutionDeletion(executionIds: string[]): void
  protected abstract writeCheckpoint(checkpoint: CheckpointRecord): void
  /** Never called with no changes. */
  protected abstract writeLeases(changes: LeaseChange[]): void
  /** A put, or a delete (`doc: null`) of a stored document. */
  protected abstract writeDocument(write: DocumentWrite): void
  /** Takes a mark; `expiresAtMs` is Infinity when it never expires. */
  protected abstract writeMark(scope: string, key: string, expiresAtMs: number): void

  // ----- workflows ---------------------------------------------------------------------------------------

  async saveWorkflow(record: WorkflowRecord): Promise<void> {
    checkWorkflow(record)
    this.state.checkNewRevision(record)
    this.writeWorkflow(copy(record))
  }

  async getWorkflow(workflowId: string, revision?: number): Promise<WorkflowRecord | undefined> {
    return this.state.getWorkflow(workflowId, revision)
  }

  async listWorkflowRevisions(workflowId: string): Promise<WorkflowRecord[]> {
    return this.state.listWorkflowRevisions(workflowId)
  }

  async listWorkflows(query: WorkflowQuery): Promise<Page<WorkflowRecord>> {
    return this.state.listWorkflows(query ?? {})
  }

  async deleteWorkflow(workflowId: string): Promise<boolean> {
    if (!this.state.workflows.has(workflowId)) return false
    this.writeWorkflowDeletion(workflowId)
    return true
  }

  // ----- executions, task states, events -----------------------------------------------------------------

  async commit(batch: WriteBatch): Promise<void> {
    const plan = this.state.planCommit(batch, Date.now())
    this.writeCommit(plan)
    const events = batch.events ?? []
    for (let i = 0; i < events.length; i++) events[i]!.id = plan.events[i]!.id
    const last = plan.events.at(-1)
    if (last !== undefined && this.notifier.hasListeners('events'))
      this.notifier.notify('events', String(last.id))
  }

  async deleteExecutions(query: ExecutionDeletion): Promise<string[]> {
    const deletion = resolveDeletion('deleteExecutions', query ?? {})
    const ids = this.state.planExecutionDeletion(deletion, Date.now())
    if (ids.length > 0) this.writeExecutionDeletion(ids)
    return ids
  }

  async getExecution(executionId: string): Promise<ExecutionRecord | undefined> {
    return this.state.getExecution(executionId)
  }

  async findExecutionByIdempotencyKey(key: string): Promise<ExecutionRecord | undefined> {
    return this.state.findExecutionByIdempotencyKey(key)
  }

  async listExecutions(query: ExecutionQuery): Promise<Page<ExecutionSummary>> {
    return this.state.listExecutions(query ?? {})
  }

  async getTaskStates(executionId: string): Promise<TaskState[]> {
    return this.state.getTaskStates(executionId)
  }

  async listEvents(executionId: string, afterSeq: number, limit: number): Promise<ExecutionEvent[]> {
    checkCount('listEvents', 'limit', limit)
    return this.state.listEvents(executionId, afterSeq, limit)
  }

  async listAllEvents(
    afterId: number,
    limit: number,
    filter: { workflow_id?: string } = {},
  ): Promise<ExecutionEvent[]> {
    checkCount('listAllEvents', 'limit', limit)
    return this.state.listAllEvents(afterId, limit, filter.workflow_id)
  }

  // ----- checkpoints -------------------------------------------------------------------------------------

  async saveCheckpoint(checkpoint: CheckpointRecord): Promise<void> {
    checkCheckpoint(checkpoint)
    this.writeCheckpoint(copy(checkpoint))
  }

  async getCheckpoint(checkpointId: string): Promise<CheckpointRecord | undefined> {
    return this.state.getCheckpoint(checkpointId)
  }

  async listCheckpoints(executionId: string): Promise<CheckpointRecord[]> {
    return this.state.listCheckpoints(executionId)
  }

  // ----- leases ------------------------------------------------------------------------------------------

  async claimExecutions(nodeId: string, leaseMs: number, limit: number): Promise<string[]> {
    checkNodeId('claimExecutions', nodeId)
    checkCount('claimExecutions', 'leaseMs', leaseMs)
    checkCount('claimExecutions', 'limit', limit)
    return this.#leases(this.state.planClaims(nodeId, leaseMs, limit, Date.now()))
  }

  async claimExecution(nodeId: string, executionId: string, leaseMs: number): Promise<boolean> {
    checkNodeId('claimExecution', nodeId)
    checkCount('claimExecution', 'leaseMs', leaseMs)
    return this.#leases(this.state.planClaim(nodeId, executionId, leaseMs, Date.now())).length > 0
  }

  async renewLeases(nodeId: string, executionIds: string[], leaseMs: number): Promise<string[]> {
    checkNodeId('renewLeases', nodeId)
    checkCount('renewLeases', 'leaseMs', leaseMs)
    return this.#leases(this.state.planRenewals(nodeId, executionIds, leaseMs, Date.now()))
  }

  async releaseExecution(nodeId: string, executionId: string): Promise<void> {
    checkNodeId('releaseExecution', nodeId)
    const released = this.#leases(this.state.planRelease(nodeId, executionId))
    // An unfinished execution let go is work for another claimer.
    if (released.length > 0 && this.state.isUnfinished(executionId)) {
      this.notifier.notify('executions', executionId)
    }
  }

  /** Writes the changes; returns the ids of the executions they touch. */
  #leases(changes: LeaseChange[]): string[] {
    if (changes.length > 0) this.writeLeases(changes)
    return changes.map(([id]) => id)
  }

  // ----- documents and marks -----------------------------------------------------------------------------

  async putDocument(collection: string, id: string, doc: JsonObject): Promise<void> {
    checkDocumentKey('putDocument', collection, id)
    checkDocument('putDocument: doc', doc)
    this.writeDocument({ collection, id, doc: copy(doc) })
  }

  async getDocument(collection: string, id: string): Promise<JsonObject | undefined> {
    return this.state.getDocument(collection, id)
  }

  async listDocuments(collection: string, query: DocumentQuery = {}): Promise<Page<JsonObject>> {
    checkCollection('listDocuments', collection)
    return this.state.listDocuments(collection, query)
  }

  async deleteDocument(collection: string, id: string): Promise<boolean> {
    if (!this.state.hasDocument(collection, id)) return false
    this.writeDocument({ collection, id, doc: null })
    return true
  }

  async markOnce(scope: string, key: string, ttlMs?: number): Promise<boolean> {
    checkMark(scope, key, ttlMs)
    const now = Date.now()
    if (++this.#marksSinceSweep >= MARK_SWEEP_EVERY) {
      this.#marksSinceSweep = 0
      this.state.forgetExpiredMarks(now)
    }
    const expiresAtMs = this.state.planMark(scope, key, ttlMs, now)
    if (expiresAtMs === undefined) return false
    this.writeMark(scope, key, expiresAtMs)
    return true
  }

  // ----- notifications -----------------------------------------------------------------------------------

  async notify(channel: string, payload: string): Promise<void> {
    this.notifier.notify(channel, payload)
  }

  listen(channel: string, listener: (payload: string) => void): () => void {
    return this.notifier.listen(channel, listener)
  }
}
