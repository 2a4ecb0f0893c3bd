/**
 * Execution events: the same names on the engine bus, in the store, over WebSocket and SSE, in the SDK
 * and in the UI. Each is persisted (with a per-execution `seq`) before it is published.
 */
import type { JsonValue } from './model.ts'

export const EventType = {
  execution_started: 'execution_started',
  execution_completed: 'execution_completed',
  execution_failed: 'execution_failed',
  execution_cancelled: 'execution_cancelled',
  execution_paused: 'execution_paused',
  execution_resumed: 'execution_resumed',
  execution_rerun: 'execution_rerun',
  task_started: 'task_started',
  task_progress: 'task_progress',
  task_completed: 'task_completed',
  task_failed: 'task_failed',
  task_retrying: 'task_retrying',
  task_skipped: 'task_skipped',
  task_cancelled: 'task_cancelled',
} as const
export type EventType = (typeof EventType)[keyof typeof EventType]

export interface ExecutionEvent {
  /** Global, store-assigned, increasing id (set once persisted). */
  id?: number
  /** Per-execution sequence number, gapless from 1. */
  seq: number
  type: EventType
  timestamp: string
  execution_id: string
  workflow_id: string
  data: { [key: string]: JsonValue | undefined }
}

export type EventListener = (event: ExecutionEvent) => void

/**
 * In-process publish/subscribe for persisted events. Listeners run synchronously in publication order;
 * a listener that throws is reported and does not disturb the others.
 */
export class EventBus {
  readonly #all = new Set<EventListener>()
  readonly #relayed = new WeakSet<ExecutionEvent>()
  readonly #byExecution = new Map<string, Set<EventListener>>()
  readonly #onListenerError: (error: unknown) => void

  constructor(onListenerError: (error: unknown) => void = () => {}) {
    this.#onListenerError = onListenerError
  }

  /** Subscribes to every event, or to one execution's. Returns the unsubscribe function. */
  subscribe(listener: EventListener, executionId?: string): () => void {
    if (executionId === undefined) {
      this.#all.add(listener)
      return () => this.#all.delete(listener)
    }
    let set = this.#byExecution.get(executionId)
    if (set === undefined) {
      set = new Set()
      this.#byExecution.set(executionId, set)
    }
    set.add(listener)
    return () => {
      set.delete(listener)
      if (set.size === 0) this.#byExecution.delete(executionId)
    }
  }

  get listenerCount(): number {
    let n = this.#all.size
    for (const set of this.#byExecution.values()) n += set.size
    return n
  }

  /** Publishes an event another node persisted (see event-relay.ts); listeners can tell with `isRelayed`. */
  publishRelayed(event: ExecutionEvent): void {
    this.#relayed.add(event)
    this.publish(event)
  }

  /** True for an event another node produced and this node only relays (node-local metrics skip it). */
  isRelayed(event: ExecutionEvent): boolean {
    return this.#relayed.has(event)
  }

  publish(event: ExecutionEvent): void {
    for (const listener of this.#all) this.#call(listener, event)
    const set = this.#byExecution.get(event.execution_id)
    if (set !== undefined) for (const listener of set) this.#call(listener, event)
  }

  #call(listener: EventListener, event: ExecutionEvent): void {
    try {
      listener(event)
    } catch (error) {
      this.#onListenerError(error)
    }
  }
}
