/**
 * Contract: execution ownership by lease, and the fence that makes a node's late writes harmless.
 * Expiry is reached with 1 ms leases and polled for with a deadline, never slept for.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { LeaseLostError } from '../../../src/core/errors.ts'
import type { ExecutionStatus } from '../../../src/core/model.ts'
import type { Store } from '../../../src/core/store.ts'
import { at, event, eventually, execution, rejectsWith, taskState, type ContractContext } from './fixtures.ts'

const LONG_MS = 60_000

/** Inserts executions, unowned. */
async function seed(store: Store, statuses: ExecutionStatus[]): Promise<string[]> {
  const records = statuses.map((status, i) => execution(`ex-${i}`, { status, created_at: at(100 - i) }))
  await store.commit({ executions: records })
  return records.map((r) => r.execution_id)
}

/** Waits until node `nodeId` no longer holds a live lease on `executionId` (its lease was 1 ms). */
async function untilExpired(store: Store, nodeId: string, executionId: string): Promise<void> {
  await eventually(`lease of ${nodeId} on ${executionId} expires`, async () => {
    const renewed = await store.renewLeases(nodeId, [executionId], 1)
    return renewed.length === 0
  })
}

export function leaseContract({ open }: ContractContext): void {
  test('claimExecutions takes unfinished, unowned executions, oldest first, up to the limit', async (t) => {
    const { store } = await open(t)
    await seed(store, ['pending', 'running', 'paused', 'completed', 'failed', 'cancelled', 'pending'])
    // Created at 100 - i: ex-6 is the oldest.
    assert.deepEqual((await store.claimExecutions('node-a', LONG_MS, 2)).sort(), ['ex-2', 'ex-6'])
    assert.deepEqual((await store.claimExecutions('node-a', LONG_MS, 10)).sort(), [
      'ex-0',
      'ex-1',
      'ex-2',
      'ex-6',
    ])
    assert.deepEqual(await store.claimExecutions('node-b', LONG_MS, 10), [])
    assert.deepEqual(await store.claimExecutions('node-a', LONG_MS, 0), [])
  })

  test('concurrent claims by two nodes never take the same execution', async (t) => {
    const { store } = await open(t)
    const ids = await seed(
      store,
      Array.from({ length: 20 }, () => 'pending' as const),
    )
    const [a, b] = await Promise.all([
      store.claimExecutions('node-a', LONG_MS, 20),
      store.claimExecutions('node-b', LONG_MS, 20),
    ])
    assert.deepEqual([...a!, ...b!].sort(), [...ids].sort())
    assert.equal(new Set([...a!, ...b!]).size, 20)
  })

  test('claimExecution takes one execution in any status unless another node holds it', async (t) => {
    const { store } = await open(t)
    await seed(store, ['failed', 'running'])
    assert.equal(await store.claimExecution('node-a', 'ex-0', LONG_MS), true, 'a failed one, for a rerun')
    assert.equal(await store.claimExecution('node-a', 'ex-0', LONG_MS), true, 'its own again')
    assert.equal(await store.claimExecution('node-b', 'ex-0', LONG_MS), false)
    assert.equal(await store.claimExecution('node-b', 'ex-1', LONG_MS), true)
    assert.equal(await store.claimExecution('node-b', 'ex-unknown', LONG_MS), false)
  })

  test('renewLeases extends only what the node holds; release lets another node claim', async (t) => {
    const { store } = await open(t)
    await seed(store, ['running', 'running', 'running'])
    assert.equal(await store.claimExecution('node-a', 'ex-0', LONG_MS), true)
    assert.equal(await store.claimExecution('node-a', 'ex-1', LONG_MS), true)
    assert.equal(await store.claimExecution('node-b', 'ex-2', LONG_MS), true)
    assert.deepEqual(
      (await store.renewLeases('node-a', ['ex-0', 'ex-1', 'ex-2', 'ex-unknown'], LONG_MS)).sort(),
      ['ex-0', 'ex-1'],
    )
    assert.deepEqual(await store.renewLeases('node-a', [], LONG_MS), [])
    await store.releaseExecution('node-b', 'ex-0')
    assert.equal(await store.claimExecution('node-b', 'ex-0', LONG_MS), false, 'not released by a non-owner')
    await store.releaseExecution('node-a', 'ex-0')
    assert.deepEqual(await store.renewLeases('node-a', ['ex-0'], LONG_MS), [])
    assert.equal(await store.claimExecution('node-b', 'ex-0', LONG_MS), true)
    assert.deepEqual(await store.claimExecutions('node-c', LONG_MS, 10), [])
  })

  test('an expired lease can be taken over; the old owner then can neither renew nor commit', async (t) => {
    const { store } = await open(t)
    await seed(store, ['running'])
    assert.equal(await store.claimExecution('node-a', 'ex-0', 1), true)
    await eventually('node-b takes over the expired lease', () =>
      store.claimExecution('node-b', 'ex-0', LONG_MS),
    )
    assert.deepEqual(await store.renewLeases('node-a', ['ex-0'], LONG_MS), [])
    assert.equal(await store.claimExecution('node-a', 'ex-0', LONG_MS), false)
    const late = event('ex-0', 1)
    await rejectsWith(
      store.commit({
        executions: [execution('ex-0', { status: 'completed', completed_at: at(5) })],
        tasks: [taskState('ex-0', 'a', { status: 'completed' })],
        events: [late],
        documents: [{ collection: 'outbox', id: 'late', doc: { from: 'node-a' } }],
        fence: { node_id: 'node-a', execution_ids: ['ex-0'] },
      }),
      LeaseLostError,
      'lease_lost',
      /lease of execution 'ex-0' is held by another node/,
    )
    assert.equal(late.id, undefined)
    assert.equal((await store.getExecution('ex-0'))?.status, 'running')
    assert.deepEqual(await store.getTaskStates('ex-0'), [])
    assert.deepEqual(await store.listEvents('ex-0', 0, 10), [])
    assert.equal(await store.getDocument('outbox', 'late'), undefined)
    // The new owner writes.
    await store.commit({
      executions: [execution('ex-0', { status: 'completed' })],
      fence: { node_id: 'node-b', execution_ids: ['ex-0'] },
    })
    assert.equal((await store.getExecution('ex-0'))?.status, 'completed')
  })

  test('an expired lease no one took is no longer held: renewal and fenced commits are refused', async (t) => {
    const { store } = await open(t)
    await store.commit({
      executions: [execution('ex-0', { status: 'running' })],
      fence: { node_id: 'node-a', execution_ids: ['ex-0'], lease_ms: 1 },
    })
    await untilExpired(store, 'node-a', 'ex-0')
    await rejectsWith(
      store.commit({
        executions: [execution('ex-0', { status: 'failed' })],
        fence: { node_id: 'node-a', execution_ids: ['ex-0'] },
      }),
      LeaseLostError,
      'lease_lost',
      /ex-0/,
    )
    assert.equal((await store.getExecution('ex-0'))?.status, 'running')
    // Claiming again restores ownership.
    assert.equal(await store.claimExecution('node-a', 'ex-0', LONG_MS), true)
    await store.commit({
      executions: [execution('ex-0', { status: 'failed' })],
      fence: { node_id: 'node-a', execution_ids: ['ex-0'] },
    })
    assert.equal((await store.getExecution('ex-0'))?.status, 'failed')
  })

  test('a fenced batch that inserts an execution claims it for the node', async (t) => {
    const { store } = await open(t)
    await store.commit({
      executions: [execution('ex-new')],
      tasks: [taskState('ex-new', 'a')],
      events: [event('ex-new', 1, { type: 'execution_started' })],
      fence: { node_id: 'node-a', execution_ids: ['ex-new', 'ex-not-in-batch'] },
    })
    assert.equal(await store.claimExecution('node-b', 'ex-new', LONG_MS), false)
    assert.deepEqual(await store.claimExecutions('node-b', LONG_MS, 10), [])
    assert.deepEqual(await store.renewLeases('node-a', ['ex-new'], LONG_MS), ['ex-new'])
    await store.commit({
      executions: [execution('ex-new', { status: 'running' })],
      fence: { node_id: 'node-a', execution_ids: ['ex-new'] },
    })
    assert.equal((await store.getExecution('ex-new'))?.status, 'running')
    // An execution inserted without a fence belongs to no one: any node may claim it.
    await store.commit({ executions: [execution('ex-free')] })
    assert.deepEqual(await store.claimExecutions('node-b', LONG_MS, 10), ['ex-free'])
  })

  test('a fenced batch touching an execution another node holds writes nothing at all', async (t) => {
    const { store } = await open(t)
    await seed(store, ['running', 'running'])
    assert.equal(await store.claimExecution('node-a', 'ex-0', LONG_MS), true)
    assert.equal(await store.claimExecution('node-b', 'ex-1', LONG_MS), true)
    const events = [event('ex-0', 1), event('ex-1', 1)]
    await rejectsWith(
      store.commit({
        executions: [execution('ex-0', { status: 'completed' }), execution('ex-new')],
        tasks: [taskState('ex-0', 'a'), taskState('ex-1', 'a')],
        events,
        documents: [{ collection: 'outbox', id: 'o-1', doc: { n: 1 } }],
        fence: { node_id: 'node-a', execution_ids: ['ex-0', 'ex-1', 'ex-new'] },
      }),
      LeaseLostError,
      'lease_lost',
      /'ex-1'/,
    )
    assert.equal((await store.getExecution('ex-0'))?.status, 'running')
    assert.equal(await store.getExecution('ex-new'), undefined)
    assert.deepEqual(await store.getTaskStates('ex-0'), [])
    assert.deepEqual(await store.listAllEvents(0, 10), [])
    assert.equal(await store.getDocument('outbox', 'o-1'), undefined)
    assert.deepEqual(
      events.map((e) => e.id),
      [undefined, undefined],
    )
    // Unfenced commits are not checked.
    await store.commit({ executions: [execution('ex-1', { status: 'paused' })] })
    assert.equal((await store.getExecution('ex-1'))?.status, 'paused')
  })
}
