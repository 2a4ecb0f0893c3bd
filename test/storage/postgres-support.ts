/**
 * Test support for the PostgreSQL store: the database from HARMONIA_TEST_DATABASE_URL (default: the local
 * `test` database), a fresh schema per store group, dropped at the end. When PostgreSQL cannot be reached
 * the tests are skipped with the reason, except under CI=true, where they fail.
 */
import type { TestContext } from 'node:test'
import pg from 'pg'
import type { Logger } from '../../src/core/logger.ts'
import { maskConnectionString } from '../../src/storage/postgres-errors.ts'
import {
  createPostgresStore,
  type PostgresStore,
  type PostgresStoreOptions,
} from '../../src/storage/postgres-store.ts'

export const TEST_DATABASE_URL =
  process.env['HARMONIA_TEST_DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test'

let probe: Promise<string | undefined> | undefined

/** Why PostgreSQL cannot be used, or undefined when it can. Probed once per process. */
export function postgresUnavailable(): Promise<string | undefined> {
  probe ??= (async () => {
    const client = new pg.Client({ connectionString: TEST_DATABASE_URL, connectionTimeoutMillis: 3_000 })
    try {
      await client.connect()
      await client.query('SELECT 1')
      return undefined
    } catch (error) {
      return error instanceof Error ? error.message : String(error)
    } finally {
      await client.end().catch(() => {})
    }
  })()
  return probe
}

/** Skips the test (or fails it under CI=true) when PostgreSQL is not reachable. True when skipped. */
export async function skipWithoutPostgres(t: TestContext): Promise<boolean> {
  const reason = await postgresUnavailable()
  if (reason === undefined) return false
  const message = `PostgreSQL not reachable at ${maskConnectionString(TEST_DATABASE_URL)}: ${reason}`
  if (process.env['CI'] === 'true') throw new Error(`${message} (CI=true: PostgreSQL tests must run)`)
  t.skip(message)
  return true
}

/** Fresh schemas and the stores opened on them; `dispose()` closes the stores and drops the schemas. */
export class PostgresFixture {
  readonly #schemas = new Set<string>()
  readonly #stores: PostgresStore[] = []

  schema(): string {
    const name = `harmonia_test_${globalThis.crypto.randomUUID().replaceAll('-', '').slice(0, 16)}`
    this.#schemas.add(name)
    return name
  }

  /** A store (not yet initialized) on `schema`; several on one schema act as several nodes. */
  store(schema: string, options: Partial<PostgresStoreOptions> = {}): PostgresStore {
    this.#schemas.add(schema)
    const store = createPostgresStore({
      connectionString: TEST_DATABASE_URL,
      schema,
      poolSize: 4,
      ...options,
    })
    this.#stores.push(store)
    return store
  }

  async dispose(): Promise<void> {
    await Promise.all(this.#stores.splice(0).map((store) => store.close().catch(() => {})))
    if (this.#schemas.size === 0 || (await postgresUnavailable()) !== undefined) return
    const client = new pg.Client({ connectionString: TEST_DATABASE_URL })
    await client.connect()
    try {
      for (const schema of this.#schemas) await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)
    } finally {
      this.#schemas.clear()
      await client.end()
    }
  }
}

/** Runs SQL on the test database (outside any store), e.g. to age a lease. */
export async function sql<R extends pg.QueryResultRow>(text: string, params: unknown[] = []): Promise<R[]> {
  const client = new pg.Client({ connectionString: TEST_DATABASE_URL })
  await client.connect()
  try {
    return (await client.query<R>(text, params)).rows
  } finally {
    await client.end()
  }
}

export interface LogLine {
  level: string
  message: string
  fields: Record<string, unknown>
}

/** A logger that keeps every line, to assert on what was logged (and that no secret was). */
export function recordingLogger(lines: LogLine[] = [], base: Record<string, unknown> = {}): Logger {
  const log =
    (level: string) =>
    (message: string, fields: Record<string, unknown> = {}): void => {
      lines.push({ level, message, fields: { ...base, ...fields } })
    }
  return {
    debug: log('debug'),
    info: log('info'),
    warn: log('warn'),
    error: log('error'),
    child: (fields) => recordingLogger(lines, { ...base, ...fields }),
  }
}
