import assert from 'node:assert/strict'
import { afterEach, describe, test } from 'node:test'
import type { JsonValue, WorkflowDefinition } from '../../src/core/model.ts'
import { createHarness, type Harness } from '../support/engine-harness.ts'

const open: Harness[] = []
async function harness(options: Parameters<typeof createHarness>[0] = {}): Promise<Harness> {
  const h = await createHarness(options)
  open.push(h)
  return h
}
afterEach(async () => {
  for (const h of open.splice(0)) await h.close()
})

function wf(tasks: WorkflowDefinition['tasks'], extra: Partial<WorkflowDefinition> = {}): WorkflowDefinition {
  return { name: 'test', tasks, ...extra }
}

describe('engine', () => {
  test('runs a chain, passing outputs through expressions, and records gapless ordered events', async () => {
    const h = await harness()
    const exec = await h.engine.startExecution({
      workflow: wf(
        {
          a: { name: 'a', component: 'test', action: 'echo', input: { n: '${workflow.input.n}' } },
          b: {
            name: 'b',
            component: 'test',
            action: 'echo',
            input: { doubled: '${tasks.a.output.n * 2}', text: 'n is ${tasks.a.output.n}' },
            depends_on: ['a'],
          },
        },
        {
          input: { n: { type: 'number', default: 21 } },
          output: { result: '${tasks.b.output.doubled}', text: '${tasks.b.output.text}' },
        },
      ),
    })
    assert.equal(exec.status, 'pending')
    const done = await h.engine.waitForExecution(exec.execution_id, { timeoutMs: 10_000 })
    assert.equal(done.status, 'completed')
    assert.deepEqual(done.output, { result: 42, text: 'n is 21' })
    assert.equal(done.completed_tasks, 2)
    const events = await h.store.listEvents(exec.execution_id, 0, 100)
    assert.deepEqual(
      events.map((e) => e.type),
      [
        'execution_started',
        'task_started',
        'task_completed',
        'task_started',
        'task_completed',
        'execution_completed',
      ],
    )
    assert.deepEqual(
      events.map((e) => e.seq),
      events.map((_, i) => i + 1),
    )
    assert.deepEqual(
      h.events.filter((e) => e.execution_id === exec.execution_id).map((e) => e.seq),
      events.map((e) => e.seq),
      'the bus publishes exactly the persisted events, in order',
    )
  })

  test('runs independent tasks in parallel and joins them', async () => {
    const h = await harness()
    const gateA = h.test.gate('a')
    const gateB = h.test.gate('b')
    const exec = await h.engine.startExecution({
      workflow: wf({
        a: { name: 'a', component: 'test', action: 'echo', input: 1 },
        b: { name: 'b', component: 'test', action: 'echo', input: 2 },
        c: {
          name: 'c',
          component: 'test',
          action: 'echo',
          input: '${[tasks.a.output, tasks.b.output]}',
          depends_on: ['a', 'b'],
        },
      }),
    })
    await Promise.all([gateA.entered(), gateB.entered()])
    assert.equal(h.test.running, 2, 'a and b run at the same time')
    gateA.release()
    gateB.release()
    const done = await h.engine.waitForExecution(exec.execution_id, { timeoutMs: 10_000 })
    assert.equal(done.status, 'completed')
    const detail = await h.engine.getExecution(exec.execution_id)
    assert.deepEqual(detail.tasks.find((t) => t.task === 'c')?.output, [1, 2])
  })

  test('skips a task whose condition is false and tasks that depend only on skipped ones; a join after a branch runs', async () => {
    const h = await harness()
    const exec = await h.engine.startExecution({
      workflow: wf(
        {
          check: { name: 'check', component: 'test', action: 'echo', input: { ok: '${workflow.input.ok}' } },
          yes: {
            name: 'yes',
            component: 'test',
            action: 'echo',
            input: 'yes',
            depends_on: ['check'],
            when: 'tasks.check.output.ok',
          },
          no: {
            name: 'no',
            component: 'test',
            action: 'echo',
            input: 'no',
            depends_on: ['check'],
            when: '${!tasks.check.output.ok}',
          },
          after_no: { name: 'after_no', component: 'test', action: 'echo', input: 1, depends_on: ['no'] },
          join: {
            name: 'join',
            component: 'test',
            action: 'echo',
            input: 'joined',
            depends_on: ['yes', 'no'],
          },
        },
        { input: { ok: { type: 'boolean' } } },
      ),
      input: { ok: true },
    })
    const done = await h.engine.waitForExecution(exec.execution_id, { timeoutMs: 10_000 })
    assert.equal(done.status, 'completed')
    const status = Object.fromEntries(
      (await h.engine.getExecution(exec.execution_id)).tasks.map((t) => [t.task, t.status]),
    )
    assert.deepEqual(status, {
      check: 'completed',
      yes: 'completed',
      no: 'skipped',
      after_no: 'skipped',
      join: 'completed',
    })
    assert.equal(h.test.calls('no').length, 0)
  })

  test('for_each fans out with a concurrency limit and keeps item order in the output', async () => {
    const h = await harness()
    const exec = await h.engine.startExecution({
      workflow: wf(
        {
          each: {
            name: 'each',
            component: 'test',
            action: 'echo',
            for_each: '${workflow.input.items}',
            concurrency: 3,
            input: { value: '${item * 10}', index: '${item_index}' },
          },
          total: {
            name: 'total',
            component: 'test',
            action: 'echo',
            input: '${size(tasks.each.output)}',
            depends_on: ['each'],
          },
        },
        { input: { items: { type: 'array' } } },
      ),
      input: { items: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10] },
    })
    const done = await h.engine.waitForExecution(exec.execution_id, { timeoutMs: 10_000 })
    assert.equal(done.status, 'completed')
    const detail = await h.engine.getExecution(exec.execution_id)
    const each = detail.tasks.find((t) => t.task === 'each' && t.item_index === -1)!
    assert.deepEqual(
      each.output,
      [1, 2, 3, 4, 5, 6, 7, 8, 9, 10].map((v, i) => ({ value: v * 10, index: i })),
    )
    assert.equal(detail.tasks.find((t) => t.task === 'total')?.output, 10)
    assert.ok(h.test.maxRunning <= 3, `at most 3 items at once, saw ${h.test.maxRunning}`)
    assert.deepEqual(
      h.test
        .calls('each')
        .map((c) => c.idempotencyKey)
        .sort(),
      [0, 1, 2, 3, 4, 5, 6, 7, 8, 9].map((i) => `${exec.execution_id}:each:${i}`).sort(),
    )
  })

  test('retries retriable failures with backoff and records every attempt', async () => {
    const h = await harness()
    h.test.failNext('flaky', 2)
    const exec = await h.engine.startExecution({
      workflow: wf({
        flaky: {
          name: 'flaky',
          component: 'test',
          action: 'echo',
          input: 'ok',
          retry: { max_attempts: 3, initial_delay_ms: 5, backoff_factor: 2 },
        },
      }),
    })
    const done = await h.engine.waitForExecution(exec.execution_id, { timeoutMs: 10_000 })
    assert.equal(done.status, 'completed')
    assert.deepEqual(
      h.test.calls('flaky').map((c) => c.attempt),
      [1, 2, 3],
    )
    assert.equal(
      new Set(h.test.calls('flaky').map((c) => c.idempotencyKey)).size,
      1,
      'one idempotency key across attempts',
    )
    const types = (await h.store.listEvents(exec.execution_id, 0, 100)).map((e) => e.type)
    assert.equal(types.filter((t) => t === 'task_retrying').length, 2)
  })

  test('a non-retriable failure fails the execution: no new task starts, running ones finish', async () => {
    const h = await harness()
    const slow = h.test.gate('slow')
    const exec = await h.engine.startExecution({
      workflow: wf({
        slow: { name: 'slow', component: 'test', action: 'echo', input: 'slow' },
        bad: { name: 'bad', component: 'test', action: 'fail', retry: 3 },
        after: { name: 'after', component: 'test', action: 'echo', input: 1, depends_on: ['bad'] },
        after_slow: { name: 'after_slow', component: 'test', action: 'echo', input: 1, depends_on: ['slow'] },
      }),
    })
    await slow.entered()
    await waitFor(
      async () =>
        (await h.engine.getExecution(exec.execution_id)).tasks.find((t) => t.task === 'bad')?.status ===
        'failed',
    )
    slow.release()
    const done = await h.engine.waitForExecution(exec.execution_id, { timeoutMs: 10_000 })
    assert.equal(done.status, 'failed')
    assert.equal(done.error?.task, 'bad')
    assert.equal(done.error?.code, 'BOOM')
    assert.equal(h.test.calls('bad').length, 1, 'non-retriable: one attempt only')
    const status = Object.fromEntries(
      (await h.engine.getExecution(exec.execution_id)).tasks.map((t) => [t.task, t.status]),
    )
    assert.equal(status['slow'], 'completed', 'the running task finished')
    assert.equal(status['after'], 'pending')
    assert.equal(status['after_slow'], 'pending', 'no task starts after the failure')
  })

  test('on_failure continue lets downstream tasks run and read the failed status', async () => {
    const h = await harness()
    const exec = await h.engine.startExecution({
      workflow: wf(
        {
          bad: { name: 'bad', component: 'test', action: 'fail', on_failure: 'continue' },
          report: {
            name: 'report',
            component: 'test',
            action: 'echo',
            input: { status: '${tasks.bad.status}', code: '${tasks.bad.error.code}' },
            depends_on: ['bad'],
          },
        },
        { output: { report: '${tasks.report.output}' } },
      ),
    })
    const done = await h.engine.waitForExecution(exec.execution_id, { timeoutMs: 10_000 })
    assert.equal(done.status, 'completed')
    assert.deepEqual(done.output, { report: { status: 'failed', code: 'BOOM' } })
  })

  test('a task timeout aborts the attempt with a retriable TIMEOUT', async () => {
    const h = await harness()
    h.test.gate('hang') // never released: only the timeout ends it
    const exec = await h.engine.startExecution({
      workflow: wf({
        hang: {
          name: 'hang',
          component: 'test',
          action: 'echo',
          input: 1,
          timeout: 0.05,
          retry: { max_attempts: 2, initial_delay_ms: 1 },
        },
      }),
    })
    const done = await h.engine.waitForExecution(exec.execution_id, { timeoutMs: 10_000 })
    assert.equal(done.status, 'failed')
    assert.equal(done.error?.code, 'TIMEOUT')
    assert.equal(h.test.calls('hang').length, 2, 'TIMEOUT is retried')
  })

  test('cancel aborts running tasks and ends the execution cancelled', async () => {
    const h = await harness()
    const gate = h.test.gate('wait')
    const exec = await h.engine.startExecution({
      workflow: wf({
        wait: { name: 'wait', component: 'test', action: 'echo', input: 1 },
        next: { name: 'next', component: 'test', action: 'echo', input: 2, depends_on: ['wait'] },
      }),
    })
    await gate.entered()
    const cancelled = await h.engine.cancel(exec.execution_id)
    assert.equal(cancelled.status, 'cancelled')
    const detail = await h.engine.getExecution(exec.execution_id)
    assert.equal(detail.execution.status, 'cancelled')
    assert.equal(detail.tasks.find((t) => t.task === 'wait')?.status, 'cancelled')
    assert.equal(h.test.calls('next').length, 0)
    await assert.rejects(h.engine.cancel(exec.execution_id), {
      code: 'conflict',
      details: { execution_id: exec.execution_id, status: 'cancelled', reason: 'invalid_state' },
    })
  })

  test('pause lets running tasks finish and starts none; resume continues', async () => {
    const h = await harness()
    const gate = h.test.gate('first')
    const exec = await h.engine.startExecution({
      workflow: wf({
        first: { name: 'first', component: 'test', action: 'echo', input: 1 },
        second: { name: 'second', component: 'test', action: 'echo', input: 2, depends_on: ['first'] },
      }),
    })
    await gate.entered()
    const paused = await h.engine.pause(exec.execution_id)
    assert.equal(paused.status, 'paused')
    gate.release()
    await waitFor(
      async () =>
        (await h.engine.getExecution(exec.execution_id)).tasks.find((t) => t.task === 'first')?.status ===
        'completed',
    )
    assert.equal(h.test.calls('second').length, 0, 'nothing starts while paused')
    assert.equal((await h.engine.getExecution(exec.execution_id)).execution.status, 'paused')
    const resumed = await h.engine.resume(exec.execution_id)
    assert.equal(resumed.status, 'running')
    const done = await h.engine.waitForExecution(exec.execution_id, { timeoutMs: 10_000 })
    assert.equal(done.status, 'completed')
    const types = (await h.store.listEvents(exec.execution_id, 0, 100)).map((e) => e.type)
    assert.ok(types.includes('execution_paused') && types.includes('execution_resumed'))
  })

  test('rerun starts from the failed task and keeps completed outputs', async () => {
    const h = await harness()
    h.test.failNext('b', 1, 'HTTP_400', false)
    const exec = await h.engine.startExecution({
      workflow: wf({
        a: { name: 'a', component: 'test', action: 'echo', input: 'a' },
        b: { name: 'b', component: 'test', action: 'echo', input: '${tasks.a.output}', depends_on: ['a'] },
        c: { name: 'c', component: 'test', action: 'echo', input: '${tasks.b.output}', depends_on: ['b'] },
      }),
    })
    const failed = await h.engine.waitForExecution(exec.execution_id, { timeoutMs: 10_000 })
    assert.equal(failed.status, 'failed')
    const rerun = await h.engine.rerun(exec.execution_id)
    assert.equal(rerun.status, 'running')
    const done = await h.engine.waitForExecution(exec.execution_id, { timeoutMs: 10_000 })
    assert.equal(done.status, 'completed')
    assert.equal(h.test.calls('a').length, 1, 'a is not run again')
    assert.equal(h.test.calls('b').length, 2)
    assert.equal(h.test.calls('c').length, 1)
    await assert.rejects(h.engine.rerun(exec.execution_id), { code: 'conflict' })
  })

  test('checkpoint and restore: a new execution that does not re-run what the checkpoint completed', async () => {
    const h = await harness()
    const gate = h.test.gate('b')
    const exec = await h.engine.startExecution({
      workflow: wf({
        a: { name: 'a', component: 'test', action: 'echo', input: 'a' },
        b: { name: 'b', component: 'test', action: 'echo', input: '${tasks.a.output}', depends_on: ['a'] },
      }),
    })
    await gate.entered()
    const checkpoint = await h.engine.checkpoint(exec.execution_id, { name: 'after a' })
    assert.equal(checkpoint.task_states.find((t) => t.task === 'a')?.status, 'completed')
    gate.release()
    await h.engine.waitForExecution(exec.execution_id, { timeoutMs: 10_000 })
    const restored = await h.engine.restore(checkpoint.checkpoint_id)
    assert.notEqual(restored.execution_id, exec.execution_id)
    assert.equal(restored.restored_from_checkpoint, checkpoint.checkpoint_id)
    const done = await h.engine.waitForExecution(restored.execution_id, { timeoutMs: 10_000 })
    assert.equal(done.status, 'completed')
    assert.equal(h.test.calls('a').length, 1, 'a completed in the checkpoint and is not run again')
    assert.equal(h.test.calls('b').length, 2)
    await assert.rejects(h.engine.restore('ckpt-missing'), { code: 'checkpoint_not_found' })
  })

  test('a sub-workflow runs as a child execution and returns its output', async () => {
    const h = await harness()
    const exec = await h.engine.startExecution({
      workflow: wf(
        {
          child: {
            name: 'child',
            component: 'workflow',
            action: 'run',
            input: {
              workflow: {
                name: 'child',
                input: { x: { type: 'number' } },
                tasks: {
                  sq: {
                    name: 'sq',
                    component: 'test',
                    action: 'echo',
                    input: '${workflow.input.x * workflow.input.x}',
                  },
                },
                output: { square: '${tasks.sq.output}' },
              },
              input: { x: 7 },
            },
          },
        },
        { output: { result: '${tasks.child.output.square}' } },
      ),
    })
    const done = await h.engine.waitForExecution(exec.execution_id, { timeoutMs: 10_000 })
    assert.equal(done.status, 'completed', JSON.stringify(done.error))
    assert.deepEqual(done.output, { result: 49 })
    const children = await h.store.listExecutions({ parent_execution_id: exec.execution_id })
    assert.equal(children.total, 1)
  })

  test('idempotent start: the same key returns the first execution', async () => {
    const h = await harness()
    const request = {
      workflow: wf({ a: { name: 'a', component: 'test', action: 'echo', input: 1 } }),
      idempotency_key: 'k-1',
    }
    const first = await h.engine.startExecution(request)
    const second = await h.engine.startExecution(request)
    assert.equal(second.execution_id, first.execution_id)
  })

  test('rejects input that does not match the schema, naming the field', async () => {
    const h = await harness()
    await assert.rejects(
      h.engine.startExecution({
        workflow: wf(
          { a: { name: 'a', component: 'test', action: 'echo', input: 1 } },
          { input: { count: { type: 'integer' } } },
        ),
        input: { count: 'abc' },
      }),
      (error: Error & { code?: string }) => error.code === 'validation_error' && /count/.test(error.message),
    )
  })

  test('recovery after a crash: completed tasks keep their outputs, the running one runs again with the same key', async () => {
    const h = await harness()
    const gate = h.test.gate('b')
    const exec = await h.engine.startExecution({
      workflow: wf({
        a: { name: 'a', component: 'test', action: 'echo', input: 'a' },
        b: { name: 'b', component: 'test', action: 'echo', input: '${tasks.a.output}', depends_on: ['a'] },
        c: { name: 'c', component: 'test', action: 'echo', input: '${tasks.b.output}', depends_on: ['b'] },
      }),
    })
    await gate.entered()
    await h.engine.stop({ graceMs: 0 })
    h.test.gates.delete('b')
    const restarted = await h.restart()
    open.push(restarted)
    const done = await restarted.engine.waitForExecution(exec.execution_id, { timeoutMs: 10_000 })
    assert.equal(done.status, 'completed')
    assert.equal(h.test.calls('a').length, 1, 'a completed before the crash and is never invoked again')
    assert.equal(h.test.calls('b').length, 2, 'b was interrupted: invoked again')
    assert.deepEqual(
      h.test.calls('b').map((c) => c.idempotencyKey),
      [`${exec.execution_id}:b`, `${exec.execution_id}:b`],
    )
    assert.equal(h.test.calls('c').length, 1)
    // Watchers are told that b runs again: a task_started marked resumed, with the attempt it had.
    const again = restarted.events.filter((e) => e.type === 'task_started' && e.data['task'] === 'b')
    assert.deepEqual(
      again.map((e) => [e.data['attempt'], e.data['resumed']]),
      [[1, true]],
    )
  })

  test('a retry that was due while the process was down runs after restart', async () => {
    const h = await harness()
    h.test.failNext('flaky', 1)
    const exec = await h.engine.startExecution({
      workflow: wf({
        flaky: {
          name: 'flaky',
          component: 'test',
          action: 'echo',
          input: 1,
          retry: { max_attempts: 2, initial_delay_ms: 60_000 },
        },
      }),
    })
    await waitFor(
      async () => (await h.engine.getExecution(exec.execution_id)).tasks[0]?.status === 'retrying',
    )
    await h.engine.stop({ graceMs: 0 })
    // Bring the persisted due time into the past, as if the process had been down for a minute.
    const states = await h.store.getTaskStates(exec.execution_id)
    const due = states.find((s) => s.task === 'flaky')!
    await h.store.commit({ tasks: [{ ...due, next_attempt_at: new Date(Date.now() - 1000).toISOString() }] })
    const restarted = await h.restart()
    open.push(restarted)
    const done = await restarted.engine.waitForExecution(exec.execution_id, { timeoutMs: 10_000 })
    assert.equal(done.status, 'completed')
    assert.deepEqual(
      h.test.calls('flaky').map((c) => c.attempt),
      [1, 2],
    )
  })

  test("a skipped task's output reads as null, so an output mapping over optional branches resolves", async () => {
    const h = await harness()
    const exec = await h.engine.startExecution({
      workflow: wf(
        {
          ran: { name: 'ran', component: 'test', action: 'echo', input: 'yes' },
          skipped: { name: 'skipped', component: 'test', action: 'echo', input: 'no', when: 'false' },
        },
        { output: { ran: '${tasks.ran.output}', skipped: '${tasks.skipped.output}' } },
      ),
    })
    const done = await h.engine.waitForExecution(exec.execution_id, { timeoutMs: 10_000 })
    assert.equal(done.status, 'completed', JSON.stringify(done.error))
    assert.deepEqual(done.output, { ran: 'yes', skipped: null })
  })

  test('refuses input nested too deep, naming where, and fails a task whose output is', async () => {
    const h = await harness()
    const nest = (levels: number): JsonValue => {
      let value: JsonValue = 'leaf'
      for (let i = 0; i < levels; i++) value = { d: value }
      return value
    }
    await assert.rejects(
      h.engine.startExecution({
        workflow: wf({ a: { name: 'a', component: 'test', action: 'echo', input: 1 } }),
        input: { deep: nest(5000) },
      }),
      (error: Error & { code?: string }) =>
        error.code === 'validation_error' &&
        /input\.deep(\.d)+: nests deeper than 200 levels/.test(error.message),
    )
    h.registry.register({ name: 'deep', kind: 'builtin' }, [
      { descriptor: { name: 'make' }, invoke: async () => nest(1000) },
    ])
    const exec = await h.engine.startExecution({
      workflow: wf({ a: { name: 'a', component: 'deep', action: 'make' } }),
    })
    const done = await h.engine.waitForExecution(exec.execution_id, { timeoutMs: 10_000 })
    assert.equal(done.status, 'failed')
    const [state] = await h.store.getTaskStates(exec.execution_id)
    assert.equal(state?.error?.code, 'OUTPUT_TOO_DEEP')
  })

  test('a stopping engine does not hold its grace period for a durable wait; the wait resumes after restart', async () => {
    const h = await harness()
    const exec = await h.engine.startExecution({
      workflow: wf({
        wait: { name: 'wait', component: 'core', action: 'delay', input: { ms: 60_000 } },
        after: { name: 'after', component: 'test', action: 'echo', input: 1, depends_on: ['wait'] },
      }),
    })
    await waitFor(async () =>
      (await h.engine.getExecution(exec.execution_id)).tasks.some(
        (t) => t.task === 'wait' && t.status === 'running',
      ),
    )
    // A grace period far beyond the test's timeout: stop returns only because the delay does not hold it.
    await h.engine.stop({ graceMs: 600_000 })
    assert.equal((await h.store.getExecution(exec.execution_id))?.status, 'running', 'left to resume')
    // As if the process had been down for the minute the delay lasts.
    const wait = (await h.store.getTaskStates(exec.execution_id)).find((s) => s.task === 'wait')!
    assert.equal(wait.status, 'running')
    await h.store.commit({ tasks: [{ ...wait, started_at: new Date(Date.now() - 61_000).toISOString() }] })
    const restarted = await h.restart()
    open.push(restarted)
    const done = await restarted.engine.waitForExecution(exec.execution_id, { timeoutMs: 10_000 })
    assert.equal(done.status, 'completed')
    assert.equal(h.test.calls('after').length, 1)
  })
})

async function waitFor(check: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (await check()) return
    if (Date.now() > deadline) throw new Error('condition not met before the deadline')
    await new Promise((resolve) => setImmediate(resolve))
  }
}
