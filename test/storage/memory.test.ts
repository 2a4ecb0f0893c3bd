import { createMemoryStore } from '../../src/storage/index.ts'
import { runStoreContract } from './contract.ts'

runStoreContract('memory', async () => ({ store: createMemoryStore(), cleanup: async () => {} }))
