import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import type { Clock } from '../../src/core/clock.ts'
import { TaskFailure } from '../../src/core/errors.ts'
import { createComponentRegistry, invokeAction, registerBuiltins } from '../../src/components/index.ts'
import { createTaskContext } from './context.ts'

/** A clock the test moves by hand; it records the timers armed on it. */
function manualClock(
  startMs: number,
): Clock & { timers: Array<{ atMs: number; fire: () => void }>; advance(ms: number): void } {
  let nowMs = startMs
  const timers: Array<{ atMs: number; fire: () => void; cancelled: boolean }> = []
  return {
    timers,
    now: () => nowMs,
    setTimeout(callback, delayMs) {
      const timer = { atMs: nowMs + delayMs, fire: callback, cancelled: false }
      timers.push(timer)
      return { cancel: () => void (timer.cancelled = true) }
    },
    advance(ms) {
      nowMs += ms
      for (const timer of timers.splice(0)) {
        if (timer.cancelled) continue
        if (timer.atMs <= nowMs) timer.fire()
        else timers.push(timer)
      }
    },
  }
}

function builtins(clock?: Clock) {
  const registry = createComponentRegistry()
  registerBuiltins(registry, clock === undefined ? {} : { clock })
  return registry
}

describe('core.echo and core.transform', () => {
  const registry = builtins()
  test('echo answers its input unchanged', async () => {
    const input = { a: [1, 'two', null], b: { c: true } }
    assert.deepEqual(await invokeAction(registry, 'core', 'echo', input, createTaskContext()), input)
    assert.equal(await invokeAction(registry, 'core', 'echo', 'plain', createTaskContext()), 'plain')
  })
  test('transform answers its (already resolved) input as its output', async () => {
    assert.deepEqual(await invokeAction(registry, 'core', 'transform', { count: 3 }, createTaskContext()), {
      count: 3,
    })
  })
})

describe('core.delay', () => {
  test('waits only for what remains of the attempt after a restart', async () => {
    const registry = builtins()
    const context = createTaskContext({ attemptStartedAtMs: Date.now() - 60_000 })
    const startedMs = performance.now()
    const output = (await invokeAction(registry, 'core', 'delay', { ms: 60_050 }, context)) as {
      waited_ms: number
      until: string
    }
    const elapsedMs = performance.now() - startedMs
    assert.ok(elapsedMs < 5_000, `waited ${elapsedMs} ms, not the full minute`)
    assert.ok(output.waited_ms <= 1_000, `waited_ms ${output.waited_ms}`)
    assert.equal(output.until, new Date(context.attemptStartedAtMs + 60_050).toISOString())
  })

  test('answers at once when the delay already passed', async () => {
    const clock = manualClock(Date.UTC(2030, 0, 1))
    const registry = builtins(clock)
    const context = createTaskContext({ attemptStartedAtMs: clock.now() - 10_000 })
    assert.deepEqual(await invokeAction(registry, 'core', 'delay', { ms: 5_000 }, context), {
      waited_ms: 0,
      until: '2029-12-31T23:59:55.000Z',
    })
    assert.equal(clock.timers.length, 0, 'no timer was armed')
  })

  test('arms one timer for the remainder, counted from the attempt start', async () => {
    const clock = manualClock(Date.UTC(2030, 0, 1))
    const registry = builtins(clock)
    const context = createTaskContext({ attemptStartedAtMs: clock.now() - 2_000 })
    const done = invokeAction(registry, 'core', 'delay', { ms: 5_000 }, context)
    await waitFor(
      () => clock.timers.length === 1,
      () => `timers: ${clock.timers.length}`,
    )
    assert.equal(clock.timers[0]!.atMs, clock.now() + 3_000)
    clock.advance(3_000)
    assert.deepEqual(await done, { waited_ms: 3_000, until: '2030-01-01T00:00:03.000Z' })
  })

  test('waits until a moment given as `until`', async () => {
    const clock = manualClock(Date.UTC(2030, 0, 1))
    const registry = builtins(clock)
    const done = invokeAction(
      registry,
      'core',
      'delay',
      { until: '2030-01-01T00:01:00Z' },
      createTaskContext(),
    )
    await waitFor(
      () => clock.timers.length === 1,
      () => `timers: ${clock.timers.length}`,
    )
    clock.advance(60_000)
    assert.deepEqual(await done, { waited_ms: 60_000, until: '2030-01-01T00:01:00.000Z' })
  })

  test('an abort rejects at once with the signal reason', async () => {
    const registry = builtins()
    const controller = new AbortController()
    const context = createTaskContext({ signal: controller.signal })
    const done = invokeAction(registry, 'core', 'delay', { ms: 3_600_000 }, context)
    const reason = new TaskFailure('CANCELLED', 'execution cancelled')
    controller.abort(reason)
    await assert.rejects(done, (error: unknown) => error === reason)
    const aborted = AbortSignal.abort(new TaskFailure('TIMEOUT', 'too slow', { retriable: true }))
    await assert.rejects(
      invokeAction(registry, 'core', 'delay', { ms: 10 }, createTaskContext({ signal: aborted })),
      { code: 'TIMEOUT', message: 'too slow' },
    )
  })

  test('needs exactly one of ms and until, and a non-negative integer', async () => {
    const registry = builtins()
    await assert.rejects(invokeAction(registry, 'core', 'delay', {}, createTaskContext()), {
      name: 'TaskFailure',
      code: 'INVALID_INPUT',
      retriable: false,
      message: "task 'step': core.delay needs either 'ms' or 'until', got neither (not retriable)",
    })
    await assert.rejects(
      invokeAction(registry, 'core', 'delay', { ms: 1, until: '2030-01-01T00:00:00Z' }, createTaskContext()),
      {
        code: 'INVALID_INPUT',
        message: "task 'step': core.delay needs either 'ms' or 'until', got both (not retriable)",
      },
    )
    await assert.rejects(invokeAction(registry, 'core', 'delay', { ms: -5 }, createTaskContext()), {
      code: 'INVALID_INPUT',
      message: "task 'step': input of core.delay is invalid: input.ms: must be >= 0 (not retriable)",
    })
    await assert.rejects(invokeAction(registry, 'core', 'delay', { until: 'soon' }, createTaskContext()), {
      code: 'INVALID_INPUT',
      message:
        "task 'step': input of core.delay is invalid: input.until: expected format 'date-time' (not retriable)",
    })
  })
})

describe('core.fail and core.log', () => {
  const registry = builtins()
  test('fail throws FAILED, not retriable, by default', async () => {
    await assert.rejects(
      invokeAction(registry, 'core', 'fail', {}, createTaskContext({ task: 'stop' })),
      (error: unknown) => {
        assert.ok(error instanceof TaskFailure)
        assert.equal(error.code, 'FAILED')
        assert.equal(error.retriable, false)
        assert.equal(error.message, "task 'stop' failed as asked by core.fail")
        return true
      },
    )
  })
  test('fail throws the code, message and retriable flag it is given', async () => {
    await assert.rejects(
      invokeAction(
        registry,
        'core',
        'fail',
        { code: 'SERVER_ERROR', message: 'flaky', retriable: true, details: { n: 1 } },
        createTaskContext(),
      ),
      { name: 'TaskFailure', code: 'SERVER_ERROR', message: 'flaky', retriable: true, details: { n: 1 } },
    )
    await assert.rejects(
      invokeAction(registry, 'core', 'fail', { code: 'not a code' }, createTaskContext()),
      {
        code: 'INVALID_INPUT',
      },
    )
  })
  test('log writes through the task logger with secret-looking fields masked', async () => {
    const context = createTaskContext()
    assert.deepEqual(
      await invokeAction(
        registry,
        'core',
        'log',
        {
          message: 'fetched',
          level: 'warn',
          fields: { count: 3, api_key: 'sk-123', nested: { password: 'p' } },
        },
        context,
      ),
      { logged: true },
    )
    assert.deepEqual(context.logs, [
      {
        level: 'warn',
        message: 'fetched',
        fields: { count: 3, api_key: '***', nested: { password: '***' }, source: 'core.log' },
      },
    ])
    await invokeAction(registry, 'core', 'log', { message: 'plain' }, context)
    assert.equal(context.logs[1]!.level, 'info')
    await assert.rejects(invokeAction(registry, 'core', 'log', { level: 'loud' }, context), {
      code: 'INVALID_INPUT',
      message:
        'task \'step\': input of core.log is invalid: input.message: is required; input.level: expected one of "debug", "info", "warn", "error" (not retriable)',
    })
  })
})

describe('workflow.run', () => {
  const registry = builtins()
  test("starts the child through the context and answers the child's output", async () => {
    const context = createTaskContext({
      runChildWorkflow: async (request) => ({ got: request as never }),
    })
    const output = await invokeAction(
      registry,
      'workflow',
      'run',
      { workflow_id: 'wf-child', revision: 2, input: { x: 1 } },
      context,
    )
    assert.deepEqual(output, { got: { workflow_id: 'wf-child', revision: 2, input: { x: 1 } } })
    const inline = { name: 'child', tasks: { a: { name: 'a', component: 'core', action: 'echo', input: 1 } } }
    assert.deepEqual(await invokeAction(registry, 'workflow', 'run', { workflow: inline }, context), {
      got: { workflow: inline, input: {} },
    })
  })
  test('needs exactly one of workflow_id and workflow', async () => {
    await assert.rejects(invokeAction(registry, 'workflow', 'run', { input: {} }, createTaskContext()), {
      name: 'TaskFailure',
      code: 'INVALID_INPUT',
      retriable: false,
      message:
        "task 'step': workflow.run needs either 'workflow_id' or an inline 'workflow', got neither (not retriable)",
    })
    await assert.rejects(
      invokeAction(
        registry,
        'workflow',
        'run',
        { workflow: { name: 'c', tasks: {} }, revision: 1 },
        createTaskContext(),
      ),
      {
        code: 'INVALID_INPUT',
        message: "task 'step': workflow.run takes 'revision' only with 'workflow_id' (not retriable)",
      },
    )
  })
  test('a failing child fails the task with its error', async () => {
    const failure = new TaskFailure('CHILD_WORKFLOW_FAILED', "child execution 'e2' failed")
    const context = createTaskContext({ runChildWorkflow: () => Promise.reject(failure) })
    await assert.rejects(
      invokeAction(registry, 'workflow', 'run', { workflow_id: 'w' }, context),
      (e: unknown) => e === failure,
    )
  })
})

/** Polls a condition on the microtask/macrotask queue with a deadline that reports the last state. */
async function waitFor(condition: () => boolean, state: () => string, deadlineMs = 5_000): Promise<void> {
  const until = Date.now() + deadlineMs
  while (!condition()) {
    if (Date.now() > until) assert.fail(`condition not met in ${deadlineMs} ms; last state: ${state()}`)
    await new Promise((resolve) => setImmediate(resolve))
  }
}
