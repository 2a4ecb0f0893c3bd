/**
 * `harmonia webhooks ...`, `harmonia subscriptions ...` and `harmonia triggers ...` as a child process
 * against a real server on 127.0.0.1:0: create, list, get and delete in each group; a webhook `deliver`
 * that starts an execution mapped from the payload; a subscription whose receiver (a real HTTP server on
 * 127.0.0.1) gets a signed delivery, listed and redelivered by the CLI; a trigger that starts its target;
 * secrets never printed; bad arguments exit 2 naming the option, server refusals exit 1.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { HarmoniaClient } from '../../src/client/index.ts'
import { eventually, startTestServer, type TestServer } from '../api/support.ts'
import { Receiver, verifies } from '../triggers/notifications-receiver.ts'
import { cliEnv, makeTempDir, removeDir, runCli } from './cli-harness.ts'

let server: TestServer
let client: HarmoniaClient
let dir: string
let env: Record<string, string>

before(async () => {
  server = await startTestServer({ listen: true })
  client = new HarmoniaClient({ baseUrl: server.baseUrl })
  dir = await makeTempDir()
  env = cliEnv({ HARMONIA_URL: server.baseUrl })
})
after(async () => {
  await server.close()
  await removeDir(dir)
})

const run = (args: string[]) => runCli(args, { cwd: dir, env })

/** A workflow whose output greets `input.who`. */
async function greeter(name: string): Promise<string> {
  const workflow = await client.workflows.create({
    name,
    input: { who: { type: 'string', default: 'nobody' } },
    tasks: {
      hello: {
        name: 'hello',
        component: 'core',
        action: 'echo',
        input: { message: 'Hello ${workflow.input.who}' },
      },
    },
    output: { message: '${tasks.hello.output.message}' },
  })
  return workflow.workflow_id
}

describe('harmonia webhooks', () => {
  const secret = 'webhook-secret-0451'

  it('creates, lists, gets, delivers (starting an execution), lists calls and deletes a webhook', async () => {
    const workflowId = await greeter('hooked')
    const created = await run([
      'webhooks',
      'create',
      '--endpoint',
      'ci/build',
      '--workflow',
      workflowId,
      '--auth',
      'hmac',
      '--secret',
      secret,
      '--map',
      'who=${payload.user.name}',
      '--json',
    ])
    assert.equal(created.code, 0, created.stderr)
    assert.ok(!created.stdout.includes(secret), created.stdout)
    const webhook = JSON.parse(created.stdout) as {
      webhook_id: string
      endpoint: string
      auth_type: string
      auth_config: { secret: string }
      input_mapping: Record<string, string>
      workflow_id: string
    }
    assert.equal(webhook.endpoint, 'ci/build')
    assert.equal(webhook.workflow_id, workflowId)
    assert.equal(webhook.auth_type, 'hmac')
    assert.equal(webhook.auth_config.secret, '***')
    assert.deepEqual(webhook.input_mapping, { who: '${payload.user.name}' })

    const list = await run(['webhooks', 'list'])
    assert.equal(list.code, 0, list.stderr)
    assert.match(list.stdout, /WEBHOOK\s+ENDPOINT/)
    assert.match(
      list.stdout,
      new RegExp(`${webhook.webhook_id}\\s+ci/build\\s+workflow ${workflowId}\\s+hmac`),
    )

    const got = await run(['webhooks', 'get', webhook.webhook_id])
    assert.equal(got.code, 0, got.stderr)
    assert.match(got.stdout, /input mapping:\s+who=\$\{payload\.user\.name\}/)
    assert.match(got.stdout, new RegExp(`url:\\s+POST ${server.baseUrl}/hooks/ci/build`))
    assert.match(got.stdout, /auth:\s+hmac/)
    assert.ok(!got.stdout.includes(secret), got.stdout)
    const gotJson = await run(['webhooks', 'get', webhook.webhook_id, '--json'])
    assert.equal(gotJson.code, 0, gotJson.stderr)
    assert.ok(!gotJson.stdout.includes(secret), gotJson.stdout)
    assert.equal((JSON.parse(gotJson.stdout) as { webhook_id: string }).webhook_id, webhook.webhook_id)

    const delivered = await run([
      'webhooks',
      'deliver',
      webhook.webhook_id,
      '--payload',
      '{"user": {"name": "Ada"}}',
      '--json',
    ])
    assert.equal(delivered.code, 0, delivered.stderr)
    const answer = JSON.parse(delivered.stdout) as { execution_id: string }
    const finished = await client.waitForExecution(answer.execution_id, { timeoutMs: 10_000 })
    assert.equal(finished.status, 'completed')
    assert.deepEqual(finished.output, { message: 'Hello Ada' })

    const plain = await run([
      'webhooks',
      'deliver',
      webhook.webhook_id,
      '--payload',
      '{"user": {"name": "Bo"}}',
    ])
    assert.equal(plain.code, 0, plain.stderr)
    const second = /execution (\S+) started/.exec(plain.stdout)?.[1]
    assert.ok(second !== undefined, plain.stdout)
    assert.deepEqual((await client.waitForExecution(second, { timeoutMs: 10_000 })).output, {
      message: 'Hello Bo',
    })

    const calls = await run(['webhooks', 'calls', webhook.webhook_id])
    assert.equal(calls.code, 0, calls.stderr)
    assert.match(calls.stdout, new RegExp(`replay\\s+started\\s+202\\s+${answer.execution_id}`))
    assert.match(calls.stdout, new RegExp(second))

    const deleted = await run(['webhooks', 'delete', webhook.webhook_id])
    assert.equal(deleted.code, 0, deleted.stderr)
    assert.equal(deleted.stdout, `webhook ${webhook.webhook_id} deleted\n`)
    const gone = await run(['webhooks', 'get', webhook.webhook_id])
    assert.equal(gone.code, 1, gone.stderr)
    assert.match(gone.stderr, /not found/i)
    assert.equal((await run(['webhooks', 'list'])).stdout, 'no webhooks\n')
  })

  it('refuses bad arguments with exit 2, naming the option, and never echoes the secret', async () => {
    const workflowId = await greeter('hooked_bad_args')
    const cases: Array<{ args: string[]; names: RegExp }> = [
      { args: ['webhooks', 'create', '--workflow', workflowId], names: /--endpoint/ },
      { args: ['webhooks', 'create', '--endpoint', 'x'], names: /--workflow.*--template/ },
      {
        args: ['webhooks', 'create', '--endpoint', 'x', '--workflow', workflowId, '--auth', 'hmac'],
        names: /--secret/,
      },
      {
        args: ['webhooks', 'create', '--endpoint', 'x', '--workflow', workflowId, '--secret', secret],
        names: /--secret needs --auth/,
      },
      {
        args: ['webhooks', 'create', '--endpoint', 'x', '--workflow', workflowId, '--auth', 'magic'],
        names: /--auth/,
      },
      {
        args: ['webhooks', 'create', '--endpoint', 'x', '--workflow', workflowId, '--map', 'no-equals'],
        names: /--map/,
      },
      { args: ['webhooks', 'deliver', 'wh-any', '--payload', '{not json'], names: /--payload/ },
      { args: ['webhooks', 'calls', 'wh-any', '--limit', '0'], names: /--limit/ },
    ]
    for (const { args, names } of cases) {
      const result = await run(args)
      assert.equal(result.code, 2, `${args.join(' ')}\n${result.stderr}`)
      assert.match(result.stderr, names, args.join(' '))
      assert.ok(!result.stderr.includes(secret) && !result.stdout.includes(secret), result.stderr)
    }
    // The server's own checks: an expression that does not compile, a missing workflow (exit 2).
    const badExpression = await run([
      'webhooks',
      'create',
      '--endpoint',
      'bad/expression',
      '--workflow',
      workflowId,
      '--map',
      'who=${payload.(}',
    ])
    assert.equal(badExpression.code, 2, badExpression.stderr)
    assert.match(badExpression.stderr, /input_mapping/)
    const missing = await run(['webhooks', 'create', '--endpoint', 'x', '--workflow', 'wf-missing'])
    assert.equal(missing.code, 2, missing.stderr)
    assert.match(missing.stderr, /wf-missing/)
    // Not found on the server: exit 1.
    const unknown = await run(['webhooks', 'deliver', 'wh-missing'])
    assert.equal(unknown.code, 1, unknown.stderr)
    assert.equal((await client.webhooks.list()).total, 0)
  })
})

describe('harmonia subscriptions', () => {
  const secret = 'subscription-secret-7781'
  let receiver: Receiver
  before(async () => {
    receiver = await new Receiver().start()
  })
  after(() => receiver.stop())

  it('creates, lists and gets a subscription; its receiver gets a signed delivery, listed and redelivered', async () => {
    const workflowId = await greeter('notified')
    const created = await run([
      'subscriptions',
      'create',
      '--url',
      `${receiver.url}/harmonia`,
      '--event',
      'execution_completed',
      '--workflow',
      workflowId,
      '--secret',
      secret,
      '--name',
      'completions',
    ])
    assert.equal(created.code, 0, created.stderr)
    assert.ok(!created.stdout.includes(secret), created.stdout)
    const subscriptionId = /^subscription (\S+) /.exec(created.stdout)?.[1]
    assert.ok(subscriptionId !== undefined, created.stdout)
    assert.match(created.stdout, new RegExp(`on execution_completed of ${workflowId}; enabled`))

    const list = await run(['subscriptions', 'list'])
    assert.equal(list.code, 0, list.stderr)
    assert.match(
      list.stdout,
      new RegExp(
        `${subscriptionId}\\s+${receiver.url}/harmonia\\s+execution_completed\\s+${workflowId}\\s+yes`,
      ),
    )
    const listJson = await run(['subscriptions', 'list', '--json'])
    assert.equal((JSON.parse(listJson.stdout) as { total: number }).total, 1)
    assert.ok(!listJson.stdout.includes(secret), listJson.stdout)

    const got = await run(['subscriptions', 'get', subscriptionId])
    assert.equal(got.code, 0, got.stderr)
    assert.match(got.stdout, /name:\s+completions/)
    assert.match(got.stdout, /events:\s+execution_completed/)
    assert.ok(!got.stdout.includes(secret), got.stdout)
    const gotJson = JSON.parse((await run(['subscriptions', 'get', subscriptionId, '--json'])).stdout) as {
      secret: string
      workflow_ids: string[]
    }
    assert.equal(gotJson.secret, '***')
    assert.deepEqual(gotJson.workflow_ids, [workflowId])

    const execution = await client.executions.start({ workflow_id: workflowId, input: { who: 'Ada' } })
    await client.waitForExecution(execution.execution_id, { timeoutMs: 10_000 })
    const [delivery] = (
      await eventually(
        () => client.subscriptions.deliveries(subscriptionId),
        (page) => page.items[0]?.status === 'succeeded',
        { what: 'the completion delivered' },
      )
    ).items
    assert.equal(receiver.accepted.length, 1)
    const request = receiver.accepted[0]!
    assert.equal(request.path, '/harmonia')
    assert.ok(verifies(request, secret), 'signed with the --secret given')
    const body = JSON.parse(request.body) as { type: string; execution_id: string }
    assert.equal(body.type, 'execution_completed')
    assert.equal(body.execution_id, execution.execution_id)

    const deliveries = await run(['subscriptions', 'deliveries', subscriptionId])
    assert.equal(deliveries.code, 0, deliveries.stderr)
    assert.match(
      deliveries.stdout,
      new RegExp(
        `${delivery!.delivery_id}\\s+execution_completed\\s+${execution.execution_id}\\s+succeeded\\s+1\\s+200`,
      ),
    )
    const failedOnly = await run(['subscriptions', 'deliveries', subscriptionId, '--status', 'failed'])
    assert.equal(failedOnly.stdout, `subscription ${subscriptionId} has no deliveries\n`)

    const again = await run(['subscriptions', 'redeliver', subscriptionId, delivery!.delivery_id, '--json'])
    assert.equal(again.code, 0, again.stderr)
    const redelivery = JSON.parse(again.stdout) as { delivery_id: string; redelivery_of: string }
    assert.equal(redelivery.redelivery_of, delivery!.delivery_id)
    await eventually(
      () => receiver.accepted.length,
      (count) => count === 2,
      { what: 'the redelivery received' },
    )
    assert.ok(verifies(receiver.accepted[1]!, secret))
    assert.equal(
      (JSON.parse(receiver.accepted[1]!.body) as { execution_id: string }).execution_id,
      execution.execution_id,
    )

    const deleted = await run(['subscriptions', 'delete', subscriptionId])
    assert.equal(deleted.code, 0, deleted.stderr)
    assert.equal(deleted.stdout, `subscription ${subscriptionId} deleted\n`)
    assert.equal((await run(['subscriptions', 'list'])).stdout, 'no subscriptions\n')
  })

  it('prints a secret the server generated once, at create; never one that was passed', async () => {
    const text = await run(['subscriptions', 'create', '--url', `${receiver.url}/a`, '--event', '*'])
    assert.equal(text.code, 0, text.stderr)
    const shown =
      /signing secret \(generated; shown only now, keep it to verify X-Harmonia-Signature\): (\S+)\n/.exec(
        text.stdout,
      )
    assert.ok(shown !== null, text.stdout)
    assert.ok(shown[1]!.length >= 16 && shown[1] !== '***', 'the generated secret itself is shown')
    const textId = /subscription (\S+)/.exec(text.stdout)?.[1]
    assert.ok(textId !== undefined, text.stdout)
    const later = await run(['subscriptions', 'get', textId])
    assert.equal(later.code, 0, later.stderr)
    assert.ok(!later.stdout.includes(shown[1]!), 'get never shows it again')
    const json = await run([
      'subscriptions',
      'create',
      '--url',
      `${receiver.url}/b`,
      '--event',
      'execution_started,execution_failed',
      '--json',
    ])
    assert.equal(json.code, 0, json.stderr)
    const created = JSON.parse(json.stdout) as {
      subscription_id: string
      secret: string
      event_types: string[]
    }
    assert.ok(
      created.secret.length >= 16 && created.secret !== '***',
      'create --json shows the generated secret',
    )
    assert.deepEqual(created.event_types, ['execution_started', 'execution_failed'])
    for (const subscription of (await client.subscriptions.list()).items) {
      await client.subscriptions.delete(subscription.subscription_id)
    }
  })

  it('refuses bad arguments with exit 2, naming the option', async () => {
    const cases: Array<{ args: string[]; names: RegExp }> = [
      { args: ['subscriptions', 'create', '--url', `${receiver.url}/x`], names: /--event/ },
      { args: ['subscriptions', 'create', '--event', '*'], names: /--url/ },
      { args: ['subscriptions', 'deliveries', 'sub-any', '--status', 'lost'], names: /--status/ },
      { args: ['subscriptions', 'redeliver', 'sub-any'], names: /delivery_id/ },
      // The server's checks, naming the field.
      {
        args: ['subscriptions', 'create', '--url', `${receiver.url}/x`, '--event', 'nope'],
        names: /event_types/,
      },
      {
        args: ['subscriptions', 'create', '--url', `${receiver.url}/x`, '--event', '*', '--secret', 'short'],
        names: /secret: expected a string of at least 8/,
      },
    ]
    for (const { args, names } of cases) {
      const result = await run(args)
      assert.equal(result.code, 2, `${args.join(' ')}\n${result.stderr}`)
      assert.match(result.stderr, names, args.join(' '))
    }
    const unknown = await run(['subscriptions', 'get', 'sub-missing'])
    assert.equal(unknown.code, 1, unknown.stderr)
    assert.equal((await client.subscriptions.list()).total, 0)
  })
})

describe('harmonia triggers', () => {
  it('creates, lists, gets and deletes a trigger that starts its target', async () => {
    const source = await greeter('trigger_source')
    const target = await greeter('trigger_target')
    const created = await run([
      'triggers',
      'create',
      '--source',
      source,
      '--target',
      target,
      '--on',
      'completed',
      '--map',
      'who=${output.message}',
      '--name',
      'chain',
      '--json',
    ])
    assert.equal(created.code, 0, created.stderr)
    const trigger = JSON.parse(created.stdout) as {
      trigger_id: string
      source_workflow_id: string
      workflow_id: string
      on: string[]
      input_mapping: Record<string, string>
    }
    assert.equal(trigger.source_workflow_id, source)
    assert.equal(trigger.workflow_id, target)
    assert.deepEqual(trigger.on, ['completed'])
    assert.deepEqual(trigger.input_mapping, { who: '${output.message}' })

    const list = await run(['triggers', 'list'])
    assert.equal(list.code, 0, list.stderr)
    assert.match(
      list.stdout,
      new RegExp(`${trigger.trigger_id}\\s+${source}\\s+completed\\s+${target}\\s+yes`),
    )
    const got = await run(['triggers', 'get', trigger.trigger_id])
    assert.equal(got.code, 0, got.stderr)
    assert.match(got.stdout, /name:\s+chain/)
    assert.match(got.stdout, /input mapping:\s+who=\$\{output\.message\}/)

    const execution = await client.executions.start({ workflow_id: source, input: { who: 'Ada' } })
    await client.waitForExecution(execution.execution_id, { timeoutMs: 10_000 })
    const runs = await eventually(
      () => client.triggers.runs(trigger.trigger_id),
      (answer) => answer.total === 1,
      { what: 'the target started' },
    )
    const started = String(runs.items[0]!['execution_id'])
    assert.deepEqual((await client.waitForExecution(started, { timeoutMs: 10_000 })).output, {
      message: 'Hello Hello Ada',
    })

    const both = await run([
      'triggers',
      'create',
      '--source',
      source,
      '--target',
      target,
      '--on',
      'completed,failed',
    ])
    assert.equal(both.code, 0, both.stderr)
    assert.match(
      both.stdout,
      new RegExp(`when an execution of ${source} completed or failed, start ${target}`),
    )
    const bothId = /^trigger (\S+):/.exec(both.stdout)?.[1]
    assert.ok(bothId !== undefined, both.stdout)

    for (const id of [trigger.trigger_id, bothId]) {
      const deleted = await run(['triggers', 'delete', id])
      assert.equal(deleted.code, 0, deleted.stderr)
      assert.equal(deleted.stdout, `trigger ${id} deleted\n`)
    }
    assert.equal((await run(['triggers', 'list'])).stdout, 'no triggers\n')
  })

  it('refuses bad arguments with exit 2, naming the option', async () => {
    const cases: Array<{ args: string[]; names: RegExp }> = [
      {
        args: ['triggers', 'create', '--source', 'a', '--target', 'b', '--on', 'finished'],
        names: /--on 'finished'/,
      },
      { args: ['triggers', 'create', '--source', 'a', '--on', 'completed'], names: /--target/ },
      { args: ['triggers', 'create', '--source', 'a', '--target', 'b'], names: /--on/ },
      {
        args: ['triggers', 'create', '--source', 'a', '--target', 'b', '--on', 'failed', '--map', '=x'],
        names: /--map/,
      },
    ]
    for (const { args, names } of cases) {
      const result = await run(args)
      assert.equal(result.code, 2, `${args.join(' ')}\n${result.stderr}`)
      assert.match(result.stderr, names, args.join(' '))
    }
    const unknown = await run(['triggers', 'delete', 'trigger-missing'])
    assert.equal(unknown.code, 1, unknown.stderr)
    assert.equal((await client.triggers.list()).total, 0)
  })
})
