/**
 * Live streams without extra dependencies, in browsers and Node alike:
 * - `SseParser`: the Server-Sent Events wire format as the HTML standard defines it (`event:`, `data:`,
 *   `id:`, `retry:`, comments; LF, CRLF or CR line ends, split anywhere across chunks).
 * - `readSseFrames`: a fetch body as frames; `readWebSocketFrames`: a global `WebSocket` as frames.
 * - `resumableFeed`: reconnects a broken stream after a delay (the server's `retry:` hint or the caller's),
 *   with exponential backoff while attempts fail, and cuts a connection that has been silent for longer
 *   than `idleTimeoutMs` (the server sends heartbeats, so silence means a dead peer). The caller says where
 *   each new connection resumes (SSE `Last-Event-ID`, WebSocket `?after=`), which is what makes the
 *   stream continue without gaps or duplicates.
 */
import { ClientErrorCode, HarmoniaApiError } from './errors.ts'

/** One dispatched SSE event. */
export interface SseEvent {
  /** The `event:` name (`message` when none was given). */
  event: string
  data: string
  /** The last event id seen on the stream (SSE's "last event ID buffer"), if any. */
  id: string | undefined
}

/**
 * Incremental SSE parser: feed it text as it arrives; it answers the events each piece completes. Follows
 * https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation.
 */
export class SseParser {
  #buffer = ''
  /** Where the scan for the next line end resumes in `#buffer`. */
  #scanFrom = 0
  #started = false
  #data: string[] = []
  #event = ''
  #lastEventId: string | undefined
  /** The server's reconnection delay (`retry:`), once it sent one. */
  retryMs: number | undefined

  get lastEventId(): string | undefined {
    return this.#lastEventId
  }

  feed(text: string): SseEvent[] {
    if (!this.#started && text !== '') {
      this.#started = true
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1)
    }
    this.#buffer += text
    const events: SseEvent[] = []
    let start = 0
    let i = this.#scanFrom
    for (; i < this.#buffer.length; i++) {
      const char = this.#buffer[i]
      if (char !== '\n' && char !== '\r') continue
      // A CR at the very end may be the first half of a CRLF: wait for the next piece.
      if (char === '\r' && i === this.#buffer.length - 1) break
      const line = this.#buffer.slice(start, i)
      if (char === '\r' && this.#buffer[i + 1] === '\n') i++
      start = i + 1
      const event = this.#line(line)
      if (event !== undefined) events.push(event)
    }
    this.#buffer = this.#buffer.slice(start)
    // A long line arriving in many pieces is scanned once, not once per piece.
    this.#scanFrom = i - start
    return events
  }

  /** Ends the stream: an event not yet terminated by a blank line is discarded, as the standard says. */
  end(): void {
    this.#buffer = ''
    this.#scanFrom = 0
    this.#data = []
    this.#event = ''
  }

  #line(line: string): SseEvent | undefined {
    if (line === '') return this.#dispatch()
    if (line.startsWith(':')) return undefined
    const colon = line.indexOf(':')
    const field = colon === -1 ? line : line.slice(0, colon)
    let value = colon === -1 ? '' : line.slice(colon + 1)
    if (value.startsWith(' ')) value = value.slice(1)
    switch (field) {
      case 'event':
        this.#event = value
        break
      case 'data':
        this.#data.push(value)
        break
      case 'id':
        if (!value.includes('\0')) this.#lastEventId = value
        break
      case 'retry':
        if (/^\d+$/.test(value)) this.retryMs = Number(value)
        break
      default:
        break
    }
    return undefined
  }

  #dispatch(): SseEvent | undefined {
    const data = this.#data
    const event = this.#event
    this.#data = []
    this.#event = ''
    if (data.length === 0) return undefined
    return { event: event === '' ? 'message' : event, data: data.join('\n'), id: this.#lastEventId }
  }
}

/** What a connection yields: a message, or `null` for a sign of life (heartbeat, comment). */
export interface StreamFrame {
  /** The message type: SSE's event name, or a WebSocket message's `type`. */
  type: string
  /** The parsed JSON of the message. */
  message: unknown
}

export interface StreamConnection {
  frames: AsyncIterable<StreamFrame | null>
  /** The server's reconnection delay hint, when it gave one. */
  retryMs(): number | undefined
}

/** Parses an SSE body into frames (`data:` as JSON); comment lines come through as `null`. */
export async function* readSseFrames(
  body: ReadableStream<Uint8Array>,
  parser: SseParser,
): AsyncGenerator<StreamFrame | null> {
  const reader = body.getReader()
  const decoder = new TextDecoder()
  try {
    for (;;) {
      const { value, done } = await reader.read()
      if (done) break
      const events = parser.feed(decoder.decode(value, { stream: true }))
      if (events.length === 0) yield null
      for (const event of events) yield { type: event.event, message: parseFrameData(event) }
    }
    parser.feed(decoder.decode())
    parser.end()
  } finally {
    reader.releaseLock()
    await body.cancel().catch(() => {})
  }
}

function parseFrameData(event: SseEvent): unknown {
  try {
    return JSON.parse(event.data)
  } catch (error) {
    throw new HarmoniaApiError(
      ClientErrorCode.unexpected_response,
      `the event stream sent '${event.event}' data that is not JSON: ${event.data.slice(0, 200)}`,
      { status: 0, details: { event: event.event, data: event.data.slice(0, 500) }, cause: error },
    )
  }
}

/** Messages that only say the server is alive. */
const KEEPALIVE_TYPES = new Set(['heartbeat', 'pong'])

/**
 * Opens a WebSocket with the runtime's global `WebSocket` and yields its JSON messages as frames until it
 * closes; a close other than a normal one (1000) ends the frames with a `network_error`.
 */
export async function openWebSocketFrames(url: string, signal: AbortSignal): Promise<StreamConnection> {
  const Socket = (globalThis as { WebSocket?: typeof WebSocket }).WebSocket
  if (Socket === undefined) {
    throw new HarmoniaApiError(
      ClientErrorCode.invalid_argument,
      "this runtime has no global WebSocket; use the 'sse' transport",
      { status: 0 },
    )
  }
  const socket = new Socket(url)
  const queue: Array<StreamFrame | null> = []
  let ended: { error?: HarmoniaApiError } | undefined
  let wake: (() => void) | undefined
  const notify = (): void => {
    wake?.()
    wake = undefined
  }
  const close = (): void => {
    if (socket.readyState === Socket.CONNECTING || socket.readyState === Socket.OPEN) socket.close(1000)
  }
  await new Promise<void>((resolve, reject) => {
    const onAbort = (): void => {
      close()
      reject(new HarmoniaApiError(ClientErrorCode.aborted, 'WebSocket connection aborted', { status: 0 }))
    }
    signal.addEventListener('abort', onAbort, { once: true })
    socket.addEventListener('open', () => {
      signal.removeEventListener('abort', onAbort)
      resolve()
    })
    socket.addEventListener('error', () => {
      signal.removeEventListener('abort', onAbort)
      reject(
        new HarmoniaApiError(ClientErrorCode.network_error, `cannot open WebSocket ${redactKey(url)}`, {
          status: 0,
        }),
      )
    })
  })
  socket.addEventListener('message', (event: MessageEvent) => {
    let message: unknown
    try {
      message = JSON.parse(String(event.data))
    } catch {
      return
    }
    const type = (message as { type?: unknown } | null)?.type
    queue.push(typeof type !== 'string' || KEEPALIVE_TYPES.has(type) ? null : { type, message })
    notify()
  })
  socket.addEventListener('close', (event: CloseEvent) => {
    ended =
      event.code === 1000
        ? {}
        : {
            error: new HarmoniaApiError(
              ClientErrorCode.network_error,
              `WebSocket closed with code ${event.code}${event.reason === '' ? '' : `: ${event.reason}`}`,
              { status: 0, details: { close_code: event.code, reason: event.reason } },
            ),
          }
    notify()
  })
  signal.addEventListener('abort', close, { once: true })
  async function* frames(): AsyncGenerator<StreamFrame | null> {
    try {
      for (;;) {
        if (queue.length > 0) {
          yield queue.shift()!
          continue
        }
        if (ended !== undefined) {
          if (ended.error !== undefined) throw ended.error
          return
        }
        await new Promise<void>((resolve) => (wake = resolve))
      }
    } finally {
      signal.removeEventListener('abort', close)
      close()
    }
  }
  return { frames: frames(), retryMs: () => undefined }
}

function redactKey(url: string): string {
  return url.replace(/([?&]api_key=)[^&]*/, '$1***')
}

// ----- reconnection -------------------------------------------------------------------------------------------

export interface ReconnectOptions {
  /** Delay before reconnecting; default: the server's `retry:` hint, else 1 s. */
  delayMs?: number
  /** Upper bound of the backoff while attempts keep failing. Default 30 s. */
  maxDelayMs?: number
  /** Consecutive failed attempts before giving up with the last error. Default 10. */
  maxAttempts?: number
  /** A connection silent this long is treated as dead. Default 45 s (the server beats every 15 s). */
  idleTimeoutMs?: number
}

export interface ResumableFeedOptions extends ReconnectOptions {
  /** Opens one connection; called again after each break. */
  connect(signal: AbortSignal): Promise<StreamConnection>
  signal?: AbortSignal
  /** Told about each break before the next attempt (for logs or progress displays). */
  onReconnect?(info: { attempt: number; delayMs: number; error: unknown }): void
}

export interface FeedItem {
  frame: StreamFrame
  /** 0 for the first connection, then 1, 2, ... for each reconnection. */
  connection: number
}

const DEFAULT_DELAY_MS = 1_000
const DEFAULT_MAX_DELAY_MS = 30_000
const DEFAULT_MAX_ATTEMPTS = 10
const DEFAULT_IDLE_TIMEOUT_MS = 45_000

/**
 * Frames from a stream that reconnects when it breaks. Ends when the consumer stops iterating or the
 * caller's signal aborts (then it throws `aborted`); throws at once on an answer that retrying cannot fix
 * (a 4xx other than 408 and 429), and after `maxAttempts` consecutive failures.
 */
export async function* resumableFeed(options: ResumableFeedOptions): AsyncGenerator<FeedItem> {
  const maxDelayMs = options.maxDelayMs ?? DEFAULT_MAX_DELAY_MS
  const maxAttempts = options.maxAttempts ?? DEFAULT_MAX_ATTEMPTS
  const idleTimeoutMs = options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS
  let failures = 0
  let serverDelayMs: number | undefined
  for (let connection = 0; ; connection++) {
    throwIfAborted(options.signal)
    const controller = new AbortController()
    const onAbort = (): void => controller.abort(options.signal?.reason)
    options.signal?.addEventListener('abort', onAbort, { once: true })
    let idle = false
    let timer: ReturnType<typeof setTimeout> | undefined
    const arm = (): void => {
      if (timer !== undefined) clearTimeout(timer)
      timer = setTimeout(() => {
        idle = true
        controller.abort(new Error(`no data for ${idleTimeoutMs} ms`))
      }, idleTimeoutMs)
    }
    let error: unknown
    try {
      const opened = await options.connect(controller.signal)
      failures = 0
      arm()
      try {
        for await (const frame of opened.frames) {
          if (frame !== null) {
            // The consumer's own time between frames is not the server's silence.
            clearTimeout(timer)
            yield { frame, connection }
          }
          arm()
        }
      } finally {
        serverDelayMs = opened.retryMs() ?? serverDelayMs
      }
      error = new HarmoniaApiError(ClientErrorCode.network_error, 'the server closed the event stream', {
        status: 0,
      })
    } catch (caught) {
      throwIfAborted(options.signal)
      if (idle) {
        error = new HarmoniaApiError(
          ClientErrorCode.network_error,
          `the event stream sent nothing for ${idleTimeoutMs} ms (not even a heartbeat)`,
          { status: 0, cause: caught },
        )
      } else {
        if (!isRetriable(caught)) throw caught
        error = caught
      }
      failures++
    } finally {
      if (timer !== undefined) clearTimeout(timer)
      options.signal?.removeEventListener('abort', onAbort)
      controller.abort()
    }
    if (failures >= maxAttempts) {
      throw new HarmoniaApiError(
        ClientErrorCode.network_error,
        `the event stream failed ${failures} times in a row; last error: ${(error as Error).message}`,
        { status: (error as HarmoniaApiError).status ?? 0, cause: error },
      )
    }
    const base = options.delayMs ?? serverDelayMs ?? DEFAULT_DELAY_MS
    const delayMs = Math.min(maxDelayMs, base * 2 ** Math.max(0, failures - 1))
    options.onReconnect?.({ attempt: connection + 1, delayMs, error })
    await delay(delayMs, options.signal)
  }
}

/** Network failures, time-outs and server errors may pass; a refused request (4xx) will not. */
function isRetriable(error: unknown): boolean {
  if (!(error instanceof HarmoniaApiError)) return true
  if (error.code === ClientErrorCode.aborted || error.code === ClientErrorCode.invalid_argument) return false
  if (error.status >= 400 && error.status < 500) return error.status === 408 || error.status === 429
  return true
}

function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted === true) {
    throw new HarmoniaApiError(ClientErrorCode.aborted, 'the event stream was aborted', {
      status: 0,
      cause: signal.reason,
    })
  }
}

function delay(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort)
      resolve()
    }, ms)
    const onAbort = (): void => {
      clearTimeout(timer)
      reject(
        new HarmoniaApiError(ClientErrorCode.aborted, 'the event stream was aborted', {
          status: 0,
          cause: signal?.reason,
        }),
      )
    }
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}
