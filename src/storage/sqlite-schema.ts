/**
 * SQLite schema migrations, applied in order in one transaction each; `schema_migrations` records
 * which have run. Never edit a released migration: add a new one.
 */
export interface Migration {
  version: number
  description: string
  sql: string
}

export const SQLITE_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'workflows, executions, task states, events, checkpoints, documents, once marks',
    sql: `
      CREATE TABLE workflows (
        workflow_id TEXT NOT NULL,
        revision INTEGER NOT NULL,
        status TEXT NOT NULL,
        name TEXT NOT NULL,
        description TEXT,
        definition TEXT NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (workflow_id, revision)
      );
      CREATE TABLE executions (
        execution_id TEXT PRIMARY KEY,
        workflow_id TEXT NOT NULL,
        status TEXT NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        started_at TEXT,
        completed_at TEXT,
        parent_execution_id TEXT,
        idempotency_key TEXT UNIQUE,
        owner_node TEXT,
        lease_expires_at INTEGER,
        state TEXT NOT NULL
      );
      -- Written once per execution and kept apart, so updating an execution's state never rewrites them.
      CREATE TABLE execution_data (
        execution_id TEXT PRIMARY KEY,
        definition TEXT NOT NULL,
        frozen TEXT NOT NULL
      );
      CREATE INDEX executions_status ON executions (status, created_at);
      CREATE INDEX executions_workflow ON executions (workflow_id, created_at);
      CREATE INDEX executions_created ON executions (created_at);
      CREATE INDEX executions_parent ON executions (parent_execution_id);
      CREATE TABLE task_states (
        execution_id TEXT NOT NULL,
        task TEXT NOT NULL,
        item_index INTEGER NOT NULL,
        state TEXT NOT NULL,
        PRIMARY KEY (execution_id, task, item_index)
      ) WITHOUT ROWID;
      CREATE TABLE events (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        execution_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        workflow_id TEXT NOT NULL,
        type TEXT NOT NULL,
        timestamp TEXT NOT NULL,
        data TEXT NOT NULL,
        UNIQUE (execution_id, seq)
      );
      CREATE INDEX events_workflow ON events (workflow_id, id);
      CREATE TABLE checkpoints (
        checkpoint_id TEXT PRIMARY KEY,
        execution_id TEXT NOT NULL,
        created_at TEXT NOT NULL,
        body TEXT NOT NULL
      );
      CREATE INDEX checkpoints_execution ON checkpoints (execution_id, created_at);
      CREATE TABLE documents (
        collection TEXT NOT NULL,
        id TEXT NOT NULL,
        doc TEXT NOT NULL,
        PRIMARY KEY (collection, id)
      ) WITHOUT ROWID;
      CREATE TABLE once_marks (
        scope TEXT NOT NULL,
        key TEXT NOT NULL,
        expires_at INTEGER,
        PRIMARY KEY (scope, key)
      ) WITHOUT ROWID;
    `,
  },
  {
    version: 2,
    description: 'index of finish times, for history retention',
    sql: `CREATE INDEX executions_completed ON executions (completed_at) WHERE completed_at IS NOT NULL;`,
  },
]
