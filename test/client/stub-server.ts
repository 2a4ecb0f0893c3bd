/**
 * A small node:http server for client tests that need to control the wire exactly: it records every
 * request (method, path, query, headers, body) and answers with the handler the test registered for
 * `METHOD /path`, or 404 in the API's error shape.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'

export interface RecordedRequest {
  method: string
  path: string
  query: URLSearchParams
  headers: IncomingMessage['headers']
  body: string
  json: unknown
}

export type StubHandler = (request: RecordedRequest, response: ServerResponse) => void | Promise<void>

export interface StubServer {
  baseUrl: string
  requests: RecordedRequest[]
  on(route: string, handler: StubHandler): void
  /** Forgets every handler and recorded request. */
  reset(): void
  /** Destroys every open connection (a network failure as the client sees it). */
  dropConnections(): void
  close(): Promise<void>
}

export async function startStubServer(): Promise<StubServer> {
  const handlers = new Map<string, StubHandler>()
  const requests: RecordedRequest[] = []
  const sockets = new Set<Socket>()
  const server: Server = createServer(async (incoming, response) => {
    const chunks: Buffer[] = []
    for await (const chunk of incoming) chunks.push(chunk as Buffer)
    const body = Buffer.concat(chunks).toString('utf8')
    const url = new URL(incoming.url ?? '/', 'http://stub')
    let json: unknown
    try {
      json = body === '' ? undefined : JSON.parse(body)
    } catch {
      json = undefined
    }
    const request: RecordedRequest = {
      method: incoming.method ?? 'GET',
      path: url.pathname,
      query: url.searchParams,
      headers: incoming.headers,
      body,
      json,
    }
    requests.push(request)
    const handler = handlers.get(`${request.method} ${request.path}`)
    if (handler === undefined) {
      sendJson(response, 404, {
        error: { code: 'not_found', message: `no route ${request.method} ${request.path}`, details: {} },
      })
      return
    }
    await handler(request, response)
  })
  server.on('connection', (socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    baseUrl: `http://127.0.0.1:${port}`,
    requests,
    on: (route, handler) => handlers.set(route, handler),
    reset: () => {
      handlers.clear()
      requests.length = 0
    },
    dropConnections: () => {
      for (const socket of sockets) socket.destroy()
    },
    close: async () => {
      for (const socket of sockets) socket.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}

export function sendJson(
  response: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(body)
  response.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers })
  response.end(text)
}

/** Starts an SSE answer the way Harmonia does (status, headers, `retry:`). */
export function startSse(response: ServerResponse, retryMs = 10): void {
  response.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' })
  response.write(`retry: ${retryMs}\n\n`)
}

export function sseFrame(event: string, data: unknown, id?: number): string {
  return `${id === undefined ? '' : `id: ${id}\n`}event: ${event}\ndata: ${JSON.stringify(data)}\n\n`
}
