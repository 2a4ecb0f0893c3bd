/**
 * One remote component at run time, against real servers on 127.0.0.1: the circuit breaker's states (with
 * a controlled clock), how answers map to task failures, the per-call timeout, the concurrency limit, and
 * the health probe that closes an open circuit once the component answers again.
 */
import assert from 'node:assert/strict'
import { after, describe, it } from 'node:test'
import { createCircuitBreaker } from '../../src/components/circuit-breaker.ts'
import { createRemoteComponent, type RemoteComponent } from '../../src/components/remote-component.ts'
import { parseCapabilities } from '../../src/components/remote-protocol.ts'
import type { Clock } from '../../src/core/clock.ts'
import { TaskFailure } from '../../src/core/errors.ts'
import { createTaskContext } from './context.ts'
import { Reply, startRemoteComponent, type RemoteComponentServer } from './remote-server.ts'

function manualClock(): Clock & { advance(ms: number): void } {
  let now = 1_000_000
  return {
    now: () => now,
    setTimeout: () => ({ cancel() {} }),
    advance(ms) {
      now += ms
    },
  }
}

async function failureOf(promise: Promise<unknown>): Promise<TaskFailure> {
  try {
    await promise
  } catch (error) {
    assert.ok(error instanceof TaskFailure, `expected a TaskFailure, got ${String(error)}`)
    return error
  }
  assert.fail('expected the call to fail')
}

async function until(done: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 10_000
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`${what} not reached in time`)
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}

describe('circuit breaker', () => {
  it('opens after the threshold, refuses during the cool-down, lets one probe through, and closes on success', () => {
    const clock = manualClock()
    const changes: string[] = []
    const breaker = createCircuitBreaker({
      failureThreshold: 2,
      coolDownMs: 1000,
      clock,
      onChange: (state) => changes.push(state),
    })
    assert.deepEqual(breaker.admit(), { admitted: true, probe: false })
    breaker.failed(false, 'SERVER_ERROR')
    assert.equal(breaker.state, 'closed')
    breaker.failed(false, 'SERVER_ERROR')
    assert.equal(breaker.state, 'open')
    assert.deepEqual(breaker.admit(), { admitted: false, retryAfterMs: 1000 })
    clock.advance(999)
    assert.deepEqual(breaker.admit(), { admitted: false, retryAfterMs: 1 })
    clock.advance(1)
    assert.deepEqual(breaker.admit(), { admitted: true, probe: true })
    assert.equal(breaker.state, 'half_open')
    assert.equal(breaker.admit().admitted, false, 'one probe at a time')
    breaker.failed(true, 'TIMEOUT')
    assert.equal(breaker.state, 'open', 'a failed probe opens the circuit again')
    clock.advance(1000)
    const probe = breaker.admit()
    assert.deepEqual(probe, { admitted: true, probe: true })
    breaker.succeeded(true)
    assert.equal(breaker.state, 'closed')
    assert.equal(breaker.snapshot().consecutiveFailures, 0)
    assert.deepEqual(changes, ['open', 'half_open', 'open', 'half_open', 'closed'])
  })

  it('opens at once for a severe failure, and probes at once when asked', () => {
    const clock = manualClock()
    const breaker = createCircuitBreaker({ failureThreshold: 5, coolDownMs: 60_000, clock })
    breaker.failed(false, 'component_error', { severe: true })
    assert.equal(breaker.state, 'open')
    assert.equal(breaker.admit().admitted, false)
    breaker.probeNow()
    assert.deepEqual(breaker.admit(), { admitted: true, probe: true })
    breaker.settle(true)
    assert.deepEqual(breaker.admit(), { admitted: true, probe: true }, 'a settled probe frees the slot')
  })
})

describe('remote component', () => {
  const open: Array<{ close(): unknown }> = []
  after(async () => {
    for (const item of open) await item.close()
  })
  const start = async (
    actions: Parameters<typeof startRemoteComponent>[0],
  ): Promise<RemoteComponentServer> => {
    const server = await startRemoteComponent(actions)
    open.push(server)
    return server
  }
  const remote = (server: RemoteComponentServer, settings: Record<string, number> = {}): RemoteComponent => {
    const component = createRemoteComponent({
      name: 'svc',
      base_url: server.baseUrl,
      source: 'api',
      ...settings,
    })
    open.push(component)
    return component
  }

  it('reads capabilities in the shapes components answer', () => {
    assert.deepEqual(parseCapabilities(['a', 'b']), [{ name: 'a' }, { name: 'b' }])
    assert.deepEqual(
      parseCapabilities({
        actions: { run: { description: 'runs', parameters: { cmd: { type: 'string', required: true } } } },
      }),
      [
        {
          name: 'run',
          description: 'runs',
          input_schema: { type: 'object', properties: { cmd: { type: 'string' } }, required: ['cmd'] },
        },
      ],
    )
    assert.deepEqual(parseCapabilities({ capabilities: { actions: ['a'] } }), [{ name: 'a' }])
    assert.deepEqual(parseCapabilities({ name: 'svc', version: '1' }), [])
    assert.deepEqual(parseCapabilities({ capabilities: [{ name: 'x', input_schema: { type: 'object' } }] }), [
      { name: 'x', input_schema: { type: 'object' } },
    ])
  })

  it('maps answers to retriable and non-retriable failures', async () => {
    const server = await start({
      limited: { run: () => new Reply(429, { detail: 'slow down' }) },
      rejected: { run: () => new Reply(422, { detail: 'query is missing' }) },
      reported: { run: () => ({ success: false, error: 'disk full' }) },
      broken: { run: () => new Reply(500, { error: 'boom' }) },
      empty: { run: () => null },
    })
    const component = remote(server, { failure_threshold: 5 })
    const context = createTaskContext()
    const limited = await failureOf(component.invoke('limited', {}, context))
    assert.equal(limited.code, 'RATE_LIMITED')
    assert.equal(limited.retriable, true)
    const rejected = await failureOf(component.invoke('rejected', {}, context))
    assert.equal(rejected.code, 'INVALID_INPUT')
    assert.equal(rejected.retriable, false)
    assert.match(rejected.message, /query is missing/)
    const reported = await failureOf(component.invoke('reported', {}, context))
    assert.equal(reported.code, 'ACTION_FAILED')
    assert.match(reported.message, /disk full/)
    const unknown = await failureOf(component.invoke('nope', {}, context))
    assert.equal(unknown.code, 'HTTP_404')
    assert.equal(unknown.retriable, false)
    const broken = await failureOf(component.invoke('broken', {}, context))
    assert.equal(broken.code, 'SERVER_ERROR')
    assert.equal(broken.retriable, true)
    assert.equal(component.health().status, 'unhealthy')
    assert.equal(await component.invoke('empty', {}, context), null)
    assert.equal(component.health().status, 'healthy')
    assert.equal(component.health().circuit, 'closed')
  })

  it('times out slow calls, opens the circuit after the threshold, and fails fast while open', async () => {
    const server = await start({ slow: { run: () => new Promise(() => {}) } })
    const component = remote(server, { timeout_ms: 30, failure_threshold: 2, cool_down_ms: 60_000 })
    const context = createTaskContext()
    const first = await failureOf(component.invoke('slow', {}, context))
    assert.equal(first.code, 'TIMEOUT')
    assert.equal(first.retriable, true)
    await failureOf(component.invoke('slow', {}, context))
    assert.equal(component.health().circuit, 'open')
    const calls = server.calls.length
    const fast = await failureOf(component.invoke('slow', {}, context))
    assert.equal(fast.code, 'component_error')
    assert.equal((fast.details as { reason: string }).reason, 'CIRCUIT_OPEN')
    assert.equal(server.calls.length, calls, 'nothing was sent')
  })

  it('keeps at most max_concurrency calls in flight; the rest wait in line', async () => {
    const releases: Array<() => void> = []
    let inFlight = 0
    let most = 0
    const server = await start({
      gated: {
        run: async () => {
          inFlight++
          most = Math.max(most, inFlight)
          await new Promise<void>((resolve) => releases.push(resolve))
          inFlight--
          return { ok: true }
        },
      },
    })
    const component = remote(server, { max_concurrency: 2 })
    const calls = [1, 2, 3, 4].map(() => component.invoke('gated', {}, createTaskContext()))
    await until(() => releases.length === 2, 'two calls in flight')
    assert.equal(component.status().in_flight, 2)
    assert.equal(component.status().queued, 2)
    while (releases.length > 0 || server.calls.length < 4) {
      releases.shift()?.()
      await new Promise((resolve) => setTimeout(resolve, 5))
    }
    assert.deepEqual(await Promise.all(calls), [{ ok: true }, { ok: true }, { ok: true }, { ok: true }])
    assert.equal(most, 2)

    // A task aborted while it waits leaves the line with its own reason.
    const blocker = [1, 2].map(() => component.invoke('gated', {}, createTaskContext()))
    await until(() => releases.length === 2, 'two calls in flight again')
    const controller = new AbortController()
    const waiting = component.invoke('gated', {}, createTaskContext({ signal: controller.signal }))
    controller.abort(new TaskFailure('CANCELLED', 'cancelled by test'))
    assert.equal((await failureOf(waiting)).code, 'CANCELLED')
    for (const release of releases.splice(0)) release()
    await Promise.all(blocker)
  })

  it('closes an open circuit when its health probe finds the component answering again', async () => {
    const server = await start({ hello: { run: () => ({ hi: true }) } })
    const component = remote(server, { cool_down_ms: 40 })
    await server.stop()
    const down = await failureOf(component.invoke('hello', {}, createTaskContext()))
    assert.equal(down.code, 'component_error')
    assert.equal(component.health().circuit, 'open', 'cannot connect: the circuit opens at once')
    await server.start()
    await until(() => component.health().circuit === 'closed', 'circuit closed by the probe')
    assert.equal(component.health().status, 'healthy')
    assert.deepEqual(await component.invoke('hello', {}, createTaskContext()), { hi: true })
  })
})
