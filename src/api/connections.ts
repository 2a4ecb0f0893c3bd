/**
 * Graceful close for keep-alive connections. Node closes idle connections when the server closes, but a
 * client may hold sockets Node does not count as idle (a pooled connection that never sent a request, one
 * whose request just finished); they would hold shutdown until the client's own timeout. This tracks each
 * connection's requests in flight: when the app closes, connections with none are ended at once, and the
 * others right after their last answer. Requests in flight are never cut.
 */
import type { FastifyInstance } from 'fastify'
import type { Socket } from 'node:net'

export function installConnectionReaper(app: FastifyInstance): void {
  const inFlight = new Map<Socket, number>()
  let closing = false
  const release = (socket: Socket): void => {
    const count = (inFlight.get(socket) ?? 1) - 1
    inFlight.set(socket, count)
    if (closing && count === 0) socket.destroySoon()
  }
  app.server.on('connection', (socket: Socket) => {
    inFlight.set(socket, 0)
    socket.once('close', () => inFlight.delete(socket))
  })
  app.addHook('onRequest', async (request) => {
    const socket = request.raw.socket
    if (inFlight.has(socket)) inFlight.set(socket, inFlight.get(socket)! + 1)
  })
  app.addHook('onResponse', async (request) => {
    const socket = request.raw.socket
    if (inFlight.has(socket)) release(socket)
  })
  app.addHook('preClose', async () => {
    closing = true
    for (const [socket, count] of inFlight) if (count === 0) socket.destroySoon()
  })
}
