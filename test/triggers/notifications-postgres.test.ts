/**
 * Two Harmonia nodes on one PostgreSQL schema: a subscription made on one node is honoured by the other's
 * outbox; when both nodes are woken for the same deliveries, each attempt is sent by one node only; a
 * webhook delivery id sent to both nodes at once starts one execution; a signal sent through one node
 * wakes the task waiting on the other. Skipped (with the reason) when
 * PostgreSQL is not reachable, except under CI=true.
 */
import assert from 'node:assert/strict'
import { createHmac } from 'node:crypto'
import { after, describe, it } from 'node:test'
import { buildApp } from '../../src/api/app.ts'
import { resolveConfig } from '../../src/core/config.ts'
import { createHarmonia, type Harmonia } from '../../src/harmonia.ts'
import { eventually } from '../api/support.ts'
import { PostgresFixture, skipWithoutPostgres } from '../storage/postgres-support.ts'
import { Receiver, verifies } from './notifications-receiver.ts'

describe('notifications, webhooks and signals on two PostgreSQL nodes', () => {
  const fixture = new PostgresFixture()
  const closers: Array<() => Promise<void>> = []
  after(async () => {
    for (const close of closers.reverse()) await close().catch(() => {})
    await fixture.dispose()
  })

  const node = async (schema: string, nodeId: string): Promise<{ harmonia: Harmonia; url: string }> => {
    const config = resolveConfig({
      flags: { storage: { kind: 'memory' }, engine: { nodeId }, log: { level: 'silent' } },
    })
    const store = fixture.store(schema)
    await store.init()
    const harmonia = await createHarmonia(config, { store })
    await harmonia.start()
    const app = await buildApp(harmonia)
    const url = await app.listen({ host: '127.0.0.1', port: 0 })
    closers.push(async () => {
      await app.close()
      await harmonia.close()
    })
    return { harmonia, url }
  }

  it('sends each attempt from one node, honours subscriptions made on the other, dedupes webhooks', async (t) => {
    if (await skipWithoutPostgres(t)) return
    const schema = fixture.schema()
    const a = await node(schema, 'node-a')
    const b = await node(schema, 'node-b')
    const target = new Receiver()
    await target.start()
    closers.push(() => target.stop())

    const subscription = await a.harmonia.notifications.create({
      external_url: target.url,
      event_types: ['execution_completed'],
      secret: 'two-node-secret',
    })
    const subscriptionId = String(subscription['subscription_id'])
    // Node b hears of the subscription through the store's notify channel.
    const run = async (harmonia: Harmonia): Promise<string> => {
      const record = await harmonia.engine.startExecution({
        workflow: { name: 'n', tasks: { t: { name: 't', component: 'core', action: 'echo', input: {} } } },
      })
      await harmonia.engine.waitForExecution(record.execution_id, { timeoutMs: 10_000 })
      return record.execution_id
    }
    const onB = await eventually(
      async () => {
        const id = await run(b.harmonia)
        const page = await b.harmonia.notifications.listDeliveries(subscriptionId, { limit: 100 })
        return page.items.some((d) => d['execution_id'] === id)
      },
      (found) => found,
      { what: 'node b writes deliveries for a subscription made on node a', timeoutMs: 10_000 },
    )
    assert.ok(onB)
    await run(a.harmonia)

    // Redeliver every delivery from node a: the NOTIFY wakes both nodes' dispatchers for each of them.
    const settled = (): Promise<boolean> =>
      a.harmonia.notifications
        .listDeliveries(subscriptionId, { limit: 500 })
        .then((page) => page.items.every((d) => d['status'] === 'succeeded'))
    await eventually(settled, (done) => done, { what: 'first deliveries made' })
    const firsts = await a.harmonia.notifications.listDeliveries(subscriptionId, { limit: 500 })
    for (const delivery of firsts.items)
      await a.harmonia.notifications.redeliver(String(delivery['delivery_id']))
    await eventually(settled, (done) => done, { what: 'redeliveries made', timeoutMs: 15_000 })
    const all = await a.harmonia.notifications.listDeliveries(subscriptionId, { limit: 500 })
    assert.equal(all.total, firsts.total * 2)
    const perDelivery = new Map<string, number>()
    for (const request of target.received) {
      assert.ok(verifies(request, 'two-node-secret'))
      const id = String(request.headers['x-harmonia-delivery'])
      perDelivery.set(id, (perDelivery.get(id) ?? 0) + 1)
    }
    assert.equal(perDelivery.size, all.total)
    for (const [id, count] of perDelivery) assert.equal(count, 1, `delivery ${id} sent once`)

    // The same webhook delivery id at both nodes at once: one execution.
    const workflow = await a.harmonia.workflows.create({
      name: 'hooked',
      tasks: { t: { name: 't', component: 'core', action: 'echo', input: {} } },
    })
    await a.harmonia.webhooks.create({
      name: 'h',
      endpoint: 'pg/hook',
      workflow_id: workflow.workflow_id,
      auth_type: 'hmac',
      auth_config: { secret: 'hook-secret' },
    })
    const raw = JSON.stringify({ hello: 'world' })
    const timestamp = Math.floor(Date.now() / 1000)
    const signature = createHmac('sha256', 'hook-secret').update(`${timestamp}.${raw}`).digest('hex')
    const send = (url: string) =>
      fetch(`${url}/hooks/pg/hook`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'idempotency-key': 'same-delivery',
          'x-harmonia-signature': `sha256=${signature}`,
          'x-harmonia-timestamp': String(timestamp),
        },
        body: raw,
      }).then(async (response) => ({ status: response.status, body: await response.json() }))
    const answers = await Promise.all([send(a.url), send(b.url), send(a.url), send(b.url)])
    const ids = new Set(answers.map((answer) => answer.body.execution_id))
    assert.equal(ids.size, 1, JSON.stringify(answers))
    assert.equal(answers.filter((answer) => answer.status === 202).length, 1)

    // A signal sent through node b wakes the task waiting on node a (NOTIFY across nodes).
    const waiting = await a.harmonia.engine.startExecution({
      workflow: {
        name: 'approval',
        tasks: { ok: { name: 'ok', component: 'core', action: 'wait_for_signal', input: { name: 'go' } } },
        output: { by: '${tasks.ok.output.by}' },
      },
    })
    await eventually(
      () => fetch(`${b.url}/api/v1/executions/${waiting.execution_id}/signals`).then((r) => r.json()),
      (body: { waiting?: unknown[] }) => body.waiting?.length === 1,
      { what: 'the task waits on node a' },
    )
    const signalled = await fetch(`${b.url}/api/v1/executions/${waiting.execution_id}/signals/go`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ by: 'node b' }),
    })
    assert.equal(signalled.status, 202)
    const ended = await a.harmonia.engine.waitForExecution(waiting.execution_id, { timeoutMs: 10_000 })
    assert.equal(ended.status, 'completed')
    assert.deepEqual(ended.output, { by: 'node b' })
  })
})
