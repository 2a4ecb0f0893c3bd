import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { call, errorOf, gatedWorkflow, startTestServer, twoTaskWorkflow, type TestServer } from './support.ts'

describe('execution routes', () => {
  let server: TestServer
  let workflowId: string
  before(async () => {
    server = await startTestServer()
    const created = await call(server.app, 'POST', '/api/v1/workflows', twoTaskWorkflow)
    workflowId = created.body.workflow_id
  })
  after(() => server.close())

  const waitEnd = (executionId: string) =>
    server.harmonia.engine.waitForExecution(executionId, { timeoutMs: 10_000 })

  it('starts an execution: 201 with execution_id, workflow_id, status, timestamps, input, execution_options', async () => {
    const answer = await call(server.app, 'POST', '/api/v1/executions', {
      workflow_id: workflowId,
      input: { value: 'x' },
      execution_options: { timeout: 60 },
    })
    assert.equal(answer.status, 201)
    const body = answer.body
    assert.match(body.execution_id, /^exec-/)
    assert.equal(body.workflow_id, workflowId)
    assert.equal(body.status, 'pending')
    assert.deepEqual(body.input, { value: 'x' })
    assert.deepEqual(body.execution_options, { timeout: 60 })
    assert.ok(Date.parse(body.created_at) > 0 && Date.parse(body.updated_at) > 0)
    await waitEnd(body.execution_id)

    const detail = await call(server.app, 'GET', `/api/v1/executions/${body.execution_id}`)
    assert.equal(detail.status, 200)
    const d = detail.body
    assert.equal(d.status, 'completed')
    assert.equal(d.workflow_name, 'two_steps')
    assert.deepEqual(d.output, { result: 'x' })
    assert.equal(d.error, null)
    assert.deepEqual(d.progress, {
      completed_tasks: 2,
      total_tasks: 2,
      current_task: null,
      current_tasks: [],
      percent: 100,
    })
    assert.ok(d.started_at && d.completed_at)
    assert.deepEqual(Object.keys(d.task_status).sort(), ['first', 'second'])
    const first = d.task_status.first
    assert.equal(first.status, 'completed')
    assert.deepEqual(first.output, { value: 'x' })
    assert.deepEqual(first.input, { value: 'x' })
    assert.equal(first.attempts, 1)
    assert.equal(first.error, null)
    assert.ok(first.started_at && first.completed_at)
    assert.deepEqual(d.task_status.second.output, { previous: 'x' })
  })

  it('runs an inline workflow without saving it', async () => {
    const answer = await call(server.app, 'POST', '/api/executions?wait=true', {
      workflow: { ...twoTaskWorkflow, name: 'inline_one' },
      input: { value: 'inline' },
    })
    assert.equal(answer.status, 201)
    assert.equal(answer.body.workflow_id, 'inline:inline_one')
    assert.equal(answer.body.status, 'completed')
    assert.deepEqual(answer.body.output, { result: 'inline' })
    assert.equal(answer.body.task_status.second.status, 'completed')
    const invalid = await call(server.app, 'POST', '/api/executions', {
      workflow: {
        name: 'bad',
        tasks: { a: { name: 'a', component: 'probe', action: 'echo', depends_on: ['b'] } },
      },
    })
    assert.equal(invalid.status, 422)
    assert.equal(errorOf(invalid).code, 'validation_error')
    assert.ok((errorOf(invalid).details as { errors: unknown[] }).errors.length > 0)
  })

  it('waits for the end with execution_options.async = false', async () => {
    const answer = await call(server.app, 'POST', '/api/v1/executions', {
      workflow_id: workflowId,
      input: { value: 'sync' },
      execution_options: { async: false, timeout: 30 },
    })
    assert.equal(answer.status, 201)
    assert.equal(answer.body.status, 'completed')
    assert.deepEqual(answer.body.output, { result: 'sync' })
  })

  it('rejects bad start requests with clear errors', async () => {
    const neither = await call(server.app, 'POST', '/api/v1/executions', { input: {} })
    assert.equal(neither.status, 400)
    assert.equal(errorOf(neither).code, 'invalid_request')
    assert.match(errorOf(neither).message, /workflow_id/)
    const unknownField = await call(server.app, 'POST', '/api/v1/executions', {
      workflow_id: workflowId,
      inputs: {},
    })
    assert.equal(unknownField.status, 400)
    assert.match(errorOf(unknownField).message, /inputs/)
    const badType = await call(server.app, 'POST', '/api/v1/executions', {
      workflow_id: workflowId,
      input: 'text',
    })
    assert.equal(badType.status, 400)
    assert.match(errorOf(badType).message, /input/)
    const missing = await call(server.app, 'POST', '/api/v1/executions', { workflow_id: 'wf-missing' })
    assert.equal(missing.status, 404)
    assert.equal(errorOf(missing).code, 'workflow_not_found')
    assert.equal(errorOf(missing).message, "Workflow with ID 'wf-missing' not found")
  })

  it('answers 422 for an input that does not match the workflow input schema', async () => {
    const created = await call(server.app, 'POST', '/api/v1/workflows', {
      name: 'typed_input',
      tasks: {
        a: { name: 'a', component: 'probe', action: 'echo', input: { n: '${workflow.input.count}' } },
      },
      input: {
        count: { type: 'integer', required: true },
        mode: { type: 'string', enum: ['basic', 'detailed'] },
      },
    })
    assert.equal(created.status, 201)
    const answer = await call(server.app, 'POST', '/api/v1/executions', {
      workflow_id: created.body.workflow_id,
      input: { count: 'many', mode: 'other' },
    })
    assert.equal(answer.status, 422)
    const error = errorOf(answer)
    assert.equal(error.code, 'validation_error')
    const fields = (error.details as { errors: Array<{ field?: string }> }).errors.map((e) => e.field ?? '')
    assert.ok(
      fields.some((f) => f.includes('count')),
      JSON.stringify(error),
    )
    assert.ok(
      fields.some((f) => f.includes('mode')),
      JSON.stringify(error),
    )
  })

  it('is idempotent with an Idempotency-Key header', async () => {
    const headers = { 'idempotency-key': 'order-42' }
    const first = await call(server.app, 'POST', '/api/v1/executions', { workflow_id: workflowId }, headers)
    assert.equal(first.status, 201)
    const second = await call(server.app, 'POST', '/api/v1/executions', { workflow_id: workflowId }, headers)
    assert.equal(second.status, 200)
    assert.equal(second.body.execution_id, first.body.execution_id)
    assert.equal(second.headers['idempotent-replayed'], 'true')
    const other = await call(server.app, 'POST', '/api/v1/workflows', { ...twoTaskWorkflow, name: 'other' })
    const reused = await call(
      server.app,
      'POST',
      '/api/v1/executions',
      { workflow_id: other.body.workflow_id },
      headers,
    )
    assert.equal(reused.status, 409)
    assert.equal(errorOf(reused).code, 'conflict')
    assert.match(errorOf(reused).message, /Idempotency-Key 'order-42'/)
    await waitEnd(first.body.execution_id)
  })

  it('lists executions with filters, paging and sorting', async () => {
    const local = await startTestServer()
    try {
      const a = await call(local.app, 'POST', '/api/v1/workflows', { ...twoTaskWorkflow, name: 'a' })
      const b = await call(local.app, 'POST', '/api/v1/workflows', {
        name: 'b',
        tasks: { boom: { name: 'boom', component: 'probe', action: 'fail' } },
      })
      const ids: string[] = []
      for (let i = 0; i < 3; i++) {
        ids.push(
          (await call(local.app, 'POST', '/api/v1/executions', { workflow_id: a.body.workflow_id })).body
            .execution_id,
        )
      }
      ids.push(
        (await call(local.app, 'POST', '/api/v1/executions', { workflow_id: b.body.workflow_id })).body
          .execution_id,
      )
      for (const id of ids) await local.harmonia.engine.waitForExecution(id, { timeoutMs: 10_000 })

      const all = await call(local.app, 'GET', '/api/v1/executions')
      assert.equal(all.status, 200)
      assert.equal(all.body.total, 4)
      assert.equal(all.body.page, 1)
      assert.equal(all.body.limit, 20)
      assert.equal(all.body.items.length, 4)
      assert.ok(all.body.items[0].progress)
      assert.equal(all.body.items[0].task_status, undefined)

      const byWorkflow = await call(local.app, 'GET', `/api/v1/executions?workflow_id=${a.body.workflow_id}`)
      assert.equal(byWorkflow.body.total, 3)
      const failed = await call(local.app, 'GET', '/api/v1/executions?status=failed')
      assert.deepEqual(
        failed.body.items.map((e: { execution_id: string }) => e.execution_id),
        [ids[3]],
      )
      const several = await call(local.app, 'GET', '/api/executions?status=failed,completed&limit=2&page=2')
      assert.equal(several.body.total, 4)
      assert.equal(several.body.items.length, 2)
      const asc = await call(local.app, 'GET', '/api/v1/executions?sort_by=created_at&sort_order=asc&limit=1')
      assert.equal(asc.body.items[0].execution_id, ids[0])
      const future = await call(local.app, 'GET', '/api/v1/executions?created_after=2999-01-01T00:00:00Z')
      assert.equal(future.body.total, 0)
      const past = await call(local.app, 'GET', '/api/v1/executions?created_before=2000-01-01T00:00:00Z')
      assert.equal(past.body.total, 0)

      const badStatus = await call(local.app, 'GET', '/api/v1/executions?status=running,exploded')
      assert.equal(badStatus.status, 400)
      assert.equal(errorOf(badStatus).code, 'invalid_request')
      assert.match(errorOf(badStatus).message, /exploded/)
      const badDate = await call(local.app, 'GET', '/api/v1/executions?created_after=yesterday')
      assert.equal(badDate.status, 400)
      assert.match(errorOf(badDate).message, /created_after/)
    } finally {
      await local.close()
    }
  })

  it('a failing task fails the execution with its error in task_status', async () => {
    const answer = await call(server.app, 'POST', '/api/v1/executions?wait=true', {
      workflow: {
        name: 'fails',
        tasks: { bad: { name: 'bad', component: 'probe', action: 'fail', input: { code: 'NOPE' } } },
      },
    })
    assert.equal(answer.status, 201)
    assert.equal(answer.body.status, 'failed')
    assert.equal(answer.body.task_status.bad.status, 'failed')
    assert.equal(answer.body.task_status.bad.error.code, 'NOPE')
    assert.equal(answer.body.error.task, 'bad')
  })

  it('answers 404 execution_not_found for every execution route', async () => {
    for (const [method, path] of [
      ['GET', '/api/v1/executions/exec-nope'],
      ['POST', '/api/v1/executions/exec-nope/cancel'],
      ['POST', '/api/v1/executions/exec-nope/stop'],
      ['POST', '/api/v1/executions/exec-nope/pause'],
      ['POST', '/api/v1/executions/exec-nope/resume'],
      ['POST', '/api/v1/executions/exec-nope/rerun'],
      ['POST', '/api/v1/executions/exec-nope/checkpoint'],
      ['GET', '/api/v1/executions/exec-nope/checkpoints'],
      ['GET', '/api/v1/executions/exec-nope/events'],
    ] as const) {
      const answer = await call(server.app, method, path, method === 'POST' ? {} : undefined)
      assert.equal(answer.status, 404, `${method} ${path}`)
      assert.equal(errorOf(answer).code, 'execution_not_found', `${method} ${path}`)
      assert.equal(errorOf(answer).message, "Execution with ID 'exec-nope' not found")
    }
  })

  it('pauses and resumes (status after the change), cancels with status cancelling, then refuses with 409', async () => {
    const gate = server.probe.gate('pause-me')
    const started = await call(server.app, 'POST', '/api/v1/executions', {
      workflow: gatedWorkflow('pause-me'),
    })
    const id = started.body.execution_id as string
    await gate.entered
    const running = await call(server.app, 'GET', `/api/v1/executions/${id}`)
    assert.equal(running.body.status, 'running')
    assert.equal(running.body.progress.current_task, 'hold')
    assert.deepEqual(running.body.progress.current_tasks, ['hold'])
    assert.equal(running.body.task_status.hold.status, 'running')

    const paused = await call(server.app, 'POST', `/api/v1/executions/${id}/pause`)
    assert.equal(paused.status, 200)
    assert.deepEqual(
      { ...paused.body, message: undefined },
      { success: true, message: undefined, execution_id: id, status: 'paused' },
    )
    const resumed = await call(server.app, 'POST', `/api/executions/${id}/resume`, {})
    assert.equal(resumed.body.status, 'running')

    // An empty body with a JSON content type is accepted (Tekton clients send it).
    const cancelled = await server.app.inject({
      method: 'POST',
      url: `/api/v1/executions/${id}/cancel`,
      headers: { 'content-type': 'application/json' },
      payload: '',
    })
    assert.equal(cancelled.statusCode, 200)
    const body = cancelled.json()
    assert.equal(body.success, true)
    assert.equal(body.execution_id, id)
    assert.equal(body.status, 'cancelling')
    assert.equal(typeof body.message, 'string')
    const after = await call(server.app, 'GET', `/api/v1/executions/${id}`)
    assert.equal(after.body.status, 'cancelled')
    assert.equal(after.body.task_status.hold.status, 'cancelled')
    assert.equal(after.body.task_status.after.status, 'pending')

    const again = await call(server.app, 'POST', `/api/v1/executions/${id}/stop`)
    assert.equal(again.status, 409)
    assert.equal(errorOf(again).code, 'conflict')
    assert.deepEqual(errorOf(again).details, {
      execution_id: id,
      status: 'cancelled',
      reason: 'invalid_state',
    })
    assert.match(errorOf(again).message, /already cancelled/)
    const pauseDone = await call(server.app, 'POST', `/api/v1/executions/${id}/pause`)
    assert.equal(errorOf(pauseDone).code, 'conflict')
    gate.release()
  })

  it('stop is an alias of cancel', async () => {
    const gate = server.probe.gate('stop-me')
    const started = await call(server.app, 'POST', '/api/executions', { workflow: gatedWorkflow('stop-me') })
    await gate.entered
    const stopped = await call(server.app, 'POST', `/api/executions/${started.body.execution_id}/stop`, {
      reason: 'user pressed stop',
    })
    assert.equal(stopped.status, 200)
    assert.equal(stopped.body.status, 'cancelling')
    const detail = await call(server.app, 'GET', `/api/executions/${started.body.execution_id}`)
    assert.equal(detail.body.status, 'cancelled')
    assert.match(detail.body.error.message, /user pressed stop/)
  })

  it('reruns a failed execution from its failed tasks, keeping completed outputs', async () => {
    const created = await call(server.app, 'POST', '/api/v1/workflows', {
      name: 'rerunnable',
      tasks: {
        ok: { name: 'ok', component: 'probe', action: 'echo', input: { n: 1 } },
        flaky: {
          name: 'flaky',
          component: 'probe',
          action: 'fail',
          input: { code: 'FIRST_TIME' },
          depends_on: ['ok'],
        },
      },
    })
    const started = await call(server.app, 'POST', '/api/v1/executions?wait=true', {
      workflow_id: created.body.workflow_id,
    })
    assert.equal(started.body.status, 'failed')
    const id = started.body.execution_id as string
    const okCalls = () => server.probe.calls.filter((c) => c.idempotencyKey.startsWith(`${id}:ok`)).length
    assert.equal(okCalls(), 1)

    const running = await call(server.app, 'POST', '/api/v1/executions/exec-none/rerun')
    assert.equal(running.status, 404)
    const rerun = await call(server.app, 'POST', `/api/v1/executions/${id}/rerun`)
    assert.equal(rerun.status, 200)
    assert.equal(rerun.body.execution_id, id)
    assert.equal(rerun.body.status, 'running')
    const done = await waitEnd(id)
    assert.equal(done.status, 'failed')
    assert.equal(okCalls(), 1, 'the completed task did not run again')

    const completed = await call(server.app, 'POST', '/api/v1/executions?wait=true', {
      workflow_id: workflowId,
    })
    const notRerunnable = await call(
      server.app,
      'POST',
      `/api/v1/executions/${completed.body.execution_id}/rerun`,
    )
    assert.equal(notRerunnable.status, 409)
    assert.equal(errorOf(notRerunnable).code, 'conflict')
    assert.equal((errorOf(notRerunnable).details as { reason?: string }).reason, 'invalid_state')
  })

  it('pages the persisted events with after and limit', async () => {
    const started = await call(server.app, 'POST', '/api/v1/executions?wait=true', {
      workflow_id: workflowId,
    })
    const id = started.body.execution_id as string
    const all = await call(server.app, 'GET', `/api/v1/executions/${id}/events?limit=1000`)
    assert.equal(all.status, 200)
    const seqs = all.body.items.map((e: { seq: number }) => e.seq)
    assert.deepEqual(
      seqs,
      seqs.map((_: number, i: number) => i + 1),
    )
    assert.equal(all.body.items[0].type, 'execution_started')
    assert.equal(all.body.items.at(-1).type, 'execution_completed')
    for (const event of all.body.items) {
      assert.equal(event.execution_id, id)
      assert.ok(Date.parse(event.timestamp) > 0)
      assert.equal(typeof event.data, 'object')
      assert.equal(typeof event.id, 'number')
    }
    assert.equal(all.body.has_more, false)

    const firstPage = await call(server.app, 'GET', `/api/v1/executions/${id}/events?limit=2`)
    assert.deepEqual(
      firstPage.body.items.map((e: { seq: number }) => e.seq),
      [1, 2],
    )
    assert.equal(firstPage.body.has_more, true)
    assert.equal(firstPage.body.next_after, 2)
    const secondPage = await call(server.app, 'GET', `/api/executions/${id}/events?after=2&limit=2`)
    assert.deepEqual(
      secondPage.body.items.map((e: { seq: number }) => e.seq),
      [3, 4],
    )
    const badAfter = await call(server.app, 'GET', `/api/executions/${id}/events?after=-1`)
    assert.equal(badAfter.status, 400)
  })
})

describe('deleting executions', () => {
  let server: TestServer
  let workflowId: string
  before(async () => {
    server = await startTestServer({ flags: { storage: { kind: 'sqlite' } } })
    const created = await call(server.app, 'POST', '/api/v1/workflows', twoTaskWorkflow)
    workflowId = created.body.workflow_id
  })
  after(() => server.close())

  const runToEnd = async (): Promise<string> => {
    const started = await call(server.app, 'POST', '/api/v1/executions?wait=true', {
      workflow_id: workflowId,
      input: { value: 'x' },
    })
    assert.equal(started.body.status, 'completed')
    return started.body.execution_id as string
  }

  it('DELETE /executions/{id} removes a finished execution with its events and checkpoints', async () => {
    const id = await runToEnd()
    const checkpoint = await call(server.app, 'POST', `/api/v1/executions/${id}/checkpoint`, {
      name: 'kept?',
    })
    assert.equal(checkpoint.status, 201)
    const deleted = await call(server.app, 'DELETE', `/api/v1/executions/${id}`)
    assert.equal(deleted.status, 200)
    assert.deepEqual(deleted.body, { success: true, message: `Execution '${id}' deleted`, execution_id: id })
    assert.equal(
      errorOf(await call(server.app, 'GET', `/api/v1/executions/${id}`)).code,
      'execution_not_found',
    )
    const events = await call(server.app, 'GET', `/api/v1/executions/${id}/events`)
    assert.equal(events.status, 404)
    const cp = await call(server.app, 'GET', `/api/v1/checkpoints/${checkpoint.body.checkpoint_id}`)
    assert.equal(errorOf(cp).code, 'checkpoint_not_found')
    const again = await call(server.app, 'DELETE', `/api/executions/${id}`)
    assert.equal(again.status, 404)
  })

  it('refuses to delete an execution that has not finished: 409 conflict, reason invalid_state', async () => {
    const gate = server.probe.gate('delete-me')
    const started = await call(server.app, 'POST', '/api/v1/executions', {
      workflow: gatedWorkflow('delete-me'),
    })
    await gate.entered
    const id = started.body.execution_id as string
    const refused = await call(server.app, 'DELETE', `/api/v1/executions/${id}`)
    assert.equal(refused.status, 409)
    assert.equal(errorOf(refused).code, 'conflict')
    assert.deepEqual(errorOf(refused).details, {
      execution_id: id,
      status: 'running',
      reason: 'invalid_state',
    })
    gate.release()
    await server.harmonia.engine.waitForExecution(id, { timeoutMs: 10_000 })
    assert.equal((await call(server.app, 'DELETE', `/api/v1/executions/${id}`)).status, 200)
  })

  it('POST /executions/prune deletes finished executions before a bound and keeps the rest', async () => {
    const older = await runToEnd()
    const bound = (await call(server.app, 'GET', `/api/v1/executions/${older}`)).body.completed_at as string
    const boundMs = Date.parse(bound) + 1
    // Everything after the bound finishes later than it.
    while (Date.now() <= boundMs) await new Promise((resolve) => setImmediate(resolve))
    const newer = await runToEnd()
    const pruned = await call(server.app, 'POST', '/api/v1/executions/prune', {
      finished_before: new Date(boundMs).toISOString(),
    })
    assert.equal(pruned.status, 200)
    assert.ok(pruned.body.deleted >= 1, `deleted ${pruned.body.deleted}`)
    assert.equal(pruned.body.finished_before, new Date(boundMs).toISOString())
    assert.equal((await call(server.app, 'GET', `/api/v1/executions/${older}`)).status, 404)
    assert.equal((await call(server.app, 'GET', `/api/v1/executions/${newer}`)).status, 200)

    const everything = await call(server.app, 'POST', '/api/executions/prune', { older_than_days: 0 })
    assert.equal(everything.status, 200)
    assert.equal((await call(server.app, 'GET', `/api/v1/executions/${newer}`)).status, 404)
    const listed = await call(server.app, 'GET', '/api/v1/executions?limit=100')
    assert.deepEqual(listed.body.items, [])
  })

  it('prune names what is wrong with its body', async () => {
    const neither = await call(server.app, 'POST', '/api/v1/executions/prune', {})
    assert.equal(neither.status, 400)
    assert.match(errorOf(neither).message, /exactly one of finished_before .* or older_than_days/)
    const both = await call(server.app, 'POST', '/api/v1/executions/prune', {
      finished_before: '2024-01-01T00:00:00Z',
      older_than_days: 3,
    })
    assert.equal(both.status, 400)
    const badDate = await call(server.app, 'POST', '/api/v1/executions/prune', {
      finished_before: 'yesterday',
    })
    assert.equal(badDate.status, 400)
    assert.match(errorOf(badDate).message, /finished_before must be an ISO 8601 timestamp/)
    const negative = await call(server.app, 'POST', '/api/v1/executions/prune', { older_than_days: -1 })
    assert.equal(negative.status, 400)
    assert.match(errorOf(negative).message, /older_than_days/)
  })
})
