import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { after, before, describe, it } from 'node:test'
import { call, startTestServer, twoTaskWorkflow, type TestServer } from './support.ts'

describe('system routes, OpenAPI and metrics', () => {
  let server: TestServer
  let version: string
  before(async () => {
    server = await startTestServer()
    version = (
      JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8')) as {
        version: string
      }
    ).version
  })
  after(() => server.close())

  it('GET / describes the component', async () => {
    const answer = await call(server.app, 'GET', '/')
    assert.equal(answer.status, 200)
    assert.equal(answer.body.name, 'Harmonia')
    assert.equal(answer.body.version, version)
    assert.equal(typeof answer.body.description, 'string')
    assert.equal(answer.body.endpoints.api, '/api/v1')
    assert.equal(answer.body.endpoints.docs, '/docs')
  })

  it('GET /health reports status, version, uptime and the store check', async () => {
    const answer = await call(server.app, 'GET', '/health')
    assert.equal(answer.status, 200)
    assert.equal(answer.body.status, 'healthy')
    assert.equal(answer.body.version, version)
    assert.equal(typeof answer.body.uptime_seconds, 'number')
    assert.deepEqual(answer.body.store, { kind: 'memory', ok: true })
    assert.equal(answer.body.engine.running_tasks, 0)
  })

  it('GET /health answers 503 when the store fails; /ready too', async () => {
    const store = server.harmonia.store
    const original = store.health.bind(store)
    store.health = async () => ({ ok: false, detail: 'disk full' })
    try {
      const health = await call(server.app, 'GET', '/health')
      assert.equal(health.status, 503)
      assert.equal(health.body.status, 'unhealthy')
      assert.equal(health.body.store.detail, 'disk full')
      const ready = await call(server.app, 'GET', '/ready')
      assert.equal(ready.status, 503)
      assert.equal(ready.body.ready, false)
      assert.match(ready.body.reason, /disk full/)
    } finally {
      store.health = original
    }
    assert.deepEqual((await call(server.app, 'GET', '/ready')).body, { ready: true })
  })

  it('echoes X-Request-Id, or makes one', async () => {
    const given = await call(server.app, 'GET', '/health', undefined, { 'x-request-id': 'abc-123' })
    assert.equal(given.headers['x-request-id'], 'abc-123')
    const made = await call(server.app, 'GET', '/health')
    assert.match(String(made.headers['x-request-id']), /^[0-9a-f-]{36}$/)
    const unsafe = await call(server.app, 'GET', '/health', undefined, {
      'x-request-id': 'bad id with spaces',
    })
    assert.notEqual(unsafe.headers['x-request-id'], 'bad id with spaces')
  })

  it('serves every API route under /api/v1 and /api alike', async () => {
    const created = await call(server.app, 'POST', '/api/workflows', { ...twoTaskWorkflow, name: 'prefixes' })
    const id = created.body.workflow_id as string
    for (const prefix of ['/api/v1', '/api']) {
      assert.equal((await call(server.app, 'GET', `${prefix}/workflows/${id}`)).status, 200)
      assert.equal((await call(server.app, 'GET', `${prefix}/workflows`)).status, 200)
      assert.equal((await call(server.app, 'GET', `${prefix}/executions`)).status, 200)
      assert.equal((await call(server.app, 'GET', `${prefix}/components`)).status, 200)
      assert.equal(
        (await call(server.app, 'GET', `${prefix}/workflows/${id}/`)).status,
        200,
        'trailing slash',
      )
    }
  })

  it('GET /openapi.json is an OpenAPI 3 document of every route, built from the route schemas', async () => {
    const answer = await call(server.app, 'GET', '/openapi.json')
    assert.equal(answer.status, 200)
    const doc = answer.body
    assert.match(doc.openapi, /^3\./)
    assert.equal(doc.info.title, 'Harmonia API')
    assert.equal(doc.info.version, version)
    const paths = Object.keys(doc.paths)
    for (const path of [
      '/api/v1/workflows',
      '/api/v1/workflows/{workflow_id}',
      '/api/v1/workflows/{workflow_id}/execute',
      '/api/v1/workflows/{workflow_id}/draft',
      '/api/v1/workflows/{workflow_id}/versions',
      '/api/v1/workflows/validate',
      '/api/v1/executions',
      '/api/v1/executions/{execution_id}',
      '/api/v1/executions/{execution_id}/cancel',
      '/api/v1/executions/{execution_id}/stop',
      '/api/v1/executions/{execution_id}/pause',
      '/api/v1/executions/{execution_id}/resume',
      '/api/v1/executions/{execution_id}/rerun',
      '/api/v1/executions/prune',
      '/api/v1/executions/{execution_id}/events',
      '/api/v1/executions/{execution_id}/checkpoint',
      '/api/v1/executions/{execution_id}/checkpoints',
      '/api/v1/checkpoints/{checkpoint_id}',
      '/api/v1/checkpoints/{checkpoint_id}/restore',
      '/api/v1/state/checkpoints',
      '/api/v1/state/restore',
      '/api/v1/components',
      '/api/v1/components/{name}',
      '/api/v1/components/{name}/actions',
      '/api/v1/components/{name}/actions/{action}',
      '/events',
      '/events/executions/{execution_id}',
      '/health',
      '/ready',
      '/metrics',
      '/',
    ]) {
      assert.ok(paths.includes(path), `${path} is documented; got ${paths.join(', ')}`)
    }
    assert.ok(!paths.some((p) => p.startsWith('/api/workflows')), 'the /api alias is not listed twice')
    const list = doc.paths['/api/v1/executions'].get
    assert.ok(
      list.parameters.some((p: { name: string; in: string }) => p.name === 'status' && p.in === 'query'),
    )
    const start = doc.paths['/api/v1/executions'].post
    assert.ok(start.requestBody.content['application/json'].schema.properties.workflow_id)
    assert.ok(start.responses['201'])
    assert.ok(start.responses['422'])
    for (const name of [
      'Error',
      'WorkflowDefinition',
      'Execution',
      'ExecutionDetail',
      'Checkpoint',
      'EventMessage',
    ]) {
      assert.ok(doc.components.schemas[name], `components.schemas.${name}`)
    }
    assert.ok(doc.components.securitySchemes.apiKey)
    assert.deepEqual(doc.paths['/health'].get.security, [])
  })

  it('serves the docs UI and its assets from this server only', async () => {
    const page = await server.app.inject({ method: 'GET', url: '/docs/' })
    assert.equal(page.statusCode, 200)
    assert.match(page.headers['content-type'] as string, /text\/html/)
    const html = page.body
    const external = [...html.matchAll(/(?:src|href)=["'](https?:)?\/\/[^"']+/g)].map((m) => m[0])
    assert.deepEqual(external, [], 'no asset from another host')
    const csp = String(page.headers['content-security-policy'] ?? '')
    assert.doesNotMatch(csp, /https?:\/\/(?!localhost)/)
    const init = await server.app.inject({ method: 'GET', url: '/docs/static/swagger-initializer.js' })
    assert.equal(init.statusCode, 200)
    assert.match(init.body, /validatorUrl: null/)
    for (const match of html.matchAll(/(?:src|href)=["']\.?\/?([^"']+\.(?:js|css|png))["']/g)) {
      const asset = await server.app.inject({ method: 'GET', url: `/docs/${match[1]!.replace(/^\.\//, '')}` })
      assert.equal(asset.statusCode, 200, match[1])
    }
  })

  it('GET /metrics exposes Prometheus text with the documented series', async () => {
    const done = await call(server.app, 'POST', '/api/v1/executions?wait=true', { workflow: twoTaskWorkflow })
    assert.equal(done.body.status, 'completed')
    const failed = await call(server.app, 'POST', '/api/v1/executions?wait=true', {
      workflow: { name: 'f', tasks: { x: { name: 'x', component: 'probe', action: 'fail' } } },
    })
    assert.equal(failed.body.status, 'failed')
    const answer = await server.app.inject({ method: 'GET', url: '/metrics' })
    assert.equal(answer.statusCode, 200)
    assert.match(answer.headers['content-type'] as string, /text\/plain/)
    const text = answer.body
    assert.match(text, /# TYPE harmonia_executions gauge/)
    assert.match(text, /harmonia_executions\{status="completed"\} [1-9]/)
    assert.match(text, /harmonia_executions\{status="failed"\} [1-9]/)
    assert.match(text, /harmonia_executions\{status="running"\} 0/)
    assert.match(text, /harmonia_executions_finished_total\{status="completed"\} [1-9]/)
    assert.match(text, /# TYPE harmonia_task_duration_seconds histogram/)
    assert.match(text, /harmonia_task_duration_seconds_count\{outcome="completed"\} [2-9]/)
    assert.match(text, /harmonia_task_duration_seconds_count\{outcome="failed"\} 1/)
    assert.match(text, /harmonia_running_tasks 0/)
    assert.match(text, /harmonia_event_stream_clients\{transport="sse"\} 0/)
    assert.match(
      text,
      /harmonia_http_requests_total\{method="POST",route="\/api\/v1\/executions",status_code="201"\} [1-9]/,
    )
    assert.match(text, /harmonia_http_request_duration_seconds_bucket/)
  })
})
