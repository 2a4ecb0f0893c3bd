import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { call, errorOf, startTestServer, twoTaskWorkflow, type TestServer } from './support.ts'

describe('workflow routes', () => {
  let server: TestServer
  before(async () => {
    server = await startTestServer()
  })
  after(() => server.close())

  it('creates a workflow: 201, the definition with workflow_id, created_at and updated_at', async () => {
    const created = await call(server.app, 'POST', '/api/v1/workflows', twoTaskWorkflow)
    assert.equal(created.status, 201)
    assert.match(created.body.workflow_id, /^wf-/)
    assert.equal(created.body.name, 'two_steps')
    assert.equal(created.body.description, 'echo then echo')
    assert.deepEqual(Object.keys(created.body.tasks).sort(), ['first', 'second'])
    assert.equal(created.body.tasks.second.depends_on[0], 'first')
    assert.ok(!Number.isNaN(Date.parse(created.body.created_at)))
    assert.equal(created.body.created_at, created.body.updated_at)
    assert.equal(created.body.revision, 1)
    assert.equal(created.body.status, 'published')

    const fetched = await call(server.app, 'GET', `/api/v1/workflows/${created.body.workflow_id}`)
    assert.equal(fetched.status, 200)
    assert.deepEqual(fetched.body, created.body)
    // The /api alias serves the same resource.
    const alias = await call(server.app, 'GET', `/api/workflows/${created.body.workflow_id}`)
    assert.deepEqual(alias.body, created.body)
  })

  it('accepts tasks as a list of objects with names, and a workflow_id chosen by the client', async () => {
    const created = await call(server.app, 'POST', '/api/workflows', {
      workflow_id: 'listed-tasks',
      name: 'listed',
      tasks: [
        { name: 'a', component: 'probe', action: 'echo', input: {} },
        { name: 'b', component: 'probe', action: 'echo', depends_on: ['a'] },
      ],
    })
    assert.equal(created.status, 201)
    assert.equal(created.body.workflow_id, 'listed-tasks')
    assert.deepEqual(Object.keys(created.body.tasks).sort(), ['a', 'b'])
    const again = await call(server.app, 'POST', '/api/workflows', {
      ...twoTaskWorkflow,
      workflow_id: 'listed-tasks',
    })
    assert.equal(again.status, 409)
    assert.equal(errorOf(again).code, 'conflict')
  })

  it('answers 422 validation_error listing every problem with task, field and message', async () => {
    const answer = await call(server.app, 'POST', '/api/v1/workflows', {
      name: 'broken',
      tasks: {
        fetch: { name: 'fetch', component: 'probe', action: 'echo' },
        store: { name: 'store', component: 'probe', action: 'echo', depends_on: ['fech'] },
        loop: { name: 'loop', component: 'probe', depends_on: ['loop'] },
      },
    })
    assert.equal(answer.status, 422)
    const error = errorOf(answer)
    assert.equal(error.code, 'validation_error')
    const errors = (error.details as { errors: Array<{ task?: string; field?: string; message: string }> })
      .errors
    assert.ok(errors.length >= 2, JSON.stringify(errors))
    const unknownDependency = errors.find((e) => e.task === 'store')
    assert.ok(unknownDependency, JSON.stringify(errors))
    assert.match(unknownDependency.field ?? '', /depends_on/)
    assert.match(unknownDependency.message, /fech/)
    assert.ok(
      errors.some((e) => e.task === 'loop'),
      JSON.stringify(errors),
    )
    for (const e of errors) assert.equal(typeof e.message, 'string')
  })

  it('refuses an action a registered component lacks; accepts a component that may register later', async () => {
    const answer = await call(server.app, 'POST', '/api/v1/workflows', {
      name: 'typo',
      tasks: { greet: { name: 'greet', component: 'core', action: 'ehco' } },
    })
    assert.equal(answer.status, 422, JSON.stringify(answer.body))
    const errors = (
      errorOf(answer).details as { errors: Array<{ task?: string; field?: string; message: string }> }
    ).errors
    assert.deepEqual(
      errors.map((e) => [e.task, e.field]),
      [['greet', 'action']],
    )
    assert.match(errors[0]!.message, /component 'core' has no action 'ehco'; available actions: .*echo/)
    const later = await call(server.app, 'POST', '/api/v1/workflows', {
      name: 'remote-later',
      tasks: { call: { name: 'call', component: 'not-registered-yet', action: 'run' } },
    })
    assert.equal(later.status, 201, JSON.stringify(later.body))
  })

  it('answers 400 invalid_request when the body is not an object', async () => {
    const answer = await call(server.app, 'POST', '/api/v1/workflows', [1, 2])
    assert.equal(answer.status, 400)
    assert.equal(errorOf(answer).code, 'invalid_request')
    assert.match(errorOf(answer).message, /object/)
  })

  it('validates without saving: every issue, and valid: true for a good definition', async () => {
    const bad = await call(server.app, 'POST', '/api/v1/workflows/validate', {
      name: 'x',
      tasks: {
        a: { name: 'a', component: 'nope', action: 'none' },
        b: { name: 'b', component: 'probe', action: 'echo', depends_on: ['zz'] },
      },
    })
    assert.equal(bad.status, 200)
    assert.equal(bad.body.valid, false)
    assert.ok(
      bad.body.errors.some((e: { task?: string }) => e.task === 'a'),
      JSON.stringify(bad.body),
    )
    assert.ok(
      bad.body.errors.some((e: { task?: string }) => e.task === 'b'),
      JSON.stringify(bad.body),
    )
    const good = await call(server.app, 'POST', '/api/workflows/validate', twoTaskWorkflow)
    assert.deepEqual(good.body, { valid: true, errors: [] })
  })

  it('updates with PUT (a new revision), keeps versions, saves drafts, deletes', async () => {
    const created = await call(server.app, 'POST', '/api/v1/workflows', {
      ...twoTaskWorkflow,
      name: 'versioned',
    })
    const id = created.body.workflow_id as string
    const updated = await call(server.app, 'PUT', `/api/v1/workflows/${id}`, {
      ...created.body,
      description: 'second revision',
    })
    assert.equal(updated.status, 200)
    assert.equal(updated.body.revision, 2)
    assert.equal(updated.body.description, 'second revision')
    assert.equal(updated.body.created_at, created.body.created_at)

    const draft = await call(server.app, 'POST', `/api/v1/workflows/${id}/draft`, {
      ...twoTaskWorkflow,
      name: 'versioned',
      description: 'draft',
    })
    assert.equal(draft.status, 200)
    assert.equal(draft.body.status, 'draft')
    assert.equal(draft.body.revision, 3)

    const versions = await call(server.app, 'GET', `/api/v1/workflows/${id}/versions`)
    assert.equal(versions.status, 200)
    assert.deepEqual(
      versions.body.items.map((v: { revision: number; status: string }) => [v.revision, v.status]),
      [
        [1, 'published'],
        [2, 'published'],
        [3, 'draft'],
      ],
    )
    const first = await call(server.app, 'GET', `/api/v1/workflows/${id}?revision=1`)
    assert.equal(first.body.description, 'echo then echo')

    // The draft does not run: an execution by workflow_id takes the latest published revision (2); the
    // draft runs only when asked for by its revision.
    const run = await call(server.app, 'POST', '/api/v1/executions', {
      workflow_id: id,
      input: { value: 'a' },
    })
    assert.equal(run.status, 201, JSON.stringify(run.body))
    assert.equal(run.body.workflow_revision, 2)
    const draftRun = await call(server.app, 'POST', '/api/v1/executions', {
      workflow_id: id,
      revision: 3,
      input: { value: 'a' },
    })
    assert.equal(draftRun.status, 201, JSON.stringify(draftRun.body))
    assert.equal(draftRun.body.workflow_revision, 3)

    const deleted = await call(server.app, 'DELETE', `/api/v1/workflows/${id}`)
    assert.equal(deleted.status, 200)
    assert.equal(deleted.body.success, true)
    assert.equal(typeof deleted.body.message, 'string')
    const gone = await call(server.app, 'GET', `/api/v1/workflows/${id}`)
    assert.equal(gone.status, 404)
    assert.equal(errorOf(gone).code, 'workflow_not_found')
    assert.equal(errorOf(gone).message, `Workflow with ID '${id}' not found`)
    const deleteAgain = await call(server.app, 'DELETE', `/api/workflows/${id}`)
    assert.equal(errorOf(deleteAgain).code, 'workflow_not_found')
    const putMissing = await call(server.app, 'PUT', `/api/workflows/${id}`, twoTaskWorkflow)
    assert.equal(putMissing.status, 404)
  })

  it('a first draft creates an unpublished workflow (201)', async () => {
    const answer = await call(server.app, 'POST', '/api/v1/workflows/draft-only/draft', {
      ...twoTaskWorkflow,
      name: 'drafty',
    })
    assert.equal(answer.status, 201)
    assert.equal(answer.body.workflow_id, 'draft-only')
    assert.equal(answer.body.status, 'draft')
    const run = await call(server.app, 'POST', '/api/v1/executions', { workflow_id: 'draft-only' })
    assert.equal(run.status, 409, JSON.stringify(run.body))
    assert.match(errorOf(run).message, /has only drafts/)
  })

  it('lists with paging, sorting and search: {items, total, page, limit}', async () => {
    const local = await startTestServer()
    try {
      for (const name of ['alpha', 'bravo', 'charlie', 'delta', 'echo']) {
        const created = await call(local.app, 'POST', '/api/v1/workflows', {
          ...twoTaskWorkflow,
          name,
          description: `the ${name} flow`,
        })
        assert.equal(created.status, 201)
      }
      const firstPage = await call(local.app, 'GET', '/api/v1/workflows?limit=2&sort_by=name&sort_order=asc')
      assert.equal(firstPage.status, 200)
      assert.deepEqual(
        { total: firstPage.body.total, page: firstPage.body.page, limit: firstPage.body.limit },
        { total: 5, page: 1, limit: 2 },
      )
      assert.deepEqual(
        firstPage.body.items.map((w: { name: string }) => w.name),
        ['alpha', 'bravo'],
      )
      const third = await call(
        local.app,
        'GET',
        '/api/v1/workflows?limit=2&page=3&sort_by=name&sort_order=asc',
      )
      assert.deepEqual(
        third.body.items.map((w: { name: string }) => w.name),
        ['echo'],
      )
      const desc = await call(local.app, 'GET', '/api/workflows?sort_by=name&sort_order=desc')
      assert.equal(desc.body.items[0].name, 'echo')
      assert.equal(desc.body.limit, 20)
      const search = await call(local.app, 'GET', '/api/v1/workflows?search=CHAR')
      assert.deepEqual(
        search.body.items.map((w: { name: string }) => w.name),
        ['charlie'],
      )
      assert.ok(search.body.items[0].workflow_id)

      const tooMany = await call(local.app, 'GET', '/api/v1/workflows?limit=1001')
      assert.equal(tooMany.status, 400)
      assert.equal(errorOf(tooMany).code, 'invalid_request')
      assert.match(errorOf(tooMany).message, /limit/)
      const badSort = await call(local.app, 'GET', '/api/v1/workflows?sort_by=color')
      assert.equal(badSort.status, 400)
      assert.match(errorOf(badSort).message, /sort_by/)
    } finally {
      await local.close()
    }
  })

  it('executes a saved workflow: POST /workflows/{id}/execute', async () => {
    const created = await call(server.app, 'POST', '/api/workflows', { ...twoTaskWorkflow, name: 'runnable' })
    const started = await call(server.app, 'POST', `/api/workflows/${created.body.workflow_id}/execute`, {
      input: { value: 'hi' },
    })
    assert.equal(started.status, 201)
    assert.equal(started.body.workflow_id, created.body.workflow_id)
    assert.match(started.body.execution_id, /^exec-/)
    const done = await server.harmonia.engine.waitForExecution(started.body.execution_id, {
      timeoutMs: 10_000,
    })
    assert.equal(done.status, 'completed')
    assert.deepEqual(done.output, { result: 'hi' })
    const missing = await call(server.app, 'POST', '/api/v1/workflows/nope/execute', {})
    assert.equal(missing.status, 404)
    assert.equal(errorOf(missing).code, 'workflow_not_found')
  })
})
