/**
 * Requests over fetch: URLs from a base URL and a path, the API key header, JSON bodies, per-request
 * timeouts joined with the caller's AbortSignal, and every failure turned into a HarmoniaApiError (server
 * errors by their body's code, unreachable servers as `network_error`, time-outs as `timeout`).
 * Uses only what browsers and Node both have: fetch, URL, AbortSignal, Headers.
 */
import { ClientErrorCode, HarmoniaApiError, errorFromAnswer } from './errors.ts'

export type FetchFunction = (input: string | URL | Request, init?: RequestInit) => Promise<Response>

/** Query values; undefined ones are left out, arrays are sent comma-separated. */
export type QueryValue = string | number | boolean | readonly string[] | undefined
export type Query = Readonly<Record<string, QueryValue>>

export interface TransportOptions {
  /** The server, e.g. `http://127.0.0.1:8002` (a path prefix such as `https://host/harmonia` is kept). */
  baseUrl: string
  apiKey?: string
  /** How the key is sent: `X-API-Key` (default) or `Authorization: Bearer`. */
  apiKeyHeader?: 'x-api-key' | 'authorization'
  fetch?: FetchFunction
  /** Longest a request may take, answer included. Default 30 s; streams only bound their connection. */
  timeoutMs?: number
  /** Extra headers sent with every request. */
  headers?: Readonly<Record<string, string>>
}

export interface RequestOptions {
  query?: Query
  /** Sent as JSON. */
  body?: unknown
  headers?: Readonly<Record<string, string>>
  signal?: AbortSignal
  timeoutMs?: number
  /** Statuses besides 2xx whose body is an answer rather than an error (`/health` answers 503 so). */
  acceptStatuses?: readonly number[]
  /** `json` (default) parses the body; `text` returns it as is. */
  responseType?: 'json' | 'text'
}

export interface Answer<T> {
  status: number
  body: T
  headers: Headers
}

export const DEFAULT_TIMEOUT_MS = 30_000

export class HttpTransport {
  readonly baseUrl: string
  readonly #apiKey: string | undefined
  readonly #apiKeyHeader: 'x-api-key' | 'authorization'
  readonly #fetch: FetchFunction
  readonly #timeoutMs: number
  readonly #headers: Readonly<Record<string, string>>

  constructor(options: TransportOptions) {
    this.baseUrl = normalizeBaseUrl(options.baseUrl)
    this.#apiKey = options.apiKey === '' ? undefined : options.apiKey
    this.#apiKeyHeader = options.apiKeyHeader ?? 'x-api-key'
    const given = options.fetch ?? globalThis.fetch
    if (typeof given !== 'function') {
      throw new HarmoniaApiError(
        ClientErrorCode.invalid_argument,
        'no fetch function: this runtime has no global fetch; pass one as the `fetch` option',
        { status: 0 },
      )
    }
    // A global fetch called as a method of another object throws "Illegal invocation" in browsers.
    this.#fetch = options.fetch ?? ((input, init) => globalThis.fetch(input, init))
    this.#timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS
    this.#headers = options.headers ?? {}
  }

  get apiKey(): string | undefined {
    return this.#apiKey
  }

  /** The absolute URL of `path` (which starts with `/`) with the query appended. */
  url(path: string, query: Query = {}): string {
    const search = new URLSearchParams()
    for (const [name, value] of Object.entries(query)) {
      if (value === undefined) continue
      search.append(name, Array.isArray(value) ? value.join(',') : String(value))
    }
    const text = search.toString()
    return `${this.baseUrl}${path}${text === '' ? '' : `?${text}`}`
  }

  headers(extra: Readonly<Record<string, string>> = {}, accept = 'application/json'): Headers {
    const headers = new Headers({ accept, ...this.#headers, ...extra })
    if (this.#apiKey !== undefined) {
      if (this.#apiKeyHeader === 'authorization') headers.set('authorization', `Bearer ${this.#apiKey}`)
      else headers.set('x-api-key', this.#apiKey)
    }
    return headers
  }

  async request<T>(method: string, path: string, options: RequestOptions = {}): Promise<Answer<T>> {
    const headers = this.headers(
      options.headers,
      options.responseType === 'text' ? 'text/plain, */*' : 'application/json',
    )
    let body: string | undefined
    if (options.body !== undefined) {
      headers.set('content-type', 'application/json')
      body = JSON.stringify(options.body)
    }
    const timeoutMs = options.timeoutMs ?? this.#timeoutMs
    const deadline = deadlineSignal(timeoutMs, options.signal)
    const context = { method, path }
    try {
      let response: Response
      try {
        response = await this.#fetch(this.url(path, options.query), {
          method,
          headers,
          ...(body === undefined ? {} : { body }),
          signal: deadline.signal,
        })
      } catch (error) {
        throw this.#requestFailure(error, deadline, timeoutMs, context)
      }
      let text: string
      try {
        text = await response.text()
      } catch (error) {
        throw this.#requestFailure(error, deadline, timeoutMs, context)
      }
      const requestId = response.headers.get('x-request-id') ?? undefined
      if (!response.ok && !(options.acceptStatuses ?? []).includes(response.status)) {
        throw errorFromAnswer(response.status, text, {
          ...context,
          ...(requestId === undefined ? {} : { requestId }),
        })
      }
      if (options.responseType === 'text') {
        return { status: response.status, body: text as T, headers: response.headers }
      }
      return {
        status: response.status,
        body: parseJson<T>(text, response, context),
        headers: response.headers,
      }
    } finally {
      deadline.clear()
    }
  }

  /**
   * Opens a streaming GET (SSE) and answers once the headers arrived; the timeout bounds only that. Error
   * answers become HarmoniaApiError as for any request.
   */
  async openStream(
    path: string,
    options: { query?: Query; headers?: Readonly<Record<string, string>>; signal: AbortSignal },
  ): Promise<Response> {
    const deadline = deadlineSignal(this.#timeoutMs, options.signal)
    const context = { method: 'GET', path }
    let response: Response
    try {
      response = await this.#fetch(this.url(path, options.query), {
        method: 'GET',
        headers: this.headers(options.headers, 'text/event-stream'),
        signal: deadline.signal,
        cache: 'no-store',
      })
    } catch (error) {
      deadline.clear()
      throw this.#requestFailure(error, deadline, this.#timeoutMs, context)
    }
    // The body keeps following the caller's signal: only the connection time is bounded.
    deadline.clearTimer()
    if (!response.ok) {
      const text = await response.text().catch(() => '')
      const requestId = response.headers.get('x-request-id') ?? undefined
      throw errorFromAnswer(response.status, text, {
        ...context,
        ...(requestId === undefined ? {} : { requestId }),
      })
    }
    return response
  }

  #requestFailure(
    error: unknown,
    deadline: Deadline,
    timeoutMs: number,
    context: { method: string; path: string },
  ): HarmoniaApiError {
    if (error instanceof HarmoniaApiError) return error
    if (deadline.timedOut()) {
      return new HarmoniaApiError(
        ClientErrorCode.timeout,
        `${context.method} ${context.path}: no answer from ${this.baseUrl} within ${timeoutMs} ms`,
        { status: 0, details: { timeout_ms: timeoutMs }, cause: error },
      )
    }
    if (deadline.callerAborted()) {
      return new HarmoniaApiError(ClientErrorCode.aborted, `${context.method} ${context.path}: aborted`, {
        status: 0,
        cause: error,
      })
    }
    return networkError(error, `${context.method} ${context.path}`, this.baseUrl)
  }
}

/** A failure to reach the server or a broken connection, with the underlying reason in the message. */
export function networkError(error: unknown, what: string, baseUrl: string): HarmoniaApiError {
  return new HarmoniaApiError(
    ClientErrorCode.network_error,
    `${what}: cannot reach ${baseUrl}: ${describeCause(error)}`,
    { status: 0, cause: error },
  )
}

/** `fetch failed` hides the reason in `cause` (ECONNREFUSED and the like); show it. */
function describeCause(error: unknown): string {
  const messages: string[] = []
  let current: unknown = error
  for (let depth = 0; depth < 4 && current instanceof Error; depth++) {
    const code = (current as { code?: unknown }).code
    const text =
      typeof code === 'string' && !current.message.includes(code)
        ? `${code} ${current.message}`
        : current.message
    if (text !== '' && !messages.includes(text)) messages.push(text)
    current = current.cause
  }
  return messages.length === 0 ? String(error) : messages.join(': ')
}

function parseJson<T>(text: string, response: Response, context: { method: string; path: string }): T {
  if (text === '') return undefined as T
  try {
    return JSON.parse(text) as T
  } catch (error) {
    const requestId = response.headers.get('x-request-id') ?? undefined
    throw new HarmoniaApiError(
      ClientErrorCode.unexpected_response,
      `${context.method} ${context.path} answered HTTP ${response.status} with a body that is not JSON: ${text.slice(0, 200)}`,
      {
        status: response.status,
        details: { body: text.slice(0, 500) },
        cause: error,
        ...(requestId === undefined ? {} : { requestId }),
      },
    )
  }
}

function normalizeBaseUrl(baseUrl: string): string {
  let url: URL
  try {
    url = new URL(baseUrl)
  } catch {
    throw new HarmoniaApiError(
      ClientErrorCode.invalid_argument,
      `baseUrl '${baseUrl}' is not a URL; expected for example http://127.0.0.1:8002`,
      { status: 0 },
    )
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new HarmoniaApiError(
      ClientErrorCode.invalid_argument,
      `baseUrl '${baseUrl}' must use http or https, not ${url.protocol.replace(':', '')}`,
      { status: 0 },
    )
  }
  if (url.search !== '' || url.hash !== '') {
    throw new HarmoniaApiError(
      ClientErrorCode.invalid_argument,
      `baseUrl '${baseUrl}' must not have a query or fragment`,
      { status: 0 },
    )
  }
  return `${url.origin}${url.pathname.replace(/\/+$/, '')}`
}

interface Deadline {
  signal: AbortSignal
  timedOut(): boolean
  callerAborted(): boolean
  /** Stops the timer; the caller's signal still aborts. */
  clearTimer(): void
  /** Stops the timer and forgets the caller's signal. */
  clear(): void
}

/** A signal that aborts after `timeoutMs` or when the caller's signal aborts, telling which happened. */
export function deadlineSignal(timeoutMs: number, caller: AbortSignal | undefined): Deadline {
  const controller = new AbortController()
  let timedOut = false
  const timer =
    Number.isFinite(timeoutMs) && timeoutMs > 0
      ? setTimeout(() => {
          timedOut = true
          controller.abort(new Error(`timed out after ${timeoutMs} ms`))
        }, timeoutMs)
      : undefined
  const onAbort = (): void => controller.abort(caller?.reason)
  if (caller?.aborted === true) controller.abort(caller.reason)
  else caller?.addEventListener('abort', onAbort, { once: true })
  return {
    signal: controller.signal,
    timedOut: () => timedOut,
    callerAborted: () => caller?.aborted === true,
    clearTimer() {
      if (timer !== undefined) clearTimeout(timer)
    },
    clear() {
      if (timer !== undefined) clearTimeout(timer)
      caller?.removeEventListener('abort', onAbort)
    },
  }
}

/** An id as one path segment: encoded, and never empty. */
export function segment(value: string, what: string): string {
  if (typeof value !== 'string' || value === '') {
    throw new HarmoniaApiError(
      ClientErrorCode.invalid_argument,
      `${what} must be a non-empty string, got ${JSON.stringify(value)}`,
      { status: 0 },
    )
  }
  return encodeURIComponent(value)
}
