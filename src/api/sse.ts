/**
 * Server-Sent Events: `/events/executions/{id}` (one execution) and `/events` (every execution,
 * `?workflow_id=`). Each message is `event: <type>`, `id: <position>` and one `data:` line of JSON in the
 * shape of wire-format.ts; the position is the execution's `seq` on the first route and the global event id
 * on the second, so a browser's EventSource resumes exactly where it stopped (`Last-Event-ID`).
 *
 * - A stream starts with `event: snapshot` (no id), then the persisted events after the client's position,
 *   then live events; comment lines keep it alive every `server.heartbeatIntervalMs`.
 * - The stream of one execution ends once the execution has finished and its events are sent: it sends
 *   `event: end` and closes, so an EventSource should call close() on `end` instead of reconnecting.
 * - A slow consumer gets a final `event: error` (code `slow_consumer`) and the connection is closed.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { ServerResponse } from 'node:http'
import { InvalidRequestError, NotFoundError } from '../core/errors.ts'
import {
  EventStream,
  allEventsFeed,
  executionFeed,
  type FeedSource,
  type StreamEnd,
  type StreamTransport,
} from './event-stream.ts'
import { pinoAsLogger } from './logging.ts'
import { ExecutionIdParams, StreamQuery } from './schemas.ts'
import type { StreamRouteOptions } from './ws.ts'
import type { StreamMessage } from './wire-format.ts'

function frame(event: string, data: string, id?: number): string {
  return `${id === undefined ? '' : `id: ${id}\n`}event: ${event}\ndata: ${data}\n\n`
}

export function sseTransport(
  response: ServerResponse,
  idOf: (message: StreamMessage) => number | undefined,
): StreamTransport {
  const writable = (): boolean => !response.writableEnded && !response.destroyed
  return {
    kind: 'sse',
    write(message, onFlushed) {
      if (!writable()) {
        onFlushed()
        return
      }
      const id = message.type === 'snapshot' ? undefined : idOf(message)
      response.write(frame(message.type, JSON.stringify(message), id), () => onFlushed())
    },
    bufferedBytes: () => (writable() ? response.writableLength : 0),
    heartbeat() {
      if (writable()) response.write(`: heartbeat ${new Date().toISOString()}\n\n`)
    },
    end(reason: StreamEnd) {
      if (!writable()) return
      const timestamp = new Date().toISOString()
      if (reason.code === 'finished') {
        response.end(
          frame('end', JSON.stringify({ type: 'end', timestamp, data: { reason: reason.message } })),
        )
      } else if (reason.code === 'shutdown') {
        response.end(': server shutting down\n\n')
      } else {
        const code = reason.code === 'slow_consumer' ? 'slow_consumer' : 'stream_error'
        response.end(
          frame(
            'error',
            JSON.stringify({ type: 'error', timestamp, data: { code, message: reason.message } }),
          ),
        )
        // A peer that does not read would keep the socket (and what is queued on it): cut it after a while.
        setTimeout(() => response.destroy(), 5_000).unref()
      }
    },
  }
}

/** The client's position: `Last-Event-ID` (an EventSource reconnecting) wins over `?after=`. */
function clientPosition(request: FastifyRequest): number | undefined {
  const header = request.headers['last-event-id']
  if (typeof header === 'string' && header.trim() !== '') {
    const value = Number(header.trim())
    if (!Number.isSafeInteger(value) || value < 0) {
      throw new InvalidRequestError(`Last-Event-ID '${header}' is not a non-negative integer`)
    }
    return value
  }
  return (request.query as { after?: number }).after
}

function openStream<T>(
  request: FastifyRequest,
  reply: FastifyReply,
  source: FeedSource<T>,
  options: StreamRouteOptions & { endWhenFinished: boolean; idOf: (m: StreamMessage) => number | undefined },
): void {
  const after = clientPosition(request)
  const server = options.harmonia.config.server
  reply.hijack()
  const response = reply.raw
  response.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache, no-transform',
    // The connection serves this stream only: closed with it, so shutdown never waits on an idle socket.
    connection: 'close',
    'x-accel-buffering': 'no',
    'x-request-id': String(request.id),
  })
  response.write('retry: 2000\n\n')
  const stream = new EventStream<T>({
    source,
    transport: sseTransport(response, options.idOf),
    after,
    maxQueued: server.streamMaxQueuedEvents,
    heartbeatIntervalMs: server.heartbeatIntervalMs,
    endWhenFinished: options.endWhenFinished,
    registry: options.registry,
    logger: pinoAsLogger(request.log),
  })
  response.on('close', () => stream.close({ code: 'client_closed', message: 'client closed the connection' }))
  void stream.start()
}

/** Registers the SSE routes on `app` (call once per prefix). */
export async function registerSseRoutes(app: FastifyInstance, options: StreamRouteOptions): Promise<void> {
  const { harmonia } = options
  const deps = { engine: harmonia.engine, store: harmonia.store }

  app.get(
    '/events/executions/:execution_id',
    {
      schema: {
        tags: ['streams'],
        summary:
          'Server-Sent Events of one execution: snapshot, history after Last-Event-ID or ?after=, then live',
        params: ExecutionIdParams,
        querystring: StreamQuery,
        produces: ['text/event-stream'],
        hide: options.hideFromDocs === true,
      },
      config: { stream: true, access: 'read' },
    },
    async (request, reply) => {
      const { execution_id: executionId } = request.params as { execution_id: string }
      if ((await harmonia.store.getExecution(executionId)) === undefined) {
        throw new NotFoundError('execution_not_found', `Execution with ID '${executionId}' not found`, {
          execution_id: executionId,
        })
      }
      openStream(request, reply, executionFeed(deps, executionId), {
        ...options,
        endWhenFinished: true,
        idOf: (message) => message.seq,
      })
    },
  )

  app.get(
    '/events',
    {
      schema: {
        tags: ['streams'],
        summary: 'Server-Sent Events of every execution (ids are global event ids)',
        querystring: StreamQuery,
        produces: ['text/event-stream'],
        hide: options.hideFromDocs === true,
      },
      config: { stream: true, access: 'read' },
    },
    async (request, reply) => {
      const { workflow_id: workflowId } = request.query as { workflow_id?: string }
      openStream(
        request,
        reply,
        allEventsFeed(deps, workflowId === undefined ? {} : { workflow_id: workflowId }),
        {
          ...options,
          endWhenFinished: false,
          idOf: (message) => message.id,
        },
      )
    },
  )
}
