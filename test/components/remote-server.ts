/**
 * Test support: a real HTTP server on 127.0.0.1 speaking Tekton's component protocol —
 * `GET /api/capabilities`, `GET /api/actions/{action}/schema`, `POST /api/actions/{action}` with
 * `{action, params, context}` — whose actions the test writes as functions. It records every call, and can
 * stop and start again on the same port (a component that goes down and comes back).
 */
import { once } from 'node:events'
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'

export interface RemoteCall {
  action: string
  body: { action?: string; params?: unknown; context?: Record<string, unknown> }
  headers: IncomingHttpHeaders
}

export interface RemoteActionSpec {
  description?: string
  input_schema?: object
  /** Served at /api/actions/{action}/schema instead of in the capabilities. */
  schema_route?: object
  /** The answer: a JSON value (status 200), or `{status, body}` via `reply`. */
  run: (params: unknown, call: RemoteCall) => unknown | Promise<unknown>
}

export class Reply {
  readonly status: number
  readonly body: unknown
  constructor(status: number, body: unknown) {
    this.status = status
    this.body = body
  }
}

export interface RemoteComponentServer {
  readonly baseUrl: string
  readonly port: number
  readonly calls: RemoteCall[]
  /** Requests of any kind, as `METHOD path`. */
  readonly requests: string[]
  actions: Record<string, RemoteActionSpec>
  stop(): Promise<void>
  start(): Promise<void>
  close(): Promise<void>
}

export async function startRemoteComponent(
  actions: Record<string, RemoteActionSpec>,
  options: { port?: number } = {},
): Promise<RemoteComponentServer> {
  const calls: RemoteCall[] = []
  const requests: string[] = []
  let server: Server | undefined
  const state = { actions }

  const handler = (
    request: import('node:http').IncomingMessage,
    response: import('node:http').ServerResponse,
  ) => {
    const chunks: Buffer[] = []
    request.on('data', (chunk: Buffer) => chunks.push(chunk))
    request.on('end', () => {
      void (async () => {
        const path = new URL(request.url ?? '/', 'http://localhost').pathname
        requests.push(`${request.method} ${path}`)
        const send = (status: number, body: unknown): void => {
          response.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body))
        }
        if (request.method === 'GET' && path === '/api/capabilities') {
          send(200, {
            capabilities: Object.entries(state.actions).map(([name, spec]) => ({
              name,
              ...(spec.description === undefined ? {} : { description: spec.description }),
              ...(spec.input_schema === undefined ? {} : { input_schema: spec.input_schema }),
            })),
          })
          return
        }
        const schema = /^\/api\/actions\/([^/]+)\/schema$/.exec(path)
        if (request.method === 'GET' && schema !== null) {
          const spec = state.actions[decodeURIComponent(schema[1]!)]
          if (spec?.schema_route === undefined) send(404, { detail: 'no schema' })
          else send(200, spec.schema_route)
          return
        }
        const call = /^\/api\/actions\/([^/]+)$/.exec(path)
        if (request.method === 'POST' && call !== null) {
          const action = decodeURIComponent(call[1]!)
          const spec = state.actions[action]
          const text = Buffer.concat(chunks).toString('utf8')
          const recorded: RemoteCall = {
            action,
            body: text === '' ? {} : (JSON.parse(text) as RemoteCall['body']),
            headers: request.headers,
          }
          calls.push(recorded)
          if (spec === undefined) {
            send(404, { detail: `unknown action ${action}` })
            return
          }
          try {
            const answer = await spec.run(recorded.body.params, recorded)
            if (answer instanceof Reply) send(answer.status, answer.body)
            else send(200, answer)
          } catch (error) {
            send(500, { error: (error as Error).message })
          }
          return
        }
        send(404, { detail: 'not found' })
      })()
    })
  }

  let port = options.port ?? 0
  const start = async (): Promise<void> => {
    server = createServer(handler)
    server.listen(port, '127.0.0.1')
    await once(server, 'listening')
    port = (server.address() as AddressInfo).port
  }
  const stop = async (): Promise<void> => {
    if (server === undefined) return
    const closing = server
    server = undefined
    closing.closeAllConnections()
    await new Promise<void>((resolve) => closing.close(() => resolve()))
  }
  await start()
  return {
    get baseUrl() {
      return `http://127.0.0.1:${port}`
    },
    get port() {
      return port
    },
    calls,
    requests,
    get actions() {
      return state.actions
    },
    set actions(value) {
      state.actions = value
    },
    stop,
    start,
    close: stop,
  }
}
