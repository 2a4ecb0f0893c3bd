/**
 * WebSocket streams: `/ws/executions/{id}` (one execution), `/ws/events` (every execution, `?workflow_id=`)
 * and `/ws/workflows` (definition changes). Messages are JSON text frames in the shape of wire-format.ts.
 *
 * - The execution stream starts with a `snapshot`, replays the persisted events after `?after=` (default 0:
 *   the whole history), then stays live. It stays open after the execution finishes, harmlessly: a rerun
 *   appends to the same execution, and the client decides when it has seen enough.
 * - `{"type":"ping"}` from the client gets `{"type":"pong"}`. The server sends protocol pings and a
 *   `{"type":"heartbeat"}` message every `server.heartbeatIntervalMs`; a peer that missed a pong is dropped.
 * - A consumer that lets more than `server.streamMaxQueuedEvents` messages pile up is closed with code 1008
 *   and reason "slow consumer". Shutdown closes with 1001.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { WebSocket } from 'ws'
import { NotFoundError } from '../core/errors.ts'
import { errorBody } from './errors.ts'
import {
  EventStream,
  allEventsFeed,
  executionFeed,
  workflowChangesFeed,
  type FeedSource,
  type StreamEnd,
  type StreamRegistry,
  type StreamTransport,
} from './event-stream.ts'
import { pinoAsLogger } from './logging.ts'
import { ExecutionIdParams, StreamQuery } from './schemas.ts'
import type { Harmonia } from '../harmonia.ts'
import type { StreamMessage } from './wire-format.ts'

export interface StreamRouteOptions {
  harmonia: Harmonia
  registry: StreamRegistry
  /** Copies of the routes under an API prefix are left out of the OpenAPI document. */
  hideFromDocs?: boolean
}

/** Close reasons are limited to 123 bytes by the protocol. */
function closeReason(text: string): string {
  const buffer = Buffer.from(text, 'utf8')
  return buffer.length <= 123 ? text : buffer.subarray(0, 120).toString('utf8') + '...'
}

export function wsTransport(socket: WebSocket): StreamTransport {
  let alive = true
  socket.on('pong', () => {
    alive = true
  })
  const sendControl = (message: object): void => {
    if (socket.readyState === socket.OPEN) socket.send(JSON.stringify(message))
  }
  return {
    kind: 'ws',
    write(message, onFlushed) {
      if (socket.readyState !== socket.OPEN) {
        onFlushed()
        return
      }
      socket.send(JSON.stringify(message), () => onFlushed())
    },
    bufferedBytes: () => socket.bufferedAmount,
    heartbeat() {
      if (!alive) {
        socket.terminate()
        return
      }
      alive = false
      if (socket.readyState !== socket.OPEN) return
      socket.ping()
      sendControl({ type: 'heartbeat', timestamp: new Date().toISOString() })
    },
    end(reason: StreamEnd) {
      if (socket.readyState !== socket.OPEN) return
      const timestamp = new Date().toISOString()
      if (reason.code === 'shutdown') {
        socket.close(1001, 'server shutting down')
      } else if (reason.code === 'finished') {
        socket.close(1000, closeReason(reason.message))
      } else {
        sendControl({
          type: 'error',
          timestamp,
          data: {
            code: reason.code === 'slow_consumer' ? 'slow_consumer' : 'stream_error',
            message: reason.message,
          },
        })
        socket.close(
          reason.code === 'slow_consumer' ? 1008 : 1011,
          closeReason(reason.code === 'slow_consumer' ? 'slow consumer' : reason.message),
        )
      }
      // A peer that does not read cannot complete the closing handshake: cut it after a while.
      setTimeout(() => socket.terminate(), 5_000).unref()
    },
  }
}

/** Answers client messages: `ping` → `pong`; anything that is not JSON gets an error message. */
function answerClientMessages(socket: WebSocket): void {
  socket.on('message', (data, isBinary) => {
    let message: unknown
    try {
      message = JSON.parse(isBinary ? Buffer.from(data as Buffer).toString('utf8') : String(data))
    } catch {
      socket.send(
        JSON.stringify({
          type: 'error',
          timestamp: new Date().toISOString(),
          data: { code: 'invalid_request', message: 'messages must be JSON, e.g. {"type":"ping"}' },
        }),
      )
      return
    }
    if (typeof message === 'object' && message !== null && (message as { type?: unknown }).type === 'ping') {
      socket.send(JSON.stringify({ type: 'pong', timestamp: new Date().toISOString() }))
    }
  })
}

function openStream<T>(
  socket: WebSocket,
  request: FastifyRequest,
  source: FeedSource<T>,
  options: StreamRouteOptions,
): void {
  const server = options.harmonia.config.server
  const stream = new EventStream<T>({
    source,
    transport: wsTransport(socket),
    after: (request.query as { after?: number }).after,
    maxQueued: server.streamMaxQueuedEvents,
    heartbeatIntervalMs: server.heartbeatIntervalMs,
    endWhenFinished: false,
    registry: options.registry,
    logger: pinoAsLogger(request.log),
  })
  const onGone = (): void => stream.close({ code: 'client_closed', message: 'client closed the connection' })
  socket.on('close', onGone)
  socket.on('error', onGone)
  answerClientMessages(socket)
  void stream.start()
}

const upgradeRequired = {
  handler: async (_request: FastifyRequest, reply: import('fastify').FastifyReply) =>
    reply
      .code(426)
      .header('upgrade', 'websocket')
      .send(errorBody('invalid_request', 'this route is a WebSocket: connect with a WebSocket client')),
}

/** Registers the WebSocket routes on `app` (call once per prefix). */
export async function registerWebSocketRoutes(
  app: FastifyInstance,
  options: StreamRouteOptions,
): Promise<void> {
  const { harmonia } = options
  const deps = { engine: harmonia.engine, store: harmonia.store }

  app.route({
    method: 'GET',
    url: '/ws/executions/:execution_id',
    schema: { params: ExecutionIdParams, querystring: StreamQuery },
    config: { stream: true, access: 'read' },
    preHandler: async (request) => {
      const { execution_id: executionId } = request.params as { execution_id: string }
      if ((await harmonia.store.getExecution(executionId)) === undefined) {
        throw new NotFoundError('execution_not_found', `Execution with ID '${executionId}' not found`, {
          execution_id: executionId,
        })
      }
    },
    ...upgradeRequired,
    wsHandler: (socket, request) => {
      const { execution_id: executionId } = request.params as { execution_id: string }
      openStream(socket, request, executionFeed(deps, executionId), options)
    },
  })

  app.route({
    method: 'GET',
    url: '/ws/events',
    schema: { querystring: StreamQuery },
    config: { stream: true, access: 'read' },
    ...upgradeRequired,
    wsHandler: (socket, request) => {
      const { workflow_id: workflowId } = request.query as { workflow_id?: string }
      openStream(
        socket,
        request,
        allEventsFeed(deps, workflowId === undefined ? {} : { workflow_id: workflowId }),
        options,
      )
    },
  })

  app.route({
    method: 'GET',
    url: '/ws/workflows',
    schema: { querystring: StreamQuery },
    config: { stream: true, access: 'read' },
    ...upgradeRequired,
    wsHandler: (socket, request) => {
      openStream(socket, request, workflowChangesFeed(harmonia.workflows), options)
    },
  })
}

export type { StreamMessage }
