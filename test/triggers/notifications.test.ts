/**
 * Outbound notifications with real receivers on 127.0.0.1: signed events that verify with the
 * subscription's secret, retries with backoff until a failing receiver accepts, every attempt recorded,
 * filters, payload templates, redelivery, secrets never answered, and `notify.send` from a workflow.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { call, eventually, startTestServer, type TestServer } from '../api/support.ts'
import { Receiver, verifies } from './notifications-receiver.ts'

const fastRetry = {
  max_attempts: 5,
  initial_delay_ms: 20,
  backoff_factor: 2,
  max_delay_ms: 200,
  timeout_ms: 2000,
}

describe('outbound notifications', () => {
  let server: TestServer
  let workflowId: string
  const receivers: Receiver[] = []

  const receiver = async (): Promise<Receiver> => {
    const started = await new Receiver().start()
    receivers.push(started)
    return started
  }
  const run = async (input: object = {}): Promise<string> => {
    const started = await call(server.app, 'POST', '/api/v1/executions?wait=true', {
      workflow_id: workflowId,
      input,
    })
    assert.equal(started.status, 201, JSON.stringify(started.body))
    assert.equal(started.body.status, 'completed')
    return started.body.execution_id
  }

  before(async () => {
    server = await startTestServer()
    const created = await call(server.app, 'POST', '/api/v1/workflows', {
      name: 'notified',
      tasks: {
        only: { name: 'only', component: 'core', action: 'echo', input: { n: '${workflow.input.n}' } },
      },
      input: { n: { type: 'integer', default: 1 } },
      output: { n: '${tasks.only.output.n}' },
    })
    workflowId = created.body.workflow_id
  })
  after(async () => {
    await server.close()
    for (const r of receivers) await r.stop()
  })

  it('delivers signed events that verify with the secret, which the API never shows again', async () => {
    const target = await receiver()
    const created = await call(server.app, 'POST', '/api/v1/subscriptions', {
      name: 'ends',
      external_url: `${target.url}/events`,
      event_types: ['execution_started', 'execution_completed'],
      workflow_id: workflowId,
      retry_config: fastRetry,
    })
    assert.equal(created.status, 201, JSON.stringify(created.body))
    const secret = created.body.secret as string
    assert.ok(secret.length >= 16 && secret !== '***', 'a generated secret is answered once')
    const shown = await call(server.app, 'GET', `/api/v1/subscriptions/${created.body.subscription_id}`)
    assert.equal(shown.body.secret, '***')
    const listed = await call(server.app, 'GET', '/api/v1/subscriptions')
    assert.ok(!JSON.stringify(listed.body).includes(secret))

    const executionId = await run({ n: 7 })
    await eventually(
      () => target.received.length,
      (n) => n === 2,
      { what: 'both events received' },
    )
    const [started, completed] = [...target.received].sort((a, b) =>
      JSON.parse(a.body).seq < JSON.parse(b.body).seq ? -1 : 1,
    )
    for (const request of [started!, completed!]) {
      assert.ok(verifies(request, secret), 'the signature verifies with the secret')
      assert.ok(!verifies(request, 'another-secret-value'))
      assert.match(String(request.headers['x-harmonia-delivery']), /^dlv-/)
      assert.equal(request.headers['content-type'], 'application/json')
    }
    const body = JSON.parse(completed!.body)
    assert.equal(body.type, 'execution_completed')
    assert.equal(body.execution_id, executionId)
    assert.deepEqual(body.data.output, { n: 7 })
    assert.equal(completed!.headers['x-harmonia-event'], 'execution_completed')

    const deliveries = await eventually(
      () => call(server.app, 'GET', `/api/v1/subscriptions/${created.body.subscription_id}/deliveries`),
      (answer) => answer.body.items.every((d: { status: string }) => d.status === 'succeeded'),
      { what: 'deliveries recorded as succeeded' },
    )
    assert.equal(deliveries.body.total, 2)
    const attempt = deliveries.body.items[0].attempts[0]
    assert.equal(attempt.status_code, 200)
    assert.equal(attempt.response_excerpt, 'ok')
    assert.equal(typeof attempt.duration_ms, 'number')
    await call(server.app, 'DELETE', `/api/v1/subscriptions/${created.body.subscription_id}`)
  })

  it('retries a receiver that fails three times and delivers once it succeeds, recording each attempt', async () => {
    const target = await receiver()
    target.plan = [500, 503, 502]
    const created = await call(server.app, 'POST', '/api/v1/subscriptions', {
      external_url: target.url,
      event_types: ['execution_completed'],
      secret: 'a-secret-of-mine',
      retry_config: fastRetry,
    })
    assert.equal(created.body.secret, '***', 'a secret the client chose is not echoed')
    const subscriptionId = created.body.subscription_id
    const executionId = await run()
    await eventually(
      () => target.accepted.length,
      (n) => n === 1,
      { what: 'the event accepted after three failures' },
    )
    assert.equal(target.received.length, 4)
    const ids = new Set(target.received.map((r) => r.headers['x-harmonia-delivery']))
    assert.equal(ids.size, 1, 'every attempt carries the same delivery id')
    for (const request of target.received) assert.ok(verifies(request, 'a-secret-of-mine'))
    assert.equal(JSON.parse(target.accepted[0]!.body).execution_id, executionId)

    const delivery = await eventually(
      () => call(server.app, 'GET', `/api/v1/subscriptions/${subscriptionId}/deliveries`),
      (answer) => answer.body.items[0]?.status === 'succeeded',
      { what: 'delivery succeeded' },
    )
    const record = delivery.body.items[0]
    assert.equal(record.attempt_count, 4)
    assert.equal(record.retry_count, 3)
    assert.deepEqual(
      record.attempts.map((a: { status_code: number }) => a.status_code),
      [500, 503, 502, 200],
    )
    assert.match(record.attempts[0].error, /HTTP 500/)
    assert.equal(record.attempts[0].response_excerpt, 'no (500)')

    // Manual redelivery: a new delivery of the same event.
    const again = await call(
      server.app,
      'POST',
      `/api/v1/subscriptions/${subscriptionId}/deliveries/${record.delivery_id}/redeliver`,
    )
    assert.equal(again.status, 202)
    assert.equal(again.body.redelivery_of, record.delivery_id)
    await eventually(
      () => target.accepted.length,
      (n) => n === 2,
      { what: 'redelivered' },
    )
    assert.equal(target.accepted[1]!.headers['x-harmonia-delivery'], again.body.delivery_id)
    await call(server.app, 'DELETE', `/api/v1/subscriptions/${subscriptionId}`)
  })

  it('gives up after max_attempts, filters by workflow, and renders payload templates', async () => {
    const down = await receiver()
    down.plan = [500, 500, 500]
    const failing = await call(server.app, 'POST', '/api/v1/subscriptions', {
      external_url: down.url,
      event_types: ['execution_completed'],
      retry_config: { ...fastRetry, max_attempts: 2 },
    })
    const other = await receiver()
    const filtered = await call(server.app, 'POST', '/api/v1/subscriptions', {
      external_url: other.url,
      event_types: ['*'],
      workflow_ids: ['wf-some-other-workflow'],
    })
    const templated = await receiver()
    const withTemplate = await call(server.app, 'POST', '/api/v1/subscriptions', {
      external_url: templated.url,
      event_types: ['execution_completed'],
      payload_template: {
        text: 'run ${event.execution_id} ended: ${event.data.output.n}',
        kind: '${event.type}',
      },
    })
    assert.equal(withTemplate.status, 201, JSON.stringify(withTemplate.body))
    const executionId = await run({ n: 3 })
    const failed = await eventually(
      () => call(server.app, 'GET', `/api/v1/subscriptions/${failing.body.subscription_id}/deliveries`),
      (answer) => answer.body.items[0]?.status === 'failed',
      { what: 'delivery failed after two attempts' },
    )
    assert.equal(failed.body.items[0].attempt_count, 2)
    assert.equal(down.received.length, 2)
    await eventually(
      () => templated.received.length,
      (n) => n === 1,
      { what: 'templated payload' },
    )
    assert.deepEqual(JSON.parse(templated.received[0]!.body), {
      text: `run ${executionId} ended: 3`,
      kind: 'execution_completed',
    })
    const none = await call(
      server.app,
      'GET',
      `/api/v1/subscriptions/${filtered.body.subscription_id}/deliveries`,
    )
    assert.equal(none.body.total, 0)
    assert.equal(other.received.length, 0)
    for (const id of [failing, filtered, withTemplate].map((a) => a.body.subscription_id)) {
      await call(server.app, 'DELETE', `/api/v1/subscriptions/${id}`)
    }
  })

  it('rejects bad subscriptions naming each field', async () => {
    const bad = await call(server.app, 'POST', '/api/v1/subscriptions', {
      external_url: 'ftp://nope',
      event_types: ['execution_exploded'],
      retry_config: { max_attempts: 0 },
      payload_template: { x: '${tasks.a}' },
    })
    assert.equal(bad.status, 422)
    const fields = bad.body.error.details.errors.map((e: { field: string }) => e.field)
    for (const field of ['external_url', 'event_types', 'retry_config.max_attempts', 'payload_template.x']) {
      assert.ok(fields.includes(field), `${field} in ${JSON.stringify(fields)}`)
    }
  })

  it('reads other names clients use for retries, event types and filters', async () => {
    const created = await call(server.app, 'POST', '/api/v1/subscriptions', {
      url: 'http://127.0.0.1:9/never',
      event_type: 'execution_failed',
      filters: { workflow_id: 'wf-1' },
      retry_config: { max_retries: 3, retry_delay: 2, timeout: 5 },
    })
    assert.equal(created.status, 201, JSON.stringify(created.body))
    assert.deepEqual(created.body.event_types, ['execution_failed'])
    assert.deepEqual(created.body.workflow_ids, ['wf-1'])
    assert.equal(created.body.retry_config.max_attempts, 4)
    assert.equal(created.body.retry_config.initial_delay_ms, 2000)
    assert.equal(created.body.retry_config.timeout_ms, 5000)
    const updated = await call(server.app, 'PUT', `/api/v1/subscriptions/${created.body.subscription_id}`, {
      enabled: false,
      secret: '***',
    })
    assert.equal(updated.status, 200)
    assert.equal(updated.body.enabled, false)
    assert.equal(updated.body.external_url, 'http://127.0.0.1:9/never')
    await call(server.app, 'DELETE', `/api/v1/subscriptions/${created.body.subscription_id}`)
    const gone = await call(server.app, 'GET', `/api/v1/subscriptions/${created.body.subscription_id}`)
    assert.equal(gone.status, 404)
  })

  it('sends a one-off signed call with notify.send from a workflow', async () => {
    const target = await receiver()
    target.plan = [503]
    const subscription = await call(server.app, 'POST', '/api/v1/subscriptions', {
      external_url: target.url,
      event_types: ['execution_paused'],
      secret: 'notify-secret-1',
    })
    const started = await call(server.app, 'POST', '/api/v1/executions?wait=true', {
      workflow: {
        name: 'announce',
        tasks: {
          tell: {
            name: 'tell',
            component: 'notify',
            action: 'send',
            retry: { max_attempts: 3, initial_delay_ms: 10 },
            input: {
              subscription_id: subscription.body.subscription_id,
              event: 'deploy_done',
              payload: { version: '${workflow.input.version}' },
            },
          },
          direct: {
            name: 'direct',
            component: 'notify',
            action: 'send',
            depends_on: ['tell'],
            input: { url: `${target.url}/direct`, secret: 'direct-secret', payload: { ok: true } },
          },
          aliased: {
            name: 'aliased',
            component: 'core',
            action: 'notify',
            depends_on: ['direct'],
            input: { url: `${target.url}/core`, payload: { via: 'core.notify' } },
          },
        },
        input: { version: { type: 'string' } },
      },
      input: { version: '1.2.3' },
    })
    assert.equal(started.body.status, 'completed', JSON.stringify(started.body))
    assert.equal(started.body.task_status.tell.output.status_code, 200)
    assert.equal(target.received.length, 4)
    const [first, second, direct, aliased] = target.received
    assert.equal(first!.headers['x-harmonia-delivery'], second!.headers['x-harmonia-delivery'])
    assert.ok(verifies(second!, 'notify-secret-1'))
    assert.deepEqual(JSON.parse(second!.body), { version: '1.2.3' })
    assert.equal(second!.headers['x-harmonia-event'], 'deploy_done')
    assert.ok(verifies(direct!, 'direct-secret'))
    assert.equal(direct!.path, '/direct')
    assert.equal(aliased!.path, '/core')
    assert.equal(aliased!.headers['x-harmonia-signature'], undefined, 'no secret, no signature')
  })
})
