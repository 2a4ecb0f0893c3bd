/**
 * WAL checkpoints run in a worker thread: while the store stays open and the engine's connection has
 * automatic checkpoints off, committed pages still reach the database file.
 */
import assert from 'node:assert/strict'
import { mkdtemp, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { test } from 'node:test'
import { createSqliteStore } from '../../src/storage/index.ts'

async function fileSize(file: string): Promise<number> {
  return (await stat(file)).size
}

test('the checkpoint worker copies committed pages into the database file while the store is open', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'harmonia-checkpoint-'))
  t.after(() => rm(dir, { recursive: true, force: true }))
  const file = path.join(dir, 'harmonia.db')
  const store = createSqliteStore({ path: file, checkpointIntervalMs: 10 })
  await store.init()
  t.after(() => store.close())
  const before = await fileSize(file)
  const filler = 'x'.repeat(2000)
  for (let i = 0; i < 200; i++) await store.putDocument('filler', `doc-${i}`, { filler })
  assert.ok((await fileSize(`${file}-wal`)) > 0, 'the writes went to the WAL first')
  const deadline = Date.now() + 10_000
  while ((await fileSize(file)) < before + 200 * 2000 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
  assert.ok((await fileSize(file)) >= before + 200 * 2000, 'the database file holds the documents')
  assert.equal((await store.getDocument('filler', 'doc-199'))?.['filler'], filler)
})

test('closing checkpoints and truncates the WAL; a reopened store reads everything', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'harmonia-checkpoint-'))
  t.after(() => rm(dir, { recursive: true, force: true }))
  const file = path.join(dir, 'harmonia.db')
  const store = createSqliteStore({ path: file })
  await store.init()
  for (let i = 0; i < 50; i++) await store.putDocument('docs', `d-${i}`, { i })
  await store.close()
  assert.equal(await fileSize(`${file}-wal`).catch(() => 0), 0)
  const reopened = createSqliteStore({ path: file })
  await reopened.init()
  t.after(() => reopened.close())
  assert.equal((await reopened.listDocuments('docs', { limit: 100 })).total, 50)
})
