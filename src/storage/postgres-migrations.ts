/**
 * PostgreSQL schema, as versioned migrations recorded in `harmonia_migrations`.
 *
 * Every table keeps the record as JSONB (`record`, or `fixed` + `state` for executions) so it reads back
 * exactly as written, beside typed columns that the filters, sorts and leases use. Migrations are applied
 * in order, once, inside one transaction under a transaction-level advisory lock, so nodes that start
 * together never race: the first applies them, the others wait and find nothing left to do.
 *
 * Never edit a released migration; add the next version.
 */
import type pg from 'pg'
import { StoreError } from '../core/errors.ts'

export interface Migration {
  version: number
  name: string
  sql: string
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'initial schema',
    sql: `
CREATE TABLE workflows (
  workflow_id text COLLATE "C" NOT NULL,
  revision integer NOT NULL,
  name text COLLATE "C" NOT NULL,
  description text,
  status text NOT NULL,
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL,
  record jsonb NOT NULL,
  PRIMARY KEY (workflow_id, revision)
);

CREATE TABLE executions (
  execution_id text COLLATE "C" PRIMARY KEY,
  workflow_id text NOT NULL,
  workflow_revision integer NOT NULL,
  workflow_name text NOT NULL,
  status text NOT NULL,
  parent_execution_id text,
  idempotency_key text,
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL,
  started_at timestamptz,
  completed_at timestamptz,
  owner_node text,
  lease_expires_at timestamptz,
  definition jsonb NOT NULL,
  fixed jsonb NOT NULL,
  state jsonb NOT NULL
);
COMMENT ON COLUMN executions.fixed IS
  'fields written once, at insert: input, execution_options, parent, restored_from_checkpoint, idempotency_key, created_at';
COMMENT ON COLUMN executions.state IS 'the fields every upsert rewrites (status, output, error, progress, ...)';
CREATE UNIQUE INDEX executions_idempotency_key ON executions (idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE INDEX executions_created_at ON executions (created_at);
CREATE INDEX executions_updated_at ON executions (updated_at);
CREATE INDEX executions_workflow_created_at ON executions (workflow_id, created_at);
CREATE INDEX executions_status_created_at ON executions (status, created_at);
CREATE INDEX executions_parent ON executions (parent_execution_id) WHERE parent_execution_id IS NOT NULL;
CREATE INDEX executions_unfinished ON executions (created_at) WHERE status IN ('pending', 'running', 'paused');

CREATE TABLE task_states (
  execution_id text COLLATE "C" NOT NULL,
  task text COLLATE "C" NOT NULL,
  item_index integer NOT NULL,
  status text NOT NULL,
  record jsonb NOT NULL,
  PRIMARY KEY (execution_id, task, item_index)
);

CREATE TABLE events (
  id bigserial PRIMARY KEY,
  execution_id text COLLATE "C" NOT NULL,
  seq integer NOT NULL,
  workflow_id text NOT NULL,
  type text NOT NULL,
  record jsonb NOT NULL,
  CONSTRAINT events_execution_seq UNIQUE (execution_id, seq)
);
CREATE INDEX events_workflow_id ON events (workflow_id, id);

CREATE TABLE checkpoints (
  checkpoint_id text COLLATE "C" PRIMARY KEY,
  execution_id text COLLATE "C" NOT NULL,
  workflow_id text NOT NULL,
  created_at timestamptz NOT NULL,
  record jsonb NOT NULL
);
CREATE INDEX checkpoints_execution ON checkpoints (execution_id, created_at);

CREATE TABLE documents (
  collection text COLLATE "C" NOT NULL,
  id text COLLATE "C" NOT NULL,
  doc jsonb NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (collection, id)
);
CREATE INDEX documents_doc ON documents USING gin (doc jsonb_path_ops);

CREATE TABLE once_marks (
  scope text NOT NULL,
  key text NOT NULL,
  marked_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz,
  PRIMARY KEY (scope, key)
);
CREATE INDEX once_marks_expires_at ON once_marks (expires_at) WHERE expires_at IS NOT NULL;
`,
  },
  {
    version: 2,
    name: 'index of finish times, for history retention',
    sql: `CREATE INDEX executions_completed_at ON executions (completed_at) WHERE completed_at IS NOT NULL;`,
  },
]

/** Quotes an SQL identifier (schema, channel): `a"b` → `"a""b"`. */
export function quoteIdentifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`
}

/**
 * Brings `schema` up to the latest migration on one connection, in one transaction. Returns the versions
 * it applied (empty when the schema was already current). Throws when the schema is newer than this code.
 */
export async function migrate(client: pg.ClientBase, schema: string): Promise<number[]> {
  const applied: number[] = []
  await client.query('BEGIN')
  try {
    // Two nodes starting together: the second waits here until the first has committed.
    await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`harmonia:migrate:${schema}`])
    const exists = await client.query<{ found: boolean }>('SELECT to_regnamespace($1) IS NOT NULL AS found', [
      quoteIdentifier(schema),
    ])
    if (exists.rows[0]?.found !== true) await client.query(`CREATE SCHEMA ${quoteIdentifier(schema)}`)
    await client.query(`SET LOCAL search_path TO ${quoteIdentifier(schema)}`)
    await client.query(`CREATE TABLE IF NOT EXISTS harmonia_migrations (
      version integer PRIMARY KEY,
      name text NOT NULL,
      applied_at timestamptz NOT NULL DEFAULT now()
    )`)
    const done = await client.query<{ version: number }>('SELECT version FROM harmonia_migrations')
    const versions = new Set(done.rows.map((row) => row.version))
    const latestKnown = MIGRATIONS[MIGRATIONS.length - 1]!.version
    const newest = Math.max(0, ...versions)
    if (newest > latestKnown) {
      throw new StoreError(
        `postgres store: schema '${schema}' is at migration ${newest} but this Harmonia knows migrations ` +
          `up to ${latestKnown}; upgrade Harmonia on this node or point it at another schema`,
      )
    }
    for (const migration of MIGRATIONS) {
      if (versions.has(migration.version)) continue
      await client.query(migration.sql)
      await client.query('INSERT INTO harmonia_migrations (version, name) VALUES ($1, $2)', [
        migration.version,
        migration.name,
      ])
      applied.push(migration.version)
    }
    await client.query('COMMIT')
    return applied
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {})
    throw error
  }
}
