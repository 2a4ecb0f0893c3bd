/**
 * The outbox survives kill -9: `harmonia serve` (SQLite) writes a delivery with its event, the receiver
 * refuses the first attempt, the server is killed with SIGKILL while the delivery waits for its retry, and
 * after a restart on the same data dir the delivery is made, once, with the same delivery id and a
 * signature that verifies.
 */
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { after, before, describe, it } from 'node:test'
import { eventually } from '../api/support.ts'
import { Receiver, verifies } from './notifications-receiver.ts'
import { api, serve, type Serve } from './notifications-serve.ts'

describe('notification outbox across kill -9', () => {
  let dir: string
  const receiver = new Receiver()
  const servers: Serve[] = []
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'harmonia-outbox-'))
    await receiver.start()
  })
  after(async () => {
    for (const server of servers) await server.kill()
    await receiver.stop()
    await rm(dir, { recursive: true, force: true })
  })

  it('makes a delivery that was pending when the server was killed, after the restart', async () => {
    const first = await serve(dir)
    servers.push(first)
    const subscription = await api(first.url, 'POST', '/api/v1/subscriptions', {
      external_url: `${receiver.url}/hook`,
      event_types: ['execution_completed'],
      secret: 'crash-test-secret',
      // Long enough that the retry is still pending when the server dies.
      retry_config: { max_attempts: 20, initial_delay_ms: 3000, backoff_factor: 1, timeout_ms: 2000 },
    })
    assert.equal(subscription.status, 201, JSON.stringify(subscription.body))
    // Refused until the server is gone: no attempt before the kill can succeed.
    receiver.plan = Array.from({ length: 100 }, () => 503)
    const started = await api(first.url, 'POST', '/api/v1/executions?wait=true', {
      workflow: {
        name: 'tiny',
        tasks: { a: { name: 'a', component: 'core', action: 'echo', input: { x: 1 } } },
      },
    })
    assert.equal(started.body.status, 'completed', JSON.stringify(started.body))
    await eventually(
      () => receiver.received.length,
      (n) => n === 1,
      { what: 'the first (refused) attempt', timeoutMs: 10_000 },
    )
    const pending = await eventually(
      () => api(first.url, 'GET', `/api/v1/subscriptions/${subscription.body.subscription_id}/deliveries`),
      (answer) => answer.body.items[0]?.attempt_count === 1,
      { what: 'the refused attempt recorded' },
    )
    assert.equal(pending.body.items[0].status, 'pending')
    await first.kill()
    assert.equal(receiver.accepted.length, 0, 'nothing was delivered before the kill')
    const refusedBeforeKill = receiver.received.length
    receiver.plan = []

    const second = await serve(dir)
    servers.push(second)
    await eventually(
      () => receiver.accepted.length,
      (n) => n === 1,
      { what: 'the delivery made after the restart', timeoutMs: 20_000 },
    )
    const refused = receiver.received[0]!
    const accepted = receiver.accepted[0]!
    assert.equal(accepted.headers['x-harmonia-delivery'], refused.headers['x-harmonia-delivery'])
    assert.ok(verifies(accepted, 'crash-test-secret'))
    const event = JSON.parse(accepted.body)
    assert.equal(event.type, 'execution_completed')
    assert.equal(event.execution_id, started.body.execution_id)
    const done = await eventually(
      () => api(second.url, 'GET', `/api/v1/subscriptions/${subscription.body.subscription_id}/deliveries`),
      (answer) => answer.body.items[0]?.status === 'succeeded',
      { what: 'the delivery recorded as succeeded' },
    )
    assert.ok(done.body.items[0].attempt_count >= refusedBeforeKill + 1)
    assert.equal(done.body.items[0].attempts.at(-1).status_code, 200)
    assert.equal(receiver.accepted.length, 1, 'delivered once')
  })
})
