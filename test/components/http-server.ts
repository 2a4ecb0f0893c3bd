/**
 * Test support: a real HTTP server on 127.0.0.1, port 0, whose answers the test sets per path. It records
 * every request (method, url, headers, body) and lets the test wait for a request to arrive.
 */
import { once } from 'node:events'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'

export interface RecordedRequest {
  method: string
  url: string
  headers: IncomingMessage['headers']
  rawHeaders: string[]
  body: string
}

export type Route = (request: IncomingMessage, response: ServerResponse, body: string) => void

export interface TestServer {
  readonly baseUrl: string
  readonly port: number
  readonly requests: RecordedRequest[]
  route(path: string, handler: Route): void
  /** Resolves with the request (and its live socket) once `count` requests have arrived. */
  arrived(count?: number): Promise<{ request: IncomingMessage; recorded: RecordedRequest }>
  close(): Promise<void>
}

export async function startServer(): Promise<TestServer> {
  const routes = new Map<string, Route>()
  const requests: RecordedRequest[] = []
  const live: IncomingMessage[] = []
  const waiters: Array<{
    count: number
    resolve: (value: { request: IncomingMessage; recorded: RecordedRequest }) => void
  }> = []
  const server = createServer((request, response) => {
    const chunks: Buffer[] = []
    request.on('data', (chunk: Buffer) => chunks.push(chunk))
    request.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8')
      const recorded: RecordedRequest = {
        method: request.method ?? '',
        url: request.url ?? '',
        headers: request.headers,
        rawHeaders: request.rawHeaders,
        body,
      }
      requests.push(recorded)
      live.push(request)
      for (const waiter of waiters.filter((w) => w.count <= requests.length)) {
        waiters.splice(waiters.indexOf(waiter), 1)
        waiter.resolve({ request: live[waiter.count - 1]!, recorded: requests[waiter.count - 1]! })
      }
      const path = new URL(request.url ?? '/', 'http://localhost').pathname
      const handler = routes.get(path)
      if (handler === undefined) {
        response.writeHead(404, { 'content-type': 'text/plain' }).end(`no route ${path}`)
        return
      }
      handler(request, response, body)
    })
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const port = (server.address() as AddressInfo).port
  return {
    baseUrl: `http://127.0.0.1:${port}`,
    port,
    requests,
    route: (path, handler) => void routes.set(path, handler),
    arrived: (count = 1) =>
      requests.length >= count
        ? Promise.resolve({ request: live[count - 1]!, recorded: requests[count - 1]! })
        : new Promise((resolve) => waiters.push({ count, resolve })),
    async close() {
      server.closeAllConnections()
      await new Promise<void>((resolve, reject) =>
        server.close((error) => (error ? reject(error) : resolve())),
      )
    },
  }
}
