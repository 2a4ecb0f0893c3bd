/**
 * Group commit: transitions made in the same turn of the event loop are written in one store transaction,
 * then their events are published. Nothing is announced before the commit that records it, and batches
 * commit one at a time, so events reach subscribers in order.
 */
import type { ExecutionEvent } from './events.ts'
import type { ExecutionRecord, TaskState } from './model.ts'
import type { DocumentWrite, Store, WriteBatch } from './store.ts'

interface PendingBatch {
  executions: Map<string, ExecutionRecord>
  tasks: Map<string, TaskState>
  events: ExecutionEvent[]
  documents: DocumentWrite[]
  /** Executions this batch inserts (claimed by this node as part of the insert). */
  inserted: Set<string>
  done: Promise<void>
  resolve: () => void
  reject: (error: unknown) => void
}

export interface BatchWriterOptions {
  store: Store
  nodeId: string
  leaseMs: number
  /** Called with the events of each committed batch, in order. */
  publish: (events: ExecutionEvent[]) => void
  /**
   * Extra writes to commit in the same transaction as an event (an outbox row per subscriber, say), so
   * that they exist if and only if the event does.
   */
  writesFor?: (event: ExecutionEvent) => DocumentWrite[]
}

export class BatchWriter {
  readonly #options: BatchWriterOptions
  #pending: PendingBatch | undefined
  #flushing: Promise<void> = Promise.resolve()
  #scheduled = false

  constructor(options: BatchWriterOptions) {
    this.#options = options
  }

  /** Queues an execution row (a snapshot is taken now). */
  execution(record: ExecutionRecord, inserted = false): Promise<void> {
    const batch = this.#batch()
    batch.executions.set(record.execution_id, { ...record })
    if (inserted) batch.inserted.add(record.execution_id)
    return batch.done
  }

  task(state: TaskState): Promise<void> {
    const batch = this.#batch()
    batch.tasks.set(`${state.execution_id}\u0000${state.task}\u0000${state.item_index}`, { ...state })
    return batch.done
  }

  event(event: ExecutionEvent): Promise<void> {
    const batch = this.#batch()
    batch.events.push(event)
    const writes = this.#options.writesFor?.(event)
    if (writes !== undefined) for (const write of writes) batch.documents.push(write)
    return batch.done
  }

  document(write: DocumentWrite): Promise<void> {
    const batch = this.#batch()
    batch.documents.push(write)
    return batch.done
  }

  /** Resolves when everything queued so far is committed (or rejected). */
  async drain(): Promise<void> {
    while (this.#pending !== undefined || this.#scheduled) {
      await this.#pending?.done.catch(() => {})
      await this.#flushing
    }
    await this.#flushing
  }

  #batch(): PendingBatch {
    if (this.#pending === undefined) {
      let resolve!: () => void
      let reject!: (error: unknown) => void
      const done = new Promise<void>((res, rej) => {
        resolve = res
        reject = rej
      })
      // Callers may not await every write; the rejection is handled by whoever does, and by drain().
      done.catch(() => {})
      this.#pending = {
        executions: new Map(),
        tasks: new Map(),
        events: [],
        documents: [],
        inserted: new Set(),
        done,
        resolve,
        reject,
      }
    }
    if (!this.#scheduled) {
      this.#scheduled = true
      setImmediate(() => {
        this.#flushing = this.#flushing.then(() => this.#flush())
      })
    }
    return this.#pending
  }

  async #flush(): Promise<void> {
    this.#scheduled = false
    const batch = this.#pending
    this.#pending = undefined
    if (batch === undefined) return
    const executionIds = new Set<string>(batch.executions.keys())
    for (const state of batch.tasks.values()) executionIds.add(state.execution_id)
    for (const event of batch.events) executionIds.add(event.execution_id)
    const write: WriteBatch = {
      executions: [...batch.executions.values()],
      tasks: [...batch.tasks.values()],
      events: batch.events,
      documents: batch.documents,
      fence: {
        node_id: this.#options.nodeId,
        execution_ids: [...executionIds],
        lease_ms: this.#options.leaseMs,
      },
    }
    try {
      await this.#options.store.commit(write)
    } catch (error) {
      batch.reject(error)
      return
    }
    batch.resolve()
    if (batch.events.length > 0) this.#options.publish(batch.events)
  }
}
