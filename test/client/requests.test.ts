/**
 * What the client puts on the wire and how it reads answers, against a stub server that records every
 * request: methods, paths, queries, bodies and headers of each method; error bodies, odd answers, network
 * failures, time-outs and aborts as HarmoniaApiError.
 */
import assert from 'node:assert/strict'
import { createServer } from 'node:net'
import { after, before, beforeEach, describe, it } from 'node:test'
import { HarmoniaApiError, HarmoniaClient } from '../../src/client/index.ts'
import { sendJson, startStubServer, type RecordedRequest, type StubServer } from './stub-server.ts'

let stub: StubServer

before(async () => {
  stub = await startStubServer()
})
after(() => stub.close())
beforeEach(() => stub.reset())

/** Answers `{ok: true, route}` on every route the table below calls. */
function answerEverything(): void {
  for (const request of expectations()) {
    stub.on(`${request.method} ${request.path}`, (recorded, response) =>
      sendJson(response, request.method === 'POST' ? 201 : 200, { ok: true, route: recorded.path }),
    )
  }
}

interface Expectation {
  name: string
  call: (client: HarmoniaClient) => Promise<unknown>
  method: string
  path: string
  query?: Record<string, string>
  body?: unknown
  headers?: Record<string, string>
}

const definition = { name: 'wf', tasks: { a: { name: 'a', component: 'core', action: 'echo' } } }

function expectations(): Expectation[] {
  return [
    // workflows
    {
      name: 'workflows.create',
      call: (c) => c.workflows.create(definition),
      method: 'POST',
      path: '/api/v1/workflows',
      body: definition,
    },
    {
      name: 'workflows.list',
      call: (c) =>
        c.workflows.list({
          page: 2,
          limit: 5,
          sort_by: 'name',
          sort_order: 'asc',
          search: 'in',
          include_drafts: false,
        }),
      method: 'GET',
      path: '/api/v1/workflows',
      query: {
        page: '2',
        limit: '5',
        sort_by: 'name',
        sort_order: 'asc',
        search: 'in',
        include_drafts: 'false',
      },
    },
    {
      name: 'workflows.get',
      call: (c) => c.workflows.get('wf 1/x'),
      method: 'GET',
      path: '/api/v1/workflows/wf%201%2Fx',
    },
    {
      name: 'workflows.get revision',
      call: (c) => c.workflows.get('wf-1', { revision: 2 }),
      method: 'GET',
      path: '/api/v1/workflows/wf-1',
      query: { revision: '2' },
    },
    {
      name: 'workflows.update',
      call: (c) => c.workflows.update('wf-1', definition),
      method: 'PUT',
      path: '/api/v1/workflows/wf-1',
      body: definition,
    },
    {
      name: 'workflows.delete',
      call: (c) => c.workflows.delete('wf-1'),
      method: 'DELETE',
      path: '/api/v1/workflows/wf-1',
    },
    {
      name: 'workflows.execute',
      call: (c) =>
        c.workflows.execute('wf-1', { input: { n: 1 }, revision: 3 }, { idempotencyKey: 'k-1', wait: true }),
      method: 'POST',
      path: '/api/v1/workflows/wf-1/execute',
      query: { wait: 'true' },
      body: { input: { n: 1 }, revision: 3 },
      headers: { 'idempotency-key': 'k-1' },
    },
    {
      name: 'workflows.saveDraft',
      call: (c) => c.workflows.saveDraft('wf-1', definition),
      method: 'POST',
      path: '/api/v1/workflows/wf-1/draft',
      body: definition,
    },
    {
      name: 'workflows.versions',
      call: (c) => c.workflows.versions('wf-1'),
      method: 'GET',
      path: '/api/v1/workflows/wf-1/versions',
    },
    {
      name: 'workflows.validate',
      call: (c) => c.workflows.validate(definition),
      method: 'POST',
      path: '/api/v1/workflows/validate',
      body: definition,
    },
    // executions
    {
      name: 'executions.start by id',
      call: (c) =>
        c.executions.start(
          {
            workflow_id: 'wf-1',
            input: { a: 'b' },
            execution_options: { timeout: 30, retry_policy: { max_retries: 2 } },
          },
          { idempotencyKey: 'start-1' },
        ),
      method: 'POST',
      path: '/api/v1/executions',
      body: {
        workflow_id: 'wf-1',
        input: { a: 'b' },
        execution_options: { timeout: 30, retry_policy: { max_retries: 2 } },
      },
      headers: { 'idempotency-key': 'start-1' },
    },
    {
      name: 'executions.start inline',
      call: (c) => c.executions.start({ workflow: definition }),
      method: 'POST',
      path: '/api/v1/executions',
      body: { workflow: definition },
    },
    {
      name: 'executions.list',
      call: (c) =>
        c.executions.list({
          workflow_id: 'wf-1',
          status: ['running', 'paused'],
          page: 1,
          limit: 50,
          sort_by: 'status',
        }),
      method: 'GET',
      path: '/api/v1/executions',
      query: { workflow_id: 'wf-1', status: 'running,paused', page: '1', limit: '50', sort_by: 'status' },
    },
    {
      name: 'executions.get',
      call: (c) => c.executions.get('ex-1'),
      method: 'GET',
      path: '/api/v1/executions/ex-1',
    },
    {
      name: 'executions.cancel',
      call: (c) => c.executions.cancel('ex-1', { reason: 'enough' }),
      method: 'POST',
      path: '/api/v1/executions/ex-1/cancel',
      body: { reason: 'enough' },
    },
    {
      name: 'executions.stop',
      call: (c) => c.executions.stop('ex-1'),
      method: 'POST',
      path: '/api/v1/executions/ex-1/stop',
      body: {},
    },
    {
      name: 'executions.pause',
      call: (c) => c.executions.pause('ex-1'),
      method: 'POST',
      path: '/api/v1/executions/ex-1/pause',
      body: {},
    },
    {
      name: 'executions.resume',
      call: (c) => c.executions.resume('ex-1'),
      method: 'POST',
      path: '/api/v1/executions/ex-1/resume',
      body: {},
    },
    {
      name: 'executions.rerun',
      call: (c) => c.executions.rerun('ex-1'),
      method: 'POST',
      path: '/api/v1/executions/ex-1/rerun',
      body: {},
    },
    {
      name: 'executions.checkpoint',
      call: (c) => c.executions.checkpoint('ex-1', { name: 'cp', description: 'd' }),
      method: 'POST',
      path: '/api/v1/executions/ex-1/checkpoint',
      body: { name: 'cp', description: 'd' },
    },
    {
      name: 'executions.listCheckpoints',
      call: (c) => c.executions.listCheckpoints('ex-1'),
      method: 'GET',
      path: '/api/v1/executions/ex-1/checkpoints',
    },
    {
      name: 'executions.events',
      call: (c) => c.executions.events('ex-1', { after: 4, limit: 10 }),
      method: 'GET',
      path: '/api/v1/executions/ex-1/events',
      query: { after: '4', limit: '10' },
    },
    // checkpoints
    {
      name: 'checkpoints.get',
      call: (c) => c.checkpoints.get('cp-1'),
      method: 'GET',
      path: '/api/v1/checkpoints/cp-1',
    },
    {
      name: 'checkpoints.restore',
      call: (c) => c.checkpoints.restore('cp-1', { execution_options: { timeout: 5 } }),
      method: 'POST',
      path: '/api/v1/checkpoints/cp-1/restore',
      body: { execution_options: { timeout: 5 } },
    },
    // templates
    {
      name: 'templates.create',
      call: (c) =>
        c.templates.create({
          name: 't',
          workflow_id: 'wf-1',
          parameters: { p: { type: 'string', required: true } },
        }),
      method: 'POST',
      path: '/api/v1/templates',
      body: { name: 't', workflow_id: 'wf-1', parameters: { p: { type: 'string', required: true } } },
    },
    {
      name: 'templates.list',
      call: (c) => c.templates.list({ tag: 'ops' }),
      method: 'GET',
      path: '/api/v1/templates',
      query: { tag: 'ops' },
    },
    {
      name: 'templates.get',
      call: (c) => c.templates.get('tp-1'),
      method: 'GET',
      path: '/api/v1/templates/tp-1',
    },
    {
      name: 'templates.instantiate',
      call: (c) => c.templates.instantiate('tp-1', { name: 'made', parameter_values: { p: 'v' } }),
      method: 'POST',
      path: '/api/v1/templates/tp-1/instantiate',
      body: { name: 'made', parameter_values: { p: 'v' } },
    },
    {
      name: 'templates.import',
      call: (c) => c.templates.import({ name: 'imp', workflow_definition: { tasks: [] } }),
      method: 'POST',
      path: '/api/v1/templates/import',
      body: { name: 'imp', workflow_definition: { tasks: [] } },
    },
    {
      name: 'templates.export',
      call: (c) => c.templates.export('tp-1'),
      method: 'GET',
      path: '/api/v1/templates/tp-1/export',
    },
    // webhooks
    {
      name: 'webhooks.create',
      call: (c) =>
        c.webhooks.create({ name: 'h', endpoint: 'deploy', workflow_id: 'wf-1', auth_type: 'hmac' }),
      method: 'POST',
      path: '/api/v1/webhooks',
      body: { name: 'h', endpoint: 'deploy', workflow_id: 'wf-1', auth_type: 'hmac' },
    },
    { name: 'webhooks.list', call: (c) => c.webhooks.list(), method: 'GET', path: '/api/v1/webhooks' },
    {
      name: 'webhooks.deliver',
      call: (c) => c.webhooks.deliver('wh-1', { ref: 'main' }),
      method: 'POST',
      path: '/api/v1/webhooks/wh-1/deliver',
      body: { ref: 'main' },
    },
    {
      name: 'webhooks.get',
      call: (c) => c.webhooks.get('wh-1'),
      method: 'GET',
      path: '/api/v1/webhooks/wh-1',
    },
    {
      name: 'webhooks.update',
      call: (c) => c.webhooks.update('wh-1', { enabled: false }),
      method: 'PUT',
      path: '/api/v1/webhooks/wh-1',
      body: { enabled: false },
    },
    {
      name: 'webhooks.delete',
      call: (c) => c.webhooks.delete('wh-1'),
      method: 'DELETE',
      path: '/api/v1/webhooks/wh-1',
    },
    {
      name: 'webhooks.calls',
      call: (c) => c.webhooks.calls('wh-1', { page: 2, limit: 5 }),
      method: 'GET',
      path: '/api/v1/webhooks/wh-1/calls',
      query: { page: '2', limit: '5' },
    },
    // subscriptions
    {
      name: 'subscriptions.create',
      call: (c) => c.subscriptions.create({ external_url: 'https://example.test/in', event_types: ['*'] }),
      method: 'POST',
      path: '/api/v1/subscriptions',
      body: { external_url: 'https://example.test/in', event_types: ['*'] },
    },
    {
      name: 'subscriptions.list',
      call: (c) => c.subscriptions.list({ limit: 3 }),
      method: 'GET',
      path: '/api/v1/subscriptions',
      query: { limit: '3' },
    },
    {
      name: 'subscriptions.get',
      call: (c) => c.subscriptions.get('sub/1'),
      method: 'GET',
      path: '/api/v1/subscriptions/sub%2F1',
    },
    {
      name: 'subscriptions.update',
      call: (c) => c.subscriptions.update('sub-1', { enabled: false }),
      method: 'PUT',
      path: '/api/v1/subscriptions/sub-1',
      body: { enabled: false },
    },
    {
      name: 'subscriptions.delete',
      call: (c) => c.subscriptions.delete('sub-1'),
      method: 'DELETE',
      path: '/api/v1/subscriptions/sub-1',
    },
    {
      name: 'subscriptions.deliveries',
      call: (c) => c.subscriptions.deliveries('sub-1', { status: 'failed', page: 1 }),
      method: 'GET',
      path: '/api/v1/subscriptions/sub-1/deliveries',
      query: { status: 'failed', page: '1' },
    },
    {
      name: 'subscriptions.delivery',
      call: (c) => c.subscriptions.delivery('sub-1', 'dlv-1'),
      method: 'GET',
      path: '/api/v1/subscriptions/sub-1/deliveries/dlv-1',
    },
    {
      name: 'subscriptions.redeliver',
      call: (c) => c.subscriptions.redeliver('sub-1', 'dlv-1'),
      method: 'POST',
      path: '/api/v1/subscriptions/sub-1/deliveries/dlv-1/redeliver',
    },
    // signals
    {
      name: 'signals.send',
      call: (c) => c.signals.send('ex-1', 'approve', { ok: true }),
      method: 'POST',
      path: '/api/v1/executions/ex-1/signals/approve',
      body: { ok: true },
    },
    {
      name: 'signals.list',
      call: (c) => c.signals.list('ex-1'),
      method: 'GET',
      path: '/api/v1/executions/ex-1/signals',
    },
    // components
    { name: 'components.list', call: (c) => c.components.list(), method: 'GET', path: '/api/v1/components' },
    {
      name: 'components.get',
      call: (c) => c.components.get('core'),
      method: 'GET',
      path: '/api/v1/components/core',
    },
    {
      name: 'components.actions',
      call: (c) => c.components.actions('core'),
      method: 'GET',
      path: '/api/v1/components/core/actions',
    },
    {
      name: 'components.action',
      call: (c) => c.components.action('core', 'echo'),
      method: 'GET',
      path: '/api/v1/components/core/actions/echo',
    },
    {
      name: 'components.runAction',
      call: (c) => c.components.runAction('core', 'echo', { x: 1 }, { timeout: 5, idempotencyKey: 'run-1' }),
      method: 'POST',
      path: '/api/v1/components/core/actions/echo',
      body: { input: { x: 1 }, timeout: 5 },
      headers: { 'idempotency-key': 'run-1' },
    },
  ]
}

describe('HarmoniaClient requests', () => {
  it('sends each method to its route with its query, body, idempotency key and the API key', async () => {
    answerEverything()
    const client = new HarmoniaClient({ baseUrl: `${stub.baseUrl}/`, apiKey: 'secret-key' })
    for (const expected of expectations()) {
      stub.requests.length = 0
      const answer = await expected.call(client)
      assert.equal(stub.requests.length, 1, expected.name)
      const request = stub.requests[0]!
      assert.equal(request.method, expected.method, expected.name)
      assert.equal(request.path, expected.path, expected.name)
      assert.deepEqual(Object.fromEntries(request.query), expected.query ?? {}, expected.name)
      assert.deepEqual(request.json, expected.body, expected.name)
      if (expected.body !== undefined) {
        assert.equal(request.headers['content-type'], 'application/json', expected.name)
      }
      assert.equal(request.headers['x-api-key'], 'secret-key', expected.name)
      assert.equal(request.headers['authorization'], undefined, expected.name)
      assert.equal(request.headers['accept'], 'application/json', expected.name)
      for (const [name, value] of Object.entries(expected.headers ?? {})) {
        assert.equal(request.headers[name], value, `${expected.name}: header ${name}`)
      }
      if (expected.headers?.['idempotency-key'] === undefined) {
        assert.equal(request.headers['idempotency-key'], undefined, expected.name)
      }
      assert.deepEqual(answer, { ok: true, route: expected.path }, expected.name)
    }
  })

  it('sends the key as a bearer token when asked, and under another API prefix', async () => {
    stub.on('GET /api/workflows', (_request, response) =>
      sendJson(response, 200, { items: [], total: 0, page: 1, limit: 20 }),
    )
    const client = new HarmoniaClient({
      baseUrl: stub.baseUrl,
      apiKey: 'tok',
      apiKeyHeader: 'authorization',
      apiPrefix: '/api/',
      headers: { 'x-client': 'tests' },
    })
    const page = await client.workflows.list()
    assert.deepEqual(page, { items: [], total: 0, page: 1, limit: 20 })
    const request = stub.requests[0]!
    assert.equal(request.path, '/api/workflows')
    assert.equal(request.headers['authorization'], 'Bearer tok')
    assert.equal(request.headers['x-api-key'], undefined)
    assert.equal(request.headers['x-client'], 'tests')
  })

  it('keeps a path prefix of the base URL and sends no key when none is given', async () => {
    stub.on('GET /harmonia/api/v1/executions/ex-9', (_request, response) =>
      sendJson(response, 200, { execution_id: 'ex-9' }),
    )
    const client = new HarmoniaClient({ baseUrl: `${stub.baseUrl}/harmonia//` })
    assert.deepEqual(await client.executions.get('ex-9'), { execution_id: 'ex-9' })
    assert.equal(stub.requests[0]!.headers['x-api-key'], undefined)
    assert.equal(stub.requests[0]!.headers['authorization'], undefined)
  })

  it('reads health and readiness answers of a failing server (503) instead of throwing, and metrics as text', async () => {
    stub.on('GET /health', (_request, response) =>
      sendJson(response, 503, { status: 'unhealthy', store: { kind: 'sqlite', ok: false, detail: 'disk' } }),
    )
    stub.on('GET /ready', (_request, response) =>
      sendJson(response, 503, { ready: false, reason: 'server is stopping' }),
    )
    stub.on('GET /metrics', (_request, response) => {
      response.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' })
      response.end('# HELP harmonia_executions x\nharmonia_executions 3\n')
    })
    const client = new HarmoniaClient({ baseUrl: stub.baseUrl, apiKey: 'k' })
    assert.equal((await client.health()).status, 'unhealthy')
    assert.deepEqual(await client.ready(), { ready: false, reason: 'server is stopping' })
    assert.equal(await client.metrics(), '# HELP harmonia_executions x\nharmonia_executions 3\n')
    const metricsRequest = stub.requests.find((request) => request.path === '/metrics')!
    assert.equal(metricsRequest.headers['x-api-key'], 'k')
  })
})

describe('HarmoniaClient errors', () => {
  const client = (): HarmoniaClient => new HarmoniaClient({ baseUrl: stub.baseUrl, timeoutMs: 2_000 })

  it('throws the error body as HarmoniaApiError with code, status, details and request id', async () => {
    stub.on('POST /api/v1/workflows', (_request, response) =>
      sendJson(
        response,
        422,
        {
          error: {
            code: 'validation_error',
            message: "workflow 'wf': task 'a': unknown component 'nope'",
            details: { errors: [{ task: 'a', field: 'component', message: "unknown component 'nope'" }] },
          },
        },
        { 'x-request-id': 'req-42' },
      ),
    )
    const error = await client()
      .workflows.create(definition)
      .then(
        () => assert.fail('expected a rejection'),
        (caught: unknown) => caught,
      )
    assert.ok(error instanceof HarmoniaApiError)
    assert.ok(error instanceof Error)
    assert.equal(error.name, 'HarmoniaApiError')
    assert.equal(error.code, 'validation_error')
    assert.equal(error.status, 422)
    assert.equal(error.message, "workflow 'wf': task 'a': unknown component 'nope'")
    assert.deepEqual(error.details, {
      errors: [{ task: 'a', field: 'component', message: "unknown component 'nope'" }],
    })
    assert.equal(error.requestId, 'req-42')
  })

  it('gives answers without our error body a code by status and an excerpt of the body', async () => {
    stub.on('GET /api/v1/workflows/proxy', (_request, response) => {
      response.writeHead(403, { 'content-type': 'text/html' })
      response.end('<html>Forbidden by proxy</html>')
    })
    stub.on('GET /api/v1/workflows/teapot', (_request, response) => {
      response.writeHead(502, { 'content-type': 'text/plain' })
      response.end('Bad Gateway')
    })
    await assert.rejects(client().workflows.get('proxy'), {
      name: 'HarmoniaApiError',
      code: 'permission_denied',
      status: 403,
      message:
        'GET /api/v1/workflows/proxy answered HTTP 403 without an error body: <html>Forbidden by proxy</html>',
    })
    await assert.rejects(client().workflows.get('teapot'), {
      code: 'unexpected_response',
      status: 502,
      details: { body: 'Bad Gateway' },
    })
  })

  it('reports a successful answer that is not JSON as unexpected_response', async () => {
    stub.on('GET /api/v1/workflows/html', (_request, response) => {
      response.writeHead(200, { 'content-type': 'text/html' })
      response.end('<html>login page</html>')
    })
    await assert.rejects(client().workflows.get('html'), {
      code: 'unexpected_response',
      status: 200,
      message:
        'GET /api/v1/workflows/html answered HTTP 200 with a body that is not JSON: <html>login page</html>',
    })
  })

  it('reports an unreachable server as network_error with status 0 and the reason', async () => {
    const port = await freePort()
    const offline = new HarmoniaClient({ baseUrl: `http://127.0.0.1:${port}` })
    const error = await offline.health().then(
      () => assert.fail('expected a rejection'),
      (caught: unknown) => caught,
    )
    assert.ok(error instanceof HarmoniaApiError)
    assert.equal(error.code, 'network_error')
    assert.equal(error.status, 0)
    assert.match(
      error.message,
      new RegExp(`^GET /health: cannot reach http://127\\.0\\.0\\.1:${port}: .*ECONNREFUSED`),
    )
  })

  it('reports a dropped connection as network_error', async () => {
    stub.on('GET /api/v1/executions/drop', (_request, response) => {
      response.socket?.destroy()
    })
    await assert.rejects(client().executions.get('drop'), { code: 'network_error', status: 0 })
  })

  it('gives up after timeoutMs with code timeout, and stops at once when the caller aborts', async () => {
    const pending: Array<() => void> = []
    stub.on('GET /api/v1/executions/slow', (_request, response) => {
      pending.push(() => response.end())
    })
    try {
      await assert.rejects(client().executions.get('slow', { timeoutMs: 50 }), {
        code: 'timeout',
        status: 0,
        message: `GET /api/v1/executions/slow: no answer from ${stub.baseUrl} within 50 ms`,
      })
      const controller = new AbortController()
      const call = client().executions.get('slow', { signal: controller.signal })
      controller.abort()
      await assert.rejects(call, {
        code: 'aborted',
        status: 0,
        message: 'GET /api/v1/executions/slow: aborted',
      })
    } finally {
      for (const end of pending) end()
    }
  })

  it('refuses a bad base URL or an empty id before sending anything', async () => {
    assert.throws(() => new HarmoniaClient({ baseUrl: 'localhost:8002' }), {
      code: 'invalid_argument',
      message: "baseUrl 'localhost:8002' must use http or https, not localhost",
    })
    assert.throws(() => new HarmoniaClient({ baseUrl: 'not a url' }), {
      code: 'invalid_argument',
      message: "baseUrl 'not a url' is not a URL; expected for example http://127.0.0.1:8002",
    })
    await assert.rejects(client().executions.get(''), {
      code: 'invalid_argument',
      message: 'execution id must be a non-empty string, got ""',
    })
    assert.deepEqual(stub.requests, [] as RecordedRequest[])
  })
})

async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}
