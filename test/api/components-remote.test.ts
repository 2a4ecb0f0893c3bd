/**
 * Remote components end to end, through the API: two real component servers on 127.0.0.1 speaking the
 * protocol; a workflow that calls both; one of them going down (circuit opens, the task fails fast with
 * component_error); coming back (a rerun from the failed task completes); registrations surviving a
 * restart; direct calls validated against the action's schema.
 */
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { after, before, describe, it } from 'node:test'
import { Reply, startRemoteComponent, type RemoteComponentServer } from '../components/remote-server.ts'
import { call, errorOf, eventually, startTestServer, type TestServer } from './support.ts'

const WORKFLOW = {
  name: 'digest',
  input: { q: { type: 'string', default: 'harmonia' } },
  tasks: {
    fetch: { component: 'fetcher', action: 'search', input: { query: '${workflow.input.q}' } },
    summarize: {
      component: 'summarizer',
      action: 'summarize',
      input: { items: '${tasks.fetch.output.items}' },
      depends_on: ['fetch'],
    },
  },
  output: { summary: '${tasks.summarize.output.summary}' },
}

describe('remote components through the API', () => {
  let dir: string
  let server: TestServer
  let fetcher: RemoteComponentServer
  let summarizer: RemoteComponentServer
  let workflowId: string

  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- tests read arbitrary JSON
  const run = async (): Promise<{ id: string; status: string; detail: Record<string, any> }> => {
    const started = await call(server.app, 'POST', '/api/v1/executions', {
      workflow_id: workflowId,
      input: { q: 'tekton' },
    })
    assert.equal(started.status, 201, JSON.stringify(started.body))
    const id = started.body.execution_id as string
    const done = await server.harmonia.engine.waitForExecution(id, { timeoutMs: 15_000 })
    const detail = await call(server.app, 'GET', `/api/v1/executions/${id}`)
    return { id, status: done.status, detail: detail.body }
  }

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'harmonia-remote-'))
    fetcher = await startRemoteComponent({
      search: {
        description: 'Finds items',
        input_schema: {
          type: 'object',
          required: ['query'],
          properties: { query: { type: 'string', minLength: 1 } },
        },
        run: (params) => ({ items: [`${(params as { query: string }).query}-1`, 'b'] }),
      },
    })
    summarizer = await startRemoteComponent({
      summarize: {
        schema_route: {
          type: 'object',
          required: ['items'],
          properties: { items: { type: 'array' } },
        },
        run: (params) => ({ summary: `${(params as { items: string[] }).items.length} items` }),
      },
      boom: { run: () => new Reply(503, { error: 'overloaded' }) },
    })
    server = await startTestServer({ dir, flags: { storage: { kind: 'sqlite' } } })
  })
  after(async () => {
    await server?.close()
    await fetcher?.close()
    await summarizer?.close()
    await rm(dir, { recursive: true, force: true })
  })

  it('registers components through POST /components, reading their actions and schemas from them', async () => {
    const first = await call(server.app, 'POST', '/api/v1/components', {
      name: 'fetcher',
      base_url: fetcher.baseUrl,
      description: 'search service',
    })
    assert.equal(first.status, 201, JSON.stringify(first.body))
    assert.equal(first.body.kind, 'remote')
    assert.equal(first.body.base_url, fetcher.baseUrl)
    const search = first.body.actions.find((a: { name: string }) => a.name === 'search')
    assert.equal(search.description, 'Finds items')
    assert.deepEqual(search.input_schema.required, ['query'])

    const second = await call(server.app, 'POST', '/api/components', {
      name: 'summarizer',
      base_url: summarizer.baseUrl,
      cool_down_ms: 60_000,
      failure_threshold: 3,
      actions: [{ name: 'summarize', description: 'Summarizes items' }],
    })
    assert.equal(second.status, 201, JSON.stringify(second.body))
    const action = await call(server.app, 'GET', '/api/v1/components/summarizer/actions/summarize')
    assert.equal(action.status, 200)
    assert.equal(action.body.description, 'Summarizes items', 'declared description kept')
    assert.deepEqual(action.body.input_schema.required, ['items'], 'schema read from /api/actions/{a}/schema')
    assert.ok(summarizer.requests.includes('GET /api/actions/summarize/schema'))

    const listed = await call(server.app, 'GET', '/api/v1/components')
    const names = listed.body.items.map((c: { name: string }) => c.name)
    assert.ok(names.includes('fetcher') && names.includes('summarizer') && names.includes('core'))
    const entry = listed.body.items.find((c: { name: string }) => c.name === 'summarizer')
    assert.equal(entry.remote.cool_down_ms, 60_000)
    assert.equal(entry.health.circuit, 'closed')

    const bad = await call(server.app, 'POST', '/api/v1/components', { name: '1x', base_url: 'ftp://x' })
    assert.equal(bad.status, 422)
    const fields = (errorOf(bad).details as { errors: Array<{ field: string }> }).errors.map((e) => e.field)
    assert.deepEqual(fields.sort(), ['base_url', 'name'])
    const builtin = await call(server.app, 'POST', '/api/v1/components', {
      name: 'core',
      base_url: fetcher.baseUrl,
    })
    assert.equal(builtin.status, 409)

    const created = await call(server.app, 'POST', '/api/v1/workflows', WORKFLOW)
    assert.equal(created.status, 201, JSON.stringify(created.body))
    workflowId = created.body.workflow_id
  })

  it('runs a workflow calling both components, with the protocol body and Idempotency-Key', async () => {
    const result = await run()
    assert.equal(result.status, 'completed', JSON.stringify(result.detail))
    assert.deepEqual(result.detail.output, { summary: '2 items' })
    const sent = summarizer.calls.at(-1)!
    assert.equal(sent.body.action, 'summarize')
    assert.deepEqual(sent.body.params, { items: ['tekton-1', 'b'] })
    assert.equal(sent.body.context?.execution_id, result.id)
    assert.equal(sent.body.context?.task_name, 'summarize')
    assert.equal(sent.body.context?.idempotency_key, `${result.id}:summarize`)
    assert.equal(sent.headers['idempotency-key'], `${result.id}:summarize`)
    assert.equal(fetcher.calls.at(-1)!.headers['idempotency-key'], `${result.id}:fetch`)
    const listed = await call(server.app, 'GET', '/api/v1/components/summarizer')
    assert.equal(listed.body.health.status, 'healthy')
  })

  it('opens the circuit when a component is down, fails fast with component_error, and reruns when it is back', async () => {
    await summarizer.stop()
    const down = await run()
    assert.equal(down.status, 'failed')
    const failedTask = down.detail.task_status.summarize
    assert.equal(failedTask.status, 'failed')
    assert.equal(failedTask.error.code, 'component_error', JSON.stringify(failedTask.error))
    const health = await call(server.app, 'GET', '/api/v1/components/summarizer')
    assert.equal(health.body.health.circuit, 'open')
    assert.equal(health.body.health.status, 'unhealthy')

    // While the circuit is open nothing reaches the network: the task fails at once.
    const fetchCalls = fetcher.calls.length
    const startedAt = Date.now()
    const fast = await run()
    assert.equal(fast.status, 'failed')
    const fastError = fast.detail.task_status.summarize.error
    assert.equal(fastError.code, 'component_error')
    assert.equal(fastError.details.reason, 'CIRCUIT_OPEN')
    assert.ok(Date.now() - startedAt < 5_000)
    assert.equal(fetcher.calls.length, fetchCalls + 1, 'the healthy component is still called')

    await summarizer.start()
    const summarizeCalls = summarizer.calls.length
    const rerun = await call(server.app, 'POST', `/api/v1/executions/${fast.id}/rerun`)
    assert.ok(rerun.status < 300, JSON.stringify(rerun.body))
    const done = await server.harmonia.engine.waitForExecution(fast.id, { timeoutMs: 15_000 })
    assert.equal(done.status, 'completed', JSON.stringify(done.error))
    assert.deepEqual(done.output, { summary: '2 items' })
    assert.equal(fetcher.calls.length, fetchCalls + 1, 'the completed task was not run again')
    assert.equal(summarizer.calls.length, summarizeCalls + 1)
    const healed = await call(server.app, 'GET', '/api/v1/components/summarizer')
    assert.equal(healed.body.health.circuit, 'closed')
  })

  it('maps component answers to retriable and non-retriable failures', async () => {
    const overloaded = await call(server.app, 'POST', '/api/v1/components/summarizer/actions/boom', {
      input: {},
    })
    assert.equal(overloaded.status, 500)
    const error = errorOf(overloaded)
    assert.equal(error.code, 'component_error')
    const details = error.details as { task_error_code: string; retriable: boolean }
    assert.equal(details.task_error_code, 'SERVER_ERROR')
    assert.equal(details.retriable, true)
  })

  it('validates a direct call against the action schema before calling (422)', async () => {
    const before = fetcher.calls.length
    const invalid = await call(server.app, 'POST', '/api/v1/components/fetcher/actions/search', {
      input: { query: 5 },
    })
    assert.equal(invalid.status, 422, JSON.stringify(invalid.body))
    assert.equal(errorOf(invalid).code, 'validation_error')
    assert.match(errorOf(invalid).message, /input\.query/)
    assert.equal(fetcher.calls.length, before, 'the component was not called')
    const valid = await call(server.app, 'POST', '/api/v1/components/fetcher/actions/search', {
      params: { query: 'direct' },
    })
    assert.equal(valid.status, 200)
    assert.deepEqual(valid.body.output, { items: ['direct-1', 'b'] })
  })

  it('sends actions the component did not list to it, which says whether it knows them', async () => {
    fetcher.actions = { ...fetcher.actions, later: { run: () => ({ added: true }) } }
    const known = await call(server.app, 'POST', '/api/v1/components/fetcher/actions/later', { input: {} })
    assert.equal(known.status, 200, JSON.stringify(known.body))
    assert.deepEqual(known.body.output, { added: true })
    const unknown = await call(server.app, 'POST', '/api/v1/components/fetcher/actions/nothing', {
      input: {},
    })
    assert.equal(unknown.status, 500)
    const details = errorOf(unknown).details as { task_error_code: string; retriable: boolean }
    assert.equal(details.task_error_code, 'HTTP_404')
    assert.equal(details.retriable, false)
    assert.equal((await call(server.app, 'GET', '/api/v1/components/core/actions/nothing')).status, 404)
  })

  it('registers a component that is down, shown unhealthy, with the actions it was given', async () => {
    const { freePort } = await import('../components/hermes-server.ts')
    const port = await freePort()
    const answer = await call(server.app, 'POST', '/api/v1/components', {
      name: 'sleeper',
      base_url: `http://127.0.0.1:${port}/`,
      actions: { wake: { description: 'wakes up' } },
    })
    assert.equal(answer.status, 201, JSON.stringify(answer.body))
    assert.equal(answer.body.base_url, `http://127.0.0.1:${port}`)
    assert.deepEqual(
      answer.body.actions.map((a: { name: string }) => a.name),
      ['wake'],
    )
    assert.equal(answer.body.health.status, 'unhealthy')
    assert.match(answer.body.health.detail, /capabilities unreadable/)
    assert.equal((await call(server.app, 'DELETE', '/api/v1/components/sleeper')).status, 200)
  })

  it('keeps registrations across a restart, and unregisters', async () => {
    await server.close()
    server = await startTestServer({ dir, flags: { storage: { kind: 'sqlite' } } })
    const listed = await call(server.app, 'GET', '/api/v1/components/summarizer/actions/summarize')
    assert.equal(listed.status, 200)
    assert.deepEqual(listed.body.input_schema.required, ['items'])
    const result = await run()
    assert.equal(result.status, 'completed', JSON.stringify(result.detail))

    const removed = await call(server.app, 'DELETE', '/api/v1/components/summarizer')
    assert.equal(removed.status, 200)
    assert.equal(removed.body.success, true)
    assert.equal((await call(server.app, 'GET', '/api/v1/components/summarizer')).status, 404)
    assert.equal((await call(server.app, 'DELETE', '/api/v1/components/summarizer')).status, 404)
    assert.equal((await call(server.app, 'DELETE', '/api/v1/components/core')).status, 409)
    const gone = await run()
    assert.equal(gone.status, 'failed')
    assert.equal(gone.detail.task_status.summarize.error.code, 'component_error')

    await server.close()
    server = await startTestServer({ dir, flags: { storage: { kind: 'sqlite' } } })
    assert.equal((await call(server.app, 'GET', '/api/v1/components/summarizer')).status, 404)
    assert.equal((await call(server.app, 'GET', '/api/v1/components/fetcher')).status, 200)
  })

  it('registers components listed in the config file', async () => {
    await using configured = await startTestServer({
      flags: {
        components: {
          shell: { enabled: false },
          remote: [
            { name: 'summarizer', base_url: summarizer.baseUrl, timeout_ms: 5_000, max_concurrency: 2 },
          ],
        },
      },
    })
    const listed = await eventually(
      () => call(configured.app, 'GET', '/api/v1/components/summarizer'),
      (answer) =>
        answer.status === 200 && answer.body.actions.some((a: { name: string }) => a.name === 'summarize'),
      { what: 'configured component with its actions' },
    )
    assert.equal(listed.body.remote.source, 'config')
    assert.equal(listed.body.remote.max_concurrency, 2)
    const direct = await call(configured.app, 'POST', '/api/v1/components/summarizer/actions/summarize', {
      input: { items: [1, 2, 3] },
    })
    assert.equal(direct.status, 200)
    assert.deepEqual(direct.body.output, { summary: '3 items' })
  })
})
