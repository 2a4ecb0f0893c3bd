import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { after, describe, it } from 'node:test'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { startTestServer } from '../api/support.ts'

const ROOT = path.resolve(import.meta.dirname, '../..')
const WRITE_KEY = 'mcp-write-key-0123456789'
const READ_KEY = 'mcp-read-key-0123456789'

const EXPECTED_TOOLS = [
  'CreateWorkflowDefinition',
  'UpdateWorkflowDefinition',
  'DeleteWorkflowDefinition',
  'GetWorkflowDefinition',
  'ListWorkflowDefinitions',
  'ExecuteWorkflow',
  'CancelWorkflowExecution',
  'PauseWorkflowExecution',
  'ResumeWorkflowExecution',
  'GetWorkflowExecutionStatus',
  'ListWorkflowExecutions',
  'CreateTemplate',
  'InstantiateTemplate',
  'ListTemplates',
  'ListComponents',
  'GetComponentActions',
  'ExecuteComponentAction',
]

const definition = {
  name: 'mcp-hello',
  tasks: [
    { name: 'greet', component: 'core', action: 'echo', input: { message: 'hello ${input.who}' } },
    {
      name: 'shout',
      component: 'core',
      action: 'echo',
      input: { loud: '${tasks.greet.output.message}' },
      depends_on: ['greet'],
    },
  ],
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- tests read arbitrary JSON
async function callJson(client: Client, name: string, args: Record<string, unknown>): Promise<any> {
  const result = await client.callTool({ name, arguments: args })
  const content = result.content as Array<{ type: string; text: string }>
  assert.equal(result.isError ?? false, false, `${name} failed: ${content[0]?.text}`)
  return JSON.parse(content[0]!.text)
}

async function createRunAndWait(client: Client): Promise<void> {
  const { tools } = await client.listTools()
  const names = tools.map((tool) => tool.name)
  for (const expected of EXPECTED_TOOLS) assert.ok(names.includes(expected), `tool ${expected} listed`)
  const create = tools.find((tool) => tool.name === 'CreateWorkflowDefinition')!
  assert.equal(create.inputSchema.type, 'object')
  assert.deepEqual(create.inputSchema.required, ['definition'])
  assert.ok((create.description ?? '').length > 20)

  const saved = await callJson(client, 'CreateWorkflowDefinition', { definition })
  assert.equal(typeof saved.workflow_id, 'string')
  const started = await callJson(client, 'ExecuteWorkflow', {
    workflow_id: saved.workflow_id,
    input: { who: 'mcp' },
  })
  assert.equal(typeof started.execution_id, 'string')

  const deadline = Date.now() + 15_000
  let status: { status: string; output?: unknown; tasks: Array<{ task: string; status: string }> }
  for (;;) {
    status = await callJson(client, 'GetWorkflowExecutionStatus', { execution_id: started.execution_id })
    if (['completed', 'failed', 'cancelled'].includes(status.status)) break
    assert.ok(Date.now() < deadline, `execution still ${status.status} after 15 s`)
    await new Promise((resolve) => setImmediate(resolve))
  }
  assert.equal(status.status, 'completed', JSON.stringify(status))
  assert.deepEqual(status.tasks.map((t) => [t.task, t.status]).sort(), [
    ['greet', 'completed'],
    ['shout', 'completed'],
  ])
  assert.match(JSON.stringify(status.output ?? status), /hello mcp/)

  // Resources: the workflow and the execution state.
  const resource = await client.readResource({ uri: `harmonia://executions/${started.execution_id}` })
  assert.match(String((resource.contents[0] as { text: string }).text), /"completed"/)
  const listed = await client.listResources()
  assert.ok(listed.resources.some((r) => r.uri === `harmonia://workflows/${saved.workflow_id}`))

  // A bad call answers a clear error, not a crash.
  const missing = await client.callTool({
    name: 'GetWorkflowExecutionStatus',
    arguments: { execution_id: 'nope' },
  })
  assert.equal(missing.isError, true)
  assert.match((missing.content as Array<{ text: string }>)[0]!.text, /not_found|nope/)
}

describe('MCP server', () => {
  const cleanups: Array<() => Promise<void>> = []
  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup()
  })

  it('over stdio: harmonia mcp lists the tools and runs create → execute → status', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'harmonia-mcp-'))
    cleanups.push(() => rm(dir, { recursive: true, force: true }))
    const transport = new StdioClientTransport({
      command: path.join(ROOT, 'node_modules/.bin/node'),
      args: [path.join(ROOT, 'bin/harmonia.js'), 'mcp', '--data-dir', dir],
      cwd: dir,
      stderr: 'pipe',
    })
    const client = new Client({ name: 'test', version: '1.0.0' })
    await client.connect(transport)
    cleanups.push(() => client.close())
    await createRunAndWait(client)
  })

  it('over streamable HTTP at /mcp, behind the API keys', async () => {
    const server = await startTestServer({
      listen: true,
      flags: {
        server: {
          apiKeys: [
            { key: WRITE_KEY, scope: 'write' },
            { key: READ_KEY, scope: 'read' },
          ],
        },
      },
    })
    cleanups.push(() => server.close())
    const url = new URL('/mcp', server.baseUrl)

    const anonymous = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
    })
    assert.equal(anonymous.status, 401)
    const readOnly = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': READ_KEY },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
    })
    assert.equal(readOnly.status, 403)

    const client = new Client({ name: 'test', version: '1.0.0' })
    await client.connect(
      new StreamableHTTPClientTransport(url, { requestInit: { headers: { 'x-api-key': WRITE_KEY } } }),
    )
    cleanups.push(() => client.close())
    await createRunAndWait(client)
  })
})
