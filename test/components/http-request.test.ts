import assert from 'node:assert/strict'
import { once } from 'node:events'
import { after, before, describe, test } from 'node:test'
import { TaskFailure } from '../../src/core/errors.ts'
import type { JsonValue } from '../../src/core/model.ts'
import {
  createComponentRegistry,
  invokeAction,
  isPrivateAddress,
  registerBuiltins,
  type ComponentRegistry,
  type HttpComponentOptions,
} from '../../src/components/index.ts'
import { createTaskContext } from './context.ts'
import { startServer, type TestServer } from './http-server.ts'

function registryWith(http: HttpComponentOptions = {}): ComponentRegistry {
  const registry = createComponentRegistry()
  registerBuiltins(registry, { http })
  return registry
}

interface HttpOutput {
  status: number
  headers: Record<string, string>
  body: JsonValue
  body_encoding?: string
}

describe('http.request', () => {
  let server: TestServer
  let other: TestServer
  const registry = registryWith()
  const request = (input: JsonValue, context = createTaskContext()) =>
    invokeAction(registry, 'http', 'request', input, context) as unknown as Promise<HttpOutput>
  /** Asserts the call fails with a TaskFailure of this code, retriable flag and message, and returns it. */
  const failure = async (
    promise: Promise<unknown>,
    expected: { code: string; retriable: boolean; message: RegExp },
  ): Promise<TaskFailure> => {
    let caught: unknown
    await assert.rejects(promise, (error: unknown) => {
      caught = error
      return true
    })
    assert.ok(caught instanceof TaskFailure, `expected a TaskFailure, got ${String(caught)}`)
    assert.equal(caught.code, expected.code, caught.message)
    assert.equal(caught.retriable, expected.retriable)
    assert.match(caught.message, expected.message)
    return caught
  }

  before(async () => {
    server = await startServer()
    other = await startServer()
  })
  after(async () => {
    await server.close()
    await other.close()
  })

  test('GET answers status, headers and the parsed JSON body; query parameters are added', async () => {
    server.route('/items', (req, res) =>
      res
        .writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'x-total': '2' })
        .end(JSON.stringify({ items: [1, 2], url: req.url })),
    )
    const context = createTaskContext({ executionId: 'exec-9', task: 'fetch' })
    const output = await request(
      { url: `${server.baseUrl}/items?fixed=1`, query: { page: 2, tag: ['a', 'b c'], all: true } },
      context,
    )
    assert.equal(output.status, 200)
    assert.equal(output.headers['x-total'], '2')
    assert.equal(output.headers['content-type'], 'application/json; charset=utf-8')
    assert.deepEqual(output.body, { items: [1, 2], url: '/items?fixed=1&page=2&tag=a&tag=b+c&all=true' })
    const recorded = server.requests.at(-1)!
    assert.equal(recorded.method, 'GET')
    assert.equal(recorded.headers['idempotency-key'], 'exec-9:fetch')
  })

  test('a task that sets Idempotency-Key itself (in any case) keeps its own, sent once', async () => {
    server.route('/keyed', (_req, res) => res.writeHead(204).end())
    const output = await request({ url: `${server.baseUrl}/keyed`, headers: { 'IDEMPOTENCY-KEY': 'mine-1' } })
    assert.equal(output.status, 204)
    assert.equal(output.body, '')
    const recorded = server.requests.at(-1)!
    assert.equal(recorded.headers['idempotency-key'], 'mine-1')
    const sent = recorded.rawHeaders.filter(
      (_, i) => i % 2 === 0 && recorded.rawHeaders[i]!.toLowerCase() === 'idempotency-key',
    )
    assert.equal(sent.length, 1)
  })

  test('POST sends json with its content type, or a raw body; text answers stay text', async () => {
    server.route('/echo', (req, res, body) =>
      res
        .writeHead(201, { 'content-type': 'text/plain' })
        .end(`${req.method} ${req.headers['content-type']} ${body}`),
    )
    const json = await request({ method: 'POST', url: `${server.baseUrl}/echo`, json: { a: [1, null] } })
    assert.deepEqual([json.status, json.body], [201, 'POST application/json {"a":[1,null]}'])
    const raw = await request({
      method: 'PUT',
      url: `${server.baseUrl}/echo`,
      body: 'a=1',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    })
    assert.equal(raw.body, 'PUT application/x-www-form-urlencoded a=1')
  })

  test('binary answers come as base64', async () => {
    server.route('/png', (_req, res) =>
      res.writeHead(200, { 'content-type': 'image/png' }).end(Buffer.from([0x89, 0x50, 0, 255])),
    )
    const output = await request({ url: `${server.baseUrl}/png` })
    assert.equal(output.body_encoding, 'base64')
    assert.deepEqual(Buffer.from(output.body as string, 'base64'), Buffer.from([0x89, 0x50, 0, 255]))
  })

  test('5xx is SERVER_ERROR, retriable, with status and a body excerpt but no request headers', async () => {
    server.route('/broken', (_req, res) =>
      res
        .writeHead(503, { 'content-type': 'application/json' })
        .end(JSON.stringify({ error: 'x'.repeat(2000) })),
    )
    const error = await failure(
      request({
        url: `${server.baseUrl}/broken?api_key=sk-query-secret`,
        headers: { authorization: 'Bearer sk-header-secret' },
      }),
      {
        code: 'SERVER_ERROR',
        retriable: true,
        message:
          /^http\.request GET http:\/\/127\.0\.0\.1:\d+\/broken answered 503 Service Unavailable \(retriable\)$/,
      },
    )
    const details = error.details as { status: number; body_excerpt: string }
    assert.equal(details.status, 503)
    assert.equal(details.body_excerpt.length, 501)
    assert.ok(details.body_excerpt.startsWith('{"error":"xxx'))
    const everything = JSON.stringify({ message: error.message, details: error.details })
    assert.doesNotMatch(everything, /sk-header-secret|sk-query-secret|authorization/i)
  })

  test('429 is RATE_LIMITED, retriable, with the Retry-After wait', async () => {
    server.route('/slow-down', (_req, res) => res.writeHead(429, { 'retry-after': '7' }).end('too many'))
    const error = await failure(request({ url: `${server.baseUrl}/slow-down` }), {
      code: 'RATE_LIMITED',
      retriable: true,
      message: /answered 429 Too Many Requests; the server asks to wait 7000 ms \(retriable\)$/,
    })
    assert.deepEqual(error.details, { status: 429, body_excerpt: 'too many', retry_after_ms: 7000 })
  })

  test('other 4xx are HTTP_<status>, not retriable; expect_status decides what succeeds', async () => {
    await failure(request({ url: `${server.baseUrl}/missing` }), {
      code: 'HTTP_404',
      retriable: false,
      message: /\/missing answered 404 Not Found \(not retriable\)$/,
    })
    const found = await request({ url: `${server.baseUrl}/missing`, expect_status: [404] })
    assert.deepEqual([found.status, found.body], [404, 'no route /missing'])
    server.route('/created', (_req, res) => res.writeHead(201).end())
    const error = await failure(request({ url: `${server.baseUrl}/created`, expect_status: [200] }), {
      code: 'HTTP_201',
      retriable: false,
      message: /answered 201 Created; expected 200 \(not retriable\)$/,
    })
    assert.deepEqual(error.details, { status: 201, expected_status: [200] })
  })

  test('a refused connection is CONNECTION_ERROR, retriable', async () => {
    const gone = await startServer()
    const url = `${gone.baseUrl}/x`
    await gone.close()
    await failure(request({ url }), {
      code: 'CONNECTION_ERROR',
      retriable: true,
      message:
        /^http\.request GET http:\/\/127\.0\.0\.1:\d+\/x: could not complete the exchange \(ECONNREFUSED\) \(retriable\)$/,
    })
  })

  test('timeout_ms elapsing is TIMEOUT, retriable', async () => {
    server.route('/never', () => {})
    await failure(request({ url: `${server.baseUrl}/never`, timeout_ms: 50 }), {
      code: 'TIMEOUT',
      retriable: true,
      message: /\/never: no complete answer within 50 ms \(retriable\)$/,
    })
  })

  test("the task's signal aborts the call with its reason and closes the connection", async () => {
    server.route('/hang', () => {})
    const controller = new AbortController()
    const count = server.requests.length + 1
    const call = request(
      { url: `${server.baseUrl}/hang`, timeout_ms: 3_600_000 },
      createTaskContext({ signal: controller.signal }),
    )
    const { request: incoming } = await server.arrived(count)
    const closed = once(incoming.socket, 'close')
    const reason = new TaskFailure('CANCELLED', 'execution cancelled')
    controller.abort(reason)
    await assert.rejects(call, (error: unknown) => error === reason)
    await closed
  })

  test('an answer larger than the cap fails with RESPONSE_TOO_LARGE, streamed or declared', async () => {
    const small = registryWith({ maxResponseBytes: 1024 })
    server.route('/stream', (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' })
      res.write('a'.repeat(1000))
      res.end('b'.repeat(1000))
    })
    server.route('/declared', (_req, res) =>
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '4096' }).end('c'.repeat(4096)),
    )
    for (const path of ['/stream', '/declared']) {
      await failure(
        invokeAction(small, 'http', 'request', { url: `${server.baseUrl}${path}` }, createTaskContext()),
        {
          code: 'RESPONSE_TOO_LARGE',
          retriable: false,
          message: /the response body is larger than the 1 KiB cap; ask for less/,
        },
      )
    }
    server.route('/huge', (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream' })
      const chunk = Buffer.alloc(1024 * 1024)
      for (let i = 0; i < 11; i++) res.write(chunk)
      res.end()
    })
    await failure(request({ url: `${server.baseUrl}/huge` }), {
      code: 'RESPONSE_TOO_LARGE',
      retriable: false,
      message: /larger than the 10 MiB cap/,
    })
  })

  test('a JSON answer that does not parse is INVALID_RESPONSE', async () => {
    server.route('/bad-json', (_req, res) =>
      res.writeHead(200, { 'content-type': 'application/json' }).end('<html>oops'),
    )
    const error = await failure(request({ url: `${server.baseUrl}/bad-json` }), {
      code: 'INVALID_RESPONSE',
      retriable: false,
      message: /says application\/json but its body is not valid JSON/,
    })
    assert.deepEqual(error.details, { body_excerpt: '<html>oops' })
  })

  test('redirects are followed: 303 turns POST into GET, credentials stay within the origin', async () => {
    other.route('/landing', (req, res) =>
      res
        .writeHead(200, { 'content-type': 'application/json' })
        .end(JSON.stringify({ method: req.method, authorization: req.headers.authorization ?? null })),
    )
    server.route('/landing', (req, res) =>
      res
        .writeHead(200, { 'content-type': 'application/json' })
        .end(JSON.stringify({ method: req.method, authorization: req.headers.authorization ?? null })),
    )
    server.route('/see-other', (_req, res) => res.writeHead(303, { location: '/landing' }).end())
    server.route('/away', (_req, res) => res.writeHead(307, { location: `${other.baseUrl}/landing` }).end())
    server.route('/loop', (_req, res) => res.writeHead(302, { location: '/loop' }).end())
    const headers = { authorization: 'Bearer t' }
    const same = await request({ method: 'POST', url: `${server.baseUrl}/see-other`, json: {}, headers })
    assert.deepEqual(same.body, { method: 'GET', authorization: 'Bearer t' })
    const away = await request({ method: 'POST', url: `${server.baseUrl}/away`, json: {}, headers })
    assert.deepEqual(away.body, { method: 'POST', authorization: null })
    await failure(request({ url: `${server.baseUrl}/loop` }), {
      code: 'TOO_MANY_REDIRECTS',
      retriable: false,
      message: /more than 5 redirects \(not retriable\)$/,
    })
  })

  test('bad URLs, schemes and bodies are INVALID_INPUT, not retriable, naming the problem', async () => {
    const cases: Array<[JsonValue, RegExp]> = [
      [{ url: 'not a url' }, /url is not a valid absolute URL/],
      [{ url: 'ftp://example.com/file' }, /url has unsupported scheme 'ftp'; expected http or https/],
      [{ url: 'http://user:pw@127.0.0.1/' }, /url holds credentials; send them in an Authorization header/],
      [{ url: `${server.baseUrl}/x`, body: 'b' }, /a GET request cannot have a body/],
      [
        { method: 'POST', url: `${server.baseUrl}/x`, body: 'b', json: 1 },
        /give the body as 'json' or as 'body', not both/,
      ],
      [
        { url: `${server.baseUrl}/x`, headers: { 'x-bad': 'line\nbreak' } },
        /header 'x-bad' has an invalid name or value/,
      ],
      [{ url: `${server.baseUrl}/x`, method: 'FETCH' }, /input\.method: expected one of "GET", "HEAD"/],
      [{ uri: 'http://x' }, /input\.url: is required; input\.uri: is not a known field/],
    ]
    const before = server.requests.length
    for (const [input, message] of cases) {
      await failure(request(input), { code: 'INVALID_INPUT', retriable: false, message })
    }
    assert.equal(server.requests.length, before, 'nothing was sent')
  })

  test('with private networks disallowed, loopback and private hosts are refused before any request', async () => {
    const guarded = registryWith({ allowPrivateNetworks: false })
    const before = server.requests.length
    await failure(
      invokeAction(guarded, 'http', 'request', { url: `${server.baseUrl}/items` }, createTaskContext()),
      {
        code: 'PRIVATE_NETWORK',
        retriable: false,
        message: /host '127\.0\.0\.1' is a private address; calls to private networks are disabled/,
      },
    )
    await failure(
      invokeAction(
        guarded,
        'http',
        'request',
        { url: `http://localhost:${server.port}/items` },
        createTaskContext(),
      ),
      {
        code: 'PRIVATE_NETWORK',
        retriable: false,
        message: /host 'localhost' resolves to the private address (127\.0\.0\.1|::1)/,
      },
    )
    assert.equal(server.requests.length, before)
  })
})

test('private address ranges', () => {
  for (const address of [
    '127.0.0.1',
    '10.1.2.3',
    '172.31.0.1',
    '192.168.1.1',
    '169.254.169.254',
    '100.64.0.1',
    '0.0.0.0',
    '::1',
    '::',
    'fd00::1',
    'fe80::1',
    '::ffff:127.0.0.1',
    '::ffff:a9fe:a9fe',
  ]) {
    assert.equal(isPrivateAddress(address), true, address)
  }
  for (const address of [
    '8.8.8.8',
    '1.1.1.1',
    '172.32.0.1',
    '2606:4700:4700::1111',
    '::ffff:8.8.8.8',
    'not-an-ip',
  ]) {
    assert.equal(isPrivateAddress(address), false, address)
  }
})
