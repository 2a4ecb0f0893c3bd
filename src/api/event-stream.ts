/**
 * What WebSocket and SSE streams share: a snapshot first, then the persisted events after the client's
 * position, then live events — in order, without gaps or duplicates — and a bound on what a slow consumer
 * may have queued.
 *
 * How order holds: the stream subscribes to the bus before anything else and buffers what arrives; it then
 * sends the snapshot, reads the history after the client's position page by page from the store, and finally
 * flushes the buffer, skipping positions already sent. Per-execution positions (`seq`) are gapless, so a live
 * event that skips ahead (one persisted elsewhere) triggers another read of the store before it is sent.
 *
 * Transports (ws.ts, sse.ts) only serialize, write and close, and tell how many bytes they hold that the
 * kernel has not taken. The stream counts the messages written while such a backlog exists, plus the events
 * it buffers itself, against `maxQueued`; past it the consumer is dropped with a clear reason instead of
 * growing server memory. A fast consumer never has a backlog, however large a burst of events.
 */
import type { Engine } from '../core/engine-api.ts'
import { HarmoniaError } from '../core/errors.ts'
import { EventType, type ExecutionEvent } from '../core/events.ts'
import type { Logger } from '../core/logger.ts'
import { FINISHED_EXECUTION_STATUSES, type ExecutionStatus, type JsonValue } from '../core/model.ts'
import type { Store } from '../core/store.ts'
import type { WorkflowChange, WorkflowService } from '../core/workflows.ts'
import {
  eventToMessage,
  executionDetailToWire,
  executionToWire,
  workflowToWire,
  type StreamMessage,
} from './wire-format.ts'

export type StreamEndCode = 'finished' | 'slow_consumer' | 'shutdown' | 'error' | 'client_closed'

export interface StreamEnd {
  code: StreamEndCode
  message: string
}

export interface StreamTransport {
  readonly kind: 'ws' | 'sse'
  /** Writes one message; `onFlushed` runs once it has left the process (or the connection is gone). */
  write(message: StreamMessage, onFlushed: () => void): void
  /** Bytes written but still held in this process (the kernel's socket buffer is full). */
  bufferedBytes(): number
  /** Keeps an idle connection alive (and notices dead peers). */
  heartbeat(): void
  /** Ends the connection with the reason (never called for `client_closed`). */
  end(reason: StreamEnd): void
}

export interface SnapshotResult {
  message: StreamMessage
  /** Position of the last event the snapshot reflects (per-execution streams). */
  lastPosition?: number
  /** The execution had finished when the snapshot was taken. */
  finished?: boolean
}

/** Where a stream's items come from. */
export interface FeedSource<T> {
  subscribe(listener: (item: T) => void): () => void
  position(item: T): number
  toMessage(item: T): StreamMessage
  /** True when consecutive items have consecutive positions (an execution's seq). */
  readonly gapless: boolean
  /** Items after a position, in order; absent when the feed has no history. */
  readHistory?(after: number, limit: number): Promise<T[]>
  snapshot?(): Promise<SnapshotResult>
  /** Position to replay after when the client gives none; undefined: live only. */
  readonly defaultAfter: number | undefined
  /** Ends the stream after this item (SSE streams of one execution end when it finishes). */
  isTerminal?(item: T): boolean
}

export interface EventStreamOptions<T> {
  source: FeedSource<T>
  transport: StreamTransport
  /** The client's position: `?after=` or SSE `Last-Event-ID`. */
  after: number | undefined
  maxQueued: number
  heartbeatIntervalMs: number
  /** End the stream once the execution is finished and its events are sent (SSE). */
  endWhenFinished: boolean
  registry: StreamRegistry
  logger: Logger
}

const MAX_PAGE = 500

export class EventStream<T> {
  readonly #options: EventStreamOptions<T>
  readonly #source: FeedSource<T>
  readonly #transport: StreamTransport
  #phase: 'starting' | 'catching_up' | 'live' = 'starting'
  #buffer: T[] = []
  #position = 0
  /** Messages written while the connection had data queued in this process. */
  #backlog = 0
  #closed = false
  #unsubscribe: () => void = () => {}
  #heartbeat: ReturnType<typeof setInterval> | undefined
  #drainWaiters: Array<() => void> = []
  /** Snapshot facts for `endWhenFinished`. */
  #snapshotPosition = Number.POSITIVE_INFINITY
  #snapshotFinished = false

  constructor(options: EventStreamOptions<T>) {
    this.#options = options
    this.#source = options.source
    this.#transport = options.transport
  }

  get kind(): 'ws' | 'sse' {
    return this.#transport.kind
  }

  get closed(): boolean {
    return this.#closed
  }

  /** Writes the snapshot, the history, then goes live. Never rejects: failures end the stream. */
  async start(): Promise<void> {
    const { registry, heartbeatIntervalMs } = this.#options
    registry.add(this)
    this.#unsubscribe = this.#source.subscribe((item) => this.#onLive(item))
    this.#heartbeat = setInterval(() => {
      if (!this.#closed) this.#transport.heartbeat()
    }, heartbeatIntervalMs)
    this.#heartbeat.unref()
    try {
      const after =
        this.#source.readHistory === undefined
          ? undefined
          : (this.#options.after ?? this.#source.defaultAfter)
      this.#position = after ?? 0
      if (this.#source.snapshot !== undefined) {
        const snapshot = await this.#source.snapshot()
        if (this.#closed) return
        this.#snapshotPosition = snapshot.lastPosition ?? Number.POSITIVE_INFINITY
        this.#snapshotFinished = snapshot.finished === true
        // The snapshot of one execution stands at the position the replay continues from.
        this.#send(
          this.#source.gapless && after !== undefined
            ? { ...snapshot.message, seq: after }
            : snapshot.message,
        )
      }
      if (after === undefined || this.#source.readHistory === undefined) {
        this.#flushBuffer(false)
        if (!this.#closed) this.#phase = 'live'
      } else {
        await this.#catchUp()
      }
      this.#checkFinished()
    } catch (error) {
      this.#fail(error)
    }
  }

  /** Ends the stream (shutdown, client gone, failure). Idempotent. */
  close(reason: StreamEnd): void {
    if (this.#closed) return
    this.#closed = true
    this.#unsubscribe()
    if (this.#heartbeat !== undefined) clearInterval(this.#heartbeat)
    this.#buffer = []
    for (const resolve of this.#drainWaiters.splice(0)) resolve()
    this.#options.registry.delete(this)
    if (reason.code !== 'client_closed') this.#transport.end(reason)
  }

  #onLive(item: T): void {
    if (this.#closed) return
    if (this.#phase !== 'live') {
      this.#buffer.push(item)
      this.#checkQueue()
      return
    }
    const position = this.#source.position(item)
    if (position <= this.#position) return
    if (this.#source.gapless && position > this.#position + 1 && this.#source.readHistory !== undefined) {
      // Something was persisted that this node did not publish: read it from the store first.
      this.#buffer.push(item)
      void this.#catchUp().catch((error: unknown) => this.#fail(error))
      return
    }
    this.#deliver(item)
  }

  /** Reads the store after the current position, then flushes the buffer; repeats while a gap remains. */
  async #catchUp(): Promise<void> {
    this.#phase = 'catching_up'
    const readHistory = this.#source.readHistory!.bind(this.#source)
    const pageSize = Math.max(1, Math.min(MAX_PAGE, Math.floor(this.#options.maxQueued / 2)))
    for (;;) {
      let readAny = false
      for (;;) {
        await this.#writable()
        if (this.#closed) return
        const page = await readHistory(this.#position, pageSize)
        if (this.#closed) return
        for (const item of page) this.#deliver(item)
        readAny ||= page.length > 0
        if (page.length < pageSize) break
      }
      // A gap the store cannot fill (never expected) is accepted rather than retried forever.
      if (this.#flushBuffer(!readAny) || this.#closed) break
    }
    if (!this.#closed) this.#phase = 'live'
  }

  /** Sends buffered items in order; false when a gap remains (the rest stays buffered). */
  #flushBuffer(acceptGaps: boolean): boolean {
    const buffered = this.#buffer
    this.#buffer = []
    for (let i = 0; i < buffered.length; i++) {
      const item = buffered[i]!
      const position = this.#source.position(item)
      if (position <= this.#position) continue
      if (!acceptGaps && this.#source.gapless && position > this.#position + 1) {
        this.#buffer = buffered.slice(i)
        return false
      }
      this.#deliver(item)
      if (this.#closed) return true
    }
    return true
  }

  #deliver(item: T): void {
    const position = this.#source.position(item)
    if (position <= this.#position) return
    this.#send(this.#source.toMessage(item))
    this.#position = position
    if (
      this.#options.endWhenFinished &&
      this.#source.isTerminal?.(item) === true &&
      position > this.#snapshotPosition
    ) {
      this.close({ code: 'finished', message: 'execution finished' })
      return
    }
    this.#checkFinished()
  }

  /** Ends an SSE stream of a finished execution once everything up to the snapshot was sent. */
  #checkFinished(): void {
    if (
      !this.#closed &&
      this.#options.endWhenFinished &&
      this.#snapshotFinished &&
      this.#phase !== 'starting' &&
      this.#position >= this.#snapshotPosition
    ) {
      this.close({ code: 'finished', message: 'execution finished' })
    }
  }

  /**
   * Writes a message and counts the backlog: messages written while the connection holds data the kernel
   * has not taken (a consumer that does not read). It resets once the connection has nothing queued.
   */
  #send(message: StreamMessage): void {
    if (this.#closed) return
    this.#transport.write(message, () => this.#onFlushed())
    this.#backlog = this.#transport.bufferedBytes() > 0 ? this.#backlog + 1 : 0
    this.#checkQueue()
  }

  #onFlushed(): void {
    if (this.#transport.bufferedBytes() > 0) return
    this.#backlog = 0
    for (const resolve of this.#drainWaiters.splice(0)) resolve()
  }

  /** Resolves once the connection has taken everything written (history is paced; live events cannot be). */
  #writable(): Promise<void> {
    if (this.#closed || this.#backlog === 0) return Promise.resolve()
    return new Promise((resolve) => this.#drainWaiters.push(resolve))
  }

  #checkQueue(): void {
    if (this.#closed) return
    const queued = this.#backlog + this.#buffer.length
    if (queued > this.#options.maxQueued) {
      this.#options.logger.warn('event stream consumer too slow; dropping it', {
        transport: this.#transport.kind,
        queued,
        maxQueued: this.#options.maxQueued,
      })
      this.close({
        code: 'slow_consumer',
        message: `slow consumer: more than ${this.#options.maxQueued} events were waiting to be sent; reconnect with the last position you received`,
      })
    }
  }

  #fail(error: unknown): void {
    if (this.#closed) return
    if (error instanceof HarmoniaError) {
      this.close({ code: 'error', message: error.message })
      return
    }
    this.#options.logger.error('event stream failed', { error: String(error) })
    this.close({
      code: 'error',
      message: 'the event stream failed; reconnect with the last position you received',
    })
  }
}

/** What the registry needs of a stream. */
export interface RegisteredStream {
  readonly kind: 'ws' | 'sse'
  close(reason: StreamEnd): void
}

/** Open streams, for shutdown and for the `harmonia_event_stream_clients` gauge. */
export class StreamRegistry {
  readonly #streams = new Set<RegisteredStream>()

  add(stream: RegisteredStream): void {
    this.#streams.add(stream)
  }

  delete(stream: RegisteredStream): void {
    this.#streams.delete(stream)
  }

  count(kind?: 'ws' | 'sse'): number {
    if (kind === undefined) return this.#streams.size
    let n = 0
    for (const stream of this.#streams) if (stream.kind === kind) n++
    return n
  }

  closeAll(reason: StreamEnd): void {
    for (const stream of [...this.#streams]) stream.close(reason)
  }
}

// ----- feeds ------------------------------------------------------------------------------------------------

const TERMINAL_EVENTS: ReadonlySet<string> = new Set([
  EventType.execution_completed,
  EventType.execution_failed,
  EventType.execution_cancelled,
])

/** One execution: snapshot = its detail as GET answers it; positions are its gapless `seq`. */
export function executionFeed(
  deps: { engine: Engine; store: Store },
  executionId: string,
): FeedSource<ExecutionEvent> {
  return {
    gapless: true,
    defaultAfter: 0,
    subscribe: (listener) => deps.engine.bus.subscribe(listener, executionId),
    position: (event) => event.seq,
    toMessage: eventToMessage,
    readHistory: (after, limit) => deps.store.listEvents(executionId, after, limit),
    isTerminal: (event) => TERMINAL_EVENTS.has(event.type),
    async snapshot() {
      const detail = await deps.engine.getExecution(executionId)
      return {
        message: {
          type: 'snapshot',
          timestamp: new Date().toISOString(),
          execution_id: executionId,
          workflow_id: detail.execution.workflow_id,
          data: executionDetailToWire(detail),
          seq: 0,
        },
        lastPosition: detail.execution.last_event_seq,
        finished: FINISHED_EXECUTION_STATUSES.has(detail.execution.status),
      }
    },
  }
}

const ACTIVE_STATUSES: ExecutionStatus[] = ['pending', 'running', 'paused']
const SNAPSHOT_LIMIT = 100

/**
 * Every execution's events (optionally one workflow's): positions are global event ids. Without a client
 * position the stream is live only; its snapshot lists the unfinished executions.
 */
export function allEventsFeed(
  deps: { engine: Engine; store: Store },
  filter: { workflow_id?: string },
): FeedSource<ExecutionEvent> {
  const workflowId = filter.workflow_id
  return {
    gapless: false,
    defaultAfter: undefined,
    subscribe: (listener) =>
      deps.engine.bus.subscribe((event) => {
        if (workflowId === undefined || event.workflow_id === workflowId) listener(event)
      }),
    position: (event) => event.id ?? 0,
    toMessage: eventToMessage,
    readHistory: (after, limit) =>
      deps.store.listAllEvents(
        after,
        limit,
        workflowId === undefined ? undefined : { workflow_id: workflowId },
      ),
    async snapshot() {
      const page = await deps.store.listExecutions({
        status: ACTIVE_STATUSES,
        limit: SNAPSHOT_LIMIT,
        sort_by: 'created_at',
        sort_order: 'desc',
        ...(workflowId === undefined ? {} : { workflow_id: workflowId }),
      })
      return {
        message: {
          type: 'snapshot',
          timestamp: new Date().toISOString(),
          data: {
            executions: page.items.map((record) => executionToWire(record)),
            total: page.total,
          } as unknown as JsonValue,
        },
      }
    },
  }
}

/**
 * Workflow definition changes (created, updated, deleted); live, positions count messages. The snapshot
 * lists the latest revisions, most recently updated first (the first 100, with the total).
 */
export function workflowChangesFeed(workflows: WorkflowService): FeedSource<WorkflowChange & { n: number }> {
  let counter = 0
  return {
    gapless: false,
    defaultAfter: undefined,
    async snapshot() {
      const page = await workflows.list({ limit: SNAPSHOT_LIMIT, sort_by: 'updated_at', sort_order: 'desc' })
      return {
        message: {
          type: 'snapshot',
          timestamp: new Date().toISOString(),
          data: {
            workflows: page.items.map((record) => workflowToWire(record)),
            total: page.total,
          } as unknown as JsonValue,
        },
      }
    },
    subscribe: (listener) => workflows.onChange((change) => listener({ ...change, n: ++counter })),
    position: (change) => change.n,
    toMessage: (change) => ({
      type: change.type,
      timestamp: change.timestamp,
      workflow_id: change.workflow_id,
      data: change.data as JsonValue,
      seq: change.n,
    }),
  }
}
