/**
 * The embedded default store: SQLite through Node's built-in `node:sqlite` (no native addon), in WAL mode.
 * `synchronous=NORMAL` (the default) survives a process crash with every committed transaction; `FULL`
 * also survives a power loss at the cost of an fsync per commit.
 *
 * An execution's immutable fields are serialized once, on insert (`definition`, `frozen`); later upserts
 * write only the mutable `state` and the indexed columns, so a large definition costs nothing per step.
 */
import { mkdirSync } from 'node:fs'
import path from 'node:path'
import { DatabaseSync, type StatementSync } from 'node:sqlite'
import { ConflictError, LeaseLostError, StoreError } from '../core/errors.ts'
import type { ExecutionEvent } from '../core/events.ts'
import {
  FINISHED_EXECUTION_STATUSES,
  type CheckpointRecord,
  type ExecutionRecord,
  type JsonObject,
  type TaskState,
  type WorkflowRecord,
} from '../core/model.ts'
import type {
  DocumentQuery,
  ExecutionDeletion,
  ExecutionQuery,
  ExecutionSummary,
  Page,
  Store,
  StoreHealth,
  WorkflowQuery,
  WriteBatch,
} from '../core/store.ts'
import { checkWhere, type WhereValue } from './document-filter.ts'
import {
  checkBatch,
  checkCheckpoint,
  checkCollection,
  checkDocument,
  checkDocumentKey,
  checkMark,
  checkWorkflow,
} from './input-checks.ts'
import {
  checkCount,
  checkNodeId,
  DOCUMENT_SORT_FIELDS,
  EXECUTION_SORT_FIELDS,
  resolvePage,
  resolveDeletion,
  resolveSort,
  sortableTime,
  timestampBound,
  WORKFLOW_SORT_FIELDS,
} from './list-query.ts'
import { startCheckpointer, type Checkpointer } from './sqlite-checkpointer.ts'
import { SQLITE_MIGRATIONS } from './sqlite-schema.ts'

export interface SqliteStoreOptions {
  /** The database file; its directory is created if missing. `:memory:` for a private in-memory database. */
  path: string
  synchronous?: 'NORMAL' | 'FULL'
  /** How long a writer waits for another process's lock. */
  busyTimeoutMs?: number
  /**
   * WAL checkpoints run by a worker thread every this many ms (default 250), off the writer's path;
   * 0 leaves them to SQLite's automatic checkpoints in the committing thread.
   */
  checkpointIntervalMs?: number
}

const UNFINISHED = "('pending','running','paused')"
const DEFAULT_LEASE_MS = 30_000

type Row = Record<string, string | number | bigint | null | Uint8Array>

export function createSqliteStore(options: SqliteStoreOptions): Store {
  return new SqliteStore(options)
}

/** Immutable execution fields, written on insert only. */
function frozenOf(record: ExecutionRecord): string {
  return JSON.stringify({
    input: record.input,
    execution_options: record.execution_options,
    ...(record.parent === undefined ? {} : { parent: record.parent }),
    ...(record.idempotency_key === undefined ? {} : { idempotency_key: record.idempotency_key }),
    ...(record.restored_from_checkpoint === undefined
      ? {}
      : { restored_from_checkpoint: record.restored_from_checkpoint }),
    created_at: record.created_at,
  })
}

/** Mutable execution fields. */
function stateOf(record: ExecutionRecord): string {
  return JSON.stringify({
    workflow_revision: record.workflow_revision,
    workflow_name: record.workflow_name,
    status: record.status,
    output: record.output,
    error: record.error,
    updated_at: record.updated_at,
    started_at: record.started_at,
    completed_at: record.completed_at,
    completed_tasks: record.completed_tasks,
    total_tasks: record.total_tasks,
    last_event_seq: record.last_event_seq,
    requested: record.requested,
  })
}

class SqliteStore implements Store {
  readonly kind = 'sqlite' as const
  readonly #options: SqliteStoreOptions
  #db: DatabaseSync | undefined
  #checkpointer: Checkpointer | undefined
  readonly #statements = new Map<string, StatementSync>()
  readonly #listeners = new Map<string, Set<(payload: string) => void>>()

  constructor(options: SqliteStoreOptions) {
    this.#options = options
  }

  async init(): Promise<void> {
    if (this.#db !== undefined) return
    try {
      if (this.#options.path !== ':memory:') mkdirSync(path.dirname(this.#options.path), { recursive: true })
      const db = new DatabaseSync(this.#options.path)
      db.exec(`PRAGMA journal_mode = WAL`)
      db.exec(`PRAGMA synchronous = ${this.#options.synchronous === 'FULL' ? 'FULL' : 'NORMAL'}`)
      db.exec(`PRAGMA busy_timeout = ${Math.max(0, Math.floor(this.#options.busyTimeoutMs ?? 5000))}`)
      db.exec(`PRAGMA foreign_keys = ON`)
      this.#db = db
      this.#migrate()
      await this.#startCheckpointer(db)
    } catch (error) {
      this.#db?.close()
      this.#db = undefined
      throw new StoreError(
        `cannot open the SQLite database at ${this.#options.path}: ${errorText(error)}`,
        error,
      )
    }
  }

  async #startCheckpointer(db: DatabaseSync): Promise<void> {
    const intervalMs = this.#options.checkpointIntervalMs ?? 250
    if (this.#options.path === ':memory:' || intervalMs <= 0) return
    try {
      this.#checkpointer = await startCheckpointer(this.#options.path, intervalMs, () => {
        this.#checkpointer = undefined
        if (this.#db === db) db.exec('PRAGMA wal_autocheckpoint = 1000')
      })
      db.exec('PRAGMA wal_autocheckpoint = 0')
    } catch {
      // No worker: SQLite's automatic checkpoints stay on.
    }
  }

  #migrate(): void {
    const db = this.#database()
    db.exec(
      `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, description TEXT, applied_at TEXT)`,
    )
    const applied = new Set(
      (db.prepare('SELECT version FROM schema_migrations').all() as Row[]).map((row) =>
        Number(row['version']),
      ),
    )
    for (const migration of SQLITE_MIGRATIONS) {
      if (applied.has(migration.version)) continue
      this.#transaction(() => {
        db.exec(migration.sql)
        db.prepare('INSERT INTO schema_migrations (version, description, applied_at) VALUES (?, ?, ?)').run(
          migration.version,
          migration.description,
          new Date().toISOString(),
        )
      })
    }
  }

  async close(): Promise<void> {
    const db = this.#db
    this.#db = undefined
    this.#statements.clear()
    const checkpointer = this.#checkpointer
    this.#checkpointer = undefined
    await checkpointer?.stop()
    if (db !== undefined) {
      try {
        db.exec('PRAGMA wal_checkpoint(TRUNCATE)')
      } catch {
        // Another connection holds the database: its checkpoints will do.
      }
      db.close()
    }
  }

  async health(): Promise<StoreHealth> {
    try {
      this.#database().prepare('SELECT 1').get()
      return { ok: true }
    } catch (error) {
      return { ok: false, detail: errorText(error) }
    }
  }

  #database(): DatabaseSync {
    if (this.#db === undefined)
      throw new StoreError('the SQLite store is not open (call init first, or it was closed)')
    return this.#db
  }

  #stmt(sql: string): StatementSync {
    let statement = this.#statements.get(sql)
    if (statement === undefined) {
      statement = this.#database().prepare(sql)
      this.#statements.set(sql, statement)
    }
    return statement
  }

  #transaction<T>(work: () => T): T {
    const db = this.#database()
    db.exec('BEGIN IMMEDIATE')
    try {
      const result = work()
      db.exec('COMMIT')
      return result
    } catch (error) {
      db.exec('ROLLBACK')
      throw error
    }
  }

  #wrap<T>(what: string, work: () => T): T {
    try {
      return work()
    } catch (error) {
      if (error instanceof ConflictError || error instanceof LeaseLostError || error instanceof StoreError)
        throw error
      throw new StoreError(`SQLite store could not ${what}: ${errorText(error)}`, error)
    }
  }

  // ----- workflows -----

  async saveWorkflow(record: WorkflowRecord): Promise<void> {
    checkWorkflow(record)
    this.#wrap('save the workflow', () => {
      const stored = this.#stmt('SELECT 1 FROM workflows WHERE workflow_id = ? AND revision = ?').get(
        record.workflow_id,
        record.revision,
      )
      if (stored !== undefined) {
        throw new ConflictError(
          `saveWorkflow: revision ${record.revision} of workflow '${record.workflow_id}' is already stored; save the next revision instead`,
          { workflow_id: record.workflow_id, revision: record.revision },
        )
      }
      this.#stmt(
        `INSERT INTO workflows (workflow_id, revision, status, name, description, definition, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      ).run(
        record.workflow_id,
        record.revision,
        record.status,
        record.definition.name,
        record.definition.description ?? null,
        JSON.stringify(record.definition),
        sortableTime(record.created_at),
        sortableTime(record.updated_at),
      )
    })
  }

  async getWorkflow(workflowId: string, revision?: number): Promise<WorkflowRecord | undefined> {
    const row = this.#wrap('read the workflow', () =>
      revision === undefined
        ? this.#stmt('SELECT * FROM workflows WHERE workflow_id = ? ORDER BY revision DESC LIMIT 1').get(
            workflowId,
          )
        : this.#stmt('SELECT * FROM workflows WHERE workflow_id = ? AND revision = ?').get(
            workflowId,
            revision,
          ),
    ) as Row | undefined
    return row === undefined ? undefined : workflowFromRow(row)
  }

  async listWorkflowRevisions(workflowId: string): Promise<WorkflowRecord[]> {
    const rows = this.#wrap('list revisions', () =>
      this.#stmt('SELECT * FROM workflows WHERE workflow_id = ? ORDER BY revision').all(workflowId),
    ) as Row[]
    return rows.map(workflowFromRow)
  }

  async listWorkflows(query: WorkflowQuery): Promise<Page<WorkflowRecord>> {
    const where: string[] = [
      'w.revision = (SELECT MAX(revision) FROM workflows x WHERE x.workflow_id = w.workflow_id)',
    ]
    const params: Array<string | number> = []
    if (query.include_drafts === false) where.push("w.status <> 'draft'")
    if (query.search !== undefined && query.search !== '') {
      where.push(
        "(lower(w.name) LIKE ? ESCAPE '\\' OR lower(coalesce(w.description, '')) LIKE ? ESCAPE '\\')",
      )
      const like = `%${escapeLike(query.search.toLowerCase())}%`
      params.push(like, like)
    }
    const spec = resolveSort('listWorkflows', query, WORKFLOW_SORT_FIELDS, {
      field: 'created_at',
      order: 'desc',
    })
    const sort = spec.field
    const order = spec.descending ? 'DESC' : 'ASC'
    const { limit, page, offset } = resolvePage('listWorkflows', query)
    const whereSql = where.join(' AND ')
    return this.#wrap('list workflows', () => {
      const total = Number(
        (this.#stmt(`SELECT COUNT(*) AS n FROM workflows w WHERE ${whereSql}`).get(...params) as Row)['n'],
      )
      const rows = this.#stmt(
        `SELECT * FROM workflows w WHERE ${whereSql} ORDER BY w.${sort} ${order}, w.workflow_id ${order} LIMIT ? OFFSET ?`,
      ).all(...params, limit, offset) as Row[]
      return { items: rows.map(workflowFromRow), total, page, limit }
    })
  }

  async deleteWorkflow(workflowId: string): Promise<boolean> {
    const result = this.#wrap('delete the workflow', () =>
      this.#stmt('DELETE FROM workflows WHERE workflow_id = ?').run(workflowId),
    )
    return Number(result.changes) > 0
  }

  // ----- executions -----

  async deleteExecutions(query: ExecutionDeletion): Promise<string[]> {
    const deletion = resolveDeletion('deleteExecutions', query ?? {})
    return this.#wrap('delete executions', () =>
      this.#transaction(() => {
        const rows = this.#stmt(
          `SELECT execution_id FROM executions
           WHERE status IN (SELECT value FROM json_each(?))
             AND (owner_node IS NULL OR lease_expires_at IS NULL OR lease_expires_at <= ?)
             AND (? IS NULL OR completed_at < ?)
             AND (? IS NULL OR execution_id IN (SELECT value FROM json_each(?)))
           ORDER BY completed_at IS NULL, completed_at, execution_id LIMIT ?`,
        ).all(
          JSON.stringify([...FINISHED_EXECUTION_STATUSES]),
          Date.now(),
          deletion.before ?? null,
          deletion.before ?? null,
          deletion.ids === undefined ? null : 1,
          deletion.ids === undefined ? null : JSON.stringify(deletion.ids),
          deletion.limit,
        ) as Row[]
        const ids = rows.map((row) => String(row['execution_id']))
        if (ids.length === 0) return ids
        const list = JSON.stringify(ids)
        for (const table of ['task_states', 'events', 'checkpoints', 'execution_data', 'executions']) {
          this.#stmt(`DELETE FROM ${table} WHERE execution_id IN (SELECT value FROM json_each(?))`).run(list)
        }
        return ids
      }),
    )
  }

  async commit(batch: WriteBatch): Promise<void> {
    checkBatch(batch)
    const events = batch.events ?? []
    try {
      this.#wrap('commit', () => this.#transaction(() => this.#apply(batch)))
    } catch (error) {
      // Ids were set while the transaction ran; it rolled back, so none of them exists.
      for (const event of events) delete event.id
      throw error
    }
  }

  #apply(batch: WriteBatch): void {
    const now = Date.now()
    const exists = new Set<string>()
    const fence = batch.fence
    if (fence !== undefined) {
      const lookup = this.#stmt('SELECT owner_node, lease_expires_at FROM executions WHERE execution_id = ?')
      for (const id of fence.execution_ids) {
        const row = lookup.get(id) as Row | undefined
        if (row === undefined) continue
        exists.add(id)
        if (row['owner_node'] !== fence.node_id || Number(row['lease_expires_at'] ?? 0) <= now) {
          throw new LeaseLostError(id)
        }
      }
    }
    const fenced = new Set(fence?.execution_ids ?? [])
    for (const record of batch.executions ?? []) {
      let known = exists.has(record.execution_id)
      if (!known && !fenced.has(record.execution_id)) {
        known =
          this.#stmt('SELECT 1 FROM executions WHERE execution_id = ?').get(record.execution_id) !== undefined
      }
      if (known) {
        this.#stmt(
          `UPDATE executions SET status = ?, updated_at = ?, started_at = ?, completed_at = ?, state = ?
           WHERE execution_id = ?`,
        ).run(
          record.status,
          sortableTime(record.updated_at),
          timeOrNull(record.started_at),
          timeOrNull(record.completed_at),
          stateOf(record),
          record.execution_id,
        )
      } else {
        if (record.idempotency_key !== undefined) {
          const holder = this.#stmt('SELECT execution_id FROM executions WHERE idempotency_key = ?').get(
            record.idempotency_key,
          ) as Row | undefined
          if (holder !== undefined) {
            throw new ConflictError(
              `commit: an execution with idempotency_key '${record.idempotency_key}' already exists ('${String(holder['execution_id'])}'); look it up with findExecutionByIdempotencyKey`,
              { idempotency_key: record.idempotency_key, execution_id: String(holder['execution_id']) },
            )
          }
        }
        const owned = fence !== undefined && fenced.has(record.execution_id)
        this.#stmt(
          `INSERT INTO executions (execution_id, workflow_id, status, created_at, updated_at, started_at, completed_at,
             parent_execution_id, idempotency_key, owner_node, lease_expires_at, state)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        ).run(
          record.execution_id,
          record.workflow_id,
          record.status,
          sortableTime(record.created_at),
          sortableTime(record.updated_at),
          timeOrNull(record.started_at),
          timeOrNull(record.completed_at),
          record.parent?.execution_id ?? null,
          record.idempotency_key ?? null,
          owned ? fence.node_id : null,
          owned ? now + (fence.lease_ms ?? DEFAULT_LEASE_MS) : null,
          stateOf(record),
        )
        this.#stmt('INSERT INTO execution_data (execution_id, definition, frozen) VALUES (?, ?, ?)').run(
          record.execution_id,
          JSON.stringify(record.definition),
          frozenOf(record),
        )
        exists.add(record.execution_id)
      }
    }
    if (batch.tasks !== undefined && batch.tasks.length > 0) {
      const upsert = this.#stmt(
        `INSERT INTO task_states (execution_id, task, item_index, state) VALUES (?, ?, ?, ?)
         ON CONFLICT (execution_id, task, item_index) DO UPDATE SET state = excluded.state`,
      )
      for (const state of batch.tasks)
        upsert.run(state.execution_id, state.task, state.item_index, JSON.stringify(state))
    }
    if (batch.events !== undefined && batch.events.length > 0) {
      const insert = this.#stmt(
        'INSERT INTO events (execution_id, seq, workflow_id, type, timestamp, data) VALUES (?, ?, ?, ?, ?, ?)',
      )
      for (const event of batch.events) {
        let result
        try {
          result = insert.run(
            event.execution_id,
            event.seq,
            event.workflow_id,
            event.type,
            event.timestamp,
            JSON.stringify(event.data),
          )
        } catch (error) {
          // The (execution_id, seq) key refuses a seq stored twice; the transaction rolls back.
          if (errorText(error).includes('UNIQUE constraint failed: events')) {
            throw new ConflictError(
              `commit: event seq ${event.seq} of execution '${event.execution_id}' is already stored; seqs are gapless and unique per execution`,
              { execution_id: event.execution_id, seq: event.seq },
            )
          }
          throw error
        }
        event.id = Number(result.lastInsertRowid)
      }
    }
    for (const write of batch.documents ?? []) {
      if (write.doc === null) {
        this.#stmt('DELETE FROM documents WHERE collection = ? AND id = ?').run(write.collection, write.id)
      } else {
        this.#stmt(
          `INSERT INTO documents (collection, id, doc) VALUES (?, ?, ?)
           ON CONFLICT (collection, id) DO UPDATE SET doc = excluded.doc`,
        ).run(write.collection, write.id, JSON.stringify(write.doc))
      }
    }
  }

  async getExecution(executionId: string): Promise<ExecutionRecord | undefined> {
    const row = this.#wrap('read the execution', () =>
      this.#stmt(
        'SELECT e.*, d.definition, d.frozen FROM executions e JOIN execution_data d USING (execution_id) WHERE execution_id = ?',
      ).get(executionId),
    ) as Row | undefined
    return row === undefined ? undefined : executionFromRow(row, true)
  }

  async findExecutionByIdempotencyKey(key: string): Promise<ExecutionRecord | undefined> {
    const row = this.#wrap('read the execution', () =>
      this.#stmt(
        'SELECT e.*, d.definition, d.frozen FROM executions e JOIN execution_data d USING (execution_id) WHERE idempotency_key = ?',
      ).get(key),
    ) as Row | undefined
    return row === undefined ? undefined : executionFromRow(row, true)
  }

  async listExecutions(query: ExecutionQuery): Promise<Page<ExecutionSummary>> {
    const where: string[] = []
    const params: Array<string | number> = []
    if (query.workflow_id !== undefined) {
      where.push('workflow_id = ?')
      params.push(query.workflow_id)
    }
    if (query.status !== undefined) {
      const statuses = Array.isArray(query.status) ? query.status : [query.status]
      where.push(`status IN (${statuses.map(() => '?').join(', ') || "''"})`)
      params.push(...statuses)
    }
    if (query.parent_execution_id !== undefined) {
      where.push('parent_execution_id = ?')
      params.push(query.parent_execution_id)
    }
    if (query.created_after !== undefined) {
      where.push('created_at >= ?')
      params.push(timestampBound('listExecutions', 'created_after', query.created_after))
    }
    if (query.created_before !== undefined) {
      where.push('created_at <= ?')
      params.push(timestampBound('listExecutions', 'created_before', query.created_before))
    }
    const whereSql = where.length === 0 ? '' : `WHERE ${where.join(' AND ')}`
    const spec = resolveSort('listExecutions', query, EXECUTION_SORT_FIELDS, {
      field: 'created_at',
      order: 'desc',
    })
    const sort = spec.field
    const order = spec.descending ? 'DESC' : 'ASC'
    const { limit, page, offset } = resolvePage('listExecutions', query)
    return this.#wrap('list executions', () => {
      const total = Number(
        (this.#stmt(`SELECT COUNT(*) AS n FROM executions ${whereSql}`).get(...params) as Row)['n'],
      )
      const rows = this.#stmt(
        `SELECT e.execution_id, e.workflow_id, e.status, e.created_at, e.updated_at, e.started_at, e.completed_at,
           d.frozen, e.state
         FROM (SELECT * FROM executions ${whereSql}
               ORDER BY ${sort} IS NULL, ${sort} ${order}, execution_id ${order} LIMIT ? OFFSET ?) e
         JOIN execution_data d USING (execution_id)
         ORDER BY e.${sort} IS NULL, e.${sort} ${order}, e.execution_id ${order}`,
      ).all(...params, limit, offset) as Row[]
      return {
        items: rows.map((row) => executionFromRow(row, false) as ExecutionSummary),
        total,
        page,
        limit,
      }
    })
  }

  async getTaskStates(executionId: string): Promise<TaskState[]> {
    const rows = this.#wrap('read task states', () =>
      this.#stmt('SELECT state FROM task_states WHERE execution_id = ? ORDER BY task, item_index').all(
        executionId,
      ),
    ) as Row[]
    return rows.map((row) => JSON.parse(String(row['state'])) as TaskState)
  }

  async listEvents(executionId: string, afterSeq: number, limit: number): Promise<ExecutionEvent[]> {
    checkCount('listEvents', 'limit', limit)
    const rows = this.#wrap('read events', () =>
      this.#stmt('SELECT * FROM events WHERE execution_id = ? AND seq > ? ORDER BY seq LIMIT ?').all(
        executionId,
        afterSeq,
        limit,
      ),
    ) as Row[]
    return rows.map(eventFromRow)
  }

  async lastEventId(): Promise<number> {
    const row = this.#wrap('read events', () => this.#stmt('SELECT MAX(id) AS id FROM events').get()) as Row
    return Number(row['id'] ?? 0)
  }

  async listAllEvents(
    afterId: number,
    limit: number,
    filter: { workflow_id?: string } = {},
  ): Promise<ExecutionEvent[]> {
    const rows = this.#wrap('read events', () =>
      filter.workflow_id === undefined
        ? this.#stmt('SELECT * FROM events WHERE id > ? ORDER BY id LIMIT ?').all(afterId, limit)
        : this.#stmt('SELECT * FROM events WHERE workflow_id = ? AND id > ? ORDER BY id LIMIT ?').all(
            filter.workflow_id,
            afterId,
            limit,
          ),
    ) as Row[]
    return rows.map(eventFromRow)
  }

  // ----- checkpoints -----

  async saveCheckpoint(checkpoint: CheckpointRecord): Promise<void> {
    checkCheckpoint(checkpoint)
    this.#wrap('save the checkpoint', () =>
      this.#stmt(
        `INSERT INTO checkpoints (checkpoint_id, execution_id, created_at, body) VALUES (?, ?, ?, ?)
         ON CONFLICT (checkpoint_id) DO UPDATE SET body = excluded.body`,
      ).run(
        checkpoint.checkpoint_id,
        checkpoint.execution_id,
        checkpoint.created_at,
        JSON.stringify(checkpoint),
      ),
    )
  }

  async getCheckpoint(checkpointId: string): Promise<CheckpointRecord | undefined> {
    const row = this.#wrap('read the checkpoint', () =>
      this.#stmt('SELECT body FROM checkpoints WHERE checkpoint_id = ?').get(checkpointId),
    ) as Row | undefined
    return row === undefined ? undefined : (JSON.parse(String(row['body'])) as CheckpointRecord)
  }

  async listCheckpoints(executionId: string): Promise<CheckpointRecord[]> {
    const rows = this.#wrap('list checkpoints', () =>
      this.#stmt(
        'SELECT body FROM checkpoints WHERE execution_id = ? ORDER BY created_at, checkpoint_id',
      ).all(executionId),
    ) as Row[]
    return rows.map((row) => JSON.parse(String(row['body'])) as CheckpointRecord)
  }

  // ----- leases -----

  async claimExecutions(nodeId: string, leaseMs: number, limit: number): Promise<string[]> {
    checkNodeId('claimExecutions', nodeId)
    checkCount('claimExecutions', 'leaseMs', leaseMs)
    const now = Date.now()
    return this.#wrap('claim executions', () =>
      this.#transaction(() => {
        const rows = this.#stmt(
          `SELECT execution_id FROM executions WHERE status IN ${UNFINISHED}
           AND (owner_node IS NULL OR owner_node = ? OR lease_expires_at <= ?) ORDER BY created_at LIMIT ?`,
        ).all(nodeId, now, limit) as Row[]
        const claim = this.#stmt(
          'UPDATE executions SET owner_node = ?, lease_expires_at = ? WHERE execution_id = ?',
        )
        for (const row of rows) claim.run(nodeId, now + leaseMs, String(row['execution_id']))
        return rows.map((row) => String(row['execution_id']))
      }),
    )
  }

  async claimExecution(nodeId: string, executionId: string, leaseMs: number): Promise<boolean> {
    checkNodeId('claimExecution', nodeId)
    checkCount('claimExecution', 'leaseMs', leaseMs)
    const now = Date.now()
    const result = this.#wrap('claim the execution', () =>
      this.#stmt(
        `UPDATE executions SET owner_node = ?, lease_expires_at = ? WHERE execution_id = ?
         AND (owner_node IS NULL OR owner_node = ? OR lease_expires_at <= ?)`,
      ).run(nodeId, now + leaseMs, executionId, nodeId, now),
    )
    return Number(result.changes) > 0
  }

  async renewLeases(nodeId: string, executionIds: string[], leaseMs: number): Promise<string[]> {
    checkNodeId('renewLeases', nodeId)
    checkCount('renewLeases', 'leaseMs', leaseMs)
    const now = Date.now()
    return this.#wrap('renew leases', () =>
      this.#transaction(() => {
        const renew = this.#stmt(
          'UPDATE executions SET lease_expires_at = ? WHERE execution_id = ? AND owner_node = ? AND lease_expires_at > ?',
        )
        return executionIds.filter((id) => Number(renew.run(now + leaseMs, id, nodeId, now).changes) > 0)
      }),
    )
  }

  async releaseExecution(nodeId: string, executionId: string): Promise<void> {
    checkNodeId('releaseExecution', nodeId)
    this.#wrap('release the execution', () =>
      this.#stmt(
        'UPDATE executions SET owner_node = NULL, lease_expires_at = NULL WHERE execution_id = ? AND owner_node = ?',
      ).run(executionId, nodeId),
    )
  }

  // ----- documents -----

  async putDocument(collection: string, id: string, doc: JsonObject): Promise<void> {
    checkDocumentKey('putDocument', collection, id)
    checkDocument('putDocument: doc', doc)
    this.#wrap('save the document', () =>
      this.#stmt(
        `INSERT INTO documents (collection, id, doc) VALUES (?, ?, ?)
         ON CONFLICT (collection, id) DO UPDATE SET doc = excluded.doc`,
      ).run(collection, id, JSON.stringify(doc)),
    )
  }

  async getDocument(collection: string, id: string): Promise<JsonObject | undefined> {
    const row = this.#wrap('read the document', () =>
      this.#stmt('SELECT doc FROM documents WHERE collection = ? AND id = ?').get(collection, id),
    ) as Row | undefined
    return row === undefined ? undefined : (JSON.parse(String(row['doc'])) as JsonObject)
  }

  async listDocuments(collection: string, query: DocumentQuery = {}): Promise<Page<JsonObject>> {
    checkCollection('listDocuments', collection)
    const where = ['collection = ?']
    const params: Array<string | number | null> = [collection]
    for (const [field, value] of checkWhere('listDocuments', query.where)) {
      // json_each reads top-level keys as data, so any key (dots, quotes) is matched without a JSON path.
      const [typeSql, atom] = whereTypeOf(value)
      where.push(
        `EXISTS (SELECT 1 FROM json_each(documents.doc) j WHERE j.key = ? AND ${typeSql}${atom ? ' AND j.atom = ?' : ''})`,
      )
      params.push(field)
      if (atom) params.push(value as string | number)
    }
    const spec = resolveSort('listDocuments', query, DOCUMENT_SORT_FIELDS, { field: 'id', order: 'asc' })
    const order = spec.descending ? 'DESC' : 'ASC'
    const { limit, page, offset } = resolvePage('listDocuments', query)
    const whereSql = where.join(' AND ')
    return this.#wrap('list documents', () => {
      const total = Number(
        (this.#stmt(`SELECT COUNT(*) AS n FROM documents WHERE ${whereSql}`).get(...params) as Row)['n'],
      )
      const rows = this.#stmt(
        `SELECT doc FROM documents WHERE ${whereSql} ORDER BY id ${order} LIMIT ? OFFSET ?`,
      ).all(...params, limit, offset) as Row[]
      return { items: rows.map((row) => JSON.parse(String(row['doc'])) as JsonObject), total, page, limit }
    })
  }

  async deleteDocument(collection: string, id: string): Promise<boolean> {
    const result = this.#wrap('delete the document', () =>
      this.#stmt('DELETE FROM documents WHERE collection = ? AND id = ?').run(collection, id),
    )
    return Number(result.changes) > 0
  }

  async markOnce(scope: string, key: string, ttlMs?: number): Promise<boolean> {
    checkMark(scope, key, ttlMs)
    const now = Date.now()
    const result = this.#wrap('record the mark', () =>
      this.#stmt(
        `INSERT INTO once_marks (scope, key, expires_at) VALUES (?, ?, ?)
         ON CONFLICT (scope, key) DO UPDATE SET expires_at = excluded.expires_at
         WHERE once_marks.expires_at IS NOT NULL AND once_marks.expires_at <= ?`,
      ).run(scope, key, ttlMs === undefined ? null : now + ttlMs, now),
    )
    return Number(result.changes) > 0
  }

  // ----- wake-ups (in-process: an embedded store has one process) -----

  async notify(channel: string, payload: string): Promise<void> {
    for (const listener of this.#listeners.get(channel) ?? []) queueMicrotask(() => listener(payload))
  }

  listen(channel: string, listener: (payload: string) => void): () => void {
    let set = this.#listeners.get(channel)
    if (set === undefined) this.#listeners.set(channel, (set = new Set()))
    set.add(listener)
    return () => set.delete(listener)
  }
}

function workflowFromRow(row: Row): WorkflowRecord {
  return {
    workflow_id: String(row['workflow_id']),
    revision: Number(row['revision']),
    status: row['status'] === 'draft' ? 'draft' : 'published',
    definition: JSON.parse(String(row['definition'])),
    created_at: String(row['created_at']),
    updated_at: String(row['updated_at']),
  }
}

function executionFromRow(row: Row, withDefinition: boolean): ExecutionRecord {
  const frozen = JSON.parse(String(row['frozen'])) as Partial<ExecutionRecord>
  const state = JSON.parse(String(row['state'])) as Partial<ExecutionRecord>
  const record = {
    execution_id: String(row['execution_id']),
    workflow_id: String(row['workflow_id']),
    ...frozen,
    ...state,
  } as ExecutionRecord
  if (withDefinition) record.definition = JSON.parse(String(row['definition']))
  return record
}

function eventFromRow(row: Row): ExecutionEvent {
  return {
    id: Number(row['id']),
    seq: Number(row['seq']),
    type: String(row['type']) as ExecutionEvent['type'],
    timestamp: String(row['timestamp']),
    execution_id: String(row['execution_id']),
    workflow_id: String(row['workflow_id']),
    data: JSON.parse(String(row['data'])),
  }
}

/** The json_each condition for a `where` value, and whether `atom` is compared too. */
function whereTypeOf(value: WhereValue): [string, boolean] {
  if (value === null) return ["j.type = 'null'", false]
  if (value === true) return ["j.type = 'true'", false]
  if (value === false) return ["j.type = 'false'", false]
  if (typeof value === 'number') return ["j.type IN ('integer', 'real')", true]
  return ["j.type = 'text'", true]
}

function timeOrNull(value: string | undefined | null): string | null {
  return value === undefined || value === null ? null : sortableTime(value)
}

function escapeLike(text: string): string {
  return text.replace(/[\\%_]/g, (c) => `\\${c}`)
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}
