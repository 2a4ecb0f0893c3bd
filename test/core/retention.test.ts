import assert from 'node:assert/strict'
import { afterEach, describe, test } from 'node:test'
import type { Clock } from '../../src/core/clock.ts'
import { resolveConfig } from '../../src/core/config.ts'
import { silentLogger } from '../../src/core/logger.ts'
import type { WorkflowDefinition } from '../../src/core/model.ts'
import { createRetention } from '../../src/core/retention.ts'
import { createHarness, type Harness } from '../support/engine-harness.ts'

const DAY_MS = 86_400_000
const open: Harness[] = []
afterEach(async () => {
  for (const h of open.splice(0)) await h.close()
})

const echo: WorkflowDefinition = {
  name: 'echo',
  tasks: { a: { name: 'a', component: 'test', action: 'echo', input: { n: 1 } } },
}

/** A clock whose `now` the test moves; timers wait until the test fires them. */
function manualClock(startMs: number): Clock & { nowMs: number; fire(): void; readonly pending: number } {
  let timers: { callback: () => void; cancelled: boolean }[] = []
  return {
    nowMs: startMs,
    now() {
      return this.nowMs
    },
    setTimeout(callback) {
      const timer = { callback, cancelled: false }
      timers.push(timer)
      return {
        cancel() {
          timer.cancelled = true
        },
      }
    },
    fire() {
      const due = timers
      timers = []
      for (const timer of due) if (!timer.cancelled) timer.callback()
    },
    get pending() {
      return timers.filter((timer) => !timer.cancelled).length
    },
  }
}

describe('history retention', () => {
  test('a sweep deletes executions finished more than retentionDays ago, and only those', async () => {
    const h = await createHarness({ kind: 'sqlite' })
    open.push(h)
    const finished = await h.engine.startExecution({ workflow: echo })
    assert.equal((await h.engine.waitForExecution(finished.execution_id)).status, 'completed')
    const gate = h.test.gate('w')
    const running = await h.engine.startExecution({
      workflow: {
        name: 'held',
        tasks: { w: { name: 'w', component: 'test', action: 'echo', input: {} } },
      },
    })
    await gate.entered()

    const clock = manualClock(Date.now())
    const retention = createRetention({
      engine: h.engine,
      clock,
      logger: silentLogger,
      retentionDays: 7,
      sweepIntervalMs: 3_600_000,
    })
    // Six days on, nothing is old enough.
    clock.nowMs = Date.now() + 6 * DAY_MS
    assert.equal(await retention.sweep(), 0)
    assert.ok(await h.store.getExecution(finished.execution_id))
    // Eight days on, the finished one goes with its task states and events; the running one stays.
    clock.nowMs = Date.now() + 8 * DAY_MS
    assert.equal(await retention.sweep(), 1)
    assert.equal(await h.store.getExecution(finished.execution_id), undefined)
    assert.deepEqual(await h.store.getTaskStates(finished.execution_id), [])
    assert.deepEqual(await h.store.listEvents(finished.execution_id, 0, 100), [])
    assert.equal((await h.store.getExecution(running.execution_id))?.status, 'running')
    gate.release()
    await h.engine.waitForExecution(running.execution_id)
  })

  test('start sweeps at once, then every interval; stop ends it; retentionDays 0 never sweeps', async () => {
    const h = await createHarness({ kind: 'sqlite' })
    open.push(h)
    const first = await h.engine.startExecution({ workflow: echo })
    await h.engine.waitForExecution(first.execution_id)
    const clock = manualClock(Date.now() + 2 * DAY_MS)
    const sweeps: number[] = []
    const engine = {
      pruneExecutions: async (options: { finishedBefore: string }) => {
        const deleted = await h.engine.pruneExecutions(options)
        sweeps.push(deleted)
        return deleted
      },
    }
    const off = createRetention({
      engine,
      clock,
      logger: silentLogger,
      retentionDays: 0,
      sweepIntervalMs: 1000,
    })
    off.start()
    assert.equal(clock.pending, 0)
    await off.stop()
    assert.deepEqual(sweeps, [])

    const retention = createRetention({
      engine,
      clock,
      logger: silentLogger,
      retentionDays: 1,
      sweepIntervalMs: 1000,
    })
    retention.start()
    await waitFor(() => clock.pending === 1)
    assert.deepEqual(sweeps, [1])
    const second = await h.engine.startExecution({ workflow: echo })
    await h.engine.waitForExecution(second.execution_id)
    clock.fire()
    await waitFor(() => sweeps.length === 2 && clock.pending === 1)
    assert.deepEqual(sweeps, [1, 1])
    await retention.stop()
    clock.fire()
    assert.deepEqual(sweeps, [1, 1], 'a stopped retention does not sweep')
  })

  test('a prune pages through in batches and stops after the current batch when aborted', async () => {
    const h = await createHarness({ kind: 'sqlite' })
    open.push(h)
    for (let i = 0; i < 5; i++) {
      const exec = await h.engine.startExecution({ workflow: echo })
      await h.engine.waitForExecution(exec.execution_id)
    }
    const future = new Date(Date.now() + DAY_MS).toISOString()
    const aborted = AbortSignal.abort()
    assert.equal(await h.engine.pruneExecutions({ finishedBefore: future, batchSize: 2, signal: aborted }), 2)
    assert.equal(await h.engine.pruneExecutions({ finishedBefore: future, batchSize: 2 }), 3)
    assert.equal((await h.store.listExecutions({ limit: 10 })).total, 0)
  })

  test('engine.retentionDays comes from the config file or HARMONIA_RETENTION_DAYS', () => {
    assert.equal(resolveConfig({ env: {} }).engine.retentionDays, 0)
    assert.equal(resolveConfig({ env: { HARMONIA_RETENTION_DAYS: '30' } }).engine.retentionDays, 30)
    assert.throws(
      () => resolveConfig({ env: { HARMONIA_RETENTION_DAYS: 'forever' } }),
      /HARMONIA_RETENTION_DAYS.*expected an integer/s,
    )
    assert.throws(() => resolveConfig({ env: { HARMONIA_RETENTION_DAYS: '-3' } }), /retentionDays/)
  })
})

async function waitFor(probe: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!probe()) {
    if (Date.now() > deadline) assert.fail(`condition not reached within ${timeoutMs} ms`)
    await new Promise((resolve) => setTimeout(resolve, 2))
  }
}
