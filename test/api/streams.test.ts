import assert from 'node:assert/strict'
import http from 'node:http'
import { after, before, describe, it } from 'node:test'
import type { ExecutionEvent } from '../../src/core/events.ts'
import {
  call,
  eventsOnly,
  gatedWorkflow,
  openSse,
  openWs,
  startTestServer,
  twoTaskWorkflow,
  type Message,
  type TestServer,
} from './support.ts'

/** Twelve parallel tasks then one that joins them: many events close together. */
const fanWorkflow = {
  name: 'fan',
  tasks: {
    ...Object.fromEntries(
      Array.from({ length: 12 }, (_, i) => [
        `t${i}`,
        { name: `t${i}`, component: 'probe', action: 'echo', input: { i } },
      ]),
    ),
    join: {
      name: 'join',
      component: 'probe',
      action: 'echo',
      input: { done: true },
      depends_on: Array.from({ length: 12 }, (_, i) => `t${i}`),
    },
  },
}

function assertGapless(messages: Message[], from = 1): void {
  const seqs = messages.map((m) => m.seq)
  assert.deepEqual(
    seqs,
    seqs.map((_, i) => i + from),
    `seq must run ${from}, ${from + 1}, … without gaps or repeats: ${JSON.stringify(seqs)}`,
  )
}

describe('WebSocket streams', () => {
  let server: TestServer
  let ws: string
  before(async () => {
    server = await startTestServer({ listen: true })
    ws = server.baseUrl.replace('http', 'ws')
  })
  after(() => server.close())

  it('/ws/executions/{id}: snapshot first, then every event in order without gaps, then live ones', async () => {
    const gate = server.probe.gate('ws-live')
    const started = await call(server.app, 'POST', '/api/v1/executions', {
      workflow: gatedWorkflow('ws-live'),
    })
    const id = started.body.execution_id as string
    await gate.entered
    const client = await openWs(`${ws}/ws/executions/${id}`)
    const [snapshot] = await client.messages.until(
      (m) => m.some((x) => x.type === 'task_started'),
      'task_started',
    )
    assert.equal(snapshot!.type, 'snapshot')
    assert.equal(snapshot!.execution_id, id)
    assert.equal(snapshot!.seq, 0)
    assert.equal(snapshot!.data.execution_id, id)
    assert.equal(snapshot!.data.status, 'running')
    assert.equal(snapshot!.data.task_status.hold.status, 'running')
    assert.ok(snapshot!.data.progress)

    gate.release()
    const messages = await client.messages.until(
      (m) => m.some((x) => x.type === 'execution_completed'),
      'execution_completed',
    )
    const events = eventsOnly(messages)
    assertGapless(events)
    assert.equal(events[0]!.type, 'execution_started')
    const types = events.map((e) => e.type)
    assert.ok(types.indexOf('task_completed') > types.indexOf('task_started'))
    for (const event of events) {
      assert.equal(event.execution_id, id)
      assert.ok(Date.parse(event.timestamp!) > 0)
      assert.equal(typeof event.data, 'object')
      assert.equal(typeof event.id, 'number')
    }
    const completed = events.find((e) => e.type === 'task_completed' && e.data.task === 'after')!
    assert.deepEqual(completed.data.output, { done: true })

    // The stream stays open after the end (a rerun would append to it); ping still answers.
    client.socket.send(JSON.stringify({ type: 'ping' }))
    await client.messages.until((m) => m.some((x) => x.type === 'pong'), 'pong')
    await client.close()
  })

  it('never repeats or skips an event while connecting during a burst', async () => {
    for (let round = 0; round < 5; round++) {
      const started = await call(server.app, 'POST', '/api/v1/executions', { workflow: fanWorkflow })
      const id = started.body.execution_id as string
      const client = await openWs(`${ws}/api/v1/ws/executions/${id}`)
      const messages = await client.messages.until(
        (m) => m.some((x) => x.type === 'execution_completed'),
        'end',
      )
      assert.equal(messages[0]!.type, 'snapshot')
      const events = eventsOnly(messages)
      assertGapless(events)
      const stored = await call(server.app, 'GET', `/api/v1/executions/${id}/events?limit=1000`)
      assert.equal(events.length, stored.body.items.length)
      await client.close()
    }
  })

  it('?after= replays only what follows that position', async () => {
    const done = await call(server.app, 'POST', '/api/v1/executions?wait=true', { workflow: twoTaskWorkflow })
    const id = done.body.execution_id as string
    const client = await openWs(`${ws}/ws/executions/${id}?after=3`)
    const messages = await client.messages.until(
      (m) => m.some((x) => x.type === 'execution_completed'),
      'end',
    )
    assert.equal(messages[0]!.type, 'snapshot')
    assert.equal(messages[0]!.seq, 3)
    assert.equal(messages[0]!.data.status, 'completed')
    assertGapless(eventsOnly(messages), 4)
    await client.close()
  })

  it('answers ping with pong, and non-JSON with an error message', async () => {
    const client = await openWs(`${ws}/ws/workflows`)
    client.socket.send(JSON.stringify({ type: 'ping' }))
    const received = await client.messages.until((m) => m.some((x) => x.type === 'pong'), 'pong')
    const pong = received.find((x) => x.type === 'pong')
    assert.equal(pong!.type, 'pong')
    assert.ok(Date.parse(pong!.timestamp!) > 0)
    client.socket.send('hello?')
    const messages = await client.messages.until((m) => m.some((x) => x.type === 'error'), 'error')
    assert.equal(messages.find((m) => m.type === 'error')!.data.code, 'invalid_request')
    await client.close()
  })

  it('refuses the upgrade with 404 for an unknown execution', async () => {
    await assert.rejects(
      openWs(`${ws}/ws/executions/exec-none`),
      (error: Error & { status?: number; body?: string }) => {
        assert.equal(error.status, 404)
        assert.match(error.body ?? '', /execution_not_found/)
        return true
      },
    )
  })

  it('a plain GET on a WebSocket route answers 426 in the error shape', async () => {
    const answer = await call(server.app, 'GET', '/ws/workflows')
    assert.equal(answer.status, 426)
    assert.equal(answer.body.error.code, 'invalid_request')
  })

  it('/ws/workflows announces definition changes', async () => {
    const client = await openWs(`${ws}/ws/workflows`)
    const created = await call(server.app, 'POST', '/api/v1/workflows', {
      ...twoTaskWorkflow,
      name: 'watched',
    })
    const id = created.body.workflow_id as string
    await call(server.app, 'PUT', `/api/v1/workflows/${id}`, {
      ...twoTaskWorkflow,
      name: 'watched',
      description: 'v2',
    })
    await call(server.app, 'DELETE', `/api/v1/workflows/${id}`)
    const messages = await client.messages.until(
      (m) => m.some((x) => x.type === 'workflow_deleted'),
      'workflow_deleted',
    )
    // First the snapshot: the latest revisions, most recently updated first.
    assert.equal(messages[0]!.type, 'snapshot')
    assert.ok(Array.isArray(messages[0]!.data.workflows), JSON.stringify(messages[0]))
    assert.equal(typeof messages[0]!.data.total, 'number')
    const mine = messages.filter((m) => m.workflow_id === id)
    assert.deepEqual(
      mine.map((m) => m.type),
      ['workflow_created', 'workflow_updated', 'workflow_deleted'],
    )
    assert.equal(mine[0]!.data.name, 'watched')
    assert.equal(mine[1]!.data.revision, 2)
    await client.close()
  })

  it('/ws/events streams every execution, or one workflow with ?workflow_id=', async () => {
    const a = await call(server.app, 'POST', '/api/v1/workflows', { ...twoTaskWorkflow, name: 'a_stream' })
    const b = await call(server.app, 'POST', '/api/v1/workflows', { ...twoTaskWorkflow, name: 'b_stream' })
    const all = await openWs(`${ws}/ws/events`)
    const onlyA = await openWs(`${ws}/ws/events?workflow_id=${a.body.workflow_id}`)
    await all.messages.until((m) => m.length > 0, 'snapshot')
    await onlyA.messages.until((m) => m.length > 0, 'snapshot')
    const ea = await call(server.app, 'POST', '/api/v1/executions?wait=true', {
      workflow_id: a.body.workflow_id,
    })
    const eb = await call(server.app, 'POST', '/api/v1/executions?wait=true', {
      workflow_id: b.body.workflow_id,
    })
    const ended = (executionId: string) => (m: Message[]) =>
      m.some((x) => x.type === 'execution_completed' && x.execution_id === executionId)
    const allMessages = await all.messages.until(ended(eb.body.execution_id), 'b completed')
    assert.equal(allMessages[0]!.type, 'snapshot')
    assert.ok(Array.isArray(allMessages[0]!.data.executions))
    const ids = eventsOnly(allMessages).map((m) => m.id!)
    assert.deepEqual(
      ids,
      [...ids].sort((x, y) => x - y),
      'global ids increase',
    )
    assert.equal(new Set(ids).size, ids.length)
    assert.ok(allMessages.some((m) => m.execution_id === ea.body.execution_id))
    const aMessages = await onlyA.messages.until(ended(ea.body.execution_id), 'a completed')
    assert.ok(eventsOnly(aMessages).every((m) => m.workflow_id === a.body.workflow_id))
    await all.close()
    await onlyA.close()
  })
})

describe('SSE streams', () => {
  let server: TestServer
  before(async () => {
    server = await startTestServer({ listen: true })
  })
  after(() => server.close())

  it('/events/executions/{id}: snapshot, events with id = seq, and an end once the execution finished', async () => {
    const gate = server.probe.gate('sse-live')
    const started = await call(server.app, 'POST', '/api/v1/executions', {
      workflow: gatedWorkflow('sse-live'),
    })
    const id = started.body.execution_id as string
    await gate.entered
    const client = await openSse(`${server.baseUrl}/events/executions/${id}`)
    assert.equal(client.status, 200)
    assert.match(client.headers.get('content-type') ?? '', /text\/event-stream/)
    assert.ok(client.headers.get('x-request-id'))
    await client.events.until((e) => e.some((x) => x.event === 'task_started'), 'task_started')
    gate.release()
    const events = await client.events.until((e) => e.some((x) => x.event === 'end'), 'end')
    await client.events.until(() => client.events.ended, 'end of stream')
    const [snapshot] = events
    assert.equal(snapshot!.event, 'snapshot')
    assert.equal(snapshot!.id, undefined)
    assert.equal(snapshot!.data.data.status, 'running')
    const body = events.filter((e) => e.event !== 'snapshot' && e.event !== 'end')
    for (const event of body) {
      assert.equal(event.event, event.data.type)
      assert.equal(event.id, String(event.data.seq))
    }
    assertGapless(body.map((e) => e.data))
    assert.equal(body.at(-1)!.event, 'execution_completed')
    assert.equal(events.at(-1)!.event, 'end')
    await client.close()
  })

  it('honours Last-Event-ID by replaying from the persisted history, and ends for a finished execution', async () => {
    const done = await call(server.app, 'POST', '/api/v1/executions?wait=true', { workflow: twoTaskWorkflow })
    const id = done.body.execution_id as string
    const total = (await call(server.app, 'GET', `/api/v1/executions/${id}/events`)).body.items
      .length as number
    const client = await openSse(`${server.baseUrl}/api/v1/events/executions/${id}`, { 'last-event-id': '2' })
    const events = await client.events.until(() => client.events.ended, 'end of stream')
    assert.equal(events[0]!.event, 'snapshot')
    assert.equal(events[0]!.data.data.status, 'completed')
    const body = events.filter((e) => e.event !== 'snapshot' && e.event !== 'end')
    assertGapless(
      body.map((e) => e.data),
      3,
    )
    assert.equal(body.length, total - 2)
    assert.equal(events.at(-1)!.event, 'end')
    await client.close()

    const fromQuery = await openSse(`${server.baseUrl}/events/executions/${id}?after=${total - 1}`)
    const tail = await fromQuery.events.until(() => fromQuery.events.ended, 'end of stream')
    assert.deepEqual(
      tail.map((e) => e.event),
      ['snapshot', 'execution_completed', 'end'],
    )
    await fromQuery.close()

    await assert.rejects(openSse(`${server.baseUrl}/events/executions/${id}`, { 'last-event-id': 'abc' }), {
      status: 400,
    })
    await assert.rejects(
      openSse(`${server.baseUrl}/events/executions/exec-none`),
      (error: Error & { status?: number; body?: string }) => {
        assert.equal(error.status, 404)
        assert.match(error.body ?? '', /execution_not_found/)
        return true
      },
    )
  })

  it('/events streams every execution with global ids, resumable with Last-Event-ID', async () => {
    const client = await openSse(`${server.baseUrl}/events`)
    await client.events.until((e) => e.length > 0, 'snapshot')
    const first = await call(server.app, 'POST', '/api/v1/executions?wait=true', {
      workflow: twoTaskWorkflow,
    })
    const firstId = first.body.execution_id as string
    const seen = await client.events.until(
      (e) => e.some((x) => x.event === 'execution_completed' && x.data.execution_id === firstId),
      'first completed',
    )
    const mine = seen.filter((e) => e.data.execution_id === firstId)
    for (const event of mine) assert.equal(event.id, String(event.data.id))
    const resumeFrom = Number(mine[1]!.id)
    await client.close()

    const resumed = await openSse(`${server.baseUrl}/events`, { 'last-event-id': String(resumeFrom) })
    const replay = await resumed.events.until(
      (e) => e.some((x) => x.event === 'execution_completed' && x.data.execution_id === firstId),
      'replayed completion',
    )
    assert.equal(replay[0]!.event, 'snapshot')
    const replayedIds = replay.slice(1).map((e) => Number(e.id))
    assert.equal(replayedIds[0], resumeFrom + 1)
    assert.deepEqual(
      replayedIds,
      [...replayedIds].sort((x, y) => x - y),
    )
    await resumed.close()
  })
})

describe('heartbeats', () => {
  it('sends heartbeats: SSE comments, WebSocket heartbeat messages', async () => {
    await using server = await startTestServer({
      listen: true,
      flags: { server: { heartbeatIntervalMs: 25 } },
    })
    const sse = await openSse(`${server.baseUrl}/events`)
    await sse.events.until(() => sse.comments.some((c) => c.startsWith('heartbeat')), 'SSE heartbeat comment')
    await sse.close()
    const ws = await openWs(`${server.baseUrl.replace('http', 'ws')}/ws/events`)
    await ws.messages.until((m) => m.filter((x) => x.type === 'heartbeat').length >= 3, 'WS heartbeats')
    assert.equal(ws.socket.readyState, ws.socket.OPEN, 'a peer that answers pings stays connected')
    await ws.close()
  })
})

describe('slow consumers', () => {
  let server: TestServer
  /** Bus listeners without any stream open: a dropped stream's subscription is gone again. */
  let baselineListeners = 0
  before(async () => {
    server = await startTestServer({ listen: true, flags: { server: { streamMaxQueuedEvents: 20 } } })
    baselineListeners = server.harmonia.engine.bus.listenerCount
  })
  after(() => server.close())

  /** Publishes large fake events of a real execution until `dropped` says the stream is gone. */
  async function flood(executionId: string, workflowId: string, dropped: () => boolean): Promise<number> {
    const filler = 'x'.repeat(64 * 1024)
    let seq = 1000
    while (!dropped()) {
      if (seq > 3000) throw new Error('the slow consumer was never dropped')
      const event: ExecutionEvent = {
        seq: ++seq,
        id: 1_000_000 + seq,
        type: 'task_progress',
        timestamp: new Date().toISOString(),
        execution_id: executionId,
        workflow_id: workflowId,
        data: { task: 'hold', progress: 0.5, message: filler },
      }
      server.harmonia.engine.bus.publish(event)
      await new Promise((resolve) => setImmediate(resolve))
    }
    return seq
  }

  it('closes a WebSocket consumer that does not read with 1008 "slow consumer"', async () => {
    const gate = server.probe.gate('slow-ws')
    const started = await call(server.app, 'POST', '/api/v1/executions', {
      workflow: gatedWorkflow('slow-ws'),
    })
    const id = started.body.execution_id as string
    await gate.entered
    const client = await openWs(`${server.baseUrl.replace('http', 'ws')}/ws/executions/${id}`)
    await client.messages.until((m) => m.some((x) => x.type === 'task_started'), 'task_started')
    let closedCode: number | undefined
    void client.closed.then(({ code }) => (closedCode = code))
    client.socket.pause()
    await flood(
      id,
      started.body.workflow_id,
      () => server.harmonia.engine.bus.listenerCount <= baselineListeners,
    )
    client.socket.resume()
    const { code, reason } = await client.closed
    assert.equal(code, 1008)
    assert.equal(reason, 'slow consumer')
    assert.equal(closedCode, 1008)
    const error = client.messages.items.find((m) => m.type === 'error')
    assert.equal(error?.data.code, 'slow_consumer')
    const metrics = (await server.app.inject({ method: 'GET', url: '/metrics' })).body
    assert.match(metrics, /harmonia_event_stream_clients\{transport="ws"\} 0/)
    gate.release()
  })

  it('ends an SSE consumer that does not read with a final event: error', async () => {
    const gate = server.probe.gate('slow-sse')
    const started = await call(server.app, 'POST', '/api/v1/executions', {
      workflow: gatedWorkflow('slow-sse'),
    })
    const id = started.body.execution_id as string
    await gate.entered
    const url = new URL(`${server.baseUrl}/events/executions/${id}`)
    const response = await new Promise<http.IncomingMessage>((resolve, reject) =>
      http.get(url, resolve).on('error', reject),
    )
    assert.equal(response.statusCode, 200)
    let text = ''
    response.setEncoding('utf8')
    const ended = new Promise<void>((resolve) => response.on('end', resolve).on('close', resolve))
    response.on('data', (chunk: string) => {
      text += chunk
    })
    await new Promise<void>((resolve) => {
      const check = (): void => {
        if (text.includes('event: task_started')) {
          response.off('data', check)
          resolve()
        }
      }
      response.on('data', check)
      check()
    })
    response.pause()
    await flood(
      id,
      started.body.workflow_id,
      () => server.harmonia.engine.bus.listenerCount <= baselineListeners,
    )
    response.resume()
    await ended
    const last = text.trimEnd().split('\n\n').at(-1)!
    assert.match(last, /^event: error\ndata: /)
    const data = JSON.parse(last.split('\ndata: ')[1]!) as Message
    assert.equal(data.data.code, 'slow_consumer')
    assert.match(data.data.message, /slow consumer/)
    gate.release()
  })
})
