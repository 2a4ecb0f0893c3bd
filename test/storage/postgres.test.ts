/**
 * The storage contract on PostgreSQL: each test gets a fresh schema (dropped after it), and `reopen` is a
 * new store over the same schema. Skipped with the reason when PostgreSQL is unreachable, except under
 * CI=true, where that fails.
 */
import { test } from 'node:test'
import { maskConnectionString } from '../../src/storage/postgres-errors.ts'
import { runStoreContract } from './contract.ts'
import { PostgresFixture, postgresUnavailable, TEST_DATABASE_URL } from './postgres-support.ts'

const unavailable = await postgresUnavailable()

if (unavailable === undefined) {
  runStoreContract('postgres', async () => {
    const fixture = new PostgresFixture()
    const schema = fixture.schema()
    return {
      store: fixture.store(schema),
      cleanup: () => fixture.dispose(),
      reopen: async () => fixture.store(schema),
    }
  })
} else {
  const message = `PostgreSQL not reachable at ${maskConnectionString(TEST_DATABASE_URL)}: ${unavailable}`
  test('store contract: postgres', (t) => {
    if (process.env['CI'] === 'true') throw new Error(`${message} (CI=true: PostgreSQL tests must run)`)
    t.skip(message)
  })
}
