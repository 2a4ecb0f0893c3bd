/**
 * Test support: a small Hermes on 127.0.0.1 implementing the routes of Tekton's reference under `/api`:
 * register (answers a token), heartbeat (404 for a component it does not know or a wrong token),
 * unregister, and the component list. It records what happened, can forget everything (a Hermes restart)
 * and can stop and start again on the same port.
 */
import { once } from 'node:events'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'

export interface HermesEntry {
  component_id: string
  name: string
  version?: string
  type?: string
  endpoint: string
  capabilities: string[]
  metadata?: Record<string, unknown>
  token: string
  last_heartbeat: string
  status: string
}

export interface HermesLogEntry {
  kind: 'register' | 'heartbeat' | 'heartbeat_unknown' | 'unregister' | 'list'
  component_id?: string
  token?: string
  body?: Record<string, unknown>
}

export interface HermesTestServer {
  readonly url: string
  readonly port: number
  readonly components: Map<string, HermesEntry>
  readonly log: HermesLogEntry[]
  /** Adds a component as if it had registered itself. */
  add(entry: { component_id: string; name?: string; endpoint: string; capabilities?: string[] }): void
  /** Forgets every registration (a restarted Hermes). */
  forget(): void
  stop(): Promise<void>
  start(): Promise<void>
  close(): Promise<void>
}

export async function startHermes(
  options: { port?: number; listen?: boolean } = {},
): Promise<HermesTestServer> {
  const components = new Map<string, HermesEntry>()
  const log: HermesLogEntry[] = []
  let server: Server | undefined
  let port = options.port ?? 0
  let tokens = 0

  const handler = (
    request: import('node:http').IncomingMessage,
    response: import('node:http').ServerResponse,
  ) => {
    const chunks: Buffer[] = []
    request.on('data', (chunk: Buffer) => chunks.push(chunk))
    request.on('end', () => {
      const url = new URL(request.url ?? '/', 'http://localhost')
      const path = url.pathname.replace(/^\/api\/v1\//, '/api/')
      const text = Buffer.concat(chunks).toString('utf8')
      const body = (text === '' ? {} : JSON.parse(text)) as Record<string, unknown>
      const token = request.headers['x-authentication-token']
      const send = (status: number, answer: unknown): void => {
        response.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(answer))
      }
      if (request.method === 'POST' && path === '/api/register') {
        const id = typeof body.component_id === 'string' ? body.component_id : String(body.name).toLowerCase()
        const entry: HermesEntry = {
          component_id: id,
          name: String(body.name),
          ...(typeof body.version === 'string' ? { version: body.version } : {}),
          ...(typeof body.type === 'string' ? { type: body.type } : {}),
          endpoint: String(body.endpoint),
          capabilities: (body.capabilities as string[]) ?? [],
          ...(body.metadata === undefined ? {} : { metadata: body.metadata as Record<string, unknown> }),
          token: `token-${++tokens}`,
          last_heartbeat: new Date().toISOString(),
          status: 'healthy',
        }
        components.set(id, entry)
        log.push({ kind: 'register', component_id: id, body })
        send(200, { success: true, component_id: id, token: entry.token, message: 'registered' })
        return
      }
      if (request.method === 'POST' && path === '/api/heartbeat') {
        const id = String(body.component_id)
        const entry = components.get(id)
        if (entry === undefined || entry.token !== token) {
          log.push({ kind: 'heartbeat_unknown', component_id: id })
          send(404, { detail: `component ${id} is not registered` })
          return
        }
        entry.last_heartbeat = new Date().toISOString()
        log.push({ kind: 'heartbeat', component_id: id, token: String(token), body })
        send(200, { success: true })
        return
      }
      if (request.method === 'POST' && path === '/api/unregister') {
        const id = url.searchParams.get('component_id') ?? ''
        const entry = components.get(id)
        log.push({ kind: 'unregister', component_id: id, token: String(token) })
        if (entry === undefined || entry.token !== token) {
          send(404, { detail: 'not registered' })
          return
        }
        components.delete(id)
        send(200, { success: true })
        return
      }
      if (request.method === 'GET' && path === '/api/components') {
        log.push({ kind: 'list' })
        const list = [...components.values()].map(({ token: _token, ...rest }) => rest)
        send(200, { total: list.length, components: list })
        return
      }
      const one = /^\/api\/components\/([^/]+)$/.exec(path)
      if (request.method === 'GET' && one !== null) {
        const entry = components.get(decodeURIComponent(one[1]!))
        if (entry === undefined) send(404, { detail: 'not found' })
        else send(200, { ...entry, token: undefined })
        return
      }
      send(404, { detail: 'not found' })
    })
  }

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
  if (options.listen !== false) await start()
  return {
    get url() {
      return `http://127.0.0.1:${port}`
    },
    get port() {
      return port
    },
    components,
    log,
    add(entry) {
      components.set(entry.component_id, {
        component_id: entry.component_id,
        name: entry.name ?? entry.component_id,
        endpoint: entry.endpoint,
        capabilities: entry.capabilities ?? [],
        token: `token-${++tokens}`,
        last_heartbeat: new Date().toISOString(),
        status: 'healthy',
      })
    },
    forget() {
      components.clear()
    },
    stop,
    start,
    close: stop,
  }
}

/** A port nothing listens on right now (for a Hermes that is down at first). */
export async function freePort(): Promise<number> {
  const server = createServer()
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const port = (server.address() as AddressInfo).port
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}
