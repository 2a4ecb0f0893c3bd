/**
 * Watching executions over the live streams, and waiting for one to end.
 *
 * `watchExecution` yields the stream of one execution: its snapshot, then every event in `seq` order. When
 * the connection breaks it reconnects from the last `seq` it yielded (SSE `Last-Event-ID`, WebSocket
 * `?after=`), skips anything at or below it, and fills a gap (never expected from Harmonia) from the
 * persisted history, so the consumer sees each event exactly once and in order. It ends after the
 * execution's final event, as the server decides it: a terminal event newer than the snapshot, or a
 * snapshot of a finished execution once its history is out.
 */
import { ClientErrorCode, HarmoniaApiError } from './errors.ts'
import {
  SseParser,
  openWebSocketFrames,
  readSseFrames,
  resumableFeed,
  type ReconnectOptions,
  type StreamConnection,
} from './event-stream.ts'
import { deadlineSignal, segment, type HttpTransport, type Query } from './http-transport.ts'
import type {
  EventsPage,
  EventsStreamMessage,
  ExecutionDetail,
  ExecutionEventMessage,
  ExecutionSnapshotMessage,
  ExecutionStreamMessage,
} from './wire-types.ts'

export interface WatchOptions extends ReconnectOptions {
  /** Start after this position: an execution's `seq`, or a global event id for `watchEvents`. */
  after?: number
  signal?: AbortSignal
  /** `sse` (default): fetch with headers. `websocket`: the runtime's global WebSocket (key as `?api_key=`). */
  transport?: 'sse' | 'websocket'
  /** Told about each reconnection. */
  onReconnect?(info: { attempt: number; delayMs: number; error: unknown }): void
}

export interface WatchEventsOptions extends WatchOptions {
  /** Only executions of this workflow. */
  workflow_id?: string
}

export interface WaitOptions {
  /** Give up after this long with a `timeout` HarmoniaApiError. Default 5 minutes. */
  timeoutMs?: number
  signal?: AbortSignal
  /** First interval of the polling fallback (it grows to 2 s). Default 250 ms. */
  pollIntervalMs?: number
  transport?: 'sse' | 'websocket'
}

/** What the watchers need from the client. */
export interface WatchDeps {
  http: HttpTransport
  getExecution(executionId: string, signal?: AbortSignal): Promise<ExecutionDetail>
  listEvents(executionId: string, after: number, limit: number, signal?: AbortSignal): Promise<EventsPage>
}

const FINISHED = new Set(['completed', 'failed', 'cancelled'])
const TERMINAL_EVENTS = new Set(['execution_completed', 'execution_failed', 'execution_cancelled'])
const GAP_PAGE = 500
const DEFAULT_WAIT_MS = 300_000
const MAX_POLL_INTERVAL_MS = 2_000

export async function* watchExecution(
  deps: WatchDeps,
  executionId: string,
  options: WatchOptions = {},
): AsyncGenerator<ExecutionStreamMessage> {
  const id = segment(executionId, 'execution id')
  let position = options.after ?? 0
  let snapshot: { lastSeq: number; finished: boolean } | undefined
  let snapshotYielded = false
  const done = (): boolean => snapshot !== undefined && snapshot.finished && position >= snapshot.lastSeq

  const connect = (signal: AbortSignal): Promise<StreamConnection> =>
    options.transport === 'websocket'
      ? openSocket(deps, `/ws/executions/${id}`, { after: position }, signal, () =>
          deps.getExecution(executionId, signal),
        )
      : openSse(deps.http, `/events/executions/${id}`, String(position), {}, signal)

  for await (const { frame } of resumableFeed({ ...options, connect })) {
    if (frame.type === 'end') return
    if (frame.type === 'snapshot') {
      const message = frame.message as ExecutionSnapshotMessage
      snapshot = { lastSeq: message.data.last_event_seq, finished: FINISHED.has(message.data.status) }
      if (!snapshotYielded) {
        snapshotYielded = true
        yield message
      }
      if (done()) return
      continue
    }
    if (!isEventMessage(frame.message)) continue
    const event = frame.message
    if (event.seq <= position) continue
    if (event.seq > position + 1) {
      for await (const missing of readHistory(deps, executionId, position, event.seq, options.signal)) {
        position = missing.seq
        yield missing
      }
    }
    position = event.seq
    yield event
    if (TERMINAL_EVENTS.has(event.type) && snapshot !== undefined && event.seq > snapshot.lastSeq) return
    if (done()) return
  }
}

/** Every execution's events (one workflow's with `workflow_id`): the snapshot once, then events by id. */
export async function* watchEvents(
  deps: WatchDeps,
  options: WatchEventsOptions = {},
): AsyncGenerator<EventsStreamMessage> {
  let position = options.after
  let snapshotYielded = false
  const filter: Query = { workflow_id: options.workflow_id }
  const connect = (signal: AbortSignal): Promise<StreamConnection> =>
    options.transport === 'websocket'
      ? openSocket(deps, '/ws/events', { ...filter, after: position }, signal)
      : openSse(deps.http, '/events', position === undefined ? undefined : String(position), filter, signal)

  for await (const { frame } of resumableFeed({ ...options, connect })) {
    if (frame.type === 'snapshot') {
      if (!snapshotYielded) {
        snapshotYielded = true
        yield frame.message as EventsStreamMessage
      }
      continue
    }
    if (!isEventMessage(frame.message)) continue
    const event = frame.message
    if (event.id !== undefined) {
      if (position !== undefined && event.id <= position) continue
      position = event.id
    }
    yield event
  }
}

/**
 * Resolves with the execution once it has finished: it follows the stream, and falls back to polling
 * `GET /executions/{id}` when the stream cannot be had.
 */
export async function waitForExecution(
  deps: WatchDeps,
  executionId: string,
  options: WaitOptions = {},
): Promise<ExecutionDetail> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_WAIT_MS
  const deadline = deadlineSignal(timeoutMs, options.signal)
  let last: ExecutionDetail | undefined
  const fail = (error: unknown): HarmoniaApiError => {
    if (deadline.timedOut()) {
      return new HarmoniaApiError(
        ClientErrorCode.timeout,
        `execution '${executionId}' did not finish within ${timeoutMs} ms` +
          (last === undefined ? '' : `; it is ${last.status}`),
        {
          status: 0,
          details: { execution_id: executionId, status: last?.status ?? null, timeout_ms: timeoutMs },
        },
      )
    }
    if (deadline.callerAborted()) {
      return new HarmoniaApiError(
        ClientErrorCode.aborted,
        `waiting for execution '${executionId}' was aborted`,
        {
          status: 0,
          cause: options.signal?.reason,
        },
      )
    }
    return error as HarmoniaApiError
  }
  try {
    try {
      last = await deps.getExecution(executionId, deadline.signal)
      if (FINISHED.has(last.status)) return last
      const stream = watchExecution(deps, executionId, {
        after: last.last_event_seq,
        signal: deadline.signal,
        maxAttempts: 3,
        ...(options.transport === undefined ? {} : { transport: options.transport }),
      })
      for await (const message of stream) {
        if (message.type === 'snapshot') last = message.data
      }
      last = await deps.getExecution(executionId, deadline.signal)
      if (FINISHED.has(last.status)) return last
    } catch (error) {
      if (deadline.timedOut() || deadline.callerAborted()) throw fail(error)
      if (error instanceof HarmoniaApiError && isFinal(error)) throw error
      // The stream is not to be had (an older server, a proxy that buffers): poll instead.
    }
    let intervalMs = options.pollIntervalMs ?? 250
    for (;;) {
      last = await deps.getExecution(executionId, deadline.signal)
      if (FINISHED.has(last.status)) return last
      await sleep(intervalMs, deadline.signal)
      intervalMs = Math.min(MAX_POLL_INTERVAL_MS, intervalMs * 1.5)
    }
  } catch (error) {
    throw fail(error)
  } finally {
    deadline.clear()
  }
}

/** Errors that another way of asking would not fix. */
function isFinal(error: HarmoniaApiError): boolean {
  return (
    error.code === 'execution_not_found' ||
    error.status === 401 ||
    error.status === 403 ||
    error.code === ClientErrorCode.invalid_argument
  )
}

function isEventMessage(message: unknown): message is ExecutionEventMessage {
  const m = message as Partial<ExecutionEventMessage> | null
  return (
    typeof m === 'object' && m !== null && typeof m.seq === 'number' && typeof m.execution_id === 'string'
  )
}

async function* readHistory(
  deps: WatchDeps,
  executionId: string,
  after: number,
  before: number,
  signal: AbortSignal | undefined,
): AsyncGenerator<ExecutionEventMessage> {
  let position = after
  while (position < before - 1) {
    const page = await deps.listEvents(executionId, position, GAP_PAGE, signal)
    for (const event of page.items) {
      if (event.seq <= position || event.seq >= before) continue
      position = event.seq
      yield event
    }
    if (!page.has_more || page.items.length === 0) return
  }
}

async function openSse(
  http: HttpTransport,
  path: string,
  lastEventId: string | undefined,
  query: Query,
  signal: AbortSignal,
): Promise<StreamConnection> {
  const response = await http.openStream(path, {
    query,
    headers: lastEventId === undefined ? {} : { 'last-event-id': lastEventId },
    signal,
  })
  if (response.body === null) {
    throw new HarmoniaApiError(ClientErrorCode.unexpected_response, `GET ${path} answered without a body`, {
      status: response.status,
    })
  }
  const parser = new SseParser()
  return { frames: readSseFrames(response.body, parser), retryMs: () => parser.retryMs }
}

/**
 * A WebSocket cannot tell why it failed to open (a 404 and a dead server look the same), so a failure is
 * checked with `probe`: an answer such as `execution_not_found` is then final.
 */
async function openSocket(
  deps: WatchDeps,
  path: string,
  query: Query,
  signal: AbortSignal,
  probe?: () => Promise<unknown>,
): Promise<StreamConnection> {
  const url = deps.http
    .url(path, { ...query, api_key: deps.http.apiKey })
    .replace(/^http(s?):/, (_match, secure: string) => `ws${secure}:`)
  try {
    return await openWebSocketFrames(url, signal)
  } catch (error) {
    if (probe !== undefined && !signal.aborted) await probe()
    throw error
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort)
      resolve()
    }, ms)
    const onAbort = (): void => {
      clearTimeout(timer)
      reject(signal.reason)
    }
    if (signal.aborted) onAbort()
    else signal.addEventListener('abort', onAbort, { once: true })
  })
}
