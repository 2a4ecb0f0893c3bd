/**
 * Signals and approvals. In process: a signal's payload becomes the output of `core.wait_for_signal`; a
 * signal sent before the wait is kept; a name is signalled once; timeouts fail or continue; cancelling
 * aborts the wait. Across kill -9 (`harmonia serve` on SQLite): an approval workflow keeps waiting after a
 * restart, keeps its timeout's original deadline, and continues when the signal arrives.
 */
import assert from 'node:assert/strict'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { after, before, describe, it } from 'node:test'
import { parse as parseYaml } from 'yaml'
import { call, eventually, startTestServer, type TestServer } from '../api/support.ts'
import { Receiver } from './notifications-receiver.ts'
import { api, serve, type Serve } from './notifications-serve.ts'

/** The shipped example (examples/approval.yaml), as a client would send it. */
const approvalExample = async (): Promise<object> =>
  parseYaml(await readFile(new URL('../../examples/approval.yaml', import.meta.url), 'utf8')) as object

describe('signals in process', () => {
  let server: TestServer
  before(async () => {
    server = await startTestServer()
  })
  after(() => server.close())

  const start = async (tasks: object) => {
    const started = await call(server.app, 'POST', '/api/v1/executions', {
      workflow: { name: 'signals', tasks },
    })
    assert.equal(started.status, 201, JSON.stringify(started.body))
    return started.body.execution_id as string
  }
  const finished = (id: string) =>
    eventually(
      () => call(server.app, 'GET', `/api/v1/executions/${id}`),
      (answer) => ['completed', 'failed', 'cancelled'].includes(answer.body.status),
      { what: `execution ${id} finished` },
    )
  const waiting = (id: string) =>
    eventually(
      () => call(server.app, 'GET', `/api/v1/executions/${id}/signals`),
      (answer) => answer.body.waiting?.length === 1,
      { what: `execution ${id} waiting for a signal` },
    )

  it('gives the payload to the waiting task as its output', async () => {
    const id = await start({
      wait: { name: 'wait', component: 'core', action: 'wait_for_signal', input: { name: 'go' } },
      after: {
        name: 'after',
        component: 'core',
        action: 'echo',
        depends_on: ['wait'],
        input: { got: '${tasks.wait.output.note}' },
      },
    })
    const listed = await waiting(id)
    assert.equal(listed.body.waiting[0].name, 'go')
    assert.equal(listed.body.waiting[0].task, 'wait')
    const sent = await call(server.app, 'POST', `/api/v1/executions/${id}/signals/go`, { note: 'hello' })
    assert.equal(sent.status, 202, JSON.stringify(sent.body))
    const done = await finished(id)
    assert.equal(done.body.status, 'completed')
    assert.deepEqual(done.body.task_status.wait.output, { note: 'hello' })
    assert.deepEqual(done.body.task_status.after.output, { got: 'hello' })
  })

  it('keeps a signal sent before the task waits, and takes a name once', async () => {
    const id = await start({
      first: { name: 'first', component: 'core', action: 'wait_for_signal', input: { name: 'one' } },
      second: {
        name: 'second',
        component: 'core',
        action: 'wait_for_signal',
        depends_on: ['first'],
        input: { name: 'two' },
      },
    })
    const early = await call(server.app, 'POST', `/api/v1/executions/${id}/signals/two`, { n: 2 })
    assert.equal(early.status, 202)
    const twice = await call(server.app, 'POST', `/api/v1/executions/${id}/signals/two`, { n: 3 })
    assert.equal(twice.status, 409)
    assert.match(twice.body.error.message, /already received signal 'two'/)
    await call(server.app, 'POST', `/api/v1/executions/${id}/signals/one`, { n: 1 })
    const done = await finished(id)
    assert.deepEqual(done.body.task_status.second.output, { n: 2 })
    const late = await call(server.app, 'POST', `/api/v1/executions/${id}/signals/three`, {})
    assert.equal(late.status, 409)
    assert.equal(late.body.error.code, 'conflict')
    assert.equal(late.body.error.details.reason, 'invalid_state')
    const unknown = await call(server.app, 'POST', '/api/v1/executions/exec-nope/signals/x', {})
    assert.equal(unknown.status, 404)
    assert.equal(unknown.body.error.code, 'execution_not_found')
  })

  it('fails or continues with the default output when the timeout passes', async () => {
    const failing = await start({
      wait: {
        name: 'wait',
        component: 'core',
        action: 'wait_for_signal',
        input: { name: 'x', timeout_seconds: 0.2 },
      },
    })
    const failed = await finished(failing)
    assert.equal(failed.body.status, 'failed')
    assert.equal(failed.body.task_status.wait.error.code, 'SIGNAL_TIMEOUT')
    // A rerun waits anew (a new deadline), and takes the signal.
    const rerun = await call(server.app, 'POST', `/api/v1/executions/${failing}/rerun`, {})
    assert.equal(rerun.status, 200, JSON.stringify(rerun.body))
    await call(server.app, 'POST', `/api/v1/executions/${failing}/signals/x`, { late: true })
    const rerunDone = await finished(failing)
    assert.equal(rerunDone.body.status, 'completed')
    assert.deepEqual(rerunDone.body.task_status.wait.output, { late: true })
    const continuing = await start({
      wait: {
        name: 'wait',
        component: 'core',
        action: 'wait_for_signal',
        input: {
          name: 'x',
          timeout_seconds: 0.2,
          timeout_outcome: 'continue',
          default_output: { approved: false },
        },
      },
    })
    const continued = await finished(continuing)
    assert.equal(continued.body.status, 'completed')
    assert.deepEqual(continued.body.task_status.wait.output, { approved: false })
  })

  it('stops waiting when the execution is cancelled, and refuses bad input', async () => {
    const id = await start({
      wait: { name: 'wait', component: 'core', action: 'wait_for_signal', input: { name: 'never' } },
    })
    await waiting(id)
    await call(server.app, 'POST', `/api/v1/executions/${id}/cancel`, {})
    assert.equal((await finished(id)).body.status, 'cancelled')
    const bad = await call(server.app, 'POST', '/api/v1/executions?wait=true', {
      workflow: {
        name: 'bad_wait',
        tasks: {
          wait: {
            name: 'wait',
            component: 'core',
            action: 'wait_for_signal',
            input: { timeout_seconds: -1 },
          },
        },
      },
    })
    assert.equal(bad.body.status, 'failed')
    assert.equal(bad.body.error.code, 'INVALID_INPUT')
    assert.match(bad.body.error.message, /input\.name: is required; input\.timeout_seconds: must be > 0/)
  })
})

describe('an approval across kill -9', () => {
  let dir: string
  const deploy = new Receiver()
  const servers: Serve[] = []
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'harmonia-approval-'))
    await deploy.start()
  })
  after(async () => {
    for (const server of servers) await server.kill()
    await deploy.stop()
    await rm(dir, { recursive: true, force: true })
  })

  it('waits across a restart and continues when the signal arrives; a timeout keeps its deadline', async () => {
    const first = await serve(dir)
    servers.push(first)
    const created = await api(first.url, 'POST', '/api/v1/workflows', await approvalExample())
    assert.equal(created.status, 201, JSON.stringify(created.body))
    const started = await api(first.url, 'POST', '/api/v1/executions', {
      workflow_id: created.body.workflow_id,
      input: { version: '2.0.0', deploy_url: `${deploy.url}/deploy` },
    })
    const id = started.body.execution_id as string
    const timed = await api(first.url, 'POST', '/api/v1/executions', {
      workflow: {
        name: 'timed_approval',
        tasks: {
          approve: {
            name: 'approve',
            component: 'core',
            action: 'wait_for_signal',
            input: {
              name: 'approval',
              timeout_seconds: 6,
              timeout_outcome: 'continue',
              default_output: { approved: false },
            },
          },
        },
        output: { approved: '${tasks.approve.output.approved}' },
      },
    })
    const timedId = timed.body.execution_id as string
    const waitsBefore = new Map<string, string>()
    for (const execution of [id, timedId]) {
      const listed = await eventually(
        () => api(first.url, 'GET', `/api/v1/executions/${execution}/signals`),
        (answer) => answer.body.waiting?.length === 1,
        { what: `${execution} waiting` },
      )
      waitsBefore.set(execution, listed.body.waiting[0].deadline_at)
    }
    await first.kill()

    const second = await serve(dir)
    servers.push(second)
    const still = await api(second.url, 'GET', `/api/v1/executions/${id}`)
    assert.equal(still.body.status, 'running')
    assert.equal(still.body.task_status.approve.status, 'running')
    const timedAfter = await api(second.url, 'GET', `/api/v1/executions/${timedId}/signals`)
    assert.equal(timedAfter.body.waits[0].deadline_at, waitsBefore.get(timedId), 'the deadline is kept')
    assert.equal(deploy.received.length, 0, 'nothing deployed before the approval')

    const sent = await api(second.url, 'POST', `/api/v1/executions/${id}/signals/approval`, {
      approved: true,
      by: 'ada',
    })
    assert.equal(sent.status, 202, JSON.stringify(sent.body))
    const done = await eventually(
      () => api(second.url, 'GET', `/api/v1/executions/${id}`),
      (answer) => ['completed', 'failed', 'cancelled'].includes(answer.body.status),
      { what: 'approved execution finished', timeoutMs: 20_000 },
    )
    assert.equal(done.body.status, 'completed', JSON.stringify(done.body))
    assert.deepEqual(done.body.task_status.approve.output, { approved: true, by: 'ada' })
    assert.equal(deploy.received.length, 1)
    assert.deepEqual(JSON.parse(deploy.received[0]!.body), { version: '2.0.0', approved_by: 'ada' })
    assert.deepEqual(done.body.output, { approved: true, approved_by: 'ada', deployed: true })

    const timedDone = await eventually(
      () => api(second.url, 'GET', `/api/v1/executions/${timedId}`),
      (answer) => answer.body.status === 'completed',
      { what: 'timed approval continued after its deadline', timeoutMs: 20_000 },
    )
    assert.deepEqual(timedDone.body.task_status.approve.output, { approved: false })
    const deadline = Date.parse(waitsBefore.get(timedId)!)
    assert.ok(Date.parse(timedDone.body.task_status.approve.completed_at) >= deadline - 50)
  })
})
