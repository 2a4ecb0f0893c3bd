/** Contract: events (per-execution seq, global ids) and checkpoints. */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { ConflictError } from '../../../src/core/errors.ts'
import type { ExecutionEvent } from '../../../src/core/events.ts'
import { at, checkpoint, event, execution, rejectsWith, type ContractContext } from './fixtures.ts'

export function eventContract({ open }: ContractContext): void {
  test('commit gives events increasing global ids, set on the objects passed in', async (t) => {
    const { store } = await open(t)
    await store.commit({ executions: [execution('ex-1'), execution('ex-2')] })
    const first = [event('ex-1', 1), event('ex-2', 1), event('ex-1', 2)]
    await store.commit({ events: first })
    const second = [event('ex-2', 2), event('ex-1', 3)]
    await store.commit({ events: second })
    const ids = [...first, ...second].map((e) => e.id)
    for (const id of ids) assert.ok(Number.isSafeInteger(id) && id! > 0, `id ${id} is a positive integer`)
    for (let i = 1; i < ids.length; i++) assert.ok(ids[i]! > ids[i - 1]!, `ids increase: ${ids.join(', ')}`)
    assert.deepEqual(await store.listEvents('ex-1', 0, 10), [first[0], first[2], second[1]])
  })

  test('listEvents reads one execution by seq, after a seq, up to a limit', async (t) => {
    const { store } = await open(t)
    await store.commit({ executions: [execution('ex-1'), execution('ex-2')] })
    const events = Array.from({ length: 6 }, (_, i) => event('ex-1', i + 1))
    await store.commit({ events: events.slice(0, 3) })
    await store.commit({ events: [event('ex-2', 1), ...events.slice(3)] })
    const seqs = async (afterSeq: number, limit: number): Promise<number[]> =>
      (await store.listEvents('ex-1', afterSeq, limit)).map((e) => e.seq)
    assert.deepEqual(await seqs(0, 100), [1, 2, 3, 4, 5, 6])
    assert.deepEqual(await seqs(2, 3), [3, 4, 5])
    assert.deepEqual(await seqs(6, 10), [])
    assert.deepEqual(await seqs(0, 0), [])
    assert.deepEqual(await store.listEvents('ex-unknown', 0, 10), [])
    const read = await store.listEvents('ex-1', 0, 1)
    assert.deepEqual(read, [events[0]])
    read[0]!.data['n'] = 'mutated'
    assert.equal((await store.listEvents('ex-1', 0, 1))[0]!.data['n'], 1)
  })

  test('listAllEvents reads every execution in id order, after an id, filtered by workflow', async (t) => {
    const { store } = await open(t)
    await store.commit({
      executions: [execution('ex-1'), execution('ex-2', { workflow_id: 'wf-2' })],
    })
    const all: ExecutionEvent[] = []
    for (let i = 1; i <= 4; i++) {
      const batch = [event('ex-1', i), event('ex-2', i, { workflow_id: 'wf-2', type: 'task_completed' })]
      await store.commit({ events: batch })
      all.push(...batch)
    }
    assert.deepEqual(await store.listAllEvents(0, 100), all)
    assert.deepEqual(await store.listAllEvents(all[2]!.id!, 3), all.slice(3, 6))
    assert.deepEqual(await store.listAllEvents(all.at(-1)!.id!, 10), [])
    assert.deepEqual(await store.listAllEvents(0, 0), [])
    const wf2 = all.filter((e) => e.workflow_id === 'wf-2')
    assert.deepEqual(await store.listAllEvents(0, 100, { workflow_id: 'wf-2' }), wf2)
    assert.deepEqual(await store.listAllEvents(wf2[0]!.id!, 2, { workflow_id: 'wf-2' }), wf2.slice(1, 3))
    assert.deepEqual(await store.listAllEvents(0, 100, { workflow_id: 'wf-none' }), [])
    assert.deepEqual(await store.listAllEvents(0, 100, {}), all)
  })

  test('an event seq stored twice for one execution is a conflict and the batch writes nothing', async (t) => {
    const { store } = await open(t)
    await store.commit({ executions: [execution('ex-1')], events: [event('ex-1', 1), event('ex-1', 2)] })
    const retry = [event('ex-1', 3), event('ex-1', 2, { type: 'task_failed' })]
    await rejectsWith(
      store.commit({
        executions: [execution('ex-1', { status: 'running', last_event_seq: 3 })],
        events: retry,
      }),
      ConflictError,
      'conflict',
      /seq/,
    )
    assert.equal(retry[0]!.id, undefined)
    assert.deepEqual(
      (await store.listEvents('ex-1', 0, 10)).map((e) => [e.seq, e.type]),
      [
        [1, 'task_started'],
        [2, 'task_started'],
      ],
    )
    assert.equal((await store.getExecution('ex-1'))?.status, 'pending')
    // The same seq in one batch is refused too.
    await rejectsWith(
      store.commit({ events: [event('ex-1', 3), event('ex-1', 3)] }),
      ConflictError,
      'conflict',
      /seq/,
    )
    assert.equal((await store.listEvents('ex-1', 2, 10)).length, 0)
    // Seq 3 is still free, and ids keep increasing after the refused batches.
    const next = event('ex-1', 3)
    await store.commit({ events: [next] })
    const stored = await store.listEvents('ex-1', 0, 10)
    assert.deepEqual(
      stored.map((e) => e.seq),
      [1, 2, 3],
    )
    assert.ok(next.id! > stored[1]!.id!)
  })

  test('event data round-trips; undefined fields are dropped', async (t) => {
    const { store } = await open(t)
    const withData = event('ex-1', 1, {
      type: 'task_completed',
      data: { task: 'a', output: { deep: [1, { x: null }] }, skipped: undefined },
    })
    await store.commit({ executions: [execution('ex-1')], events: [withData] })
    const [read] = await store.listEvents('ex-1', 0, 1)
    assert.deepEqual(read, {
      ...withData,
      data: { task: 'a', output: { deep: [1, { x: null }] } },
    })
  })

  test('checkpoints are saved, read and listed per execution by creation time', async (t) => {
    const { store } = await open(t)
    const late = checkpoint('cp-late', 'ex-1', { created_at: at(30), description: 'after b' })
    const early = checkpoint('cp-early', 'ex-1', { created_at: at(10) })
    const sameTime = checkpoint('cp-a-same', 'ex-1', { created_at: at(10) })
    const other = checkpoint('cp-other', 'ex-2')
    for (const cp of [late, early, other, sameTime]) await store.saveCheckpoint(cp)
    assert.deepEqual(await store.getCheckpoint('cp-late'), late)
    assert.equal(await store.getCheckpoint('cp-unknown'), undefined)
    assert.deepEqual(await store.listCheckpoints('ex-1'), [sameTime, early, late])
    assert.deepEqual(await store.listCheckpoints('ex-2'), [other])
    assert.deepEqual(await store.listCheckpoints('ex-none'), [])
    late.name = 'changed by the caller'
    const read = (await store.getCheckpoint('cp-late'))!
    assert.equal(read.name, 'checkpoint cp-late')
    read.task_states[0]!.status = 'failed'
    assert.equal((await store.getCheckpoint('cp-late'))!.task_states[0]!.status, 'completed')
  })
}
