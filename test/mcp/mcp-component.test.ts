import assert from 'node:assert/strict'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { after, before, describe, it } from 'node:test'
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js'
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js'
import * as z from 'zod'
import { resolveConfig } from '../../src/core/config.ts'
import { createHarmonia, type Harmonia } from '../../src/harmonia.ts'

const ROOT = path.resolve(import.meta.dirname, '../..')

/** A real MCP server on 127.0.0.1 with an `add` tool and a `boom` tool that answers an error. */
function startToolServer(): Promise<{ server: Server; url: string; calls: unknown[] }> {
  const calls: unknown[] = []
  const server = createServer((request, response) => {
    let body = ''
    request.on('data', (chunk: Buffer) => (body += chunk.toString()))
    request.on('end', () => {
      const mcp = new McpServer({ name: 'calc', version: '1.0.0' })
      mcp.registerTool(
        'add',
        { description: 'Adds two numbers', inputSchema: { a: z.number(), b: z.number() } },
        async ({ a, b }) => {
          calls.push({ a, b, auth: request.headers['x-token'] })
          return { content: [{ type: 'text', text: String(a + b) }], structuredContent: { sum: a + b } }
        },
      )
      mcp.registerTool('boom', { description: 'Always fails', inputSchema: {} }, async () => ({
        isError: true,
        content: [{ type: 'text', text: 'the tool broke' }],
      }))
      const transport = new StreamableHTTPServerTransport({
        sessionIdGenerator: undefined,
        enableJsonResponse: true,
      })
      response.on('close', () => void mcp.close())
      void mcp
        .connect(transport)
        .then(() => transport.handleRequest(request, response, body === '' ? undefined : JSON.parse(body)))
    })
  })
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve({ server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/mcp`, calls }),
    ),
  )
}

describe('mcp component', () => {
  let harmonia: Harmonia
  let tools: Awaited<ReturnType<typeof startToolServer>>
  let dir: string
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'harmonia-mcp-component-'))
    tools = await startToolServer()
    harmonia = await createHarmonia(
      resolveConfig({
        flags: {
          dataDir: dir,
          storage: { kind: 'memory' },
          log: { level: 'silent' },
          components: { shell: { enabled: true } },
        },
      }),
      { cwd: dir },
    )
    await harmonia.start()
  })
  after(async () => {
    await harmonia.close()
    await new Promise((resolve) => tools.server.close(resolve))
    await rm(dir, { recursive: true, force: true })
  })

  it('a task calls a tool of a real MCP server over streamable HTTP', async () => {
    const started = await harmonia.engine.startExecution({
      workflow: {
        name: 'calc',
        tasks: [
          {
            name: 'sum',
            component: 'mcp',
            action: 'call_tool',
            input: {
              url: tools.url,
              headers: { 'x-token': 't1' },
              tool: 'add',
              arguments: { a: '${input.a}', b: 2 },
            },
          },
        ],
      },
      input: { a: 40 },
    } as never)
    const done = await harmonia.engine.waitForExecution(started.execution_id, { timeoutMs: 15_000 })
    assert.equal(done.status, 'completed', JSON.stringify(done.error))
    const detail = await harmonia.engine.getExecution(started.execution_id)
    const sum = detail.tasks.find((t) => t.task === 'sum')!
    assert.deepEqual((sum.output as { structured_content: unknown }).structured_content, { sum: 42 })
    assert.equal((sum.output as { text: string }).text, '42')
    assert.deepEqual(tools.calls, [{ a: 40, b: 2, auth: 't1' }])
  })

  it('a tool answering an error fails the task with MCP_TOOL_ERROR naming the tool', async () => {
    const started = await harmonia.engine.startExecution({
      workflow: {
        name: 'broken',
        tasks: [
          { name: 'b', component: 'mcp', action: 'call_tool', input: { url: tools.url, tool: 'boom' } },
        ],
      },
    } as never)
    const done = await harmonia.engine.waitForExecution(started.execution_id, { timeoutMs: 15_000 })
    assert.equal(done.status, 'failed')
    assert.match(JSON.stringify(done.error), /MCP_TOOL_ERROR/)
    assert.match(JSON.stringify(done.error), /boom.*the tool broke/)
  })

  it('a task calls a tool of an MCP server started by command (stdio): harmonia mcp itself', async () => {
    const started = await harmonia.engine.startExecution({
      workflow: {
        name: 'stdio',
        tasks: [
          {
            name: 'list',
            component: 'mcp',
            action: 'call_tool',
            input: {
              command: path.join(ROOT, 'node_modules/.bin/node'),
              args: [path.join(ROOT, 'bin/harmonia.js'), 'mcp', '--storage', 'memory', '--data-dir', dir],
              tool: 'ListComponents',
            },
          },
        ],
      },
    } as never)
    const done = await harmonia.engine.waitForExecution(started.execution_id, { timeoutMs: 30_000 })
    assert.equal(done.status, 'completed', JSON.stringify(done.error))
    const detail = await harmonia.engine.getExecution(started.execution_id)
    assert.match((detail.tasks[0]!.output as { text: string }).text, /"name": "core"/)
  })
})
