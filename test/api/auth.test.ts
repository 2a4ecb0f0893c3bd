import assert from 'node:assert/strict'
import { Writable } from 'node:stream'
import { after, before, describe, it } from 'node:test'
import { createKeyRing, scopeAllows, scopeForMethod } from '../../src/api/auth.ts'
import { createServerLogger, maskQuerySecrets } from '../../src/api/logging.ts'
import {
  call,
  errorOf,
  openSse,
  openWs,
  startTestServer,
  twoTaskWorkflow,
  type TestServer,
} from './support.ts'

const READ_KEY = 'read-key-0123456789'
const WRITE_KEY = 'write-key-0123456789'
const ADMIN_KEY = 'admin-key-0123456789'

describe('key ring and scopes', () => {
  it('verifies keys and tells their name and scope', () => {
    const ring = createKeyRing([
      { key: READ_KEY, scope: 'read', name: 'dashboard' },
      { key: ADMIN_KEY, scope: 'admin' },
    ])
    assert.equal(ring.enabled, true)
    assert.deepEqual(ring.verify(READ_KEY), { name: 'dashboard', scope: 'read' })
    assert.deepEqual(ring.verify(ADMIN_KEY), { name: 'key-2', scope: 'admin' })
    assert.equal(ring.verify('read-key-012345678'), undefined)
    assert.equal(ring.verify(''), undefined)
    assert.equal(createKeyRing([]).enabled, false)
  })

  it('nests scopes and derives them from methods', () => {
    assert.equal(scopeAllows('admin', 'write'), true)
    assert.equal(scopeAllows('write', 'read'), true)
    assert.equal(scopeAllows('read', 'write'), false)
    assert.equal(scopeAllows('write', 'admin'), false)
    assert.equal(scopeForMethod('GET'), 'read')
    assert.equal(scopeForMethod('POST'), 'write')
    assert.equal(scopeForMethod('PUT'), 'write')
    assert.equal(scopeForMethod('DELETE'), 'admin')
  })
})

describe('API keys over HTTP', () => {
  let server: TestServer
  const logLines: string[] = []
  before(async () => {
    const destination = new Writable({
      write(chunk: Buffer, _encoding, done) {
        logLines.push(chunk.toString())
        done()
      },
    })
    server = await startTestServer({
      listen: true,
      logger: createServerLogger('info', destination),
      flags: {
        server: {
          apiKeys: [
            { key: READ_KEY, scope: 'read', name: 'reader' },
            { key: WRITE_KEY, scope: 'write', name: 'writer' },
            { key: ADMIN_KEY, scope: 'admin', name: 'root' },
          ],
        },
      },
    })
  })
  after(() => server.close())

  it('leaves /health and /ready open; / needs a key for its JSON, and serves a browser the UI shell', async () => {
    for (const path of ['/health', '/ready']) {
      assert.equal((await call(server.app, 'GET', path)).status, 200, path)
    }
    assert.equal((await call(server.app, 'GET', '/')).status, 401)
    // (npm test builds the UI before the tests run.)
    const page = await server.app.inject({ method: 'GET', url: '/', headers: { accept: 'text/html' } })
    assert.equal(page.statusCode, 200)
    assert.match(String(page.headers['content-type']), /text\/html/)
  })

  it('answers 401 authentication_failed without a key or with a wrong one, on every other route', async () => {
    for (const path of [
      '/api/v1/workflows',
      '/api/workflows',
      '/api/v1/executions',
      '/metrics',
      '/openapi.json',
      '/api/v1/components',
    ]) {
      const none = await call(server.app, 'GET', path)
      assert.equal(none.status, 401, path)
      assert.equal(errorOf(none).code, 'authentication_failed')
      assert.match(errorOf(none).message, /X-API-Key/)
      const wrong = await call(server.app, 'GET', path, undefined, { 'x-api-key': 'not-a-key-at-all' })
      assert.equal(wrong.status, 401, path)
      assert.equal(errorOf(wrong).code, 'authentication_failed')
      assert.equal(errorOf(wrong).message, 'the API key is not valid')
    }
    // ?api_key= is for streams only.
    const queryKey = await call(server.app, 'GET', `/api/v1/workflows?api_key=${READ_KEY}`)
    assert.equal(queryKey.status, 401)
    // An unauthenticated body is refused before it is read.
    const post = await call(server.app, 'POST', '/api/v1/workflows', twoTaskWorkflow)
    assert.equal(post.status, 401)
  })

  it('accepts X-API-Key and Authorization: Bearer', async () => {
    const viaHeader = await call(server.app, 'GET', '/api/v1/workflows', undefined, { 'x-api-key': READ_KEY })
    assert.equal(viaHeader.status, 200)
    const viaBearer = await call(server.app, 'GET', '/api/v1/workflows', undefined, {
      authorization: `Bearer ${READ_KEY}`,
    })
    assert.equal(viaBearer.status, 200)
    const metrics = await call(server.app, 'GET', '/metrics', undefined, {
      authorization: `Bearer ${READ_KEY}`,
    })
    assert.equal(metrics.status, 200)
  })

  it('answers 403 permission_denied for a scope too low: read < write < admin', async () => {
    const readPost = await call(server.app, 'POST', '/api/v1/workflows', twoTaskWorkflow, {
      'x-api-key': READ_KEY,
    })
    assert.equal(readPost.status, 403)
    const error = errorOf(readPost)
    assert.equal(error.code, 'permission_denied')
    assert.match(error.message, /'reader' has scope 'read'; POST \/api\/v1\/workflows needs 'write'/)
    assert.deepEqual(error.details, { needed_scope: 'write', key_scope: 'read' })

    const created = await call(server.app, 'POST', '/api/v1/workflows', twoTaskWorkflow, {
      'x-api-key': WRITE_KEY,
    })
    assert.equal(created.status, 201)
    const id = created.body.workflow_id as string
    const started = await call(
      server.app,
      'POST',
      '/api/v1/executions',
      { workflow_id: id },
      { 'x-api-key': WRITE_KEY },
    )
    assert.equal(started.status, 201)
    // Validating changes nothing: a read key may.
    const validated = await call(server.app, 'POST', '/api/v1/workflows/validate', twoTaskWorkflow, {
      'x-api-key': READ_KEY,
    })
    assert.equal(validated.status, 200)

    const writeDelete = await call(server.app, 'DELETE', `/api/v1/workflows/${id}`, undefined, {
      'x-api-key': WRITE_KEY,
    })
    assert.equal(writeDelete.status, 403)
    assert.equal(errorOf(writeDelete).code, 'permission_denied')
    const adminDelete = await call(server.app, 'DELETE', `/api/v1/workflows/${id}`, undefined, {
      authorization: `Bearer ${ADMIN_KEY}`,
    })
    assert.equal(adminDelete.status, 200)
    await server.harmonia.engine.waitForExecution(started.body.execution_id, { timeoutMs: 10_000 })

    // Deleting history is an admin's: one execution, or a prune.
    const executionPath = `/api/v1/executions/${started.body.execution_id}`
    const writeDeleteExecution = await call(server.app, 'DELETE', executionPath, undefined, {
      'x-api-key': WRITE_KEY,
    })
    assert.equal(writeDeleteExecution.status, 403)
    const writePrune = await call(
      server.app,
      'POST',
      '/api/v1/executions/prune',
      { older_than_days: 0 },
      { 'x-api-key': WRITE_KEY },
    )
    assert.equal(writePrune.status, 403)
    assert.deepEqual(errorOf(writePrune).details, { needed_scope: 'admin', key_scope: 'write' })
    const adminDeleteExecution = await call(server.app, 'DELETE', executionPath, undefined, {
      'x-api-key': ADMIN_KEY,
    })
    assert.equal(adminDeleteExecution.status, 200)
  })

  it('streams accept ?api_key=; without a key the upgrade is refused with 401', async () => {
    const base = server.baseUrl.replace('http', 'ws')
    await assert.rejects(openWs(`${base}/ws/events`), (error: Error & { status?: number; body?: string }) => {
      assert.equal(error.status, 401)
      assert.match(error.body ?? '', /authentication_failed/)
      return true
    })
    await assert.rejects(openWs(`${base}/ws/events?api_key=wrong-key-000000`), { status: 401 })
    const ws = await openWs(`${base}/ws/events?api_key=${READ_KEY}`)
    await ws.messages.until((items) => items.some((m) => m.type === 'snapshot'), 'snapshot')
    await ws.close()
    const wsHeader = await openWs(`${base}/api/v1/ws/workflows`, { 'x-api-key': READ_KEY })
    await wsHeader.close()

    await assert.rejects(openSse(`${server.baseUrl}/events`), { status: 401 })
    const sse = await openSse(`${server.baseUrl}/events?api_key=${READ_KEY}`)
    assert.equal(sse.status, 200)
    await sse.events.until((items) => items.some((e) => e.event === 'snapshot'), 'snapshot')
    await sse.close()
  })

  it('never logs keys: headers are redacted and ?api_key= is masked', async () => {
    await call(server.app, 'GET', `/api/v1/workflows?api_key=${ADMIN_KEY}`, undefined, {
      'x-api-key': WRITE_KEY,
    })
    await call(server.app, 'GET', '/api/v1/workflows', undefined, { authorization: `Bearer ${ADMIN_KEY}` })
    const base = server.baseUrl.replace('http', 'ws')
    const ws = await openWs(`${base}/ws/events?api_key=${READ_KEY}`)
    await ws.close()
    const logs = logLines.join('')
    assert.match(logs, /request_id/)
    assert.match(logs, /api_key=\*\*\*/)
    for (const key of [READ_KEY, WRITE_KEY, ADMIN_KEY]) assert.doesNotMatch(logs, new RegExp(key))
  })

  it('masks secrets in URLs', () => {
    assert.equal(
      maskQuerySecrets('/ws/events?api_key=abc&workflow_id=x'),
      '/ws/events?api_key=***&workflow_id=x',
    )
    assert.equal(maskQuerySecrets('/x?a=1&token=zzz'), '/x?a=1&token=***')
    assert.equal(maskQuerySecrets('/x?a=1'), '/x?a=1')
  })
})
