/** Opens the store a config names. Each adapter is loaded only when asked for. */
import type { Store } from '../core/store.ts'
import path from 'node:path'
import { createFileStore } from './file-store.ts'
import { createMemoryStore } from './memory-store.ts'
import { createSqliteStore } from './sqlite-store.ts'

export interface CreateStoreOptions {
  kind: 'memory' | 'file' | 'sqlite'
  /** Data dir of the file store (and default home of the SQLite file). */
  dataDir?: string
  sqlitePath?: string
  sqliteSynchronous?: 'NORMAL' | 'FULL'
}

export function createStore(options: CreateStoreOptions): Store {
  switch (options.kind) {
    case 'memory':
      return createMemoryStore()
    case 'sqlite':
      return createSqliteStore({
        path: options.sqlitePath ?? path.join(options.dataDir ?? '.harmonia', 'harmonia.db'),
        ...(options.sqliteSynchronous === undefined ? {} : { synchronous: options.sqliteSynchronous }),
      })
    case 'file':
      return createFileStore({ dataDir: options.dataDir ?? '.harmonia' })
  }
}
