/** Contract for persistent adapters: everything survives close and reopen. */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { Store } from '../../../src/core/store.ts'
import { checkpoint, event, execution, taskState, workflow, type ContractContext } from './fixtures.ts'

export function persistenceContract({ open }: ContractContext): void {
  test('close and reopen keep workflows, executions, task states, events, checkpoints, documents, marks and leases', async (t) => {
    const fixture = await open(t)
    if (fixture.reopen === undefined) {
      t.skip('the adapter does not persist (its fixture has no reopen)')
      return
    }
    const { store } = fixture
    const revisions = [workflow('wf-1', 1), workflow('wf-1', 2, { status: 'draft' })]
    for (const record of revisions) await store.saveWorkflow(record)
    const owned = execution('ex-owned', { status: 'running', idempotency_key: 'key-1' })
    const free = execution('ex-free', { status: 'pending' })
    const tasks = [
      taskState('ex-owned', 'a', { status: 'completed', attempts: 1, output: { n: 1 } }),
      taskState('ex-owned', 'b', { status: 'running', attempts: 1 }),
    ]
    const events = [event('ex-owned', 1), event('ex-owned', 2), event('ex-free', 1)]
    await store.commit({
      executions: [owned],
      tasks,
      events: events.slice(0, 2),
      fence: { node_id: 'node-a', execution_ids: ['ex-owned'], lease_ms: 60_000 },
    })
    await store.commit({ executions: [free], events: events.slice(2) })
    // A later update must not lose the immutable part on disk either.
    const updated = { ...owned, status: 'paused' as const, updated_at: owned.updated_at }
    await store.commit({ executions: [updated], fence: { node_id: 'node-a', execution_ids: ['ex-owned'] } })
    const cp = checkpoint('cp-1', 'ex-owned')
    await store.saveCheckpoint(cp)
    await store.putDocument('templates', 't-1', { name: 'template' })
    await store.putDocument('templates', 't-2', { name: 'gone' })
    await store.deleteDocument('templates', 't-2')
    assert.equal(await store.markOnce('slots', 'k'), true)
    await store.saveWorkflow(workflow('wf-deleted', 1))
    await store.deleteWorkflow('wf-deleted')
    await store.close()

    const reopened: Store = await fixture.reopen!()
    t.after(() => reopened.close())
    await reopened.init()
    assert.deepEqual(await reopened.getWorkflow('wf-1'), revisions[1])
    assert.deepEqual(await reopened.listWorkflowRevisions('wf-1'), revisions)
    assert.equal(await reopened.getWorkflow('wf-deleted'), undefined)
    assert.deepEqual(await reopened.getExecution('ex-owned'), updated)
    assert.deepEqual(await reopened.getExecution('ex-free'), free)
    assert.equal((await reopened.findExecutionByIdempotencyKey('key-1'))?.execution_id, 'ex-owned')
    assert.deepEqual(await reopened.getTaskStates('ex-owned'), tasks)
    assert.deepEqual(await reopened.listEvents('ex-owned', 0, 10), events.slice(0, 2))
    assert.deepEqual(await reopened.listAllEvents(0, 10), events)
    assert.deepEqual(await reopened.getCheckpoint('cp-1'), cp)
    assert.deepEqual(await reopened.listDocuments('templates'), {
      items: [{ name: 'template' }],
      total: 1,
      page: 1,
      limit: 20,
    })
    assert.equal(await reopened.markOnce('slots', 'k'), false)
    // The lease is still node-a's; the free execution is anyone's.
    assert.deepEqual(await reopened.claimExecutions('node-b', 60_000, 10), ['ex-free'])
    assert.deepEqual(await reopened.renewLeases('node-a', ['ex-owned'], 60_000), ['ex-owned'])
    // Ids keep increasing after a reopen.
    const next = event('ex-owned', 3)
    await reopened.commit({ events: [next] })
    assert.ok(next.id! > events[2]!.id!)
    // The idempotency key is still unique.
    await assert.rejects(
      reopened.commit({ executions: [execution('ex-dup', { idempotency_key: 'key-1' })] }),
      (error: Error & { code?: string }) => error.code === 'conflict',
    )
  })
}
