/**
 * The client against the real server (buildApp on 127.0.0.1:0, memory store, the `probe` test component):
 * every route family, error mapping, auth, the live streams over SSE and WebSocket (order, reconnection
 * after the server cut every connection), and waitForExecution.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import {
  HarmoniaApiError,
  HarmoniaClient,
  type ExecutionEventMessage,
  type ExecutionStreamMessage,
} from '../../src/client/index.ts'
import { gatedWorkflow, startTestServer, twoTaskWorkflow, type TestServer } from '../api/support.ts'

let server: TestServer
let client: HarmoniaClient

before(async () => {
  server = await startTestServer({ listen: true })
  client = new HarmoniaClient({ baseUrl: server.baseUrl, timeoutMs: 10_000 })
})
after(() => server.close())

async function rejection(promise: Promise<unknown>): Promise<HarmoniaApiError> {
  const error = await promise.then(
    () => assert.fail('expected a rejection'),
    (caught: unknown) => caught,
  )
  assert.ok(error instanceof HarmoniaApiError, `expected HarmoniaApiError, got ${String(error)}`)
  return error
}

function eventsOf(messages: ExecutionStreamMessage[]): ExecutionEventMessage[] {
  return messages.filter((message): message is ExecutionEventMessage => message.type !== 'snapshot')
}

/** 1..n without gaps or repeats. */
function assertContiguous(seqs: number[], from = 1): void {
  assert.deepEqual(
    seqs,
    seqs.map((_, index) => from + index),
    `expected contiguous seqs from ${from}, got ${seqs.join(',')}`,
  )
}

describe('workflows', () => {
  it('creates, lists, reads, updates, versions, drafts, validates, executes and deletes', async () => {
    const created = await client.workflows.create({ ...twoTaskWorkflow, name: 'crud_flow' })
    assert.match(created.workflow_id, /\S/)
    assert.equal(created.name, 'crud_flow')
    assert.equal(created.revision, 1)
    assert.equal(created.status, 'published')
    assert.deepEqual(Object.keys(created.tasks), ['first', 'second'])

    const page = await client.workflows.list({ search: 'crud_', limit: 5 })
    assert.equal(page.total, 1)
    assert.equal(page.limit, 5)
    assert.equal(page.items[0]!.workflow_id, created.workflow_id)

    const read = await client.workflows.get(created.workflow_id)
    assert.deepEqual(read, created)

    const updated = await client.workflows.update(created.workflow_id, {
      ...twoTaskWorkflow,
      name: 'crud_flow',
      description: 'second revision',
    })
    assert.equal(updated.revision, 2)
    assert.equal(updated.description, 'second revision')
    assert.equal(
      (await client.workflows.get(created.workflow_id, { revision: 1 })).description,
      'echo then echo',
    )

    const versions = await client.workflows.versions(created.workflow_id)
    assert.equal(versions.workflow_id, created.workflow_id)
    assert.deepEqual(
      versions.items.map((version) => version.revision),
      [1, 2],
    )

    const draft = await client.workflows.saveDraft(created.workflow_id, {
      ...twoTaskWorkflow,
      name: 'crud_flow',
      description: 'a draft',
    })
    assert.equal(draft.status, 'draft')
    assert.equal(draft.description, 'a draft')

    assert.deepEqual(await client.workflows.validate(twoTaskWorkflow), { valid: true, errors: [] })
    const invalid = await client.workflows.validate({
      name: 'broken',
      tasks: { a: { name: 'a', component: 'probe', action: 'echo', depends_on: ['ghost'] } },
    })
    assert.equal(invalid.valid, false)
    assert.ok(
      invalid.errors.some((issue) => issue.task === 'a' && /ghost/.test(issue.message)),
      JSON.stringify(invalid.errors),
    )

    const execution = await client.workflows.execute(created.workflow_id, { input: { value: 'via execute' } })
    assert.equal(execution.workflow_id, created.workflow_id)
    const done = await client.waitForExecution(execution.execution_id, { timeoutMs: 10_000 })
    assert.equal(done.status, 'completed')
    assert.deepEqual(done.output, { result: 'via execute' })

    const deleted = await client.workflows.delete(created.workflow_id)
    assert.equal(deleted.success, true)
    const missing = await rejection(client.workflows.get(created.workflow_id))
    assert.equal(missing.code, 'workflow_not_found')
    assert.equal(missing.status, 404)
    assert.equal(missing.message, `Workflow with ID '${created.workflow_id}' not found`)
    assert.match(missing.requestId ?? '', /\S/)
  })

  it('maps an invalid definition to 422 validation_error with every problem in details', async () => {
    const error = await rejection(
      client.workflows.create({
        name: 'two_problems',
        tasks: {
          a: { name: 'a', component: 'probe', action: 'echo', depends_on: ['ghost'] },
          b: { name: 'b', component: 'probe', action: 'echo', depends_on: ['b'] },
        },
      }),
    )
    assert.equal(error.code, 'validation_error')
    assert.equal(error.status, 422)
    const issues = (error.details as { errors: Array<{ task?: string; message: string }> }).errors
    assert.ok(
      issues.some((issue) => issue.task === 'a' && /ghost/.test(issue.message)),
      JSON.stringify(issues),
    )
    assert.ok(
      issues.some((issue) => issue.task === 'b'),
      JSON.stringify(issues),
    )
    assert.match(error.message, /ghost/)
  })
})

describe('executions', () => {
  it('starts by workflow id and inline, lists with filters, reads the detail and the event history', async () => {
    const workflow = await client.workflows.create({ ...twoTaskWorkflow, name: 'list_flow' })
    const byId = await client.executions.start({ workflow_id: workflow.workflow_id, input: { value: 'one' } })
    assert.equal(byId.status, 'pending')
    assert.deepEqual(byId.input, { value: 'one' })
    const inline = await client.executions.start({ workflow: { ...twoTaskWorkflow, name: 'inline_flow' } })
    await client.waitForExecution(byId.execution_id)
    await client.waitForExecution(inline.execution_id)

    const listed = await client.executions.list({ workflow_id: workflow.workflow_id, status: ['completed'] })
    assert.deepEqual(
      listed.items.map((item) => item.execution_id),
      [byId.execution_id],
    )
    const none = await client.executions.list({ workflow_id: workflow.workflow_id, status: 'failed' })
    assert.equal(none.total, 0)

    const detail = await client.executions.get(byId.execution_id)
    assert.equal(detail.status, 'completed')
    assert.deepEqual(detail.progress.completed_tasks, 2)
    assert.equal(detail.task_status['first']!.status, 'completed')
    assert.deepEqual(detail.task_status['second']!.output, { previous: 'one' })

    const first = await client.executions.events(byId.execution_id, { after: 0, limit: 2 })
    assert.deepEqual(
      first.items.map((event) => event.seq),
      [1, 2],
    )
    assert.equal(first.has_more, true)
    const rest = await client.executions.events(byId.execution_id, { after: first.next_after })
    assert.equal(rest.has_more, false)
    assertContiguous([...first.items, ...rest.items].map((event) => event.seq))
    assert.equal(rest.items.at(-1)!.type, 'execution_completed')

    const missing = await rejection(client.executions.get('exec-missing'))
    assert.equal(missing.code, 'execution_not_found')
    assert.equal(missing.status, 404)
  })

  it('answers the first execution again for a repeated idempotency key, and waits when asked', async () => {
    const workflow = await client.workflows.create({ ...twoTaskWorkflow, name: 'idempotent_flow' })
    const first = await client.executions.start(
      { workflow_id: workflow.workflow_id },
      { idempotencyKey: 'same-key' },
    )
    const again = await client.executions.start(
      { workflow_id: workflow.workflow_id },
      { idempotencyKey: 'same-key' },
    )
    assert.equal(again.execution_id, first.execution_id)
    const waited = await client.executions.start({ workflow_id: workflow.workflow_id }, { wait: true })
    assert.equal(waited.status, 'completed')
  })

  it('pauses, resumes, cancels (and stops), reruns, checkpoints and restores', async () => {
    const gate = server.probe.gate('control')
    const workflow = await client.workflows.create(gatedWorkflow('control'))
    const execution = await client.executions.start({ workflow_id: workflow.workflow_id })
    await gate.entered

    const paused = await client.executions.pause(execution.execution_id)
    assert.equal(paused.success, true)
    assert.equal(paused.execution_id, execution.execution_id)
    assert.equal(paused.status, 'paused')
    const resumed = await client.executions.resume(execution.execution_id)
    assert.equal(resumed.status, 'running')

    const checkpoint = await client.executions.checkpoint(execution.execution_id, {
      name: 'mid',
      description: 'held',
    })
    assert.equal(checkpoint.execution_id, execution.execution_id)
    assert.equal(checkpoint.name, 'mid')
    const checkpoints = await client.executions.listCheckpoints(execution.execution_id)
    assert.deepEqual(
      checkpoints.items.map((item) => item.checkpoint_id),
      [checkpoint.checkpoint_id],
    )
    assert.deepEqual(await client.checkpoints.get(checkpoint.checkpoint_id), checkpoint)

    const cancelled = await client.executions.cancel(execution.execution_id, { reason: 'test' })
    assert.deepEqual(cancelled, {
      success: true,
      message: `Execution '${execution.execution_id}' cancelled`,
      execution_id: execution.execution_id,
      status: 'cancelling',
    })
    const ended = await client.waitForExecution(execution.execution_id)
    assert.equal(ended.status, 'cancelled')
    const late = await rejection(client.executions.pause(execution.execution_id))
    assert.equal(late.code, 'conflict')
    assert.equal(late.status, 409)

    // A rerun runs the unfinished tasks again; this time the gate opens.
    const second = server.probe.gate('control')
    const rerun = await client.executions.rerun(execution.execution_id)
    assert.equal(rerun.execution_id, execution.execution_id)
    await second.entered
    second.release()
    assert.equal((await client.waitForExecution(execution.execution_id)).status, 'completed')

    const third = server.probe.gate('control')
    const restored = await client.checkpoints.restore(checkpoint.checkpoint_id)
    assert.notEqual(restored.execution_id, execution.execution_id)
    assert.equal(restored.restored_from_checkpoint, checkpoint.checkpoint_id)
    await third.entered
    const stopped = await client.executions.stop(restored.execution_id)
    assert.equal(stopped.status, 'cancelling')
    assert.equal((await client.waitForExecution(restored.execution_id)).status, 'cancelled')

    // Deleting: one execution, then everything finished; what is gone reads 404.
    const deleted = await client.executions.delete(restored.execution_id)
    assert.equal(deleted.execution_id, restored.execution_id)
    assert.equal((await rejection(client.executions.get(restored.execution_id))).status, 404)
    const pruned = await client.executions.prune({ older_than_days: 0 })
    assert.ok(pruned.deleted >= 1, `pruned ${pruned.deleted}`)
    assert.equal((await rejection(client.executions.get(execution.execution_id))).code, 'execution_not_found')
  })
})

describe('components and system routes', () => {
  it('lists components and actions, runs an action, and reads health, readiness and metrics', async () => {
    const components = await client.components.list()
    assert.ok(components.items.some((component) => component.name === 'probe'))
    const probe = await client.components.get('probe')
    assert.ok(probe.actions.some((action) => action.name === 'echo'))
    const actions = await client.components.actions('probe')
    assert.equal(actions.component, 'probe')
    assert.deepEqual(actions.items.map((action) => action.name).sort(), ['echo', 'fail', 'wait'])
    assert.equal((await client.components.action('probe', 'echo')).name, 'echo')
    const run = await client.components.runAction('probe', 'echo', { hello: 'world' })
    assert.equal(run.success, true)
    assert.deepEqual(run.output, { hello: 'world' })

    const failed = await rejection(client.components.runAction('probe', 'fail', { code: 'NOPE' }))
    assert.equal(failed.code, 'component_error')
    assert.equal(failed.status, 500)
    assert.equal((failed.details as { task_error_code?: string }).task_error_code, 'NOPE')
    const unknown = await rejection(client.components.actions('ghost'))
    assert.equal(unknown.code, 'not_found')
    assert.equal(unknown.status, 404)

    const health = await client.health()
    assert.equal(health.status, 'healthy')
    assert.equal(health.store.kind, 'memory')
    assert.deepEqual(await client.ready(), { ready: true })
    assert.match(await client.metrics(), /^# HELP harmonia_/m)
  })
})

describe('watchExecution', () => {
  it('yields the snapshot, then every event once in seq order, and ends after the final event', async () => {
    const gate = server.probe.gate('ordered')
    const workflow = await client.workflows.create(gatedWorkflow('ordered'))
    const execution = await client.executions.start({ workflow_id: workflow.workflow_id })
    const messages: ExecutionStreamMessage[] = []
    for await (const message of client.watchExecution(execution.execution_id)) {
      messages.push(message)
      if (message.type === 'task_started' && message.data['task'] === 'hold') gate.release()
    }
    assert.equal(messages[0]!.type, 'snapshot')
    const events = eventsOf(messages)
    assertContiguous(events.map((event) => event.seq))
    assert.equal(events.at(-1)!.type, 'execution_completed')
    const history = await client.executions.events(execution.execution_id, { limit: 1000 })
    assert.deepEqual(
      events.map((event) => [event.seq, event.type]),
      history.items.map((event) => [event.seq, event.type]),
    )
  })

  it('resumes after the server cut every connection, without gaps or duplicates', async () => {
    const gate = server.probe.gate('cut')
    const workflow = await client.workflows.create(gatedWorkflow('cut'))
    const execution = await client.executions.start({ workflow_id: workflow.workflow_id })
    await gate.entered
    const reconnects: unknown[] = []
    const messages: ExecutionStreamMessage[] = []
    let cut = false
    for await (const message of client.watchExecution(execution.execution_id, {
      delayMs: 20,
      onReconnect: (info) => reconnects.push(info.error),
    })) {
      messages.push(message)
      if (!cut && message.type === 'task_started') {
        cut = true
        // Every socket goes, the stream included; the execution goes on while the client is away.
        server.app.server.closeAllConnections()
        gate.release()
        await client.waitForExecution(execution.execution_id)
      }
    }
    assert.ok(cut)
    assert.equal(reconnects.length, 1)
    assert.equal(messages.filter((message) => message.type === 'snapshot').length, 1)
    const events = eventsOf(messages)
    assertContiguous(events.map((event) => event.seq))
    const history = await client.executions.events(execution.execution_id, { limit: 1000 })
    assert.equal(events.length, history.items.length)
    assert.equal(events.at(-1)!.type, 'execution_completed')
  })

  it('starts after a given seq, and ends at once for a finished execution', async () => {
    const execution = await client.executions.start({ workflow: twoTaskWorkflow })
    const done = await client.waitForExecution(execution.execution_id)
    const messages: ExecutionStreamMessage[] = []
    for await (const message of client.watchExecution(execution.execution_id, { after: 2 }))
      messages.push(message)
    assert.equal(messages[0]!.type, 'snapshot')
    assertContiguous(
      eventsOf(messages).map((event) => event.seq),
      3,
    )
    assert.equal(eventsOf(messages).at(-1)!.seq, done.last_event_seq)
  })

  it('works over WebSocket too', async () => {
    const gate = server.probe.gate('socket')
    const workflow = await client.workflows.create(gatedWorkflow('socket'))
    const execution = await client.executions.start({ workflow_id: workflow.workflow_id })
    const messages: ExecutionStreamMessage[] = []
    for await (const message of client.watchExecution(execution.execution_id, { transport: 'websocket' })) {
      messages.push(message)
      if (message.type === 'task_started' && message.data['task'] === 'hold') gate.release()
    }
    assert.equal(messages[0]!.type, 'snapshot')
    const events = eventsOf(messages)
    assertContiguous(events.map((event) => event.seq))
    assert.equal(events.at(-1)!.type, 'execution_completed')
  })

  it('throws execution_not_found for an unknown execution, over SSE and WebSocket', async () => {
    for (const transport of ['sse', 'websocket'] as const) {
      const error = await rejection(
        (async () => {
          for await (const _message of client.watchExecution('exec-nope', { transport })) {
            assert.fail('no message expected')
          }
        })(),
      )
      assert.equal(error.code, 'execution_not_found', transport)
      assert.equal(error.status, 404, transport)
    }
  })
})

describe('watchEvents and waitForExecution', () => {
  it('streams the events of one workflow across executions, in id order', async () => {
    const workflow = await client.workflows.create({ ...twoTaskWorkflow, name: 'events_flow' })
    const other = await client.workflows.create({ ...twoTaskWorkflow, name: 'other_flow' })
    const controller = new AbortController()
    const seen: ExecutionEventMessage[] = []
    let snapshot = false
    const started = Promise.withResolvers<void>()
    const stream = (async () => {
      for await (const message of client.watchEvents({
        workflow_id: workflow.workflow_id,
        signal: controller.signal,
      })) {
        if (message.type === 'snapshot') {
          snapshot = true
          started.resolve()
          continue
        }
        seen.push(message)
        if (seen.filter((event) => event.type === 'execution_completed').length === 2) return
      }
    })()
    await started.promise
    await client.executions.start({ workflow_id: other.workflow_id })
    const a = await client.executions.start({ workflow_id: workflow.workflow_id })
    const b = await client.executions.start({ workflow_id: workflow.workflow_id })
    await stream
    assert.ok(snapshot)
    assert.ok(seen.every((event) => event.workflow_id === workflow.workflow_id))
    assert.deepEqual(
      new Set(seen.map((event) => event.execution_id)),
      new Set([a.execution_id, b.execution_id]),
    )
    const ids = seen.map((event) => event.id!)
    assert.deepEqual(
      ids,
      [...ids].sort((x, y) => x - y),
    )
    assert.equal(new Set(ids).size, ids.length)
  })

  it('waits for the end, and times out with the status it last saw', async () => {
    const gate = server.probe.gate('waiting')
    const workflow = await client.workflows.create(gatedWorkflow('waiting'))
    const execution = await client.executions.start({ workflow_id: workflow.workflow_id })
    await gate.entered
    const timedOut = await rejection(client.waitForExecution(execution.execution_id, { timeoutMs: 100 }))
    assert.equal(timedOut.code, 'timeout')
    assert.equal(timedOut.status, 0)
    assert.equal(
      timedOut.message,
      `execution '${execution.execution_id}' did not finish within 100 ms; it is running`,
    )

    const waiting = client.waitForExecution(execution.execution_id, { timeoutMs: 10_000 })
    gate.release()
    const done = await waiting
    assert.equal(done.status, 'completed')
    assert.equal(done.task_status['after']!.status, 'completed')
  })
})

describe('auth', () => {
  let keyed: TestServer
  before(async () => {
    keyed = await startTestServer({
      listen: true,
      flags: {
        server: {
          apiKeys: [
            { key: 'read-key-0123456789', scope: 'read', name: 'reader' },
            { key: 'write-key-0123456789', scope: 'write', name: 'writer' },
          ],
        },
      },
    })
  })
  after(() => keyed.close())

  it('sends the key in a header (X-API-Key or Bearer), and on WebSocket as ?api_key=', async () => {
    const anonymous = new HarmoniaClient({ baseUrl: keyed.baseUrl })
    const missing = await rejection(anonymous.workflows.list())
    assert.equal(missing.code, 'authentication_failed')
    assert.equal(missing.status, 401)
    const wrong = await rejection(
      new HarmoniaClient({ baseUrl: keyed.baseUrl, apiKey: 'nope' }).workflows.list(),
    )
    assert.equal(wrong.code, 'authentication_failed')
    assert.equal(wrong.message, 'the API key is not valid')
    assert.equal((await anonymous.health()).status, 'healthy')

    const reader = new HarmoniaClient({ baseUrl: keyed.baseUrl, apiKey: 'read-key-0123456789' })
    assert.equal((await reader.workflows.list()).total, 0)
    const denied = await rejection(reader.workflows.create(twoTaskWorkflow))
    assert.equal(denied.code, 'permission_denied')
    assert.equal(denied.status, 403)
    assert.deepEqual(denied.details, { needed_scope: 'write', key_scope: 'read' })

    const writer = new HarmoniaClient({
      baseUrl: keyed.baseUrl,
      apiKey: 'write-key-0123456789',
      apiKeyHeader: 'authorization',
    })
    const execution = await writer.executions.start({ workflow: twoTaskWorkflow })
    for (const transport of ['sse', 'websocket'] as const) {
      const types: string[] = []
      for await (const message of reader.watchExecution(execution.execution_id, { transport }))
        types.push(message.type)
      assert.equal(types[0], 'snapshot', transport)
      assert.equal(types.at(-1), 'execution_completed', transport)
    }
    const refused = await rejection(
      (async () => {
        for await (const _message of anonymous.watchExecution(execution.execution_id))
          assert.fail('no message expected')
      })(),
    )
    assert.equal(refused.code, 'authentication_failed')
    assert.equal(refused.status, 401)
  })
})
