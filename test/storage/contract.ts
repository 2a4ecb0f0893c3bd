/**
 * The storage contract suite: one set of tests every Store adapter passes (store.ts's rules made
 * executable). An adapter's test file runs it with one line:
 *
 *   runStoreContract('sqlite', async () => { ...; return { store, cleanup, reopen } })
 *
 * `makeStore` gives a new store over fresh, empty data each time (a temp dir, a new schema); the suite
 * calls `init()` and registers `cleanup` after the test. Adapters that persist also give `reopen`, and
 * the suite checks that close and reopen keep everything.
 */
import { describe, type TestContext } from 'node:test'
import { deletionContract } from './contract/deletion.ts'
import { documentContract } from './contract/documents.ts'
import { eventContract } from './contract/events.ts'
import { executionContract } from './contract/executions.ts'
import type { ContractContext, MakeStore, StoreFixture } from './contract/fixtures.ts'
import { leaseContract } from './contract/leases.ts'
import { persistenceContract } from './contract/persistence.ts'
import { workflowContract } from './contract/workflows.ts'

export type { MakeStore, StoreFixture } from './contract/fixtures.ts'

export function runStoreContract(name: string, makeStore: MakeStore): void {
  const context: ContractContext = {
    async open(t: TestContext): Promise<StoreFixture> {
      const fixture = await makeStore()
      t.after(() => fixture.cleanup())
      await fixture.store.init()
      return fixture
    },
  }
  describe(`store contract: ${name}`, () => {
    describe('workflows', () => workflowContract(context))
    describe('executions and task states', () => executionContract(context))
    describe('events and checkpoints', () => eventContract(context))
    describe('leases and fences', () => leaseContract(context))
    describe('documents, marks and notifications', () => documentContract(context))
    describe('deleting finished executions', () => deletionContract(context))
    describe('persistence', () => persistenceContract(context))
  })
}
