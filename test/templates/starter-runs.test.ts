/**
 * Starter templates run for real: instantiated and saved through the workflow service, executed by the
 * engine, calling real HTTP servers on 127.0.0.1.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { validateWorkflow } from '../../src/core/validate.ts'
import { createWorkflowService } from '../../src/core/workflows.ts'
import { createTemplateService, type TemplateService } from '../../src/templates/template-service.ts'
import { startServer, type TestServer } from '../components/http-server.ts'
import { createHarness, type Harness } from '../support/engine-harness.ts'

describe('starter templates run', () => {
  let harness: Harness
  let server: TestServer
  let templates: TemplateService

  before(async () => {
    harness = await createHarness()
    server = await startServer()
    const workflows = createWorkflowService({ store: harness.store, components: harness.registry })
    templates = createTemplateService({
      store: harness.store,
      validateWorkflow: (definition) => validateWorkflow(definition, { components: harness.registry }),
      saveWorkflow: (definition) => workflows.create(definition),
    })
    await templates.loadStarterLibrary()
  })

  after(async () => {
    await server.close()
    await harness.close()
  })

  async function run(templateId: string, parameterValues: Record<string, string | number>) {
    const instance = await templates.instantiate(templateId, { parameter_values: parameterValues })
    assert.ok(instance.workflow !== undefined)
    const started = await harness.engine.startExecution({ workflow_id: instance.workflow.workflow_id })
    return harness.engine.waitForExecution(started.execution_id, { timeoutMs: 20_000 })
  }

  it('the health check alerts when the service answers 503', async () => {
    server.route('/down', (_request, response) => response.writeHead(503).end('maintenance'))
    server.route('/alert', (_request, response) =>
      response.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}'),
    )
    const before = server.requests.length
    const finished = await run('starter-http-health-check', {
      url: `${server.baseUrl}/down`,
      alert_url: `${server.baseUrl}/alert`,
      attempts: 1,
    })
    assert.equal(finished.status, 'completed', JSON.stringify(finished.error))
    assert.deepEqual(finished.output, { healthy: false, status: null, alerted: true })
    const alert = server.requests.slice(before).find((request) => request.url === '/alert')
    assert.ok(alert !== undefined, 'the alert was posted')
    const body = JSON.parse(alert.body) as Record<string, unknown>
    assert.match(String(body.text), new RegExp(`^Health check failed for ${server.baseUrl}/down: .*503`))
    assert.deepEqual(
      { url: body.url, expected_status: body.expected_status, status: body.status, error: body.error },
      { url: `${server.baseUrl}/down`, expected_status: 200, status: null, error: 'SERVER_ERROR' },
    )
  })

  it('the health check stays quiet when the service answers as expected', async () => {
    server.route('/up', (_request, response) => response.writeHead(200).end('ok'))
    const before = server.requests.length
    const finished = await run('starter-http-health-check', {
      url: `${server.baseUrl}/up`,
      alert_url: `${server.baseUrl}/alert`,
    })
    assert.equal(finished.status, 'completed')
    assert.deepEqual(finished.output, { healthy: true, status: 200, alerted: false })
    assert.deepEqual(
      server.requests.slice(before).map((request) => request.url),
      ['/up'],
    )
  })

  it('fetch, transform and post forwards the chosen field', async () => {
    server.route('/items', (_request, response) =>
      response
        .writeHead(200, { 'content-type': 'application/json' })
        .end('{"items":[{"id":1},{"id":2}],"next":null}'),
    )
    server.route('/in', (_request, response) => response.writeHead(202).end())
    const before = server.requests.length
    const finished = await run('starter-fetch-transform-post', {
      source_url: `${server.baseUrl}/items`,
      field: 'items',
      target_url: `${server.baseUrl}/in`,
    })
    assert.equal(finished.status, 'completed', JSON.stringify(finished.error))
    assert.deepEqual(finished.output, { posted_status: 202, data: [{ id: 1 }, { id: 2 }] })
    const posted = server.requests.slice(before).find((request) => request.url === '/in')
    assert.ok(posted !== undefined)
    assert.equal(posted.method, 'POST')
    assert.deepEqual(JSON.parse(posted.body), {
      source: `${server.baseUrl}/items`,
      execution_id: finished.execution_id,
      data: [{ id: 1 }, { id: 2 }],
    })
  })

  it('polling retries through pending answers and server errors until the job is ready', async () => {
    const answers = [202, 503, 404, 200]
    let calls = 0
    server.route('/job', (_request, response) => {
      const status = answers[Math.min(calls++, answers.length - 1)]!
      response.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify({ status }))
    })
    const finished = await run('starter-poll-flaky-api', {
      status_url: `${server.baseUrl}/job`,
      initial_delay_ms: 5,
      max_delay_ms: 20,
    })
    assert.equal(finished.status, 'completed', JSON.stringify(finished.error))
    assert.deepEqual(finished.output, { status: 200, body: { status: 200 } })
    assert.equal(calls, 4)
  })
})
