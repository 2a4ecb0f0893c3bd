/** Contract: workflows are kept as revisions; the latest revision is the workflow. */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { ConflictError, InvalidRequestError } from '../../../src/core/errors.ts'
import { at, rejectsWith, workflow, type ContractContext } from './fixtures.ts'

export function workflowContract({ open }: ContractContext): void {
  test('init is idempotent and the store reports healthy', async (t) => {
    const { store } = await open(t)
    await store.init()
    assert.deepEqual(await store.health(), { ok: true })
  })

  test('every save adds a revision; the latest is the workflow, any revision can be read', async (t) => {
    const { store } = await open(t)
    assert.equal(await store.getWorkflow('wf-a'), undefined)
    assert.deepEqual(await store.listWorkflowRevisions('wf-a'), [])
    const first = workflow('wf-a', 1, { name: 'first' })
    const second = workflow('wf-a', 2, { name: 'second', created_at: at(1), updated_at: at(2) })
    const draft = workflow('wf-a', 3, {
      name: 'third',
      status: 'draft',
      created_at: at(1),
      updated_at: at(3),
    })
    await store.saveWorkflow(first)
    await store.saveWorkflow(second)
    assert.deepEqual(await store.getWorkflow('wf-a'), second)
    await store.saveWorkflow(draft)
    assert.deepEqual(await store.getWorkflow('wf-a'), draft)
    assert.deepEqual(await store.getWorkflow('wf-a', 1), first)
    assert.deepEqual(await store.getWorkflow('wf-a', 2), second)
    assert.equal(await store.getWorkflow('wf-a', 9), undefined)
    assert.deepEqual(await store.listWorkflowRevisions('wf-a'), [first, second, draft])
  })

  test('saving a revision that is already stored is a conflict and changes nothing', async (t) => {
    const { store } = await open(t)
    await store.saveWorkflow(workflow('wf-a', 1, { name: 'kept' }))
    await rejectsWith(
      store.saveWorkflow(workflow('wf-a', 1, { name: 'other' })),
      ConflictError,
      'conflict',
      /already stored/,
    )
    assert.equal((await store.getWorkflow('wf-a'))?.definition.name, 'kept')
    assert.equal((await store.listWorkflowRevisions('wf-a')).length, 1)
  })

  test('returned workflows are copies; changing one changes nothing stored', async (t) => {
    const { store } = await open(t)
    const record = workflow('wf-a', 1)
    await store.saveWorkflow(record)
    record.definition.name = 'changed after save'
    const read = (await store.getWorkflow('wf-a'))!
    assert.equal(read.definition.name, 'wf-a')
    read.definition.tasks['a']!.component = 'mutated'
    const listed = await store.listWorkflows({})
    listed.items[0]!.definition.name = 'mutated'
    const again = (await store.getWorkflow('wf-a'))!
    assert.equal(again.definition.tasks['a']!.component, 'core')
    assert.equal(again.definition.name, 'wf-a')
  })

  test('listWorkflows: the latest revision of each, paged, sorted by created_at desc by default', async (t) => {
    const { store } = await open(t)
    for (let i = 1; i <= 5; i++) {
      await store.saveWorkflow(workflow(`wf-${i}`, 1, { created_at: at(i), updated_at: at(10 - i) }))
    }
    await store.saveWorkflow(workflow('wf-2', 2, { created_at: at(2), updated_at: at(20), name: 'second' }))
    const first = await store.listWorkflows({ limit: 2 })
    assert.equal(first.total, 5)
    assert.equal(first.page, 1)
    assert.equal(first.limit, 2)
    assert.deepEqual(
      first.items.map((w) => w.workflow_id),
      ['wf-5', 'wf-4'],
    )
    const third = await store.listWorkflows({ limit: 2, page: 3 })
    assert.deepEqual(
      third.items.map((w) => w.workflow_id),
      ['wf-1'],
    )
    assert.equal(third.total, 5)
    const beyond = await store.listWorkflows({ limit: 2, page: 4 })
    assert.deepEqual(beyond.items, [])
    assert.equal(beyond.total, 5)
    const all = await store.listWorkflows({ limit: 10 })
    const two = all.items.find((w) => w.workflow_id === 'wf-2')!
    assert.equal(two.revision, 2)
    assert.equal(two.definition.name, 'second')
    const defaults = await store.listWorkflows({})
    assert.equal(defaults.page, 1)
    assert.equal(defaults.limit, 20)
  })

  test('listWorkflows sorts by created_at, updated_at or name in either order, ties by workflow_id', async (t) => {
    const { store } = await open(t)
    await store.saveWorkflow(workflow('b', 1, { name: 'Zeta', created_at: at(1), updated_at: at(30) }))
    await store.saveWorkflow(workflow('a', 1, { name: 'alpha', created_at: at(1), updated_at: at(10) }))
    await store.saveWorkflow(workflow('c', 1, { name: 'Beta', created_at: at(2), updated_at: at(20) }))
    const ids = async (query: Parameters<typeof store.listWorkflows>[0]): Promise<string[]> =>
      (await store.listWorkflows(query)).items.map((w) => w.workflow_id)
    assert.deepEqual(await ids({ sort_by: 'created_at', sort_order: 'asc' }), ['a', 'b', 'c'])
    assert.deepEqual(await ids({ sort_by: 'created_at', sort_order: 'desc' }), ['c', 'b', 'a'])
    assert.deepEqual(await ids({ sort_by: 'updated_at', sort_order: 'asc' }), ['a', 'c', 'b'])
    assert.deepEqual(await ids({ sort_by: 'updated_at' }), ['b', 'c', 'a'])
    // Names compare as text, upper case before lower case.
    assert.deepEqual(await ids({ sort_by: 'name', sort_order: 'asc' }), ['c', 'b', 'a'])
    assert.deepEqual(await ids({ sort_by: 'name', sort_order: 'desc' }), ['a', 'b', 'c'])
  })

  test('listWorkflows searches name and description, case-insensitively, as plain text', async (t) => {
    const { store } = await open(t)
    await store.saveWorkflow(workflow('w1', 1, { name: 'Nightly Import' }))
    await store.saveWorkflow(workflow('w2', 1, { name: 'report', description: 'Builds the IMPORT report' }))
    await store.saveWorkflow(workflow('w3', 1, { name: 'cleanup' }))
    await store.saveWorkflow(workflow('w4', 1, { name: 'discount 50%_off' }))
    await store.saveWorkflow(workflow('w5', 1, { name: 'discount 500 off' }))
    const ids = async (search: string): Promise<string[]> =>
      (await store.listWorkflows({ search, sort_by: 'name', sort_order: 'asc' })).items.map(
        (w) => w.workflow_id,
      )
    assert.deepEqual(await ids('import'), ['w1', 'w2'])
    assert.deepEqual(await ids('NIGHTLY'), ['w1'])
    assert.deepEqual(await ids('50%_'), ['w4'])
    assert.deepEqual(await ids('nothing like it'), [])
    const page = await store.listWorkflows({ search: 'import', limit: 1 })
    assert.equal(page.total, 2)
    assert.equal(page.items.length, 1)
    assert.equal((await store.listWorkflows({ search: '' })).total, 5)
  })

  test('listWorkflows includes workflows whose latest revision is a draft unless include_drafts is false', async (t) => {
    const { store } = await open(t)
    await store.saveWorkflow(workflow('published', 1))
    await store.saveWorkflow(workflow('draft-only', 1, { status: 'draft' }))
    await store.saveWorkflow(workflow('draft-on-top', 1))
    await store.saveWorkflow(workflow('draft-on-top', 2, { status: 'draft' }))
    const ids = async (include_drafts?: boolean): Promise<string[]> =>
      (
        await store.listWorkflows({
          sort_by: 'name',
          sort_order: 'asc',
          ...(include_drafts === undefined ? {} : { include_drafts }),
        })
      ).items.map((w) => w.workflow_id)
    assert.deepEqual(await ids(), ['draft-on-top', 'draft-only', 'published'])
    assert.deepEqual(await ids(true), ['draft-on-top', 'draft-only', 'published'])
    assert.deepEqual(await ids(false), ['published'])
    assert.equal((await store.listWorkflows({ include_drafts: false })).total, 1)
  })

  test('listWorkflows refuses unknown sorts and bad pages, naming the field', async (t) => {
    const { store } = await open(t)
    await rejectsWith(
      store.listWorkflows({ sort_by: 'definition; DROP TABLE workflows' }),
      InvalidRequestError,
      'invalid_request',
      /sort_by must be one of created_at, updated_at, name/,
    )
    await rejectsWith(
      store.listWorkflows({ sort_order: 'sideways' as 'asc' }),
      InvalidRequestError,
      'invalid_request',
      /sort_order must be asc or desc/,
    )
    await rejectsWith(
      store.listWorkflows({ page: 0 }),
      InvalidRequestError,
      'invalid_request',
      /page must be an integer >= 1, got 0/,
    )
    await rejectsWith(
      store.listWorkflows({ limit: 2.5 }),
      InvalidRequestError,
      'invalid_request',
      /limit must be an integer >= 1, got 2.5/,
    )
  })

  test('deleteWorkflow removes every revision and says whether there was one', async (t) => {
    const { store } = await open(t)
    await store.saveWorkflow(workflow('gone', 1))
    await store.saveWorkflow(workflow('gone', 2))
    await store.saveWorkflow(workflow('kept', 1))
    assert.equal(await store.deleteWorkflow('gone'), true)
    assert.equal(await store.getWorkflow('gone'), undefined)
    assert.equal(await store.getWorkflow('gone', 1), undefined)
    assert.deepEqual(await store.listWorkflowRevisions('gone'), [])
    assert.deepEqual(
      (await store.listWorkflows({})).items.map((w) => w.workflow_id),
      ['kept'],
    )
    assert.equal(await store.deleteWorkflow('gone'), false)
    assert.equal(await store.deleteWorkflow('never-was'), false)
    // The id can be used again from revision 1.
    await store.saveWorkflow(workflow('gone', 1, { name: 'reborn' }))
    assert.equal((await store.getWorkflow('gone'))?.definition.name, 'reborn')
  })
}
