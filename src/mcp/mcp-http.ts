/**
 * Streamable HTTP MCP endpoint at `/mcp`, behind the API's key auth (a `write` key: tools change state).
 * Stateless: each POST gets its own MCP server and transport, so any node of a cluster can answer any
 * request and nothing is kept between requests; GET (server-initiated streams) and DELETE answer 405.
 */
import type { FastifyInstance } from 'fastify'
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js'
import type { Harmonia } from '../harmonia.ts'
import { createHarmoniaMcpServer } from './mcp-server.ts'

export interface McpRoutesOptions {
  harmonia: Harmonia
  version?: string
}

export async function mcpRoutes(app: FastifyInstance, options: McpRoutesOptions): Promise<void> {
  app.post('/mcp', { config: { access: 'write' }, schema: { hide: true } }, async (request, reply) => {
    const server = createHarmoniaMcpServer(options.harmonia, {
      ...(options.version === undefined ? {} : { version: options.version }),
    })
    const transport = new StreamableHTTPServerTransport({
      sessionIdGenerator: undefined,
      enableJsonResponse: true,
    })
    reply.hijack()
    reply.raw.on('close', () => {
      void transport.close()
      void server.close()
    })
    await server.connect(transport)
    await transport.handleRequest(request.raw, reply.raw, request.body)
  })
  const notAllowed = {
    jsonrpc: '2.0',
    error: {
      code: -32000,
      message: 'Method not allowed: this MCP endpoint is stateless; POST JSON-RPC messages',
    },
    id: null,
  }
  app.get('/mcp', { config: { access: 'read' }, schema: { hide: true } }, async (_request, reply) =>
    reply.code(405).header('allow', 'POST').send(notAllowed),
  )
  app.delete('/mcp', { config: { access: 'read' }, schema: { hide: true } }, async (_request, reply) =>
    reply.code(405).header('allow', 'POST').send(notAllowed),
  )
}
