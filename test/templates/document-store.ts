/**
 * Test support: the real memory store, with a count of commits (a version must be written in one) and a
 * way to make the next commit fail before anything is written.
 */
import type { Store } from '../../src/core/store.ts'
import { createMemoryStore } from '../../src/storage/index.ts'

export interface TestDocumentStore extends Store {
  readonly commits: number
  /** Makes the next commit reject (nothing written). */
  failNextCommit(): void
  /** How many documents a collection holds. */
  size(collection: string): Promise<number>
}

export function createTestDocumentStore(): TestDocumentStore {
  const store = createMemoryStore()
  const commit = store.commit.bind(store)
  let commits = 0
  let failNext = false
  const extra = {
    failNextCommit() {
      failNext = true
    },
    async size(collection: string) {
      return (await store.listDocuments(collection, { limit: 1 })).total
    },
    async commit(batch: Parameters<Store['commit']>[0]) {
      if (failNext) {
        failNext = false
        throw new Error('commit failed (test)')
      }
      commits++
      await commit(batch)
    },
  }
  Object.assign(store, extra)
  Object.defineProperty(store, 'commits', { get: () => commits })
  return store as TestDocumentStore
}
