/**
 * The stream logic against a stub server that breaks connections on purpose: reconnection from the last
 * seq (Last-Event-ID) without gaps or duplicates, gap filling from the history, idle connections, fatal
 * answers, retry limits, aborts, the all-events stream, and waitForExecution's polling fallback.
 */
import assert from 'node:assert/strict'
import type { ServerResponse } from 'node:http'
import { after, before, beforeEach, describe, it } from 'node:test'
import { HarmoniaApiError, HarmoniaClient, type ExecutionStreamMessage } from '../../src/client/index.ts'
import { sendJson, sseFrame, startSse, startStubServer, type StubServer } from './stub-server.ts'

let stub: StubServer

before(async () => {
  stub = await startStubServer()
})
after(() => stub.close())
beforeEach(() => stub.reset())

const EXECUTION = 'ex-1'

function detail(status: string, lastEventSeq: number) {
  return {
    execution_id: EXECUTION,
    workflow_id: 'wf-1',
    status,
    last_event_seq: lastEventSeq,
    task_status: {},
  }
}

function snapshot(status: string, lastEventSeq: number, seq = 0) {
  return {
    type: 'snapshot',
    timestamp: 't',
    execution_id: EXECUTION,
    workflow_id: 'wf-1',
    data: detail(status, lastEventSeq),
    seq,
  }
}

function event(seq: number, type = 'task_completed') {
  return {
    type,
    timestamp: `t${seq}`,
    execution_id: EXECUTION,
    workflow_id: 'wf-1',
    data: { task: `t${seq}` },
    seq,
    id: 100 + seq,
  }
}

function writeEvents(response: ServerResponse, seqs: number[], types: Record<number, string> = {}): void {
  for (const seq of seqs)
    response.write(sseFrame(types[seq] ?? 'task_completed', event(seq, types[seq]), seq))
}

async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const items: T[] = []
  for await (const item of iterable) items.push(item)
  return items
}

function seqsOf(messages: ExecutionStreamMessage[]): number[] {
  return messages.filter((m) => m.type !== 'snapshot').map((m) => m.seq)
}

describe('watchExecution over a stub server', () => {
  const client = (): HarmoniaClient => new HarmoniaClient({ baseUrl: stub.baseUrl, apiKey: 'k' })
  const route = `GET /events/executions/${EXECUTION}`

  it('reconnects after a dropped connection from the last seq, skipping what the server sends again', async () => {
    let connection = 0
    stub.on(route, (_request, response) => {
      connection++
      startSse(response)
      if (connection === 1) {
        response.write(sseFrame('snapshot', snapshot('running', 0)))
        writeEvents(response, [1, 2, 3])
        // Dropped mid-stream: half a frame, then the socket is gone.
        response.write('id: 4\nevent: task_completed\ndata: {"seq":')
        setImmediate(() => response.socket?.destroy())
        return
      }
      response.write(sseFrame('snapshot', snapshot('running', 3, 3)))
      writeEvents(response, [2, 3, 4, 5, 6], { 6: 'execution_completed' })
      response.end(sseFrame('end', { type: 'end', data: { reason: 'execution finished' } }))
    })
    const reconnects: number[] = []
    const messages = await collect(
      client().watchExecution(EXECUTION, { onReconnect: (info) => reconnects.push(info.attempt) }),
    )
    assert.deepEqual(
      messages.map((m) => m.type),
      [
        'snapshot',
        'task_completed',
        'task_completed',
        'task_completed',
        'task_completed',
        'task_completed',
        'execution_completed',
      ],
    )
    assert.deepEqual(seqsOf(messages), [1, 2, 3, 4, 5, 6])
    assert.deepEqual(reconnects, [1])
    const streamRequests = stub.requests.filter((r) => r.path === `/events/executions/${EXECUTION}`)
    assert.equal(streamRequests.length, 2)
    assert.equal(streamRequests[0]!.headers['last-event-id'], '0')
    assert.equal(streamRequests[1]!.headers['last-event-id'], '3')
    assert.equal(streamRequests[1]!.headers['x-api-key'], 'k')
    assert.equal(streamRequests[1]!.headers['accept'], 'text/event-stream')
  })

  it('starts after a given seq and fills a gap in the stream from the persisted history', async () => {
    stub.on(route, (_request, response) => {
      startSse(response)
      response.write(sseFrame('snapshot', snapshot('running', 1, 1)))
      writeEvents(response, [2, 5, 6], { 6: 'execution_failed' })
      response.end(sseFrame('end', { type: 'end', data: {} }))
    })
    stub.on(`GET /api/v1/executions/${EXECUTION}/events`, (request, response) => {
      const afterSeq = Number(request.query.get('after'))
      const items = [3, 4].filter((seq) => seq > afterSeq).map((seq) => event(seq))
      sendJson(response, 200, {
        execution_id: EXECUTION,
        items,
        after: afterSeq,
        limit: 500,
        next_after: 4,
        has_more: false,
      })
    })
    const messages = await collect(client().watchExecution(EXECUTION, { after: 1 }))
    assert.deepEqual(seqsOf(messages), [2, 3, 4, 5, 6])
    assert.equal(messages.at(-1)!.type, 'execution_failed')
    const history = stub.requests.find((r) => r.path.endsWith('/events'))!
    assert.equal(history.query.get('after'), '2')
    assert.equal(stub.requests[0]!.headers['last-event-id'], '1')
  })

  it('ends at a terminal event newer than the snapshot even without an end message, but not at an older one', async () => {
    stub.on(route, (_request, response) => {
      startSse(response)
      // A rerun: the history holds an execution_failed (seq 2) that is older than the snapshot.
      response.write(sseFrame('snapshot', snapshot('running', 3)))
      writeEvents(response, [1, 2, 3, 4], {
        2: 'execution_failed',
        3: 'execution_rerun',
        4: 'execution_completed',
      })
      // Never ends the response: the client must stop by itself.
    })
    const messages = await collect(client().watchExecution(EXECUTION))
    assert.deepEqual(seqsOf(messages), [1, 2, 3, 4])
  })

  it('ends after the history of an execution that had already finished', async () => {
    stub.on(route, (_request, response) => {
      startSse(response)
      response.write(sseFrame('snapshot', snapshot('completed', 2)))
      writeEvents(response, [1, 2])
    })
    const messages = await collect(client().watchExecution(EXECUTION))
    assert.equal(messages[0]!.type, 'snapshot')
    assert.deepEqual(seqsOf(messages), [1, 2])
  })

  it('treats a silent connection as dead and reconnects', async () => {
    let connection = 0
    stub.on(route, (_request, response) => {
      connection++
      startSse(response)
      response.write(sseFrame('snapshot', snapshot('running', 0)))
      if (connection === 1) {
        writeEvents(response, [1])
        return // then silence, no heartbeat
      }
      writeEvents(response, [1, 2], { 2: 'execution_cancelled' })
      response.end(sseFrame('end', { type: 'end', data: {} }))
    })
    const messages = await collect(client().watchExecution(EXECUTION, { idleTimeoutMs: 100 }))
    assert.deepEqual(seqsOf(messages), [1, 2])
    assert.equal(connection, 2)
  })

  it('throws an answer that retrying cannot fix at once', async () => {
    stub.on(route, (_request, response) =>
      sendJson(response, 404, {
        error: {
          code: 'execution_not_found',
          message: "Execution with ID 'ex-1' not found",
          details: { execution_id: 'ex-1' },
        },
      }),
    )
    await assert.rejects(collect(client().watchExecution(EXECUTION)), {
      name: 'HarmoniaApiError',
      code: 'execution_not_found',
      status: 404,
      message: "Execution with ID 'ex-1' not found",
    })
    assert.equal(stub.requests.length, 1)
  })

  it('gives up after maxAttempts failed connections in a row, with the last error', async () => {
    stub.on(route, (_request, response) =>
      sendJson(response, 500, { error: { code: 'store_error', message: 'database is locked', details: {} } }),
    )
    const error = await collect(client().watchExecution(EXECUTION, { maxAttempts: 3, delayMs: 1 })).then(
      () => assert.fail('expected a rejection'),
      (caught: unknown) => caught,
    )
    assert.ok(error instanceof HarmoniaApiError)
    assert.equal(error.code, 'network_error')
    assert.equal(error.status, 500)
    assert.equal(error.message, 'the event stream failed 3 times in a row; last error: database is locked')
    assert.equal(stub.requests.length, 3)
  })

  it('stops when the consumer breaks out, and throws aborted when the signal aborts', async () => {
    const closed: Array<Promise<void>> = []
    stub.on(route, (_request, response) => {
      closed.push(new Promise((resolve) => response.on('close', () => resolve())))
      startSse(response)
      response.write(sseFrame('snapshot', snapshot('running', 0)))
      writeEvents(response, [1, 2])
    })
    for await (const message of client().watchExecution(EXECUTION)) {
      if (message.type !== 'snapshot' && message.seq === 1) break
    }
    await closed[0]

    const controller = new AbortController()
    const seen: number[] = []
    await assert.rejects(
      (async () => {
        for await (const message of client().watchExecution(EXECUTION, { signal: controller.signal })) {
          if (message.type !== 'snapshot') seen.push(message.seq)
          if (seen.length === 2) controller.abort()
        }
      })(),
      { code: 'aborted', status: 0 },
    )
    assert.deepEqual(seen, [1, 2])
    await closed[1]
  })
})

describe('watchEvents over a stub server', () => {
  it('yields the snapshot once and each event once by global id, resuming with Last-Event-ID', async () => {
    let connection = 0
    stub.on('GET /events', (_request, response) => {
      connection++
      startSse(response)
      response.write(
        sseFrame('snapshot', { type: 'snapshot', timestamp: 't', data: { executions: [], total: 0 } }),
      )
      const frames = connection === 1 ? [101, 102] : [102, 103]
      for (const id of frames)
        response.write(sseFrame('task_started', { ...event(id - 100, 'task_started'), id }, id))
      if (connection === 1) setImmediate(() => response.socket?.destroy())
    })
    const client = new HarmoniaClient({ baseUrl: stub.baseUrl })
    const ids: Array<number | undefined> = []
    let snapshots = 0
    for await (const message of client.watchEvents({ workflow_id: 'wf-1' })) {
      if (message.type === 'snapshot') snapshots++
      else ids.push(message.id)
      if (ids.length === 3) break
    }
    assert.equal(snapshots, 1)
    assert.deepEqual(ids, [101, 102, 103])
    const requests = stub.requests.filter((r) => r.path === '/events')
    assert.equal(requests[0]!.query.get('workflow_id'), 'wf-1')
    assert.equal(requests[0]!.headers['last-event-id'], undefined)
    assert.equal(requests[1]!.headers['last-event-id'], '102')
  })
})

describe('waitForExecution over a stub server', () => {
  it('polls GET when the server has no stream route, until the execution finished', async () => {
    let reads = 0
    stub.on(`GET /api/v1/executions/${EXECUTION}`, (_request, response) => {
      reads++
      sendJson(response, 200, detail(reads < 4 ? 'running' : 'completed', reads))
    })
    const client = new HarmoniaClient({ baseUrl: stub.baseUrl })
    const done = await client.waitForExecution(EXECUTION, { pollIntervalMs: 5, timeoutMs: 5_000 })
    assert.equal(done.status, 'completed')
    assert.equal(reads, 4)
    assert.ok(stub.requests.some((r) => r.path === `/events/executions/${EXECUTION}`))
  })

  it('fails with timeout naming the last status when the execution does not finish in time', async () => {
    stub.on(`GET /api/v1/executions/${EXECUTION}`, (_request, response) =>
      sendJson(response, 200, detail('paused', 3)),
    )
    stub.on(`GET /events/executions/${EXECUTION}`, (_request, response) => {
      startSse(response)
      response.write(sseFrame('snapshot', snapshot('paused', 3, 3)))
    })
    const client = new HarmoniaClient({ baseUrl: stub.baseUrl })
    await assert.rejects(client.waitForExecution(EXECUTION, { timeoutMs: 150 }), {
      name: 'HarmoniaApiError',
      code: 'timeout',
      status: 0,
      message: "execution 'ex-1' did not finish within 150 ms; it is paused",
      details: { execution_id: 'ex-1', status: 'paused', timeout_ms: 150 },
    })
  })

  it('passes on execution_not_found at once', async () => {
    stub.on(`GET /api/v1/executions/${EXECUTION}`, (_request, response) =>
      sendJson(response, 404, {
        error: { code: 'execution_not_found', message: "Execution with ID 'ex-1' not found", details: {} },
      }),
    )
    const client = new HarmoniaClient({ baseUrl: stub.baseUrl })
    await assert.rejects(client.waitForExecution(EXECUTION), { code: 'execution_not_found', status: 404 })
    assert.equal(stub.requests.length, 1)
  })
})
