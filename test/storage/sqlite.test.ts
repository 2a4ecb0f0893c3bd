/** The storage contract on SQLite: each test gets a database file in a fresh temp dir. */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { createSqliteStore } from '../../src/storage/index.ts'
import { runStoreContract } from './contract.ts'

runStoreContract('sqlite', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'harmonia-sqlite-'))
  const file = path.join(dir, 'harmonia.db')
  const opened = [createSqliteStore({ path: file })]
  return {
    store: opened[0]!,
    cleanup: async () => {
      for (const store of opened) await store.close()
      await rm(dir, { recursive: true, force: true })
    },
    reopen: async () => {
      const store = createSqliteStore({ path: file })
      opened.push(store)
      return store
    },
  }
})
