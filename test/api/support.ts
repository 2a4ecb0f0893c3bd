/**
 * Test support for the API: a Harmonia on a real store (memory by default, SQLite on request) behind the
 * real app, listening on 127.0.0.1:0 when sockets matter; a `probe` component whose actions echo, fail, or
 * block until released; and small WebSocket and SSE clients that collect messages.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import type { FastifyInstance } from 'fastify'
import type { Logger as PinoLogger } from 'pino'
import WebSocket from 'ws'
import { buildApp } from '../../src/api/app.ts'
import { resolveConfig, type ConfigOverrides } from '../../src/core/config.ts'
import type { ActionHandler, TaskContext } from '../../src/core/component.ts'
import { TaskFailure } from '../../src/core/errors.ts'
import type { JsonValue } from '../../src/core/model.ts'
import { createHarmonia, type Harmonia } from '../../src/harmonia.ts'

export interface Gate {
  /** Resolves once the gated task has been entered. */
  entered: Promise<void>
  release(): void
}

/** A component whose actions tests steer: `echo`, `fail`, `wait` (blocks on a gate named by input.gate). */
export class ProbeComponent {
  readonly calls: Array<{ action: string; task: string; idempotencyKey: string; input: JsonValue }> = []
  readonly #gates = new Map<string, { entered: () => void; released: Promise<void>; gate: Gate }>()

  gate(name: string): Gate {
    let entered!: () => void
    let release!: () => void
    const enteredPromise = new Promise<void>((resolve) => (entered = resolve))
    const released = new Promise<void>((resolve) => (release = resolve))
    const gate = { entered: enteredPromise, release }
    this.#gates.set(name, { entered, released, gate })
    return gate
  }

  #handler(
    name: string,
    run: (input: JsonValue, context: TaskContext) => Promise<JsonValue>,
    description: string,
  ): ActionHandler {
    return {
      descriptor: {
        name,
        description,
        input_schema: { type: 'object' },
      },
      invoke: async (input, context) => {
        this.calls.push({ action: name, task: context.task, idempotencyKey: context.idempotencyKey, input })
        return run(input, context)
      },
    }
  }

  register(harmonia: Harmonia): void {
    harmonia.components.register({ name: 'probe', description: 'test actions', kind: 'builtin' }, [
      this.#handler('echo', async (input) => input, 'answers its input'),
      this.#handler(
        'fail',
        async (input) => {
          const code = (input as { code?: string } | null)?.code ?? 'BOOM'
          throw new TaskFailure(code, `planned failure (${code})`, { retriable: false })
        },
        'always fails',
      ),
      this.#handler(
        'wait',
        async (input, context): Promise<JsonValue> => {
          const name = (input as { gate?: string }).gate ?? context.task
          const entry = this.#gates.get(name)
          if (entry === undefined) return { waited: false }
          entry.entered()
          await Promise.race([
            entry.released,
            new Promise((_, reject) =>
              context.signal.addEventListener('abort', () => reject(context.signal.reason as Error), {
                once: true,
              }),
            ),
          ])
          return { waited: true, gate: name }
        },
        'blocks until the test releases its gate',
      ),
    ])
  }
}

export interface TestServer {
  harmonia: Harmonia
  app: FastifyInstance
  probe: ProbeComponent
  /** `http://127.0.0.1:<port>` when listening. */
  baseUrl: string
  dir: string
  close(): Promise<void>
  [Symbol.asyncDispose](): Promise<void>
}

export interface TestServerOptions {
  flags?: ConfigOverrides
  listen?: boolean
  /** Reuse a data dir (a restart); otherwise a fresh temp dir. */
  dir?: string
  /** The app's pino logger (tests that read the logs). */
  logger?: PinoLogger
}

export async function startTestServer(options: TestServerOptions = {}): Promise<TestServer> {
  const dir = options.dir ?? (await mkdtemp(path.join(tmpdir(), 'harmonia-api-')))
  const flags = options.flags ?? {}
  const config = resolveConfig({
    flags: {
      ...flags,
      dataDir: dir,
      storage: { kind: 'memory', ...flags.storage },
      log: { level: 'silent' },
    },
  })
  const harmonia = await createHarmonia(config, { cwd: dir })
  const probe = new ProbeComponent()
  probe.register(harmonia)
  await harmonia.start()
  let app: FastifyInstance
  try {
    app = await buildApp(harmonia, options.logger === undefined ? {} : { logger: options.logger })
  } catch (error) {
    await harmonia.close()
    throw error
  }
  let baseUrl = ''
  if (options.listen === true) {
    baseUrl = await app.listen({ host: '127.0.0.1', port: 0 })
  }
  let closed = false
  const close = async (): Promise<void> => {
    if (closed) return
    closed = true
    await app.close()
    await harmonia.close()
    if (options.dir === undefined) await rm(dir, { recursive: true, force: true })
  }
  return { harmonia, app, probe, baseUrl, dir, close, [Symbol.asyncDispose]: close }
}

export interface Answer {
  status: number
  body: any // eslint-disable-line @typescript-eslint/no-explicit-any -- tests read arbitrary JSON
  headers: Record<string, string | string[] | undefined>
}

/** One request through inject(); the body is parsed when it is JSON. */
export async function call(
  app: FastifyInstance,
  method: 'GET' | 'POST' | 'PUT' | 'DELETE',
  url: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<Answer> {
  const response = await app.inject({
    method,
    url,
    headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
    ...(body === undefined ? {} : { payload: typeof body === 'string' ? body : JSON.stringify(body) }),
  })
  const type = String(response.headers['content-type'] ?? '')
  return {
    status: response.statusCode,
    body:
      type.includes('application/json') && response.body !== '' ? JSON.parse(response.body) : response.body,
    headers: response.headers as Answer['headers'],
  }
}

/** Asserts the one error shape and returns the error. */
export function errorOf(answer: Answer): { code: string; message: string; details: unknown } {
  const error = answer.body?.error
  if (
    error === undefined ||
    typeof error.code !== 'string' ||
    typeof error.message !== 'string' ||
    !('details' in error)
  ) {
    throw new Error(
      `expected {"error": {code, message, details}}, got ${answer.status} ${JSON.stringify(answer.body)}`,
    )
  }
  return error
}

/** Polls `read` until `done` holds, failing with the last value after the deadline. */
export async function eventually<T>(
  read: () => Promise<T> | T,
  done: (value: T) => boolean,
  options: { timeoutMs?: number; what?: string } = {},
): Promise<T> {
  const deadline = Date.now() + (options.timeoutMs ?? 10_000)
  let last: T
  for (;;) {
    last = await read()
    if (done(last)) return last
    if (Date.now() > deadline) {
      throw new Error(
        `${options.what ?? 'condition'} not reached in time; last value: ${JSON.stringify(last)}`,
      )
    }
    await new Promise((resolve) => setImmediate(resolve))
  }
}

export const twoTaskWorkflow = {
  name: 'two_steps',
  description: 'echo then echo',
  tasks: {
    first: { name: 'first', component: 'probe', action: 'echo', input: { value: '${workflow.input.value}' } },
    second: {
      name: 'second',
      component: 'probe',
      action: 'echo',
      input: { previous: '${tasks.first.output.value}' },
      depends_on: ['first'],
    },
  },
  input: { value: { type: 'string', default: 'hello' } },
  output: { result: '${tasks.second.output.previous}' },
}

/** A workflow whose only task blocks on the gate named `gate` until the test releases it. */
export function gatedWorkflow(gate: string) {
  return {
    name: `gated_${gate}`,
    tasks: {
      hold: { name: 'hold', component: 'probe', action: 'wait', input: { gate } },
      after: {
        name: 'after',
        component: 'probe',
        action: 'echo',
        input: { done: true },
        depends_on: ['hold'],
      },
    },
  }
}

// ----- stream clients -----------------------------------------------------------------------------------------

export interface Message {
  type: string
  timestamp?: string
  execution_id?: string
  workflow_id?: string
  data?: any // eslint-disable-line @typescript-eslint/no-explicit-any -- tests read arbitrary JSON
  seq?: number
  id?: number
}

/** Collects every message of a stream and lets a test await the one it needs. */
export class Collector<M> {
  readonly items: M[] = []
  #waiters: Array<{ test: (items: M[]) => boolean; resolve: () => void }> = []
  ended = false
  endReason: unknown

  push(item: M): void {
    this.items.push(item)
    this.#check()
  }

  /** Re-checks the waiters (something they look at besides the items changed). */
  notify(): void {
    this.#check()
  }

  end(reason?: unknown): void {
    this.ended = true
    this.endReason = reason
    this.#check()
  }

  #check(): void {
    this.#waiters = this.#waiters.filter((w) => {
      if (w.test(this.items) || this.ended) {
        w.resolve()
        return false
      }
      return true
    })
  }

  /** Resolves when `test` holds for what was received (or the stream ended); rejects after the deadline. */
  async until(test: (items: M[]) => boolean, what = 'message', timeoutMs = 10_000): Promise<M[]> {
    if (!test(this.items) && !this.ended) {
      let timer: ReturnType<typeof setTimeout> | undefined
      await Promise.race([
        new Promise<void>((resolve) => this.#waiters.push({ test, resolve })),
        new Promise<void>((_, reject) => {
          timer = setTimeout(
            () =>
              reject(
                new Error(`${what} not received in time; got ${JSON.stringify(this.items).slice(0, 2000)}`),
              ),
            timeoutMs,
          )
        }),
      ]).finally(() => clearTimeout(timer))
    }
    if (!test(this.items)) {
      throw new Error(`stream ended before ${what}; got ${JSON.stringify(this.items).slice(0, 2000)}`)
    }
    return this.items
  }
}

export interface WsClient {
  socket: WebSocket
  messages: Collector<Message>
  closed: Promise<{ code: number; reason: string }>
  close(): Promise<void>
}

export async function openWs(url: string, headers: Record<string, string> = {}): Promise<WsClient> {
  const socket = new WebSocket(url, { headers })
  const messages = new Collector<Message>()
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    socket.on('close', (code, reason) => {
      messages.end({ code, reason: reason.toString() })
      resolve({ code, reason: reason.toString() })
    }),
  )
  socket.on('message', (data) => messages.push(JSON.parse(String(data)) as Message))
  await new Promise<void>((resolve, reject) => {
    socket.once('open', () => resolve())
    socket.once('error', reject)
    // With this listener, ws leaves the refused request open: it is ours to close once read.
    socket.once('unexpected-response', (request, response) => {
      let text = ''
      response.on('data', (chunk: Buffer) => (text += chunk.toString()))
      response.on('end', () => {
        request.destroy()
        reject(
          Object.assign(new Error(`HTTP ${response.statusCode}: ${text}`), {
            status: response.statusCode,
            body: text,
          }),
        )
      })
    })
  })
  return {
    socket,
    messages,
    closed,
    close: async () => {
      if (socket.readyState === WebSocket.CLOSED) return
      socket.close()
      await closed
    },
  }
}

export interface SseEvent {
  event: string
  id?: string
  data: Message
}

export interface SseClient {
  status: number
  headers: Headers
  events: Collector<SseEvent>
  /** Comment lines (heartbeats). */
  comments: string[]
  close(): Promise<void>
}

/** An SSE client over fetch: parses `event:`, `id:`, `data:` and comment lines. */
export async function openSse(url: string, headers: Record<string, string> = {}): Promise<SseClient> {
  const controller = new AbortController()
  const response = await fetch(url, {
    headers: { accept: 'text/event-stream', ...headers },
    signal: controller.signal,
  })
  const events = new Collector<SseEvent>()
  const comments: string[] = []
  if (!response.ok || response.body === null) {
    const text = await response.text()
    throw Object.assign(new Error(`HTTP ${response.status}: ${text}`), {
      status: response.status,
      body: text,
    })
  }
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader()
  const pump = (async () => {
    let buffer = ''
    try {
      for (;;) {
        const { value, done } = await reader.read()
        if (done) break
        buffer += value
        let index: number
        while ((index = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, index)
          buffer = buffer.slice(index + 2)
          let event = 'message'
          let id: string | undefined
          const data: string[] = []
          for (const line of block.split('\n')) {
            if (line.startsWith(':')) {
              comments.push(line.slice(1).trim())
              events.notify()
            } else if (line.startsWith('event: ')) event = line.slice(7)
            else if (line.startsWith('id: ')) id = line.slice(4)
            else if (line.startsWith('data: ')) data.push(line.slice(6))
          }
          if (data.length > 0) {
            events.push({
              event,
              ...(id === undefined ? {} : { id }),
              data: JSON.parse(data.join('\n')) as Message,
            })
          }
        }
      }
      events.end('eof')
    } catch (error) {
      events.end(error)
    }
  })()
  return {
    status: response.status,
    headers: response.headers,
    events,
    comments,
    close: async () => {
      controller.abort()
      await pump
    },
  }
}

/** Event messages only (no snapshot, heartbeat, end or error). */
export function eventsOnly<M extends { type: string }>(items: M[]): M[] {
  const control = new Set(['snapshot', 'heartbeat', 'pong', 'end', 'error'])
  return items.filter((m) => !control.has(m.type))
}
