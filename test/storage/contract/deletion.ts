/** Contract: `deleteExecutions` removes finished, unleased executions with everything that belongs to them. */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { InvalidRequestError } from '../../../src/core/errors.ts'
import type { ExecutionStatus } from '../../../src/core/model.ts'
import type { Store } from '../../../src/core/store.ts'
import { at, checkpoint, event, execution, rejectsWith, taskState, type ContractContext } from './fixtures.ts'

/** An execution with a task state, two events and a checkpoint; finished at `finishedAt` seconds if given. */
async function seed(
  store: Store,
  id: string,
  status: ExecutionStatus,
  finishedAt?: number,
  extra: { idempotency_key?: string } = {},
): Promise<void> {
  await store.commit({
    executions: [
      execution(id, {
        status,
        ...(finishedAt === undefined ? {} : { completed_at: at(finishedAt) }),
        ...extra,
      }),
    ],
    tasks: [taskState(id, 'a', { status: 'completed', attempts: 1, output: { id } })],
    events: [event(id, 1), event(id, 2)],
  })
  await store.saveCheckpoint(checkpoint(`cp-${id}`, id))
}

async function assertGone(store: Store, id: string): Promise<void> {
  assert.equal(await store.getExecution(id), undefined, `${id} is gone`)
  assert.deepEqual(await store.getTaskStates(id), [], `${id}'s task states are gone`)
  assert.deepEqual(await store.listEvents(id, 0, 10), [], `${id}'s events are gone`)
  assert.deepEqual(await store.listCheckpoints(id), [], `${id}'s checkpoints are gone`)
  assert.equal(await store.getCheckpoint(`cp-${id}`), undefined)
}

async function assertKept(store: Store, id: string): Promise<void> {
  assert.equal((await store.getExecution(id))?.execution_id, id, `${id} is kept`)
  assert.equal((await store.getTaskStates(id)).length, 1)
  assert.equal((await store.listEvents(id, 0, 10)).length, 2)
  assert.equal((await store.listCheckpoints(id)).length, 1)
}

export function deletionContract({ open }: ContractContext): void {
  test('deletes finished executions that finished before the bound, oldest first, with their rows', async (t) => {
    const { store } = await open(t)
    await seed(store, 'ex-old-completed', 'completed', 10, { idempotency_key: 'key-old' })
    await seed(store, 'ex-old-failed', 'failed', 20)
    await seed(store, 'ex-old-cancelled', 'cancelled', 30)
    await seed(store, 'ex-new', 'completed', 500)
    await seed(store, 'ex-running', 'running')
    await seed(store, 'ex-paused', 'paused')

    // The limit takes the oldest finishes first.
    assert.deepEqual(await store.deleteExecutions({ finished_before: at(100), limit: 2 }), [
      'ex-old-completed',
      'ex-old-failed',
    ])
    assert.deepEqual(await store.deleteExecutions({ finished_before: at(100), limit: 100 }), [
      'ex-old-cancelled',
    ])
    assert.deepEqual(await store.deleteExecutions({ finished_before: at(100), limit: 100 }), [])
    for (const id of ['ex-old-completed', 'ex-old-failed', 'ex-old-cancelled']) await assertGone(store, id)
    for (const id of ['ex-new', 'ex-running', 'ex-paused']) await assertKept(store, id)
    assert.equal(await store.findExecutionByIdempotencyKey('key-old'), undefined)
    // The key is free again, and the global event stream lost the deleted executions' events only.
    await store.commit({ executions: [execution('ex-reuse', { idempotency_key: 'key-old' })] })
    const all = await store.listAllEvents(0, 100)
    assert.deepEqual(new Set(all.map((e) => e.execution_id)), new Set(['ex-new', 'ex-running', 'ex-paused']))
    const listed = await store.listExecutions({ limit: 100 })
    assert.deepEqual(listed.items.map((e) => e.execution_id).sort(), [
      'ex-new',
      'ex-paused',
      'ex-reuse',
      'ex-running',
    ])
  })

  test('deletes given executions only when they are finished and no node holds them', async (t) => {
    const { store } = await open(t)
    await seed(store, 'ex-done', 'completed', 10)
    await seed(store, 'ex-running', 'running')
    await seed(store, 'ex-held', 'failed', 20)
    await seed(store, 'ex-other', 'completed', 5)
    // A rerun claims a failed execution before it changes its status: a held one stays.
    assert.equal(await store.claimExecution('node-a', 'ex-held', 60_000), true)
    const deleted = await store.deleteExecutions({
      execution_ids: ['ex-done', 'ex-running', 'ex-held', 'ex-missing', 'ex-done'],
      limit: 10,
    })
    assert.deepEqual(deleted, ['ex-done'])
    await assertGone(store, 'ex-done')
    await assertKept(store, 'ex-running')
    await assertKept(store, 'ex-held')
    await assertKept(store, 'ex-other')
    // Released, it can go; without a bound, any finish time qualifies.
    await store.releaseExecution('node-a', 'ex-held')
    assert.deepEqual(await store.deleteExecutions({ execution_ids: ['ex-held'], limit: 1 }), ['ex-held'])
    assert.deepEqual(await store.deleteExecutions({ limit: 10 }), ['ex-other'])
  })

  test('refuses a bad deletion query, naming the field', async (t) => {
    const { store } = await open(t)
    await rejectsWith(store.deleteExecutions({ limit: 0 }), InvalidRequestError, 'invalid_request', /limit/)
    await rejectsWith(
      store.deleteExecutions({ limit: 20_000 }),
      InvalidRequestError,
      'invalid_request',
      /limit/,
    )
    await rejectsWith(
      store.deleteExecutions({ finished_before: 'last tuesday', limit: 5 }),
      InvalidRequestError,
      'invalid_request',
      /finished_before/,
    )
    await rejectsWith(
      store.deleteExecutions({ execution_ids: [42] as unknown as string[], limit: 5 }),
      InvalidRequestError,
      'invalid_request',
      /execution_ids/,
    )
  })

  test('a deletion lasts across a reopen', async (t) => {
    const fixture = await open(t)
    if (fixture.reopen === undefined) {
      t.skip('the adapter does not persist (its fixture has no reopen)')
      return
    }
    const { store } = fixture
    await seed(store, 'ex-gone', 'completed', 10)
    await seed(store, 'ex-kept', 'completed', 500)
    assert.deepEqual(await store.deleteExecutions({ finished_before: at(100), limit: 10 }), ['ex-gone'])
    await store.close()
    const reopened = await fixture.reopen()
    t.after(() => reopened.close())
    await reopened.init()
    await assertGone(reopened, 'ex-gone')
    await assertKept(reopened, 'ex-kept')
  })
}
