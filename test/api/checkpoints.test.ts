import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { call, errorOf, startTestServer, type TestServer } from './support.ts'

const threeSteps = {
  name: 'three_steps',
  tasks: {
    one: { name: 'one', component: 'probe', action: 'echo', input: { step: 1 } },
    two: { name: 'two', component: 'probe', action: 'wait', input: { gate: 'two' }, depends_on: ['one'] },
    three: {
      name: 'three',
      component: 'probe',
      action: 'echo',
      input: { got: '${tasks.one.output.step}' },
      depends_on: ['two'],
    },
  },
}

describe('checkpoint routes', () => {
  let server: TestServer
  before(async () => {
    server = await startTestServer()
  })
  after(() => server.close())

  const callsOf = (executionId: string, task: string) =>
    server.probe.calls.filter((c) => c.idempotencyKey.startsWith(`${executionId}:${task}`)).length

  it('checkpoints a running execution and restores it as a new execution that does not rerun completed tasks', async () => {
    const gate = server.probe.gate('two')
    const started = await call(server.app, 'POST', '/api/v1/executions', { workflow: threeSteps })
    const id = started.body.execution_id as string
    await gate.entered

    const checkpoint = await call(server.app, 'POST', `/api/v1/executions/${id}/checkpoint`, {
      name: 'after one',
      description: 'one is done',
    })
    assert.equal(checkpoint.status, 201)
    const c = checkpoint.body
    assert.match(c.checkpoint_id, /^ckpt-/)
    assert.equal(c.execution_id, id)
    assert.equal(c.workflow_id, 'inline:three_steps')
    assert.equal(c.name, 'after one')
    assert.equal(c.description, 'one is done')
    assert.ok(Date.parse(c.created_at) > 0)
    assert.equal(c.task_states.one.status, 'completed')
    assert.deepEqual(c.task_states.one.output, { step: 1 })
    assert.equal(c.task_states.two.status, 'running')

    const listed = await call(server.app, 'GET', `/api/v1/executions/${id}/checkpoints`)
    assert.equal(listed.status, 200)
    assert.equal(listed.body.total, 1)
    assert.equal(listed.body.items[0].checkpoint_id, c.checkpoint_id)
    const fetched = await call(server.app, 'GET', `/api/v1/checkpoints/${c.checkpoint_id}`)
    assert.deepEqual(fetched.body, c)

    gate.release()
    await server.harmonia.engine.waitForExecution(id, { timeoutMs: 10_000 })
    assert.equal(callsOf(id, 'one'), 1)

    const restored = await call(server.app, 'POST', `/api/v1/checkpoints/${c.checkpoint_id}/restore`, {
      execution_options: { timeout: 60 },
    })
    assert.equal(restored.status, 201)
    const newId = restored.body.execution_id as string
    assert.notEqual(newId, id)
    assert.equal(restored.body.restored_from_checkpoint, c.checkpoint_id)
    assert.deepEqual(restored.body.execution_options, { timeout: 60 })
    const done = await server.harmonia.engine.waitForExecution(newId, { timeoutMs: 10_000 })
    assert.equal(done.status, 'completed')
    assert.equal(callsOf(newId, 'one'), 0, 'task one was completed at the checkpoint and did not run again')
    assert.equal(callsOf(newId, 'three'), 1)
    const detail = await call(server.app, 'GET', `/api/v1/executions/${newId}`)
    assert.deepEqual(detail.body.task_status.three.output, { got: 1 })
  })

  it('serves the older /state routes', async () => {
    const started = await call(server.app, 'POST', '/api/executions?wait=true', {
      workflow: {
        name: 'single',
        tasks: { a: { name: 'a', component: 'probe', action: 'echo', input: { a: 1 } } },
      },
    })
    const id = started.body.execution_id as string
    const checkpoint = await call(server.app, 'POST', '/api/state/checkpoints', {
      execution_id: id,
      name: 'legacy',
    })
    assert.equal(checkpoint.status, 201)
    assert.equal(checkpoint.body.name, 'legacy')
    assert.equal(checkpoint.body.execution_id, id)
    const restored = await call(server.app, 'POST', '/api/state/restore', {
      checkpoint_id: checkpoint.body.checkpoint_id,
    })
    assert.equal(restored.status, 201)
    assert.equal(restored.body.restored_from_checkpoint, checkpoint.body.checkpoint_id)
    const done = await server.harmonia.engine.waitForExecution(restored.body.execution_id, {
      timeoutMs: 10_000,
    })
    assert.equal(done.status, 'completed')

    const noId = await call(server.app, 'POST', '/api/state/checkpoints', { name: 'x' })
    assert.equal(noId.status, 400)
    assert.match(errorOf(noId).message, /execution_id/)
  })

  it('answers 404 checkpoint_not_found', async () => {
    for (const [method, path, body] of [
      ['GET', '/api/v1/checkpoints/ckpt-none', undefined],
      ['POST', '/api/v1/checkpoints/ckpt-none/restore', {}],
      ['POST', '/api/v1/state/restore', { checkpoint_id: 'ckpt-none' }],
    ] as const) {
      const answer = await call(server.app, method, path, body)
      assert.equal(answer.status, 404, path)
      assert.equal(errorOf(answer).code, 'checkpoint_not_found')
      assert.equal(errorOf(answer).message, "Checkpoint with ID 'ckpt-none' not found")
    }
  })
})
