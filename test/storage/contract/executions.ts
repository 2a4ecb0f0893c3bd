/** Contract: executions and task states through `commit`, upsert rules, idempotency keys, listings. */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { ConflictError, InvalidRequestError } from '../../../src/core/errors.ts'
import type { ExecutionRecord, ExecutionStatus } from '../../../src/core/model.ts'
import { at, definition, event, execution, rejectsWith, taskState, type ContractContext } from './fixtures.ts'

export function executionContract({ open }: ContractContext): void {
  test('commit inserts an execution that reads back exactly, as a copy', async (t) => {
    const { store } = await open(t)
    const record = execution('ex-1', {
      parent: { execution_id: 'ex-parent', task: 'child', item_index: 2 },
      restored_from_checkpoint: 'cp-1',
      idempotency_key: 'key-1',
      requested: 'pause',
      output: { nested: { list: [1, 'two', null, true] } },
    })
    await store.commit({ executions: [record] })
    assert.deepEqual(await store.getExecution('ex-1'), record)
    assert.equal(await store.getExecution('ex-unknown'), undefined)
    record.status = 'failed'
    record.input['text'] = 'changed by the caller'
    const read = (await store.getExecution('ex-1'))!
    assert.equal(read.status, 'pending')
    assert.equal(read.input['text'], 'hello')
    read.definition.name = 'mutated'
    read.input['text'] = 'mutated'
    const again = (await store.getExecution('ex-1'))!
    assert.equal(again.definition.name, 'wf one')
    assert.equal(again.input['text'], 'hello')
  })

  test('an upsert rewrites the mutable fields and never the immutable ones', async (t) => {
    const { store } = await open(t)
    const original = execution('ex-1', {
      parent: { execution_id: 'ex-parent', task: 'child', item_index: -1 },
      idempotency_key: 'key-1',
      requested: 'pause',
    })
    await store.commit({ executions: [original] })
    const update: ExecutionRecord = {
      ...execution('ex-1', {
        definition: definition('a different definition'),
        input: { text: 'a different input' },
        execution_options: { timeout: 1 },
        parent: { execution_id: 'other', task: 'x', item_index: 0 },
        restored_from_checkpoint: 'cp-other',
        idempotency_key: 'key-other',
        created_at: at(999),
      }),
      status: 'completed',
      updated_at: at(5),
      started_at: at(1),
      completed_at: at(5),
      output: { result: 42 },
      completed_tasks: 2,
      last_event_seq: 7,
    }
    await store.commit({ executions: [update] })
    const read = (await store.getExecution('ex-1'))!
    // The update has no `requested`: the mutable part is replaced as a whole.
    const { requested: _requested, ...kept } = original
    assert.deepEqual(read, {
      ...kept,
      status: 'completed',
      updated_at: at(5),
      started_at: at(1),
      completed_at: at(5),
      output: { result: 42 },
      completed_tasks: 2,
      last_event_seq: 7,
    })
    assert.equal('requested' in read, false)
    assert.equal((await store.findExecutionByIdempotencyKey('key-1'))?.execution_id, 'ex-1')
    assert.equal(await store.findExecutionByIdempotencyKey('key-other'), undefined)
  })

  test('an execution inserted and updated in one batch keeps what the insert wrote', async (t) => {
    const { store } = await open(t)
    await store.commit({
      executions: [
        execution('ex-1'),
        execution('ex-1', { status: 'running', input: { text: 'ignored' }, started_at: at(1) }),
      ],
    })
    const read = (await store.getExecution('ex-1'))!
    assert.equal(read.status, 'running')
    assert.equal(read.started_at, at(1))
    assert.deepEqual(read.input, { text: 'hello' })
  })

  test('idempotency keys find their execution and are unique; a conflicting batch writes nothing', async (t) => {
    const { store } = await open(t)
    await store.commit({ executions: [execution('ex-1', { idempotency_key: 'order-7' })] })
    assert.equal((await store.findExecutionByIdempotencyKey('order-7'))?.execution_id, 'ex-1')
    assert.deepEqual(await store.findExecutionByIdempotencyKey('order-7'), await store.getExecution('ex-1'))
    assert.equal(await store.findExecutionByIdempotencyKey('order-8'), undefined)
    await rejectsWith(
      store.commit({
        executions: [execution('ex-2', { idempotency_key: 'order-7' })],
        tasks: [taskState('ex-2', 'a')],
        events: [event('ex-2', 1)],
        documents: [{ collection: 'outbox', id: 'o-1', doc: { n: 1 } }],
      }),
      ConflictError,
      'conflict',
      /idempotency_key/,
    )
    assert.equal(await store.getExecution('ex-2'), undefined)
    assert.deepEqual(await store.getTaskStates('ex-2'), [])
    assert.deepEqual(await store.listEvents('ex-2', 0, 10), [])
    assert.equal(await store.getDocument('outbox', 'o-1'), undefined)
    assert.equal((await store.findExecutionByIdempotencyKey('order-7'))?.execution_id, 'ex-1')
  })

  test('two executions with one idempotency key in one batch: a conflict, nothing written', async (t) => {
    const { store } = await open(t)
    await rejectsWith(
      store.commit({
        executions: [
          execution('ex-1', { idempotency_key: 'same' }),
          execution('ex-2', { idempotency_key: 'same' }),
        ],
      }),
      ConflictError,
      'conflict',
      /idempotency_key/,
    )
    assert.equal(await store.getExecution('ex-1'), undefined)
    assert.equal(await store.findExecutionByIdempotencyKey('same'), undefined)
  })

  test('concurrent starts with one idempotency key: exactly one is stored', async (t) => {
    const { store } = await open(t)
    const results = await Promise.allSettled(
      Array.from({ length: 5 }, (_, i) =>
        store.commit({ executions: [execution(`ex-${i}`, { idempotency_key: 'once' })] }),
      ),
    )
    assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1)
    for (const result of results) {
      if (result.status === 'rejected') assert.ok(result.reason instanceof ConflictError)
    }
    const winner = (await store.findExecutionByIdempotencyKey('once'))!
    assert.equal((await store.listExecutions({})).total, 1)
    assert.equal((await store.listExecutions({})).items[0]!.execution_id, winner.execution_id)
  })

  test('task states upsert by (execution, task, item) and list by task, then item_index', async (t) => {
    const { store } = await open(t)
    await store.commit({ executions: [execution('ex-1'), execution('ex-2')] })
    await store.commit({
      tasks: [
        taskState('ex-1', 'b'),
        taskState('ex-1', 'a', { item_index: 1, status: 'running', attempts: 1 }),
        taskState('ex-1', 'a', { item_index: -1, status: 'running', attempts: 1, item_count: 2 }),
        taskState('ex-1', 'a', { item_index: 0, status: 'completed', attempts: 1, output: { i: 0 } }),
        taskState('ex-1', 'B'),
        taskState('ex-2', 'a'),
      ],
    })
    await store.commit({
      tasks: [
        taskState('ex-1', 'a', {
          item_index: 1,
          status: 'failed',
          attempts: 2,
          error: { code: 'TIMEOUT', message: 'took too long', retriable: true },
          started_at: at(1),
          completed_at: at(2),
        }),
      ],
    })
    const states = await store.getTaskStates('ex-1')
    assert.deepEqual(
      states.map((s) => [s.task, s.item_index, s.status]),
      [
        ['B', -1, 'pending'],
        ['a', -1, 'running'],
        ['a', 0, 'completed'],
        ['a', 1, 'failed'],
        ['b', -1, 'pending'],
      ],
    )
    assert.deepEqual(states[3], {
      execution_id: 'ex-1',
      task: 'a',
      item_index: 1,
      status: 'failed',
      attempts: 2,
      error: { code: 'TIMEOUT', message: 'took too long', retriable: true },
      started_at: at(1),
      completed_at: at(2),
    })
    assert.equal(states[1]!.item_count, 2)
    assert.deepEqual(await store.getTaskStates('ex-unknown'), [])
    states[0]!.status = 'completed'
    assert.equal((await store.getTaskStates('ex-1'))[0]!.status, 'pending')
  })

  test('a large batch (1000 task states and events) commits whole', async (t) => {
    const { store } = await open(t)
    const tasks = Array.from({ length: 1000 }, (_, i) =>
      taskState('ex-1', `t${String(i).padStart(4, '0')}`, { status: 'completed', output: { i } }),
    )
    const events = tasks.map((_, i) => event('ex-1', i + 1))
    await store.commit({ executions: [execution('ex-1', { total_tasks: 1000 })], tasks, events })
    const states = await store.getTaskStates('ex-1')
    assert.equal(states.length, 1000)
    assert.deepEqual(states[999], tasks[999])
    const stored = await store.listEvents('ex-1', 0, 2000)
    assert.equal(stored.length, 1000)
    for (let i = 1; i < stored.length; i++) assert.ok(stored[i]!.id! > stored[i - 1]!.id!)
  })

  test('listExecutions filters by workflow, status (one or several), parent and creation time', async (t) => {
    const { store } = await open(t)
    const statuses: ExecutionStatus[] = ['pending', 'running', 'completed', 'failed', 'running', 'cancelled']
    await store.commit({
      executions: statuses.map((status, i) =>
        execution(`ex-${i}`, {
          status,
          workflow_id: i % 2 === 0 ? 'wf-even' : 'wf-odd',
          created_at: at(i * 10),
          ...(i >= 4 ? { parent: { execution_id: 'ex-0', task: 'sub', item_index: i - 4 } } : {}),
        }),
      ),
    })
    const ids = async (query: Parameters<typeof store.listExecutions>[0]): Promise<string[]> =>
      (await store.listExecutions({ sort_order: 'asc', ...query })).items.map((e) => e.execution_id)
    assert.deepEqual(await ids({ workflow_id: 'wf-even' }), ['ex-0', 'ex-2', 'ex-4'])
    assert.deepEqual(await ids({ status: 'running' }), ['ex-1', 'ex-4'])
    assert.deepEqual(await ids({ status: ['completed', 'failed', 'cancelled'] }), ['ex-2', 'ex-3', 'ex-5'])
    assert.deepEqual(await ids({ status: [] }), [])
    assert.deepEqual(await ids({ workflow_id: 'wf-even', status: ['running', 'pending'] }), ['ex-0', 'ex-4'])
    assert.deepEqual(await ids({ parent_execution_id: 'ex-0' }), ['ex-4', 'ex-5'])
    // Bounds are inclusive and may be written in any ISO form.
    assert.deepEqual(await ids({ created_after: at(20), created_before: at(40) }), ['ex-2', 'ex-3', 'ex-4'])
    assert.deepEqual(await ids({ created_after: '2024-01-01T00:00:50+00:00' }), ['ex-5'])
    assert.deepEqual(await ids({ created_before: '2024-01-01T01:00:00.000+01:00' }), ['ex-0'])
    assert.deepEqual(await ids({ workflow_id: 'wf-none' }), [])
    await rejectsWith(
      store.listExecutions({ created_after: 'yesterday' }),
      InvalidRequestError,
      'invalid_request',
      /created_after must be an ISO 8601 timestamp/,
    )
  })

  test('listExecutions pages with a full total and lists summaries without the definition', async (t) => {
    const { store } = await open(t)
    await store.commit({
      executions: Array.from({ length: 7 }, (_, i) => execution(`ex-${i}`, { created_at: at(i) })),
    })
    const first = await store.listExecutions({ limit: 3 })
    assert.equal(first.total, 7)
    assert.equal(first.page, 1)
    assert.equal(first.limit, 3)
    assert.deepEqual(
      first.items.map((e) => e.execution_id),
      ['ex-6', 'ex-5', 'ex-4'],
    )
    const last = await store.listExecutions({ limit: 3, page: 3 })
    assert.deepEqual(
      last.items.map((e) => e.execution_id),
      ['ex-0'],
    )
    assert.equal(last.total, 7)
    const item = first.items[0]!
    assert.equal('definition' in item, false)
    const { definition: _definition, ...expected } = execution('ex-6', { created_at: at(6) })
    assert.deepEqual(item, expected)
    await rejectsWith(
      store.listExecutions({ limit: 0 }),
      InvalidRequestError,
      'invalid_request',
      /limit must be an integer >= 1, got 0/,
    )
  })

  test('listExecutions sorts by each allowed field; missing values come last; ties by execution id', async (t) => {
    const { store } = await open(t)
    await store.commit({
      executions: [
        execution('ex-a', { status: 'running', created_at: at(1), updated_at: at(9), started_at: at(3) }),
        execution('ex-b', { status: 'pending', created_at: at(2), updated_at: at(8) }),
        execution('ex-c', {
          status: 'completed',
          created_at: at(2),
          updated_at: at(7),
          started_at: at(1),
          completed_at: at(7),
        }),
        execution('ex-d', { status: 'failed', created_at: at(0), updated_at: at(6), started_at: at(2) }),
      ],
    })
    const ids = async (sort_by: string, sort_order: 'asc' | 'desc'): Promise<string[]> =>
      (await store.listExecutions({ sort_by, sort_order })).items.map((e) => e.execution_id)
    assert.deepEqual(await ids('created_at', 'asc'), ['ex-d', 'ex-a', 'ex-b', 'ex-c'])
    assert.deepEqual(await ids('created_at', 'desc'), ['ex-c', 'ex-b', 'ex-a', 'ex-d'])
    assert.deepEqual(await ids('updated_at', 'asc'), ['ex-d', 'ex-c', 'ex-b', 'ex-a'])
    assert.deepEqual(await ids('started_at', 'asc'), ['ex-c', 'ex-d', 'ex-a', 'ex-b'])
    assert.deepEqual(await ids('started_at', 'desc'), ['ex-a', 'ex-d', 'ex-c', 'ex-b'])
    assert.deepEqual(await ids('completed_at', 'desc'), ['ex-c', 'ex-d', 'ex-b', 'ex-a'])
    assert.deepEqual(await ids('completed_at', 'asc'), ['ex-c', 'ex-a', 'ex-b', 'ex-d'])
    assert.deepEqual(await ids('status', 'asc'), ['ex-c', 'ex-d', 'ex-b', 'ex-a'])
    await rejectsWith(
      store.listExecutions({ sort_by: 'definition' }),
      InvalidRequestError,
      'invalid_request',
      /sort_by must be one of created_at, updated_at, started_at, completed_at, status/,
    )
  })

  test('a batch with a malformed row is refused whole, naming the row and field', async (t) => {
    const { store } = await open(t)
    await rejectsWith(
      store.commit({
        executions: [execution('ex-1')],
        tasks: [
          taskState('ex-1', 'a'),
          { ...taskState('ex-1', 'b'), item_index: 'first' as unknown as number },
        ],
      }),
      InvalidRequestError,
      'invalid_request',
      /tasks\[1\]\.item_index/,
    )
    await rejectsWith(
      store.commit({ executions: [execution('ex-1')], events: [event('ex-1', 1.5)] }),
      InvalidRequestError,
      'invalid_request',
      /events\[0\]\.seq/,
    )
    assert.equal(await store.getExecution('ex-1'), undefined)
    assert.deepEqual(await store.getTaskStates('ex-1'), [])
  })
}
