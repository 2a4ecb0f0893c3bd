import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { after, before, describe, it } from 'node:test'
import { HTTP_STATUS_BY_CODE, statusForCode, toHttpError } from '../../src/api/errors.ts'
import { ErrorCode, HarmoniaError, NotFoundError, ValidationError } from '../../src/core/errors.ts'
import { call, errorOf, startTestServer, type TestServer } from './support.ts'

describe('error mapping', () => {
  it('maps every core error code, with the statuses docs/errors.md lists', async () => {
    const docs = await readFile(new URL('../../docs/errors.md', import.meta.url), 'utf8')
    const documented = new Map<string, number>()
    for (const match of docs.matchAll(/^\|\s*`([a-z_]+)`\s*\|\s*(\d{3})\s*\|/gm)) {
      documented.set(match[1]!, Number(match[2]))
    }
    for (const code of Object.values(ErrorCode)) {
      assert.ok(code in HTTP_STATUS_BY_CODE, `${code} has an HTTP status`)
      assert.equal(statusForCode(code), documented.get(code), `${code}: errors.ts and docs/errors.md agree`)
    }
    assert.equal(statusForCode('SOME_TASK_CODE'), 500)
  })

  it('turns errors into the one body, and hides unexpected ones', () => {
    const notFound = toHttpError(
      new NotFoundError('workflow_not_found', "Workflow with ID 'x' not found", { workflow_id: 'x' }),
      'r1',
    )
    assert.deepEqual(notFound, {
      status: 404,
      body: {
        error: {
          code: 'workflow_not_found',
          message: "Workflow with ID 'x' not found",
          details: { workflow_id: 'x' },
        },
      },
      unexpected: false,
    })
    const invalid = toHttpError(
      new ValidationError('invalid workflow', [{ task: 'a', field: 'action', message: 'is required' }]),
      'r2',
    )
    assert.equal(invalid.status, 422)
    assert.deepEqual(invalid.body.error.details, {
      errors: [{ task: 'a', field: 'action', message: 'is required' }],
    })
    const noDetails = toHttpError(new HarmoniaError('conflict', 'taken'), 'r3')
    assert.deepEqual(noDetails.body.error.details, {})

    const secret = new Error('password=hunter2 at /srv/db')
    const unexpected = toHttpError(secret, 'req-9')
    assert.equal(unexpected.status, 500)
    assert.equal(unexpected.unexpected, true)
    assert.equal(unexpected.body.error.code, 'execution_error')
    assert.doesNotMatch(JSON.stringify(unexpected.body), /hunter2|srv|at /)
    assert.match(unexpected.body.error.message, /req-9/)
  })
})

describe('error answers over HTTP', () => {
  let server: TestServer
  before(async () => {
    server = await startTestServer({
      flags: { server: { bodyLimitBytes: 4096, rateLimitPerMinute: 1000 } },
      listen: true,
    })
  })
  after(() => server.close())

  it('unknown routes: 404 not_found in the error shape, for every method', async () => {
    for (const method of ['GET', 'POST', 'DELETE'] as const) {
      const answer = await call(
        server.app,
        method,
        '/api/v1/nothing-here?api_key=secret',
        method === 'POST' ? {} : undefined,
      )
      assert.equal(answer.status, 404)
      const error = errorOf(answer)
      assert.equal(error.code, 'not_found')
      assert.match(error.message, /nothing-here/)
      assert.doesNotMatch(error.message, /secret/)
    }
    const unknownRoot = await call(server.app, 'GET', '/no/such/thing')
    assert.equal(errorOf(unknownRoot).code, 'not_found')
  })

  it('malformed JSON: 400 invalid_request', async () => {
    const answer = await call(server.app, 'POST', '/api/v1/workflows', '{"name": "x", tasks: }')
    assert.equal(answer.status, 400)
    const error = errorOf(answer)
    assert.equal(error.code, 'invalid_request')
    assert.match(error.message, /JSON/)
  })

  it('a prototype-poisoning body is refused', async () => {
    const answer = await call(
      server.app,
      'POST',
      '/api/v1/workflows',
      '{"name": "x", "__proto__": {"admin": true}}',
    )
    assert.equal(answer.status, 400)
    assert.equal(errorOf(answer).code, 'invalid_request')
  })

  it('a body over the limit: 413 payload_too_large (over a real socket too)', async () => {
    const big = { name: 'big', description: 'x'.repeat(10_000), tasks: {} }
    const injected = await call(server.app, 'POST', '/api/v1/workflows', big)
    assert.equal(injected.status, 413)
    assert.equal(errorOf(injected).code, 'payload_too_large')
    assert.match(errorOf(injected).message, /bodyLimitBytes/)

    const response = await fetch(`${server.baseUrl}/api/workflows`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(big),
    })
    assert.equal(response.status, 413)
    const body = (await response.json()) as { error: { code: string } }
    assert.equal(body.error.code, 'payload_too_large')
  })

  it('a body that is not JSON: 415 invalid_request', async () => {
    const answer = await server.app.inject({
      method: 'POST',
      url: '/api/v1/workflows',
      headers: { 'content-type': 'text/xml' },
      payload: '<workflow/>',
    })
    assert.equal(answer.statusCode, 415)
    assert.equal(answer.json().error.code, 'invalid_request')
    assert.match(answer.json().error.message, /application\/json/)
  })

  it('an unexpected failure: 500 execution_error without internals, logged under the request id', async () => {
    const store = server.harmonia.store
    const original = store.listExecutions.bind(store)
    store.listExecutions = async () => {
      throw new Error('connection string postgres://admin:s3cret@db/x failed')
    }
    try {
      const answer = await call(server.app, 'GET', '/api/v1/executions', undefined, {
        'x-request-id': 'trace-123',
      })
      assert.equal(answer.status, 500)
      const error = errorOf(answer)
      assert.equal(error.code, 'execution_error')
      assert.match(error.message, /trace-123/)
      assert.doesNotMatch(JSON.stringify(answer.body), /s3cret|postgres|stack|\.ts:/)
      assert.equal(answer.headers['x-request-id'], 'trace-123')
    } finally {
      store.listExecutions = original
    }
  })

  it('component failures: 500 component_error with the task error code in details', async () => {
    const answer = await call(server.app, 'POST', '/api/v1/components/probe/actions/fail', {
      input: { code: 'DOWN' },
    })
    assert.equal(answer.status, 500)
    const error = errorOf(answer)
    assert.equal(error.code, 'component_error')
    assert.match(error.message, /probe\.fail failed/)
    assert.equal((error.details as { task_error_code: string }).task_error_code, 'DOWN')
  })
})

describe('rate limits', () => {
  it('answers 429 rate_limit_exceeded with Retry-After, and never limits /health', async () => {
    await using server = await startTestServer({ flags: { server: { rateLimitPerMinute: 2 } } })
    assert.equal((await call(server.app, 'GET', '/api/v1/workflows')).status, 200)
    assert.equal((await call(server.app, 'GET', '/api/v1/workflows')).status, 200)
    const limited = await call(server.app, 'GET', '/api/v1/workflows')
    assert.equal(limited.status, 429)
    const error = errorOf(limited)
    assert.equal(error.code, 'rate_limit_exceeded')
    assert.match(error.message, /2 requests per minute/)
    assert.ok(Number(limited.headers['retry-after']) > 0)
    for (let i = 0; i < 3; i++) assert.equal((await call(server.app, 'GET', '/health')).status, 200)
  })
})
