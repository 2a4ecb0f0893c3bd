/**
 * The memory store: everything in Maps, nothing survives the process. For tests, demos and `--storage
 * memory`. It keeps every rule of the Store contract (leases, fences, idempotency keys, once-marks with
 * TTL, paging, sorting, filters), and records are copied on the way in and out, so callers never share
 * objects with the store. The contract itself lives in InMemoryStateStore (shared with the file store);
 * here every write is applied to the state at once.
 *
 * `close()` keeps the data: the same instance can be used again, which lets a test simulate a restart.
 */
import type { Logger } from '../core/logger.ts'
import type { CheckpointRecord, WorkflowRecord } from '../core/model.ts'
import type { DocumentWrite, Store, StoreHealth } from '../core/store.ts'
import type { CommitPlan, LeaseChange } from './in-memory-state.ts'
import { InMemoryStateStore } from './in-memory-state-store.ts'

export interface MemoryStoreOptions {
  /** Receives failures of notification listeners. */
  logger?: Logger
}

export function createMemoryStore(options: MemoryStoreOptions = {}): Store {
  return new MemoryStore(options)
}

export class MemoryStore extends InMemoryStateStore {
  readonly kind = 'memory' as const

  constructor(options: MemoryStoreOptions = {}) {
    super('memory', options.logger)
  }

  async init(): Promise<void> {}
  async close(): Promise<void> {}
  async health(): Promise<StoreHealth> {
    return { ok: true }
  }

  protected writeWorkflow(record: WorkflowRecord): void {
    this.state.applyWorkflow(record)
  }

  protected writeWorkflowDeletion(workflowId: string): void {
    this.state.deleteWorkflow(workflowId)
  }

  protected writeCommit(plan: CommitPlan): void {
    this.state.applyCommit(plan)
  }

  protected writeExecutionDeletion(executionIds: string[]): void {
    this.state.applyExecutionDeletion(executionIds)
  }

  protected writeCheckpoint(checkpoint: CheckpointRecord): void {
    this.state.applyCheckpoint(checkpoint)
  }

  protected writeLeases(changes: LeaseChange[]): void {
    this.state.applyLeases(changes)
  }

  protected writeDocument(write: DocumentWrite): void {
    this.state.applyDocument(write)
  }

  protected writeMark(scope: string, key: string, expiresAtMs: number): void {
    this.state.applyMark(scope, key, expiresAtMs)
  }
}
