/**
 * Event triggers: workflow B starts when an execution of workflow A completes (or fails), with B's input
 * mapped from A's output; once per execution of A even with two nodes sharing the store.
 */
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { describe, it } from 'node:test'
import { resolveConfig } from '../../src/core/config.ts'
import type { ExecutionEvent } from '../../src/core/events.ts'
import { createHarmonia, type Harmonia } from '../../src/harmonia.ts'
import { call, eventually, startTestServer } from '../api/support.ts'

const producer = {
  name: 'producer',
  input: { n: { type: 'integer', default: 1 } },
  tasks: { make: { component: 'core', action: 'transform', input: { total: '${workflow.input.n * 10}' } } },
  output: { total: '${tasks.make.output.total}' },
}
const failing = {
  name: 'failing',
  tasks: { boom: { component: 'core', action: 'fail', input: { message: 'boom' } } },
}
const consumer = {
  name: 'consumer',
  input: { total: { type: 'integer' }, from: { type: 'string' } },
  tasks: { echo: { component: 'core', action: 'echo', input: { total: '${workflow.input.total}' } } },
  output: { total: '${tasks.echo.output.total}', from: '${workflow.input.from}' },
}

describe('event triggers', () => {
  it('API: B starts with input mapped from A output when A completes; failures trigger only "failed"', async () => {
    await using server = await startTestServer()
    const a = await call(server.app, 'POST', '/api/v1/workflows', producer)
    const f = await call(server.app, 'POST', '/api/v1/workflows', failing)
    const b = await call(server.app, 'POST', '/api/v1/workflows', consumer)
    const bad = await call(server.app, 'POST', '/api/v1/triggers', {
      source_workflow_id: a.body.workflow_id,
      on: ['finished'],
    })
    assert.equal(bad.status, 422)
    assert.match(bad.body.error.message, /workflow_id/)
    assert.match(bad.body.error.message, /on/)

    const onComplete = await call(server.app, 'POST', '/api/v1/triggers', {
      name: 'a then b',
      source_workflow_id: a.body.workflow_id,
      on: ['completed'],
      workflow_id: b.body.workflow_id,
      input_mapping: { total: '${output.total + 1}', from: '${execution_id}' },
    })
    assert.equal(onComplete.status, 201, JSON.stringify(onComplete.body))
    const onFail = await call(server.app, 'POST', '/api/v1/triggers', {
      source_workflow_id: f.body.workflow_id,
      on: ['failed'],
      workflow_id: b.body.workflow_id,
      input_mapping: { total: 0, from: '${status}' },
    })
    assert.equal(onFail.status, 201, JSON.stringify(onFail.body))

    const started = await call(server.app, 'POST', `/api/v1/workflows/${a.body.workflow_id}/execute`, {
      input: { n: 4 },
    })
    assert.ok(started.status < 300, JSON.stringify(started.body))
    const sourceId = started.body.execution_id as string
    const runs = await eventually(
      () => call(server.app, 'GET', `/api/v1/triggers/${onComplete.body.trigger_id}/runs`),
      (answer) => answer.body.items.length === 1,
      { what: 'B started' },
    )
    assert.equal(runs.body.items[0].source_execution_id, sourceId)
    const done = await server.harmonia.engine.waitForExecution(runs.body.items[0].execution_id, {
      timeoutMs: 10_000,
    })
    assert.equal(done.workflow_id, b.body.workflow_id)
    assert.deepEqual(done.output, { total: 41, from: sourceId })

    const failed = await call(server.app, 'POST', `/api/v1/workflows/${f.body.workflow_id}/execute`, {})
    const failRuns = await eventually(
      () => call(server.app, 'GET', `/api/v1/triggers/${onFail.body.trigger_id}/runs`),
      (answer) => answer.body.items.length === 1,
      { what: 'B started after the failure' },
    )
    assert.equal(failRuns.body.items[0].source_execution_id, failed.body.execution_id)
    const afterFail = await server.harmonia.engine.waitForExecution(failRuns.body.items[0].execution_id, {
      timeoutMs: 10_000,
    })
    assert.deepEqual(afterFail.output, { total: 0, from: 'failed' })
    // The completed-only trigger did not fire for the failure.
    const still = await call(server.app, 'GET', `/api/v1/triggers/${onComplete.body.trigger_id}/runs`)
    assert.equal(still.body.items.length, 1)

    const list = await call(server.app, 'GET', '/api/v1/triggers')
    assert.equal(list.body.total, 2)
    assert.equal((await call(server.app, 'DELETE', `/api/v1/triggers/${onFail.body.trigger_id}`)).status, 200)
    assert.equal((await call(server.app, 'GET', `/api/v1/triggers/${onFail.body.trigger_id}`)).status, 404)
  })

  it('an end committed before a crash (its pending row) starts B on the next start, once', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'harmonia-event-outbox-'))
    const open = async (): Promise<Harmonia> => {
      const config = resolveConfig({
        flags: { dataDir: dir, storage: { kind: 'sqlite' }, log: { level: 'silent' } },
      })
      const harmonia = await createHarmonia(config, { cwd: dir })
      await harmonia.start()
      return harmonia
    }
    let harmonia = await open()
    try {
      const a = await harmonia.workflows.create(producer)
      const b = await harmonia.workflows.create(consumer)
      const ran = await harmonia.engine.startExecution({ workflow_id: a.workflow_id, input: { n: 5 } })
      const ended = await harmonia.engine.waitForExecution(ran.execution_id, { timeoutMs: 10_000 })
      const trigger = await harmonia.triggers.create({
        source_workflow_id: a.workflow_id,
        workflow_id: b.workflow_id,
        input_mapping: { total: '${output.total}', from: 'outbox' },
      })
      await harmonia.close()
      // What the write hook leaves when the process dies right after A's end was committed.
      const config = resolveConfig({
        flags: { dataDir: dir, storage: { kind: 'sqlite' }, log: { level: 'silent' } },
      })
      const raw = await createHarmonia(config, { cwd: dir })
      await raw.store.putDocument('event_trigger_pending', `${trigger.trigger_id}:${ran.execution_id}`, {
        trigger_id: trigger.trigger_id,
        end: 'completed',
        event: {
          seq: 1,
          type: 'execution_completed',
          timestamp: ended.updated_at ?? new Date().toISOString(),
          execution_id: ran.execution_id,
          workflow_id: a.workflow_id,
          data: {},
        },
      })
      await raw.close()
      harmonia = await open()
      const runs = await eventually(
        () => harmonia.triggers.runs(trigger.trigger_id),
        (items) => items.length >= 1,
        { what: 'B started from the pending row' },
      )
      assert.equal(runs.length, 1)
      const done = await harmonia.engine.waitForExecution(String(runs[0]!.execution_id), {
        timeoutMs: 10_000,
      })
      assert.deepEqual(done.output, { total: 50, from: 'outbox' })
      assert.equal((await harmonia.store.listDocuments('event_trigger_pending')).total, 0)
      await harmonia.close()
      harmonia = await open()
      assert.equal((await harmonia.store.listExecutions({ workflow_id: b.workflow_id, limit: 10 })).total, 1)
    } finally {
      await harmonia.close()
      await rm(dir, { recursive: true, force: true })
    }
  })

  it('two nodes sharing a store start B once per execution of A', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'harmonia-event-triggers-'))
    const open = async (nodeId: string): Promise<Harmonia> => {
      const config = resolveConfig({
        flags: { dataDir: dir, storage: { kind: 'sqlite' }, log: { level: 'silent' }, engine: { nodeId } },
      })
      const harmonia = await createHarmonia(config, { cwd: dir })
      await harmonia.start()
      return harmonia
    }
    const one = await open('node-1')
    const two = await open('node-2')
    try {
      const a = await one.workflows.create(producer)
      const b = await one.workflows.create(consumer)
      const trigger = await one.triggers.create({
        source_workflow_id: a.workflow_id,
        workflow_id: b.workflow_id,
        input_mapping: { total: '${output.total}', from: 'a' },
      })
      // Node 2's bus also sees the end of node 1's execution (as a relay across nodes would deliver it).
      const ends: ExecutionEvent[] = []
      const unsubscribe = one.engine.bus.subscribe((event) => {
        if (event.type === 'execution_completed') ends.push(event)
      })
      const first = await one.engine.startExecution({ workflow_id: a.workflow_id, input: { n: 2 } })
      await one.engine.waitForExecution(first.execution_id, { timeoutMs: 10_000 })
      unsubscribe()
      const end = await eventually(
        () => ends.find((event) => event.execution_id === first.execution_id),
        (event) => event !== undefined,
        { what: "A's execution_completed event" },
      )
      two.engine.bus.publish(end!)
      two.engine.bus.publish(end!)
      const runs = await eventually(
        () => one.triggers.runs(trigger.trigger_id),
        (items) => items.length >= 1,
        { what: 'B started' },
      )
      assert.deepEqual(
        runs.map((run) => run.source_execution_id),
        [first.execution_id],
      )
      // Another execution of A starts B again, once.
      const second = await two.engine.startExecution({ workflow_id: a.workflow_id, input: { n: 3 } })
      await two.engine.waitForExecution(second.execution_id, { timeoutMs: 10_000 })
      await eventually(
        () => one.triggers.runs(trigger.trigger_id),
        (items) => items.length >= 2,
        { what: 'B started for the second A' },
      )
      const executionsOfB = await eventually(
        () => one.store.listExecutions({ workflow_id: b.workflow_id, limit: 100 }),
        (page) => page.total >= 2,
      )
      assert.equal(executionsOfB.total, 2)
    } finally {
      await one.close()
      await two.close()
      await rm(dir, { recursive: true, force: true })
    }
  })
})
