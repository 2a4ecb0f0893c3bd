/**
 * The curl examples of Tekton's README, over real HTTP: POST /api/workflows with the documented two-task
 * definition, POST /api/executions, GET /api/executions/{id} showing task_status and progress.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import type { JsonValue } from '../../src/core/model.ts'
import { eventually, startTestServer, type Answer, type TestServer } from './support.ts'

const tektonWorkflow = {
  name: 'example_workflow',
  description: 'Example workflow',
  version: '1.0',
  tasks: {
    task1: {
      name: 'task1',
      component: 'ergon',
      action: 'execute_command',
      input: { command: 'echo Hello World' },
    },
    task2: {
      name: 'task2',
      component: 'prometheus',
      action: 'analyze_results',
      input: { data: '${tasks.task1.output.result}' },
      depends_on: ['task1'],
      timeout: 600,
      retry: 3,
    },
  },
  input: {
    data_url: { type: 'string', format: 'uri', description: 'Where the data is' },
    analysis_type: { type: 'string', enum: ['basic', 'detailed'], default: 'basic' },
  },
  output: { report: '${tasks.task2.output.report}' },
  metadata: {},
}

async function curl(
  baseUrl: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<Pick<Answer, 'status' | 'body'>> {
  const response = await fetch(`${baseUrl}${path}`, {
    method,
    ...(body === undefined
      ? {}
      : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
  })
  return { status: response.status, body: await response.json() }
}

describe("Tekton README's curl examples", () => {
  describe('without the components registered', () => {
    let server: TestServer
    before(async () => {
      server = await startTestServer({ listen: true })
    })
    after(() => server.close())

    it('saves the workflow, and the execution fails cleanly with component_error', async () => {
      const created = await curl(server.baseUrl, 'POST', '/api/workflows', tektonWorkflow)
      assert.equal(created.status, 201)
      assert.ok(created.body.workflow_id)
      assert.equal(created.body.tasks.task2.retry, 3)

      const started = await curl(server.baseUrl, 'POST', '/api/executions', {
        workflow_id: created.body.workflow_id,
        input: { data_url: 'https://example.org/data.csv' },
      })
      assert.equal(started.status, 201)
      assert.equal(started.body.status, 'pending')
      const id = started.body.execution_id as string

      const detail = await eventually(
        () => curl(server.baseUrl, 'GET', `/api/executions/${id}`),
        (answer) => ['completed', 'failed', 'cancelled'].includes(answer.body.status),
        { what: 'execution end' },
      )
      assert.equal(detail.status, 200)
      assert.equal(detail.body.status, 'failed')
      assert.equal(detail.body.task_status.task1.status, 'failed')
      assert.equal(detail.body.task_status.task1.error.code, 'component_error')
      assert.match(detail.body.task_status.task1.error.message, /ergon/)
      assert.notEqual(detail.body.task_status.task2.status, 'completed')
      assert.equal(detail.body.error.code !== undefined, true)
      assert.equal(detail.body.progress.total_tasks, 2)
      assert.equal(detail.body.progress.current_task, null)
      assert.deepEqual(detail.body.input, {
        data_url: 'https://example.org/data.csv',
        analysis_type: 'basic',
      })
    })
  })

  describe('with ergon and prometheus registered', () => {
    let server: TestServer
    const seen: JsonValue[] = []
    before(async () => {
      server = await startTestServer({ listen: true })
      server.harmonia.components.register({ name: 'ergon', description: 'Tekton agents', kind: 'builtin' }, [
        {
          descriptor: { name: 'execute_command', description: 'runs a command' },
          invoke: async (input) => {
            seen.push(input)
            return { result: `ran: ${(input as { command: string }).command}` }
          },
        },
      ])
      server.harmonia.components.register(
        { name: 'prometheus', description: 'Tekton analysis', kind: 'builtin' },
        [
          {
            descriptor: { name: 'analyze_results', description: 'analyzes data' },
            invoke: async (input) => {
              seen.push(input)
              return { report: `report on ${(input as { data: string }).data}` }
            },
          },
        ],
      )
    })
    after(() => server.close())

    it('runs the two tasks and shows task_status and progress', async () => {
      const created = await curl(server.baseUrl, 'POST', '/api/workflows', tektonWorkflow)
      assert.equal(created.status, 201)
      const started = await curl(server.baseUrl, 'POST', '/api/executions', {
        workflow_id: created.body.workflow_id,
        input: { analysis_type: 'detailed' },
      })
      assert.equal(started.status, 201)
      const detail = await eventually(
        () => curl(server.baseUrl, 'GET', `/api/executions/${started.body.execution_id}`),
        (answer) => answer.body.status === 'completed' || answer.body.status === 'failed',
        { what: 'execution end' },
      )
      assert.equal(detail.body.status, 'completed')
      assert.deepEqual(detail.body.output, { report: 'report on ran: echo Hello World' })
      assert.equal(detail.body.task_status.task1.status, 'completed')
      assert.deepEqual(detail.body.task_status.task1.output, { result: 'ran: echo Hello World' })
      assert.equal(detail.body.task_status.task2.status, 'completed')
      assert.deepEqual(detail.body.progress, {
        completed_tasks: 2,
        total_tasks: 2,
        current_task: null,
        current_tasks: [],
        percent: 100,
      })
      assert.deepEqual(seen, [{ command: 'echo Hello World' }, { data: 'ran: echo Hello World' }])
    })
  })
})
