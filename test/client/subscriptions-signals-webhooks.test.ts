/**
 * The client's later route families against the real server (buildApp on 127.0.0.1:0, memory store):
 * outbound-notification subscriptions and their deliveries to a real receiver (signed, redelivered), signals
 * to executions waiting in `core.wait_for_signal`, and the webhook definitions and their call records.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import {
  HarmoniaApiError,
  HarmoniaClient,
  type Page,
  type NotificationDelivery,
} from '../../src/client/index.ts'
import { eventually, startTestServer, twoTaskWorkflow, type TestServer } from '../api/support.ts'
import { Receiver, verifies } from '../triggers/notifications-receiver.ts'

let server: TestServer
let client: HarmoniaClient

before(async () => {
  server = await startTestServer({ listen: true })
  client = new HarmoniaClient({ baseUrl: server.baseUrl, timeoutMs: 10_000 })
})
after(() => server.close())

async function rejection(promise: Promise<unknown>): Promise<HarmoniaApiError> {
  const error = await promise.then(
    () => assert.fail('expected a rejection'),
    (caught: unknown) => caught,
  )
  assert.ok(error instanceof HarmoniaApiError, `expected HarmoniaApiError, got ${String(error)}`)
  return error
}

describe('subscriptions', () => {
  let receiver: Receiver
  before(async () => {
    receiver = await new Receiver().start()
  })
  after(() => receiver.stop())

  it('creates, lists, reads, updates and deletes, and lists, reads and redelivers signed deliveries', async () => {
    const workflow = await client.workflows.create({ ...twoTaskWorkflow, name: 'notified_flow' })
    const created = await client.subscriptions.create({
      name: 'completions',
      external_url: `${receiver.url}/harmonia`,
      event_types: ['execution_completed'],
      workflow_id: workflow.workflow_id,
      retry_config: { max_attempts: 1 },
    })
    assert.match(created.subscription_id, /\S/)
    assert.equal(created.name, 'completions')
    assert.equal(created.external_url, `${receiver.url}/harmonia`)
    assert.deepEqual(created.event_types, ['execution_completed'])
    assert.deepEqual(created.workflow_ids, [workflow.workflow_id])
    assert.equal(created.retry_config.max_attempts, 1)
    assert.equal(created.auth_type, 'none')
    assert.equal(created.enabled, true)
    // A generated secret is answered once, by create; afterwards it is masked.
    const secret = created.secret
    assert.ok(secret.length >= 8 && secret !== '***', secret)

    const read = await client.subscriptions.get(created.subscription_id)
    assert.deepEqual(read, { ...created, secret: '***' })
    const page = await client.subscriptions.list({ limit: 10 })
    assert.equal(page.total, 1)
    assert.equal(page.limit, 10)
    assert.deepEqual(page.items, [read])

    const updated = await client.subscriptions.update(created.subscription_id, {
      name: 'completions, renamed',
      headers: { 'x-team': 'ops' },
    })
    assert.equal(updated.name, 'completions, renamed')
    assert.deepEqual(updated.headers, { 'x-team': 'ops' })
    assert.equal(updated.external_url, created.external_url)
    assert.deepEqual(updated.workflow_ids, [workflow.workflow_id])
    assert.equal(updated.secret, '***')
    assert.deepEqual(await client.subscriptions.get(created.subscription_id), updated)

    const execution = await client.executions.start({
      workflow_id: workflow.workflow_id,
      input: { value: 'notify me' },
    })
    assert.equal(
      (await client.waitForExecution(execution.execution_id, { timeoutMs: 10_000 })).status,
      'completed',
    )

    const delivered = await eventually(
      () => client.subscriptions.deliveries(created.subscription_id),
      (deliveries: Page<NotificationDelivery>) => deliveries.items[0]?.status === 'succeeded',
      { what: 'the completion delivered' },
    )
    assert.equal(delivered.total, 1)
    const delivery = delivered.items[0]!
    assert.equal(delivery.subscription_id, created.subscription_id)
    assert.equal(delivery.event_type, 'execution_completed')
    assert.equal(delivery.execution_id, execution.execution_id)
    assert.equal(delivery.workflow_id, workflow.workflow_id)
    assert.equal(delivery.event.type, 'execution_completed')
    assert.equal(delivery.attempt_count, 1)
    assert.equal(delivery.attempts.length, 1)
    assert.equal(delivery.attempts[0]!.success, true)
    assert.equal(delivery.attempts[0]!.status_code, 200)
    assert.equal(delivery.status_code, 200)
    assert.match(delivery.delivered_at ?? '', /^\d{4}-/)

    // What the receiver got: the event, signed with the secret (kept by the update), with the extra header.
    assert.equal(receiver.accepted.length, 1)
    const request = receiver.accepted[0]!
    assert.equal(request.path, '/harmonia')
    assert.equal(request.headers['x-team'], 'ops')
    assert.ok(verifies(request, secret), 'signed with the secret create answered')
    const body = JSON.parse(request.body) as { type: string; execution_id: string }
    assert.equal(body.type, 'execution_completed')
    assert.equal(body.execution_id, execution.execution_id)

    assert.deepEqual(
      await client.subscriptions.delivery(created.subscription_id, delivery.delivery_id),
      delivery,
    )
    const none = await client.subscriptions.deliveries(created.subscription_id, { status: 'failed' })
    assert.equal(none.total, 0)
    assert.deepEqual(none.items, [])

    const again = await client.subscriptions.redeliver(created.subscription_id, delivery.delivery_id)
    assert.notEqual(again.delivery_id, delivery.delivery_id)
    assert.equal(again.redelivery_of, delivery.delivery_id)
    assert.equal(again.status, 'pending')
    assert.deepEqual(again.attempts, [])
    const redelivered = await eventually(
      () => client.subscriptions.delivery(created.subscription_id, again.delivery_id),
      (found) => found.status === 'succeeded',
      { what: 'the redelivery sent' },
    )
    assert.equal(redelivered.attempts[0]!.status_code, 200)
    assert.equal(receiver.accepted.length, 2)
    assert.equal(JSON.parse(receiver.accepted[1]!.body).execution_id, execution.execution_id)
    assert.equal((await client.subscriptions.deliveries(created.subscription_id)).total, 2)

    const otherSubscription = await rejection(
      client.subscriptions.delivery('sub-elsewhere', delivery.delivery_id),
    )
    assert.equal(otherSubscription.status, 404)

    const deleted = await client.subscriptions.delete(created.subscription_id)
    assert.deepEqual(deleted, {
      success: true,
      message: `Subscription '${created.subscription_id}' deleted`,
      subscription_id: created.subscription_id,
    })
    const missing = await rejection(client.subscriptions.get(created.subscription_id))
    assert.equal(missing.status, 404)
    assert.equal(missing.code, 'not_found')
    assert.equal((await rejection(client.subscriptions.deliveries(created.subscription_id))).status, 404)
    assert.equal((await client.subscriptions.list()).total, 0)
  })

  it('refuses an invalid subscription with 422 and every problem', async () => {
    const error = await rejection(
      client.subscriptions.create({ external_url: 'ftp://nowhere', secret: 'short' }),
    )
    assert.equal(error.status, 422)
    assert.equal(error.code, 'validation_error')
    const fields = JSON.stringify(error.details)
    assert.match(fields, /external_url/)
    assert.match(fields, /secret/)
  })
})

describe('signals', () => {
  it('sends a signal to an execution waiting in core.wait_for_signal; its payload is the task output', async () => {
    const execution = await client.executions.start({
      workflow: {
        name: 'approval',
        tasks: {
          approve: {
            name: 'approve',
            component: 'core',
            action: 'wait_for_signal',
            input: { name: 'approve' },
          },
          after: {
            name: 'after',
            component: 'core',
            action: 'echo',
            depends_on: ['approve'],
            input: { by: '${tasks.approve.output.by}' },
          },
        },
      },
    })
    const waiting = await eventually(
      () => client.signals.list(execution.execution_id),
      (signals) => signals.waiting.length === 1,
      { what: 'the task waiting for its signal' },
    )
    assert.equal(waiting.execution_id, execution.execution_id)
    assert.deepEqual(waiting.received, [])
    assert.equal(waiting.waiting[0]!.name, 'approve')
    assert.equal(waiting.waiting[0]!.task, 'approve')
    assert.equal(waiting.waiting[0]!.status, 'waiting')
    assert.equal(waiting.waiting[0]!.deadline_at, null)

    const payload = { approved: true, by: 'ada', notes: ['looks good'] }
    const sent = await client.signals.send(execution.execution_id, 'approve', payload)
    assert.equal(sent.success, true)
    assert.equal(sent.execution_id, execution.execution_id)
    assert.equal(sent.name, 'approve')
    assert.deepEqual(sent.payload, payload)
    assert.match(sent.received_at, /^\d{4}-/)

    const done = await client.waitForExecution(execution.execution_id, { timeoutMs: 10_000 })
    assert.equal(done.status, 'completed')
    assert.deepEqual(done.task_status['approve']!.output, payload)
    assert.deepEqual(done.task_status['after']!.output, { by: 'ada' })

    const listed = await client.signals.list(execution.execution_id)
    assert.deepEqual(listed.received, [
      { execution_id: execution.execution_id, name: 'approve', payload, received_at: sent.received_at },
    ])
    assert.deepEqual(listed.waiting, [])
    assert.equal(listed.waits.length, 1)
    assert.equal(listed.waits[0]!.status, 'received')

    const finished = await rejection(client.signals.send(execution.execution_id, 'approve', payload))
    assert.equal(finished.status, 409)
    assert.equal(finished.code, 'conflict')
    assert.equal((finished.details as { reason?: string }).reason, 'invalid_state')
  })

  it('sends null without a payload, takes a name once, and refuses an unknown execution', async () => {
    const execution = await client.executions.start({
      workflow: {
        name: 'two_signals',
        tasks: {
          first: { name: 'first', component: 'core', action: 'wait_for_signal', input: { name: 'go' } },
          second: {
            name: 'second',
            component: 'core',
            action: 'wait_for_signal',
            depends_on: ['first'],
            input: { name: 'done' },
          },
        },
      },
    })
    // Possibly before the task waits: the signal is kept until it does.
    const sent = await client.signals.send(execution.execution_id, 'go')
    assert.equal(sent.payload, null)
    await eventually(
      () => client.signals.list(execution.execution_id),
      (signals) => signals.waiting.some((wait) => wait.name === 'done'),
      { what: 'the second task waiting' },
    )
    const twice = await rejection(client.signals.send(execution.execution_id, 'go', 'again'))
    assert.equal(twice.status, 409)
    assert.equal(twice.code, 'conflict')
    const badName = await rejection(client.signals.send(execution.execution_id, 'not a name!'))
    assert.equal(badName.status, 400)
    assert.equal(badName.code, 'invalid_request')

    await client.signals.send(execution.execution_id, 'done', 'finished')
    const done = await client.waitForExecution(execution.execution_id, { timeoutMs: 10_000 })
    assert.equal(done.status, 'completed')
    assert.equal(done.task_status['first']!.output, null)
    assert.equal(done.task_status['second']!.output, 'finished')

    const unknown = await rejection(client.signals.send('exec-missing', 'go', 1))
    assert.equal(unknown.status, 404)
    assert.equal(unknown.code, 'execution_not_found')
    assert.equal((await rejection(client.signals.list('exec-missing'))).code, 'execution_not_found')
  })
})

describe('webhooks', () => {
  it('reads, updates, lists calls (replays and refused calls) and deletes a webhook', async () => {
    const workflow = await client.workflows.create({ ...twoTaskWorkflow, name: 'hooked_flow' })
    const created = await client.webhooks.create({
      name: 'sdk push',
      endpoint: 'sdk/push',
      workflow_id: workflow.workflow_id,
      input_mapping: { value: 'payload.v' },
      auth_type: 'hmac',
      auth_config: { secret: 'a-webhook-secret-1234' },
    })
    assert.match(created.webhook_id, /\S/)
    assert.equal(created.hook_path, '/hooks/sdk/push')
    assert.equal(created.auth_config?.['secret'], '***')

    const read = await client.webhooks.get(created.webhook_id)
    assert.deepEqual(read, created)

    const updated = await client.webhooks.update(created.webhook_id, {
      description: 'pushes from the SDK test',
      rate_limit_per_minute: 5,
    })
    assert.equal(updated.webhook_id, created.webhook_id)
    assert.equal(updated.description, 'pushes from the SDK test')
    assert.equal(updated.rate_limit_per_minute, 5)
    assert.equal(updated.endpoint, 'sdk/push')
    assert.deepEqual(updated.input_mapping, { value: 'payload.v' })
    assert.equal(updated.auth_config?.['secret'], '***')
    assert.deepEqual(await client.webhooks.get(created.webhook_id), updated)
    const invalid = await rejection(client.webhooks.update(created.webhook_id, { endpoint: '../up' }))
    assert.equal(invalid.status, 422)
    assert.equal(invalid.code, 'validation_error')

    // A replay through the mapping starts an execution; a call without the signature is refused.
    const replayed = await client.webhooks.deliver(created.webhook_id, { payload: { v: 'replayed' } })
    assert.match(replayed.execution_id ?? '', /\S/)
    const done = await client.waitForExecution(replayed.execution_id!, { timeoutMs: 10_000 })
    assert.equal(done.status, 'completed')
    assert.deepEqual(done.output, { result: 'replayed' })
    const unsigned = await fetch(`${server.baseUrl}/hooks/sdk/push`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ v: 'unsigned' }),
    })
    assert.equal(unsigned.status, 401)
    await unsigned.body?.cancel()

    const calls = await client.webhooks.calls(created.webhook_id)
    assert.equal(calls.total, 2)
    const [refused, replay] = calls.items
    assert.equal(refused!.webhook_id, created.webhook_id)
    assert.equal(refused!.source, 'http')
    assert.equal(refused!.result, 'rejected')
    assert.equal(refused!.error?.code, 'authentication_failed')
    assert.equal(refused!.execution_id, null)
    assert.equal(refused!.source_ip, '127.0.0.1')
    assert.equal(replay!.source, 'replay')
    assert.equal(replay!.result, 'started')
    assert.equal(replay!.execution_id, replayed.execution_id)
    assert.equal(replay!.status_code, 202)
    assert.deepEqual(replay!.payload, { v: 'replayed' })
    const firstPage = await client.webhooks.calls(created.webhook_id, { limit: 1 })
    assert.deepEqual(
      { total: firstPage.total, page: firstPage.page, limit: firstPage.limit },
      { total: 2, page: 1, limit: 1 },
    )
    assert.deepEqual(firstPage.items, [refused])
    assert.deepEqual((await client.webhooks.calls(created.webhook_id, { page: 2, limit: 1 })).items, [replay])

    const deleted = await client.webhooks.delete(created.webhook_id)
    assert.deepEqual(deleted, {
      success: true,
      message: `Webhook '${created.webhook_id}' deleted`,
      webhook_id: created.webhook_id,
    })
    const missing = await rejection(client.webhooks.get(created.webhook_id))
    assert.equal(missing.status, 404)
    assert.equal(missing.code, 'not_found')
    assert.equal((await rejection(client.webhooks.calls(created.webhook_id))).status, 404)
    assert.equal((await rejection(client.webhooks.delete(created.webhook_id))).status, 404)
  })
})
