/**
 * Inbound webhooks over real HTTP (the server listens on 127.0.0.1:0, API keys required for everything
 * but `/hooks/...`): a signed call starts an execution with the mapped input; a bad signature or a stale
 * timestamp gets 401 and starts nothing; a repeated delivery id starts nothing new; ?wait=true answers the
 * outputs; every call is recorded with secrets masked; the per-webhook rate limit; replay; the other auths.
 */
import assert from 'node:assert/strict'
import { createHmac } from 'node:crypto'
import { request as httpRequest } from 'node:http'
import { after, before, describe, it } from 'node:test'
import { silentLogger } from '../../src/core/logger.ts'
import { createTemplateService } from '../../src/templates/template-service.ts'
import { createWebhookService } from '../../src/triggers/webhooks.ts'
import { eventually, startTestServer, type TestServer } from '../api/support.ts'

const KEY = 'test-admin-key-0123456789'
const SECRET = 'whsec-test-secret'

interface Http {
  status: number
  body: any // eslint-disable-line @typescript-eslint/no-explicit-any -- tests read arbitrary JSON
}

describe('inbound webhooks', () => {
  let server: TestServer
  let workflowId: string
  let webhookId: string

  const api = async (
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<Http> => {
    const response = await fetch(`${server.baseUrl}${path}`, {
      method,
      headers: {
        'x-api-key': KEY,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        ...headers,
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    })
    const text = await response.text()
    return { status: response.status, body: text === '' ? undefined : JSON.parse(text) }
  }

  /** A call as a sender would make it: no Harmonia key; signed over the raw bytes. */
  const hook = async (
    path: string,
    raw: string,
    options: { secret?: string; timestamp?: number; headers?: Record<string, string>; sign?: boolean } = {},
  ): Promise<Http> => {
    const timestamp = options.timestamp ?? Math.floor(Date.now() / 1000)
    const signature = createHmac('sha256', options.secret ?? SECRET)
      .update(`${timestamp}.${raw}`)
      .digest('hex')
    const response = await fetch(`${server.baseUrl}${path}`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        ...(options.sign === false
          ? {}
          : { 'x-harmonia-signature': `sha256=${signature}`, 'x-harmonia-timestamp': String(timestamp) }),
        ...options.headers,
      },
      body: raw,
    })
    const text = await response.text()
    return { status: response.status, body: text === '' ? undefined : JSON.parse(text) }
  }

  const executionCount = async (): Promise<number> =>
    (await api('GET', `/api/v1/executions?workflow_id=${workflowId}&limit=1`)).body.total

  before(async () => {
    server = await startTestServer({
      listen: true,
      flags: { server: { apiKeys: [{ key: KEY, scope: 'admin', name: 'admin' }] } },
    })
    const created = await api('POST', '/api/v1/workflows', {
      name: 'on_push',
      tasks: {
        greet: {
          name: 'greet',
          component: 'core',
          action: 'transform',
          input: { repo: '${workflow.input.repo}', who: '${workflow.input.pusher}' },
        },
      },
      output: { summary: '${tasks.greet.output.who + " pushed to " + tasks.greet.output.repo}' },
    })
    assert.equal(created.status, 201, JSON.stringify(created.body))
    workflowId = created.body.workflow_id
    const webhook = await api('POST', '/api/v1/webhooks', {
      name: 'push',
      endpoint: '/github/push',
      workflow_id: workflowId,
      input_mapping: {
        repo: '${payload.repository.name}',
        pusher: 'payload.pusher.name',
        source: "${headers['user-agent']}",
      },
      auth_type: 'hmac',
      auth_config: { secret: SECRET },
      delivery_id_header: 'X-GitHub-Delivery',
    })
    assert.equal(webhook.status, 201, JSON.stringify(webhook.body))
    webhookId = webhook.body.webhook_id
  })
  after(() => server.close())

  it('masks secrets in answers and needs an API key for definitions', async () => {
    const shown = await api('GET', `/api/v1/webhooks/${webhookId}`)
    assert.equal(shown.body.auth_config.secret, '***')
    assert.equal(shown.body.endpoint, 'github/push')
    assert.equal(shown.body.hook_path, '/hooks/github/push')
    assert.ok(!JSON.stringify(shown.body).includes(SECRET))
    const listed = await api('GET', '/api/v1/webhooks')
    assert.ok(!JSON.stringify(listed.body).includes(SECRET))
    const anonymous = await fetch(`${server.baseUrl}/api/v1/webhooks`)
    assert.equal(anonymous.status, 401)
  })

  it('starts an execution for a signed call, without an API key, with the mapped input', async () => {
    const before = await executionCount()
    const raw = JSON.stringify({ repository: { name: 'harmonia' }, pusher: { name: 'ada' } })
    const answer = await hook('/hooks/github/push', raw, { headers: { 'user-agent': 'GitHub-Hookshot' } })
    assert.equal(answer.status, 202, JSON.stringify(answer.body))
    assert.match(answer.body.execution_id, /^exec-/)
    const detail = await eventually(
      () => api('GET', `/api/v1/executions/${answer.body.execution_id}`),
      (d) => d.body.status === 'completed',
      { what: 'webhook execution completed' },
    )
    assert.deepEqual(detail.body.input, { repo: 'harmonia', pusher: 'ada', source: 'GitHub-Hookshot' })
    assert.equal(await executionCount(), before + 1)
  })

  it('also answers under /api/v1/hooks and waits for the outputs with ?wait=true', async () => {
    const raw = JSON.stringify({ repository: { name: 'engine' }, pusher: { name: 'grace' } })
    const answer = await hook('/api/v1/hooks/github/push?wait=true&timeout=20', raw)
    assert.equal(answer.status, 200, JSON.stringify(answer.body))
    assert.equal(answer.body.status, 'completed')
    assert.deepEqual(answer.body.output, { summary: 'grace pushed to engine' })
  })

  it('refuses a bad signature, a missing one and a stale timestamp with 401, starting nothing', async () => {
    const before = await executionCount()
    const raw = JSON.stringify({ repository: { name: 'x' }, pusher: { name: 'mallory' } })
    const wrongKey = await hook('/hooks/github/push', raw, { secret: 'not-the-secret' })
    assert.equal(wrongKey.status, 401)
    assert.equal(wrongKey.body.error.code, 'authentication_failed')
    assert.match(wrongKey.body.error.message, /signature/)
    const unsigned = await hook('/hooks/github/push', raw, { sign: false })
    assert.equal(unsigned.status, 401)
    const stale = await hook('/hooks/github/push', raw, { timestamp: Math.floor(Date.now() / 1000) - 3600 })
    assert.equal(stale.status, 401)
    assert.match(stale.body.error.message, /timestamp/)
    // The body changed after signing: the signature covers the raw bytes.
    const timestamp = Math.floor(Date.now() / 1000)
    const signature = createHmac('sha256', SECRET).update(`${timestamp}.${raw}`).digest('hex')
    const tampered = await fetch(`${server.baseUrl}/hooks/github/push`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-harmonia-signature': `sha256=${signature}`,
        'x-harmonia-timestamp': String(timestamp),
      },
      body: raw.replace('mallory', 'admin'),
    })
    assert.equal(tampered.status, 401)
    assert.equal(await executionCount(), before)
    const calls = await api('GET', `/api/v1/webhooks/${webhookId}/calls?limit=4`)
    assert.equal(calls.body.items.length, 4)
    for (const call of calls.body.items) {
      assert.equal(call.result, 'rejected')
      assert.equal(call.execution_id, null)
      assert.equal(call.error.code, 'authentication_failed')
    }
  })

  it('starts one execution for repeated deliveries of one delivery id', async () => {
    const before = await executionCount()
    const raw = JSON.stringify({ repository: { name: 'dup' }, pusher: { name: 'ada' } })
    const first = await hook('/hooks/github/push', raw, { headers: { 'x-github-delivery': 'delivery-1' } })
    assert.equal(first.status, 202)
    const again = await hook('/hooks/github/push', raw, { headers: { 'x-github-delivery': 'delivery-1' } })
    assert.equal(again.status, 200)
    assert.equal(again.body.duplicate, true)
    assert.equal(again.body.execution_id, first.body.execution_id)
    const viaIdempotencyKey = await hook('/hooks/github/push', raw, { headers: { 'idempotency-key': 'k-1' } })
    const repeated = await hook('/hooks/github/push', raw, { headers: { 'idempotency-key': 'k-1' } })
    assert.equal(repeated.body.execution_id, viaIdempotencyKey.body.execution_id)
    assert.equal(await executionCount(), before + 2)
    const calls = await api('GET', `/api/v1/webhooks/${webhookId}/calls?limit=4`)
    assert.deepEqual(
      calls.body.items.map((c: { result: string }) => c.result),
      ['duplicate', 'started', 'duplicate', 'started'],
    )
  })

  it('knows the usual delivery-id headers without configuration', async () => {
    const created = await api('POST', '/api/v1/webhooks', {
      name: 'plain dedupe',
      endpoint: 'dedupe',
      workflow_id: workflowId,
      input_mapping: { repo: 'payload.repo', pusher: 'payload.who' },
    })
    assert.equal(created.status, 201)
    const raw = JSON.stringify({ repo: 'd', who: 'e' })
    for (const header of ['x-delivery-id', 'x-harmonia-delivery']) {
      const first = await hook('/hooks/dedupe', raw, { sign: false, headers: { [header]: `id-${header}` } })
      const second = await hook('/hooks/dedupe', raw, { sign: false, headers: { [header]: `id-${header}` } })
      assert.equal(first.status, 202)
      assert.equal(second.status, 200)
      assert.equal(second.body.execution_id, first.body.execution_id)
    }
  })

  it('records each call: payload, headers with secrets masked, source ip, result and execution', async () => {
    const calls = await api('GET', `/api/v1/webhooks/${webhookId}/calls?limit=100`)
    const started = calls.body.items.find((c: { result: string }) => c.result === 'started')
    assert.ok(started !== undefined)
    assert.equal(started.source_ip, '127.0.0.1')
    assert.equal(started.headers['x-harmonia-signature'], '***')
    assert.match(started.headers['x-harmonia-timestamp'], /^\d+$/)
    assert.equal(typeof started.payload, 'object')
    assert.match(started.execution_id, /^exec-/)
    assert.equal(started.status_code, 202)
    // Refused calls note the status they were answered with, beside the error.
    const rejected = calls.body.items.find((c: { result: string }) => c.result === 'rejected')
    assert.ok(rejected !== undefined, 'the refused calls of the earlier test are recorded')
    assert.equal(rejected.status_code, 401)
    assert.equal(rejected.error.code, 'authentication_failed')
    assert.ok(!JSON.stringify(calls.body).includes(SECRET))
  })

  it('replays a payload with POST /webhooks/{id}/deliver', async () => {
    const answer = await api('POST', `/api/v1/webhooks/${webhookId}/deliver?wait=true`, {
      payload: { repository: { name: 'replayed' }, pusher: { name: 'lin' } },
      headers: { 'user-agent': 'replay-tool' },
    })
    assert.equal(answer.status, 200, JSON.stringify(answer.body))
    assert.deepEqual(answer.body.output, { summary: 'lin pushed to replayed' })
    const calls = await api('GET', `/api/v1/webhooks/${webhookId}/calls?limit=1`)
    assert.equal(calls.body.items[0].source, 'replay')
    assert.equal(calls.body.items[0].execution_id, answer.body.execution_id)
  })

  it('limits calls per webhook, refuses disabled webhooks, and checks basic, bearer and api_key auth', async () => {
    const make = async (endpoint: string, extra: object) => {
      const created = await api('POST', '/api/v1/webhooks', {
        name: endpoint,
        endpoint,
        workflow_id: workflowId,
        input_mapping: { repo: 'payload.repo', pusher: "${default(payload.who, 'nobody')}" },
        ...extra,
      })
      assert.equal(created.status, 201, JSON.stringify(created.body))
      return created.body
    }
    const post = (path: string, headers: Record<string, string> = {}) =>
      hook(path, JSON.stringify({ repo: 'r' }), { sign: false, headers })

    await make('limited', { rate_limit_per_minute: 2 })
    assert.equal((await post('/hooks/limited')).status, 202)
    assert.equal((await post('/hooks/limited')).status, 202)
    const limited = await post('/hooks/limited')
    assert.equal(limited.status, 429)
    assert.equal(limited.body.error.code, 'rate_limit_exceeded')

    const off = await make('off', { enabled: false })
    assert.equal((await post('/hooks/off')).status, 409)
    assert.equal((await api('PUT', `/api/v1/webhooks/${off.webhook_id}`, { enabled: true })).status, 200)
    assert.equal((await post('/hooks/off')).status, 202)

    await make('basic', { auth_type: 'basic', auth_config: { username: 'u', password: 'p4ss' } })
    const basic = (user: string, pass: string) => ({
      authorization: `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`,
    })
    assert.equal((await post('/hooks/basic', basic('u', 'wrong'))).status, 401)
    assert.equal((await post('/hooks/basic', basic('u', 'p4ss'))).status, 202)

    await make('bearer', { auth_type: 'bearer', auth_config: { token: 'tok-123' } })
    assert.equal((await post('/hooks/bearer')).status, 401)
    assert.equal((await post('/hooks/bearer', { authorization: 'Bearer tok-123' })).status, 202)

    const keyed = await make('keyed', {
      auth_type: 'api_key',
      auth_config: { header: 'X-Hook-Key', key: 'k-9' },
    })
    assert.equal(keyed.auth_config.key, '***')
    assert.equal((await post('/hooks/keyed', { 'x-hook-key': 'nope' })).status, 401)
    assert.equal((await post('/hooks/keyed', { 'x-hook-key': 'k-9' })).status, 202)
    // An update that sends the mask back keeps the secret.
    const kept = await api('PUT', `/api/v1/webhooks/${keyed.webhook_id}`, {
      auth_config: { header: 'X-Hook-Key', key: '***' },
    })
    assert.equal(kept.status, 200)
    assert.equal((await post('/hooks/keyed', { 'x-hook-key': 'k-9' })).status, 202)

    assert.equal((await post('/hooks/nowhere')).status, 404)
  })

  it('rejects bad definitions naming every field, and taken endpoints', async () => {
    const bad = await api('POST', '/api/v1/webhooks', {
      name: 'bad',
      endpoint: 'has space',
      workflow_id: workflowId,
      auth_type: 'hmac',
      input_mapping: { x: '${payload.}', y: '${tasks.a.output}' },
    })
    assert.equal(bad.status, 422)
    const fields = bad.body.error.details.errors.map((e: { field: string }) => e.field)
    for (const field of ['endpoint', 'auth_config.secret', 'input_mapping.x', 'input_mapping.y']) {
      assert.ok(fields.includes(field), `${field} in ${JSON.stringify(fields)}`)
    }
    const taken = await api('POST', '/api/v1/webhooks', {
      name: 'again',
      endpoint: 'github/push',
      workflow_id: workflowId,
    })
    assert.equal(taken.status, 409)
    const missing = await api('POST', '/api/v1/webhooks', {
      name: 'x',
      endpoint: 'x',
      workflow_id: 'wf-nope',
    })
    assert.equal(missing.status, 422)
    assert.match(missing.body.error.message, /wf-nope/)
  })

  it('accepts the usual HMAC forms, and can insist on a timestamp', async () => {
    const make = async (endpoint: string, authConfig: object) => {
      const created = await api('POST', '/api/v1/webhooks', {
        name: endpoint,
        endpoint,
        workflow_id: workflowId,
        input_mapping: { repo: 'payload.repo', pusher: 'payload.who' },
        auth_type: 'hmac',
        auth_config: { secret: SECRET, ...authConfig },
      })
      assert.equal(created.status, 201, JSON.stringify(created.body))
    }
    const raw = JSON.stringify({ repo: 'forms', who: 'sig' })
    const digest = (signed: string) => createHmac('sha256', SECRET).update(signed).digest()
    const send = (path: string, headers: Record<string, string>) => hook(path, raw, { sign: false, headers })

    // GitHub style: the body alone, in a header of its own.
    await make('github/style', { header: 'X-Hub-Signature-256' })
    const bodyOnly = `sha256=${digest(raw).toString('hex')}`
    assert.equal((await send('/hooks/github/style', { 'x-hub-signature-256': bodyOnly })).status, 202)
    assert.equal(
      (await send('/hooks/github/style', { 'x-hub-signature-256': digest(raw).toString('base64') })).status,
      202,
    )
    // A timestamp, when sent, is checked (in seconds or milliseconds).
    const nowMs = Date.now()
    const inMs = `sha256=${digest(`${nowMs}.${raw}`).toString('hex')}`
    assert.equal(
      (
        await send('/hooks/github/style', {
          'x-hub-signature-256': inMs,
          'x-harmonia-timestamp': String(nowMs),
        })
      ).status,
      202,
    )
    const old = String(Math.floor(nowMs / 1000) - 600)
    const stale = await send('/hooks/github/style', {
      'x-hub-signature-256': `sha256=${digest(`${old}.${raw}`).toString('hex')}`,
      'x-harmonia-timestamp': old,
    })
    assert.equal(stale.status, 401)

    await make('strict', { require_timestamp: true })
    const strict = await send('/hooks/strict', { 'x-harmonia-signature': bodyOnly })
    assert.equal(strict.status, 401)
    assert.match(strict.body.error.message, /X-Harmonia-Timestamp/)
    const bad = await api('POST', '/api/v1/webhooks', {
      name: 'x',
      endpoint: 'x/strict',
      workflow_id: workflowId,
      auth_type: 'hmac',
      auth_config: { secret: SECRET, require_timestamp: true, timestamp_header: null },
    })
    assert.equal(bad.status, 422)
  })

  it('signs any body type: text without a content type is checked over its raw bytes and given as text', async () => {
    const created = await api('POST', '/api/v1/webhooks', {
      name: 'plain',
      endpoint: 'plain/text',
      workflow_id: workflowId,
      input_mapping: { repo: '${payload}', pusher: "${headers['x-who']}" },
      auth_type: 'hmac',
      auth_config: { secret: SECRET, header: 'X-Signature', timestamp_header: null },
    })
    assert.equal(created.status, 201, JSON.stringify(created.body))
    const raw = 'just some text \u00e9'
    const signature = createHmac('sha256', SECRET).update(Buffer.from(raw, 'utf8')).digest('hex')
    const post = (signed: string, headers: Record<string, string> = {}) =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        // node:http, so that no content-type header is added.
        const url = new URL(`${server.baseUrl}/hooks/plain/text?wait=true`)
        const req = httpRequest(
          url,
          { method: 'POST', headers: { 'x-signature': signed, 'x-who': 'cli', ...headers } },
          (res) => {
            let body = ''
            res.on('data', (chunk: Buffer) => (body += chunk.toString()))
            res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
          },
        )
        req.on('error', reject)
        req.end(Buffer.from(raw, 'utf8'))
      })
    assert.equal((await post('0'.repeat(64))).status, 401)
    const ok = await post(signature)
    assert.equal(ok.status, 200, ok.body)
    assert.deepEqual(JSON.parse(ok.body).output, { summary: `cli pushed to ${raw}` })
    const typed = await post(signature, { 'content-type': 'text/plain; charset=utf-8' })
    assert.equal(typed.status, 200, typed.body)
  })

  it('instantiates a template with the mapped parameters', async () => {
    const templates = createTemplateService({ store: server.harmonia.store })
    const template = await templates.create({
      name: 'Echo a word',
      parameters: { word: { type: 'string', required: true } },
      workflow_definition: {
        name: 'echo_word',
        tasks: {
          say: {
            component: 'core',
            action: 'transform',
            input: { said: '${param.word}', n: '${workflow.input.n}' },
          },
        },
        input: { n: { type: 'integer' } },
        output: { said: '${tasks.say.output.said}', n: '${tasks.say.output.n}' },
      },
    })
    const created = await api('POST', '/api/v1/webhooks', {
      name: 'from template',
      endpoint: 'templated',
      template_id: template.template_id,
      input_mapping: { word: 'payload.word', n: 'payload.n' },
    })
    assert.equal(created.status, 201, JSON.stringify(created.body))
    const answer = await hook('/hooks/templated?wait=true', JSON.stringify({ word: 'hi', n: 2 }), {
      sign: false,
    })
    assert.equal(answer.status, 200, JSON.stringify(answer.body))
    assert.deepEqual(answer.body.output, { said: 'hi', n: 2 })
  })

  it("also reads the reference's mapping form, payload path → input name", async () => {
    const created = await api('POST', '/api/v1/webhooks', {
      name: 'reversed',
      endpoint: 'reversed',
      workflow_id: workflowId,
      input_mapping: { 'repository.name': 'repo', 'sender.login': 'pusher' },
    })
    assert.equal(created.status, 201, JSON.stringify(created.body))
    const raw = JSON.stringify({ repository: { name: 'rev' }, sender: { login: 'zoe' } })
    const answer = await hook('/hooks/reversed?wait=true', raw, { sign: false })
    assert.equal(answer.status, 200, JSON.stringify(answer.body))
    assert.deepEqual(answer.body.output, { summary: 'zoe pushed to rev' })

    // A whole mapping of paths to plain names is that form too, undotted keys included.
    const plain = await api('POST', '/api/v1/webhooks', {
      name: 'reversed-plain',
      endpoint: 'reversed-plain',
      workflow_id: workflowId,
      input_mapping: { 'repository.name': 'repo', login: 'pusher' },
    })
    assert.equal(plain.status, 201, JSON.stringify(plain.body))
    const second = await hook(
      '/hooks/reversed-plain?wait=true',
      JSON.stringify({ repository: { name: 'top' }, login: 'amy' }),
      { sign: false },
    )
    assert.equal(second.status, 200, JSON.stringify(second.body))
    assert.deepEqual(second.body.output, { summary: 'amy pushed to top' })
  })

  it('keeps only the newest call records of a webhook', async () => {
    const service = createWebhookService({
      store: server.harmonia.store,
      engine: server.harmonia.engine,
      logger: silentLogger,
      maxRecordedCalls: 3,
    })
    const webhook = await service.create({ name: 'few', endpoint: 'few', workflow_id: workflowId })
    const id = String(webhook['webhook_id'])
    for (let i = 0; i < 7; i++) {
      await service.receive({
        endpoint: 'few',
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        query: {},
        rawBody: Buffer.from(JSON.stringify({ repo: `r${i}`, pusher: 'p' })),
        sourceIp: '127.0.0.1',
      })
    }
    const calls = await service.listCalls(id, { limit: 100 })
    assert.ok(calls.total <= 4, `at most the cap plus the calls since the last prune, got ${calls.total}`)
    assert.equal((calls.items[0]!['payload'] as { repo: string }).repo, 'r6')
  })
})
