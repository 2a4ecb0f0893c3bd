/** The storage contract on the file store (each test in a fresh temp dir), plus path safety, the lock and crash consistency. */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { appendFileSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { test } from 'node:test'
import { createFileStore } from '../../src/storage/index.ts'
import { runStoreContract } from './contract.ts'
import { execution } from './contract/fixtures.ts'

runStoreContract('file', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'harmonia-file-'))
  const opened = [createFileStore({ dataDir: dir })]
  return {
    store: opened[0]!,
    cleanup: async () => {
      for (const store of opened) await store.close()
      await rm(dir, { recursive: true, force: true })
    },
    reopen: async () => {
      const store = createFileStore({ dataDir: dir })
      opened.push(store)
      return store
    },
  }
})

async function tempDir(t: import('node:test').TestContext): Promise<string> {
  const root = await mkdtemp(path.join(tmpdir(), 'harmonia-file-'))
  t.after(() => rm(root, { recursive: true, force: true }))
  return root
}

test('hostile ids and collection names stay data: nothing is written outside the data dir', async (t) => {
  const root = await tempDir(t)
  const dir = path.join(root, 'data')
  const store = createFileStore({ dataDir: dir })
  await store.init()
  const names = [
    '../escape',
    '/etc/passwd',
    '..\\..\\x',
    'a\u0000b',
    'x'.repeat(5000),
    '.',
    '..',
    'CON',
    'é/../../z',
  ]
  for (const name of names) {
    await store.putDocument(name, name, { name })
    assert.deepEqual(await store.getDocument(name, name), { name })
  }
  await store.close()
  assert.deepEqual(readdirSync(root), ['data'])
  assert.deepEqual(readdirSync(dir).sort(), ['journal-1.jsonl', 'snapshot.json'])
  const reopened = createFileStore({ dataDir: dir })
  await reopened.init()
  t.after(() => reopened.close())
  for (const name of names) assert.deepEqual(await reopened.getDocument(name, name), { name })
  assert.deepEqual(readdirSync(root), ['data'])
})

test('a torn or corrupt journal tail is ignored on reopen; whole batches before it survive', async (t) => {
  const dir = await tempDir(t)
  const store = createFileStore({ dataDir: dir })
  await store.init()
  await store.putDocument('c', 'kept', { n: 1 })
  await store.commit({
    executions: [execution('e-1')],
    documents: [{ collection: 'c', id: 'in-batch', doc: { n: 2 } }],
  })
  await store.close()
  const journal = path.join(dir, 'journal-1.jsonl')
  const lines = readFileSync(journal, 'utf8')
  assert.equal(lines.split('\n').filter(Boolean).length, 2)
  // A crash in the middle of appending the next batch: half a line, no newline.
  const torn = lines.split('\n')[1]!.replace('in-batch', 'torn-one')
  appendFileSync(journal, torn.slice(0, Math.floor(torn.length / 2)))
  const second = createFileStore({ dataDir: dir })
  await second.init()
  assert.deepEqual(await second.getDocument('c', 'kept'), { n: 1 })
  assert.deepEqual(await second.getDocument('c', 'in-batch'), { n: 2 })
  assert.equal((await second.getExecution('e-1'))?.execution_id, 'e-1')
  assert.equal(await second.getDocument('c', 'torn-one'), undefined)
  await second.putDocument('c', 'after', { n: 3 })
  await second.close()
  // A whole line whose checksum does not match (a corrupt sector) ends the replay too.
  const journal2 = path.join(dir, 'journal-2.jsonl')
  const good = readFileSync(journal2, 'utf8')
  writeFileSync(journal2, `${good}00000000 ["d",{"collection":"c","id":"bad","doc":{}}]\n`)
  const third = createFileStore({ dataDir: dir })
  await third.init()
  t.after(() => third.close())
  assert.deepEqual(await third.getDocument('c', 'after'), { n: 3 })
  assert.equal(await third.getDocument('c', 'bad'), undefined)
  assert.equal(await third.getDocument('c', 'torn-one'), undefined)
})

test('one process at a time: a live lock refuses, a stale lock from a dead pid is taken over', async (t) => {
  const dir = await tempDir(t)
  const first = createFileStore({ dataDir: dir })
  await first.init()
  await first.putDocument('c', 'one', { n: 1 })
  // A second store of the same process (a restart after a simulated crash) takes over; the first is fenced.
  const second = createFileStore({ dataDir: dir })
  await second.init()
  assert.deepEqual(await second.getDocument('c', 'one'), { n: 1 })
  await assert.rejects(first.putDocument('c', 'late', { n: 2 }), /opened again by another store/)
  await first.close()
  assert.equal(readFileSync(path.join(dir, 'harmonia.lock'), 'utf8').trim(), String(process.pid))
  await second.close()
  assert.equal(readdirSync(dir).includes('harmonia.lock'), false)
  // A lock held by another live process (pid 1 is always alive).
  writeFileSync(path.join(dir, 'harmonia.lock'), '1\n')
  await assert.rejects(createFileStore({ dataDir: dir }).init(), (error: Error) =>
    /pid 1\b/.test(error.message),
  )
  // A lock left by a process that died.
  writeFileSync(path.join(dir, 'harmonia.lock'), '2147483646\n')
  const taken = createFileStore({ dataDir: dir })
  await taken.init()
  t.after(() => taken.close())
  assert.equal(readFileSync(path.join(dir, 'harmonia.lock'), 'utf8').trim(), String(process.pid))
})

test('compaction keeps everything and leaves one snapshot and one journal', async (t) => {
  const dir = await tempDir(t)
  const store = createFileStore({ dataDir: dir, compactBytes: 2000 })
  await store.init()
  for (let i = 0; i < 100; i++) await store.putDocument('c', `d${i}`, { i, pad: 'x'.repeat(50) })
  await store.close()
  const files = readdirSync(dir).sort()
  assert.equal(files.length, 2, files.join(','))
  const reopened = createFileStore({ dataDir: dir })
  await reopened.init()
  t.after(() => reopened.close())
  assert.equal((await reopened.listDocuments('c', { limit: 200 })).total, 100)
  assert.deepEqual(await reopened.getDocument('c', 'd99'), { i: 99, pad: 'x'.repeat(50) })
})

test('SIGKILL in the middle of commits: every acknowledged batch is whole after reopen, no batch is half there', async (t) => {
  const dir = await tempDir(t)
  const storeUrl = new URL('../../src/storage/file-store.ts', import.meta.url).href
  const script = `
    import { createFileStore } from ${JSON.stringify(storeUrl)}
    const store = createFileStore({ dataDir: ${JSON.stringify(dir)}, compactBytes: 20000 })
    await store.init()
    for (let b = 0; ; b++) {
      const documents = []
      for (let i = 0; i < 10; i++) documents.push({ collection: 'c', id: b + ':' + i, doc: { b, i, pad: 'x'.repeat(200) } })
      await store.commit({ documents })
      process.stdout.write(b + '\\n')
    }
  `
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  let acked = -1
  await new Promise<void>((resolve, reject) => {
    child.on('error', reject)
    child.on('exit', (code) => reject(new Error(`writer exited early with ${code}`)))
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      for (const line of chunk.split('\n')) if (line !== '') acked = Math.max(acked, Number(line))
      if (acked >= 150) resolve()
    })
  })
  child.removeAllListeners('exit')
  const exited = new Promise((resolve) => child.on('exit', resolve))
  child.kill('SIGKILL')
  await exited
  // The dead writer's lock is stale: this process takes it over.
  const store = createFileStore({ dataDir: dir })
  await store.init()
  t.after(() => store.close())
  const all = await store.listDocuments('c', { limit: 100000 })
  const perBatch = new Map<number, number>()
  for (const doc of all.items) perBatch.set(doc['b'] as number, (perBatch.get(doc['b'] as number) ?? 0) + 1)
  for (const [b, count] of perBatch) assert.equal(count, 10, `batch ${b} has ${count} of 10 documents`)
  for (let b = 0; b <= acked; b++) assert.equal(perBatch.get(b), 10, `acknowledged batch ${b} is missing`)
  const batches = [...perBatch.keys()].sort((a, b) => a - b)
  assert.deepEqual(
    batches,
    batches.map((_, i) => i),
    'batches are a prefix: none skipped',
  )
})
