/** Contract: generic documents, once-marks and notifications. */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { InvalidRequestError } from '../../../src/core/errors.ts'
import { eventually, execution, rejectsWith, type ContractContext } from './fixtures.ts'

export function documentContract({ open }: ContractContext): void {
  test('documents are put, read, replaced and deleted per collection, as copies', async (t) => {
    const { store } = await open(t)
    const doc = { name: 'hook', config: { url: 'https://example.test', retries: [1, 2] } }
    await store.putDocument('webhooks', 'w-1', doc)
    assert.deepEqual(await store.getDocument('webhooks', 'w-1'), doc)
    assert.equal(await store.getDocument('templates', 'w-1'), undefined)
    doc.name = 'changed by the caller'
    const read = (await store.getDocument('webhooks', 'w-1'))!
    assert.equal(read['name'], 'hook')
    read['name'] = 'mutated'
    assert.equal((await store.getDocument('webhooks', 'w-1'))!['name'], 'hook')
    await store.putDocument('webhooks', 'w-1', { name: 'replaced' })
    assert.deepEqual(await store.getDocument('webhooks', 'w-1'), { name: 'replaced' })
    assert.equal(await store.deleteDocument('webhooks', 'w-1'), true)
    assert.equal(await store.getDocument('webhooks', 'w-1'), undefined)
    assert.equal(await store.deleteDocument('webhooks', 'w-1'), false)
    assert.equal(await store.deleteDocument('nowhere', 'x'), false)
  })

  test('listDocuments pages in id order with a full total; collections are separate', async (t) => {
    const { store } = await open(t)
    for (const id of ['d', 'b', 'e', 'a', 'c']) await store.putDocument('things', id, { id })
    await store.putDocument('others', 'z', { id: 'z' })
    const first = await store.listDocuments('things', { limit: 2 })
    assert.deepEqual(first, { items: [{ id: 'a' }, { id: 'b' }], total: 5, page: 1, limit: 2 })
    const third = await store.listDocuments('things', { limit: 2, page: 3 })
    assert.deepEqual(third, { items: [{ id: 'e' }], total: 5, page: 3, limit: 2 })
    const desc = await store.listDocuments('things', { sort_order: 'desc', limit: 3 })
    assert.deepEqual(
      desc.items.map((d) => d['id']),
      ['e', 'd', 'c'],
    )
    const defaults = await store.listDocuments('things')
    assert.equal(defaults.limit, 20)
    assert.equal(defaults.items.length, 5)
    assert.deepEqual(await store.listDocuments('empty'), { items: [], total: 0, page: 1, limit: 20 })
    await rejectsWith(
      store.listDocuments('things', { sort_by: 'name' }),
      InvalidRequestError,
      'invalid_request',
      /sort_by must be one of id/,
    )
  })

  test('where matches top-level fields by equal value and type; null matches only a present null', async (t) => {
    const { store } = await open(t)
    const docs: Record<string, Record<string, string | number | boolean | null | object>> = {
      a: { ref: 'a', kind: 'hook', enabled: true, retries: 3, owner: null, 'dotted.key': 'x', 'quo"te': 'q' },
      b: { ref: 'b', kind: 'hook', enabled: false, retries: 3.5, owner: 'ann' },
      c: { ref: 'c', kind: 'schedule', enabled: true, retries: 1, nested: { kind: 'hook' } },
      d: { ref: 'd', kind: 'hook', enabled: 1, retries: '3', dotted: { key: 'x' } },
      e: { ref: 'e', kind: 'Hook', enabled: 'true' },
    }
    for (const [id, doc] of Object.entries(docs)) {
      await store.putDocument('c', id, doc as Record<string, never>)
    }
    const ids = async (where: Record<string, string | number | boolean | null>): Promise<unknown[]> =>
      (await store.listDocuments('c', { where })).items.map((d) => d['ref'])
    assert.deepEqual(await ids({ kind: 'hook' }), ['a', 'b', 'd'])
    assert.deepEqual(await ids({ kind: 'hook', enabled: true }), ['a'])
    assert.deepEqual(await ids({ enabled: false }), ['b'])
    assert.deepEqual(await ids({ enabled: 'true' }), ['e'])
    assert.deepEqual(await ids({ retries: 3 }), ['a'])
    assert.deepEqual(await ids({ retries: 3.5 }), ['b'])
    assert.deepEqual(await ids({ retries: '3' }), ['d'])
    assert.deepEqual(await ids({ owner: null }), ['a'])
    assert.deepEqual(await ids({ 'dotted.key': 'x' }), ['a'])
    assert.deepEqual(await ids({ 'quo"te': 'q' }), ['a'])
    assert.deepEqual(await ids({ kind: 'nothing' }), [])
    assert.deepEqual(await ids({}), ['a', 'b', 'c', 'd', 'e'])
    const page = await store.listDocuments('c', { where: { kind: 'hook' }, limit: 2, page: 2 })
    assert.equal(page.total, 3)
    assert.equal(page.items.length, 1)
    await rejectsWith(
      store.listDocuments('c', { where: { kind: ['hook'] as unknown as string } }),
      InvalidRequestError,
      'invalid_request',
      /where\.kind/,
    )
  })

  test('documents written in a commit land with the batch, deletes included', async (t) => {
    const { store } = await open(t)
    await store.putDocument('outbox', 'old', { n: 0 })
    await store.commit({
      executions: [execution('ex-1')],
      documents: [
        { collection: 'outbox', id: 'new', doc: { n: 1 } },
        { collection: 'outbox', id: 'old', doc: null },
        { collection: 'outbox', id: 'twice', doc: { n: 1 } },
        { collection: 'outbox', id: 'twice', doc: { n: 2 } },
      ],
    })
    assert.deepEqual(await store.getDocument('outbox', 'new'), { n: 1 })
    assert.equal(await store.getDocument('outbox', 'old'), undefined)
    assert.deepEqual(await store.getDocument('outbox', 'twice'), { n: 2 })
    assert.equal((await store.listDocuments('outbox')).total, 2)
  })

  test('markOnce records a key once per scope; without a TTL forever', async (t) => {
    const { store } = await open(t)
    assert.equal(await store.markOnce('schedules', 'wf-1@2024-01-01T00:00'), true)
    assert.equal(await store.markOnce('schedules', 'wf-1@2024-01-01T00:00'), false)
    assert.equal(await store.markOnce('schedules', 'wf-1@2024-01-01T00:01'), true)
    assert.equal(await store.markOnce('deliveries', 'wf-1@2024-01-01T00:00'), true)
    assert.equal(await store.markOnce('schedules', 'wf-1@2024-01-01T00:00', 60_000), false)
    const concurrent = await Promise.all(Array.from({ length: 5 }, () => store.markOnce('race', 'k')))
    assert.equal(concurrent.filter(Boolean).length, 1)
  })

  test('markOnce with a TTL can be taken again once it has passed', async (t) => {
    const { store } = await open(t)
    assert.equal(await store.markOnce('slots', 'long', 60_000), true)
    assert.equal(await store.markOnce('slots', 'long', 60_000), false)
    assert.equal(await store.markOnce('slots', 'short', 1), true)
    await eventually('the 1 ms mark expires', () => store.markOnce('slots', 'short', 60_000))
    assert.equal(await store.markOnce('slots', 'short', 60_000), false)
    assert.equal(await store.markOnce('slots', 'long'), false)
  })

  test('notify reaches listeners of the channel asynchronously; unsubscribing stops delivery', async (t) => {
    const { store } = await open(t)
    const received: string[] = []
    const witnessed: string[] = []
    const other: string[] = []
    const stop = store.listen('executions', (payload) => received.push(payload))
    const stopWitness = store.listen('executions', (payload) => witnessed.push(payload))
    const stopOther = store.listen('elsewhere', (payload) => other.push(payload))
    t.after(() => {
      stopWitness()
      stopOther()
    })
    // A listener may need a moment to become active (PostgreSQL LISTEN): send until one arrives.
    let sent = 0
    await eventually('a notification arrives', async () => {
      await store.notify('executions', `wake-${++sent}`)
      return received.length > 0
    })
    assert.match(received[0]!, /^wake-\d+$/)
    // Delivery is never synchronous with notify.
    const before = received.length
    const notified = store.notify('executions', 'later')
    assert.equal(received.length, before)
    await notified
    await eventually('the listener runs later', async () => received.includes('later'))
    stop()
    await store.notify('executions', 'after stop')
    await eventually('the other listener still hears', async () => witnessed.includes('after stop'))
    assert.equal(received.includes('after stop'), false)
    assert.deepEqual(other, [])
  })
}
