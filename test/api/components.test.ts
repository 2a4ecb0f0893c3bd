import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { call, errorOf, startTestServer, type TestServer } from './support.ts'

describe('component routes', () => {
  let server: TestServer
  before(async () => {
    server = await startTestServer()
  })
  after(() => server.close())

  it('lists components with their actions, built-ins included', async () => {
    const answer = await call(server.app, 'GET', '/api/v1/components')
    assert.equal(answer.status, 200)
    assert.equal(answer.body.total, answer.body.items.length)
    const probe = answer.body.items.find((c: { name: string }) => c.name === 'probe')
    assert.ok(probe, JSON.stringify(answer.body.items.map((c: { name: string }) => c.name)))
    assert.deepEqual(probe.actions.map((a: { name: string }) => a.name).sort(), ['echo', 'fail', 'wait'])
    assert.ok(
      answer.body.items.some((c: { name: string }) => c.name === 'core'),
      'built-in core component',
    )
  })

  it('describes one component, its actions, and one action', async () => {
    const component = await call(server.app, 'GET', '/api/components/probe')
    assert.equal(component.status, 200)
    assert.equal(component.body.name, 'probe')
    const actions = await call(server.app, 'GET', '/api/v1/components/probe/actions')
    assert.equal(actions.status, 200)
    assert.equal(actions.body.component, 'probe')
    assert.equal(actions.body.total, 3)
    const echo = await call(server.app, 'GET', '/api/v1/components/probe/actions/echo')
    assert.equal(echo.status, 200)
    assert.equal(echo.body.name, 'echo')
    assert.equal(echo.body.description, 'answers its input')

    const unknown = await call(server.app, 'GET', '/api/v1/components/nope')
    assert.equal(unknown.status, 404)
    assert.equal(errorOf(unknown).code, 'not_found')
    assert.match(errorOf(unknown).message, /Component 'nope' is not registered; known components: .*probe/)
    const unknownAction = await call(server.app, 'GET', '/api/v1/components/probe/actions/nope')
    assert.equal(unknownAction.status, 404)
    assert.match(errorOf(unknownAction).message, /no action 'nope'; its actions: echo, fail, wait/)
  })

  it('runs an action directly with {input} or {params}, with a fresh idempotency key each call', async () => {
    const before = server.probe.calls.length
    const withInput = await call(server.app, 'POST', '/api/v1/components/probe/actions/echo', {
      input: { a: 1 },
    })
    assert.equal(withInput.status, 200)
    assert.equal(withInput.body.success, true)
    assert.deepEqual(withInput.body.output, { a: 1 })
    assert.equal(typeof withInput.body.duration_ms, 'number')
    const withParams = await call(server.app, 'POST', '/api/components/probe/actions/echo', {
      params: { b: 2 },
    })
    assert.deepEqual(withParams.body.output, { b: 2 })
    const made = server.probe.calls.slice(before)
    assert.equal(made.length, 2)
    assert.notEqual(made[0]!.idempotencyKey, made[1]!.idempotencyKey)
    assert.equal(made[0]!.task, 'probe.echo')

    const keyed = await call(
      server.app,
      'POST',
      '/api/v1/components/probe/actions/echo',
      { input: {} },
      { 'idempotency-key': 'k-1' },
    )
    assert.equal(keyed.status, 200)
    assert.equal(server.probe.calls.at(-1)!.idempotencyKey, 'direct:k-1')

    const unknown = await call(server.app, 'POST', '/api/v1/components/probe/actions/nope', { input: {} })
    assert.equal(unknown.status, 404)
    const extra = await call(server.app, 'POST', '/api/v1/components/probe/actions/echo', {
      input: {},
      colour: 'red',
    })
    assert.equal(extra.status, 400)
    assert.match(errorOf(extra).message, /colour/)
    const badInput = await call(server.app, 'POST', '/api/v1/components/probe/actions/echo', {
      input: 'text',
    })
    assert.equal(badInput.status, 422)
    assert.equal(errorOf(badInput).code, 'validation_error')
    assert.ok((errorOf(badInput).details as { errors: unknown[] }).errors.length > 0)
  })

  it('times a direct call out after its timeout with component_error (TIMEOUT)', async () => {
    server.probe.gate('never')
    const answer = await call(server.app, 'POST', '/api/v1/components/probe/actions/wait', {
      input: { gate: 'never' },
      timeout: 0.05,
    })
    assert.equal(answer.status, 500)
    const error = errorOf(answer)
    assert.equal(error.code, 'component_error')
    assert.equal((error.details as { task_error_code: string }).task_error_code, 'TIMEOUT')
  })
})
