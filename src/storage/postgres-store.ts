/**
 * The PostgreSQL store: several Harmonia nodes share one database.
 *
 * - Executions are owned by lease (`owner_node`, `lease_expires_at`), always measured on the database's
 *   clock (`now()`), so nodes with drifting clocks still agree. Claims use `FOR UPDATE SKIP LOCKED`: two
 *   nodes claiming at once never take the same execution and never wait on each other.
 * - `commit` is one transaction with one statement per table (rows passed as arrays and expanded with
 *   `unnest`). A fenced batch first locks its executions and checks the lease, so a node that lost one
 *   writes nothing. Immutable execution fields (definition, input, ...) are written on insert only.
 * - Event ids come from a sequence, and a transaction-level advisory lock taken just before the insert
 *   makes transactions that add events commit in id order; so a reader that has seen id N will never see
 *   a smaller id appear later, and `listAllEvents(afterId)` can stream the cluster's events in order. The
 *   insert ends with `pg_notify('harmonia_events', <max id>)`, delivered when the transaction commits.
 * - `listen` uses one dedicated connection per store (see postgres-listener.ts).
 */
import { createHash } from 'node:crypto'
import pg from 'pg'
import { InvalidRequestError, StoreError, ValidationError, type ValidationIssue } from '../core/errors.ts'
import type { ExecutionEvent } from '../core/events.ts'
import { silentLogger, type Logger } from '../core/logger.ts'
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
import { checkBatch } from './input-checks.ts'
import { resolveDeletion } from './list-query.ts'
import { writeBatch, writeFencedBatchAtOnce } from './postgres-commit.ts'
import { createSecretMask, maskConnectionString, toStoreError } from './postgres-errors.ts'
import { PostgresListener } from './postgres-listener.ts'
import { migrate, quoteIdentifier } from './postgres-migrations.ts'
import {
  documentQuerySql,
  executionFromRow,
  executionQuerySql,
  prepared,
  workflowQuerySql,
  type ExecutionRow,
  type PageSql,
  type Tables,
} from './postgres-queries.ts'

/** How many recently written execution ids `commit` remembers. */
const WRITTEN_MEMORY = 100_000

export interface PostgresStoreOptions {
  /** `postgres://user:password@host:5432/db` (or any form `pg` accepts). */
  connectionString: string
  /** Connections in the pool. Default 10. The LISTEN connection comes on top. */
  poolSize?: number
  /** Schema holding Harmonia's tables, created on `init()` when missing. Default `public`. */
  schema?: string
  /** Names this node's connections (`application_name`) and log lines. */
  nodeId?: string
  logger?: Logger
  /** How long to wait for a connection before failing. Default 10 000 ms. */
  connectTimeoutMs?: number
  /** LISTEN reconnect backoff bounds. Defaults 100 ms and 5 000 ms. */
  listenBackoffMs?: { min?: number; max?: number }
}

const DEFAULT_LEASE_MS = 30_000
const UNFINISHED = ['pending', 'running', 'paused']
/** PostgreSQL rejects NOTIFY payloads of 8000 bytes or more. */
const MAX_NOTIFY_BYTES = 7999
/** Every this many `markOnce` calls, expired marks of that scope are deleted (a bounded batch). */
const MARK_CLEANUP_EVERY = 500

export function createPostgresStore(options: PostgresStoreOptions): PostgresStore {
  return new PostgresStore(options)
}

/**
 * Harmonia's name for a channel on the database: `harmonia_<channel>` for the `public` schema, and
 * `harmonia_<schema hash>_<channel>` for another, so deployments sharing a database in separate schemas
 * never wake each other. A valid identifier of at most 63 characters.
 */
export function channelName(channel: string, schema = 'public'): string {
  if (typeof channel !== 'string' || channel === '') {
    throw new InvalidRequestError(
      `notification channel must be a non-empty string, got ${JSON.stringify(channel)}`,
    )
  }
  const prefix =
    schema === 'public'
      ? 'harmonia_'
      : `harmonia_${createHash('sha256').update(schema).digest('hex').slice(0, 8)}_`
  const safe = channel.replace(/[^A-Za-z0-9_]/g, '_')
  if (prefix.length + safe.length <= 63) return `${prefix}${safe}`
  const hash = createHash('sha256').update(channel).digest('hex').slice(0, 8)
  return `${prefix}${safe.slice(0, 63 - prefix.length - 9)}_${hash}`
}

export class PostgresStore implements Store {
  readonly kind = 'postgres' as const
  readonly schema: string
  readonly #pool: pg.Pool
  readonly #listener: PostgresListener
  readonly #logger: Logger
  readonly #mask: (text: string) => string
  readonly #maskedUrl: string
  readonly #t: Tables
  readonly #eventsLockKey: string
  #initialized: Promise<void> | undefined
  #ready = false
  #closed: Promise<void> | undefined
  #markCalls = 0

  constructor(options: PostgresStoreOptions) {
    const issues = checkOptions(options)
    if (issues.length > 0) throw new ValidationError('invalid PostgreSQL store options', issues)
    this.schema = options.schema ?? 'public'
    this.#mask = createSecretMask(options.connectionString)
    this.#maskedUrl = maskConnectionString(options.connectionString)
    this.#logger = (options.logger ?? silentLogger).child({
      store: 'postgres',
      schema: this.schema,
      ...(options.nodeId === undefined ? {} : { nodeId: options.nodeId }),
    })
    const schema = quoteIdentifier(this.schema)
    this.#t = {
      workflows: `${schema}.workflows`,
      executions: `${schema}.executions`,
      tasks: `${schema}.task_states`,
      events: `${schema}.events`,
      checkpoints: `${schema}.checkpoints`,
      documents: `${schema}.documents`,
      marks: `${schema}.once_marks`,
    }
    this.#eventsLockKey = `harmonia:events:${this.schema}`
    const connection: pg.ClientConfig = {
      connectionString: options.connectionString,
      application_name: `harmonia${options.nodeId === undefined ? '' : `:${options.nodeId}`}`.slice(0, 63),
      connectionTimeoutMillis: options.connectTimeoutMs ?? 10_000,
      keepAlive: true,
    }
    this.#pool = new pg.Pool({ ...connection, max: options.poolSize ?? 10, idleTimeoutMillis: 30_000 })
    // An idle pooled connection that dies emits here; the pool replaces it on the next checkout.
    this.#pool.on('error', (error) => {
      this.#logger.warn('idle PostgreSQL connection failed', { error: this.#mask(error.message) })
    })
    this.#listener = new PostgresListener({
      createClient: () => new pg.Client(connection),
      logger: this.#logger,
      mask: this.#mask,
      minBackoffMs: options.listenBackoffMs?.min,
      maxBackoffMs: options.listenBackoffMs?.max,
    })
  }

  // ----- lifecycle ---------------------------------------------------------------------------------------

  init(): Promise<void> {
    if (this.#closed !== undefined) return Promise.reject(this.#closedError('init'))
    this.#initialized ??= this.#migrate().catch((error: unknown) => {
      this.#initialized = undefined
      throw error
    })
    return this.#initialized
  }

  async #migrate(): Promise<void> {
    const client = await this.#checkout('init')
    let broken = false
    try {
      const applied = await migrate(client, this.schema)
      if (applied.length > 0) this.#logger.info('database migrated', { versions: applied })
      this.#ready = true
    } catch (error) {
      broken = true
      throw this.#error('init', error)
    } finally {
      client.release(broken)
    }
  }

  close(): Promise<void> {
    this.#closed ??= (async () => {
      await this.#initialized?.catch(() => {})
      await this.#listener.close()
      await this.#pool.end()
    })()
    return this.#closed
  }

  async health(): Promise<StoreHealth> {
    if (this.#closed !== undefined) return { ok: false, detail: 'postgres store is closed' }
    try {
      await this.#pool.query('SELECT 1')
      return { ok: true }
    } catch (error) {
      return { ok: false, detail: this.#error('health', error).message }
    }
  }

  /** Resolves once every `listen` channel is active on the database (notifications sent after it arrive). */
  listening(): Promise<void> {
    return this.#listener.ready()
  }

  /** Backend process id of the LISTEN connection, when it is open. */
  get listenerProcessId(): number | undefined {
    return this.#listener.processId
  }

  // ----- workflows ---------------------------------------------------------------------------------------

  async saveWorkflow(record: WorkflowRecord): Promise<void> {
    await this.#query(
      'saveWorkflow',
      `INSERT INTO ${this.#t.workflows}
         (workflow_id, revision, name, description, status, created_at, updated_at, record)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
      [
        record.workflow_id,
        record.revision,
        record.definition?.name ?? '',
        record.definition?.description ?? null,
        record.status,
        record.created_at,
        record.updated_at,
        json(record),
      ],
    )
  }

  async getWorkflow(workflowId: string, revision?: number): Promise<WorkflowRecord | undefined> {
    const result =
      revision === undefined
        ? await this.#query<{ record: WorkflowRecord }>(
            'getWorkflow',
            `SELECT record FROM ${this.#t.workflows} WHERE workflow_id = $1 ORDER BY revision DESC LIMIT 1`,
            [workflowId],
          )
        : await this.#query<{ record: WorkflowRecord }>(
            'getWorkflow',
            `SELECT record FROM ${this.#t.workflows} WHERE workflow_id = $1 AND revision = $2`,
            [workflowId, revision],
          )
    return result.rows[0]?.record
  }

  async listWorkflowRevisions(workflowId: string): Promise<WorkflowRecord[]> {
    const result = await this.#query<{ record: WorkflowRecord }>(
      'listWorkflowRevisions',
      `SELECT record FROM ${this.#t.workflows} WHERE workflow_id = $1 ORDER BY revision`,
      [workflowId],
    )
    return result.rows.map((row) => row.record)
  }

  async listWorkflows(query: WorkflowQuery): Promise<Page<WorkflowRecord>> {
    const sql = workflowQuerySql(this.#t.workflows, query)
    return this.#page<{ record: WorkflowRecord }, WorkflowRecord>('listWorkflows', sql, (row) => row.record)
  }

  async deleteWorkflow(workflowId: string): Promise<boolean> {
    const result = await this.#query(
      'deleteWorkflow',
      `DELETE FROM ${this.#t.workflows} WHERE workflow_id = $1`,
      [workflowId],
    )
    return (result.rowCount ?? 0) > 0
  }

  // ----- executions, task states, events -----------------------------------------------------------------

  async deleteExecutions(query: ExecutionDeletion): Promise<string[]> {
    const deletion = resolveDeletion('deleteExecutions', query ?? {})
    const t = this.#t
    // One statement: the picked rows are locked (SKIP LOCKED: a commit or another node's sweep holding one
    // keeps it), then their rows in every table go together.
    const result = await this.#query<{ execution_id: string }>(
      'deleteExecutions',
      `WITH picked AS (
         SELECT execution_id FROM ${t.executions}
         WHERE status = ANY($1::text[])
           AND (owner_node IS NULL OR lease_expires_at IS NULL OR lease_expires_at <= now())
           AND ($2::timestamptz IS NULL OR completed_at < $2::timestamptz)
           AND ($3::text[] IS NULL OR execution_id = ANY($3::text[]))
         ORDER BY completed_at NULLS LAST, execution_id
         LIMIT $4
         FOR UPDATE SKIP LOCKED
       ),
       tasks AS (DELETE FROM ${t.tasks} WHERE execution_id IN (SELECT execution_id FROM picked)),
       events AS (DELETE FROM ${t.events} WHERE execution_id IN (SELECT execution_id FROM picked)),
       checkpoints AS (DELETE FROM ${t.checkpoints} WHERE execution_id IN (SELECT execution_id FROM picked)),
       deleted AS (
         DELETE FROM ${t.executions} WHERE execution_id IN (SELECT execution_id FROM picked)
         RETURNING execution_id, completed_at
       )
       SELECT execution_id FROM deleted ORDER BY completed_at NULLS LAST, execution_id`,
      [[...FINISHED_EXECUTION_STATUSES], deletion.before ?? null, deletion.ids ?? null, deletion.limit],
    )
    return result.rows.map((row) => row.execution_id)
  }

  /** Executions this store committed lately, newest last (see `commit`). */
  readonly #written = new Set<string>()

  async commit(batch: WriteBatch): Promise<void> {
    checkBatch(batch)
    const context = {
      tables: this.#t,
      eventsLockKey: this.#eventsLockKey,
      eventsChannel: channelName('events', this.schema),
      defaultLeaseMs: DEFAULT_LEASE_MS,
    }
    // A running execution's commit takes one round trip; the rest (inserts, documents) a transaction. The
    // one-statement form is tried only for executions this store has written before (so not for inserts).
    this.#checkUsable('commit')
    const fenced = batch.fence?.execution_ids ?? []
    let assigned: number[] | undefined
    if (fenced.length > 0 && fenced.every((id) => this.#written.has(id))) {
      try {
        assigned = await writeFencedBatchAtOnce((query) => this.#pool.query(query), batch, context)
      } catch (error) {
        throw this.#error('commit', error)
      }
    }
    assigned ??= await this.#transaction('commit', (client) => writeBatch(client, batch, context))
    for (const id of fenced) {
      this.#written.delete(id)
      this.#written.add(id)
    }
    while (this.#written.size > WRITTEN_MEMORY) this.#written.delete(this.#written.values().next().value!)
    // Ids are set only once the transaction has committed.
    assigned.forEach((id, index) => {
      batch.events![index]!.id = id
    })
  }

  async getExecution(executionId: string): Promise<ExecutionRecord | undefined> {
    const result = await this.#query<ExecutionRow>(
      'getExecution',
      `SELECT fixed, state, definition FROM ${this.#t.executions} WHERE execution_id = $1`,
      [executionId],
    )
    const row = result.rows[0]
    return row === undefined ? undefined : executionFromRow(row)
  }

  async findExecutionByIdempotencyKey(key: string): Promise<ExecutionRecord | undefined> {
    const result = await this.#query<ExecutionRow>(
      'findExecutionByIdempotencyKey',
      `SELECT fixed, state, definition FROM ${this.#t.executions} WHERE idempotency_key = $1`,
      [key],
    )
    const row = result.rows[0]
    return row === undefined ? undefined : executionFromRow(row)
  }

  async listExecutions(query: ExecutionQuery): Promise<Page<ExecutionSummary>> {
    const sql = executionQuerySql(this.#t.executions, query)
    return this.#page<ExecutionRow, ExecutionSummary>('listExecutions', sql, (row) => executionFromRow(row))
  }

  async getTaskStates(executionId: string): Promise<TaskState[]> {
    const result = await this.#query<{ record: TaskState }>(
      'getTaskStates',
      `SELECT record FROM ${this.#t.tasks} WHERE execution_id = $1 ORDER BY task, item_index`,
      [executionId],
    )
    return result.rows.map((row) => row.record)
  }

  async listEvents(executionId: string, afterSeq: number, limit: number): Promise<ExecutionEvent[]> {
    checkCount('listEvents', 'limit', limit)
    if (limit === 0) return []
    const result = await this.#query<EventRow>(
      'listEvents',
      `SELECT id::text AS event_id, record FROM ${this.#t.events}
       WHERE execution_id = $1 AND seq > $2 ORDER BY seq LIMIT $3`,
      [executionId, afterSeq, limit],
    )
    return result.rows.map(eventFromRow)
  }

  async lastEventId(): Promise<number> {
    const result = await this.#query<{ id: string | null }>(
      'lastEventId',
      `SELECT max(id)::text AS id FROM ${this.#t.events}`,
      [],
    )
    return Number(result.rows[0]?.id ?? 0)
  }

  async listAllEvents(
    afterId: number,
    limit: number,
    filter: { workflow_id?: string } = {},
  ): Promise<ExecutionEvent[]> {
    checkCount('listAllEvents', 'limit', limit)
    if (limit === 0) return []
    const result =
      filter.workflow_id === undefined
        ? await this.#query<EventRow>(
            'listAllEvents',
            `SELECT id::text AS event_id, record FROM ${this.#t.events} WHERE id > $1 ORDER BY id LIMIT $2`,
            [afterId, limit],
          )
        : await this.#query<EventRow>(
            'listAllEvents',
            `SELECT id::text AS event_id, record FROM ${this.#t.events}
             WHERE workflow_id = $3 AND id > $1 ORDER BY id LIMIT $2`,
            [afterId, limit, filter.workflow_id],
          )
    return result.rows.map(eventFromRow)
  }

  // ----- checkpoints -------------------------------------------------------------------------------------

  async saveCheckpoint(checkpoint: CheckpointRecord): Promise<void> {
    await this.#query(
      'saveCheckpoint',
      `INSERT INTO ${this.#t.checkpoints} (checkpoint_id, execution_id, workflow_id, created_at, record)
       VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (checkpoint_id) DO UPDATE SET execution_id = excluded.execution_id,
         workflow_id = excluded.workflow_id, created_at = excluded.created_at, record = excluded.record`,
      [
        checkpoint.checkpoint_id,
        checkpoint.execution_id,
        checkpoint.workflow_id,
        checkpoint.created_at,
        json(checkpoint),
      ],
    )
  }

  async getCheckpoint(checkpointId: string): Promise<CheckpointRecord | undefined> {
    const result = await this.#query<{ record: CheckpointRecord }>(
      'getCheckpoint',
      `SELECT record FROM ${this.#t.checkpoints} WHERE checkpoint_id = $1`,
      [checkpointId],
    )
    return result.rows[0]?.record
  }

  async listCheckpoints(executionId: string): Promise<CheckpointRecord[]> {
    const result = await this.#query<{ record: CheckpointRecord }>(
      'listCheckpoints',
      `SELECT record FROM ${this.#t.checkpoints} WHERE execution_id = $1 ORDER BY created_at, checkpoint_id`,
      [executionId],
    )
    return result.rows.map((row) => row.record)
  }

  // ----- leases ------------------------------------------------------------------------------------------

  async claimExecutions(nodeId: string, leaseMs: number, limit: number): Promise<string[]> {
    checkNodeId('claimExecutions', nodeId)
    checkCount('claimExecutions', 'leaseMs', leaseMs)
    checkCount('claimExecutions', 'limit', limit)
    if (limit === 0) return []
    const result = await this.#query<{ execution_id: string }>(
      'claimExecutions',
      `WITH candidates AS (
         SELECT execution_id FROM ${this.#t.executions}
         WHERE status = ANY($4::text[])
           AND (owner_node IS NULL OR owner_node = $1 OR lease_expires_at IS NULL OR lease_expires_at <= now())
         ORDER BY created_at, execution_id
         LIMIT $3
         FOR UPDATE SKIP LOCKED
       )
       UPDATE ${this.#t.executions} AS e
       SET owner_node = $1, lease_expires_at = now() + $2::double precision * interval '1 millisecond'
       FROM candidates c WHERE e.execution_id = c.execution_id
       RETURNING e.execution_id`,
      [nodeId, leaseMs, limit, UNFINISHED],
    )
    return result.rows.map((row) => row.execution_id)
  }

  async claimExecution(nodeId: string, executionId: string, leaseMs: number): Promise<boolean> {
    checkNodeId('claimExecution', nodeId)
    checkCount('claimExecution', 'leaseMs', leaseMs)
    const result = await this.#query(
      'claimExecution',
      `UPDATE ${this.#t.executions}
       SET owner_node = $1, lease_expires_at = now() + $3::double precision * interval '1 millisecond'
       WHERE execution_id = $2
         AND (owner_node IS NULL OR owner_node = $1 OR lease_expires_at IS NULL OR lease_expires_at <= now())`,
      [nodeId, executionId, leaseMs],
    )
    return (result.rowCount ?? 0) > 0
  }

  async renewLeases(nodeId: string, executionIds: string[], leaseMs: number): Promise<string[]> {
    checkNodeId('renewLeases', nodeId)
    checkCount('renewLeases', 'leaseMs', leaseMs)
    if (executionIds.length === 0) return []
    // Rows are locked in execution_id order, as commit's fence locks them, so the two never deadlock.
    const result = await this.#query<{ execution_id: string }>(
      'renewLeases',
      `WITH held AS (
         SELECT execution_id FROM ${this.#t.executions}
         WHERE execution_id = ANY($2::text[]) AND owner_node = $1 AND lease_expires_at > now()
         ORDER BY execution_id
         FOR UPDATE
       )
       UPDATE ${this.#t.executions} AS e SET lease_expires_at = now() + $3::double precision * interval '1 millisecond'
       FROM held h WHERE e.execution_id = h.execution_id AND e.owner_node = $1
       RETURNING e.execution_id`,
      [nodeId, executionIds, leaseMs],
    )
    return result.rows.map((row) => row.execution_id)
  }

  async releaseExecution(nodeId: string, executionId: string): Promise<void> {
    checkNodeId('releaseExecution', nodeId)
    // An unfinished execution let go is work for another node: wake the cluster's claimers.
    await this.#query(
      'releaseExecution',
      `WITH released AS (
         UPDATE ${this.#t.executions} SET owner_node = NULL, lease_expires_at = NULL
         WHERE execution_id = $2 AND owner_node = $1
         RETURNING execution_id, status
       )
       SELECT pg_notify($3, execution_id) FROM released WHERE status = ANY($4::text[])`,
      [nodeId, executionId, channelName('executions', this.schema), UNFINISHED],
    )
  }

  // ----- documents ---------------------------------------------------------------------------------------

  async putDocument(collection: string, id: string, doc: JsonObject): Promise<void> {
    await this.#query(
      'putDocument',
      `INSERT INTO ${this.#t.documents} (collection, id, doc) VALUES ($1, $2, $3)
       ON CONFLICT (collection, id) DO UPDATE SET doc = excluded.doc, updated_at = now()`,
      [collection, id, json(doc)],
    )
  }

  async getDocument(collection: string, id: string): Promise<JsonObject | undefined> {
    const result = await this.#query<{ doc: JsonObject }>(
      'getDocument',
      `SELECT doc FROM ${this.#t.documents} WHERE collection = $1 AND id = $2`,
      [collection, id],
    )
    return result.rows[0]?.doc
  }

  async listDocuments(collection: string, query: DocumentQuery = {}): Promise<Page<JsonObject>> {
    const sql = documentQuerySql(this.#t.documents, collection, query)
    return this.#page<{ doc: JsonObject }, JsonObject>('listDocuments', sql, (row) => row.doc)
  }

  async deleteDocument(collection: string, id: string): Promise<boolean> {
    const result = await this.#query(
      'deleteDocument',
      `DELETE FROM ${this.#t.documents} WHERE collection = $1 AND id = $2`,
      [collection, id],
    )
    return (result.rowCount ?? 0) > 0
  }

  async markOnce(scope: string, key: string, ttlMs?: number): Promise<boolean> {
    if (ttlMs !== undefined) checkCount('markOnce', 'ttlMs', ttlMs)
    // A live mark wins; an expired one is replaced, atomically, by whichever node gets the row lock first.
    const result = await this.#query(
      'markOnce',
      `INSERT INTO ${this.#t.marks} (scope, key, marked_at, expires_at)
       VALUES ($1, $2, now(), now() + $3::double precision * interval '1 millisecond')
       ON CONFLICT (scope, key) DO UPDATE SET marked_at = excluded.marked_at, expires_at = excluded.expires_at
       WHERE ${this.#t.marks}.expires_at IS NOT NULL AND ${this.#t.marks}.expires_at <= now()`,
      [scope, key, ttlMs ?? null],
    )
    if (++this.#markCalls % MARK_CLEANUP_EVERY === 0) void this.#forgetExpiredMarks(scope)
    return (result.rowCount ?? 0) > 0
  }

  async #forgetExpiredMarks(scope: string): Promise<void> {
    try {
      await this.#query(
        'markOnce cleanup',
        `DELETE FROM ${this.#t.marks} WHERE (scope, key) IN (
           SELECT scope, key FROM ${this.#t.marks} WHERE scope = $1 AND expires_at <= now() LIMIT 1000)`,
        [scope],
      )
    } catch (error) {
      this.#logger.warn('could not delete expired once-marks', { scope, error: String(error) })
    }
  }

  // ----- notifications -----------------------------------------------------------------------------------

  async notify(channel: string, payload: string): Promise<void> {
    const name = channelName(channel, this.schema)
    if (Buffer.byteLength(payload, 'utf8') > MAX_NOTIFY_BYTES) {
      throw new StoreError(
        `postgres store: notify on '${channel}': payload is ${Buffer.byteLength(payload, 'utf8')} bytes, ` +
          `PostgreSQL allows at most ${MAX_NOTIFY_BYTES}; send an id and let listeners read the rest`,
      )
    }
    await this.#query('notify', 'SELECT pg_notify($1, $2)', [name, payload])
  }

  listen(channel: string, listener: (payload: string) => void): () => void {
    if (this.#closed !== undefined) throw this.#closedError('listen')
    return this.#listener.add(channelName(channel, this.schema), listener)
  }

  // ----- plumbing ----------------------------------------------------------------------------------------

  async #query<R extends pg.QueryResultRow = pg.QueryResultRow>(
    operation: string,
    sql: string,
    params: unknown[],
    statement: 'prepared' | 'once' = 'prepared',
  ): Promise<pg.QueryResult<R>> {
    this.#checkUsable(operation)
    try {
      return await this.#pool.query<R>(
        statement === 'prepared' ? prepared(sql, params) : { text: sql, values: params },
      )
    } catch (error) {
      throw this.#error(operation, error)
    }
  }

  async #page<R extends pg.QueryResultRow, T>(
    operation: string,
    sql: PageSql,
    map: (row: R) => T,
  ): Promise<Page<T>> {
    const [count, rows] = await Promise.all([
      this.#query<{ total: number }>(operation, sql.count, sql.params, 'once'),
      this.#query<R>(operation, sql.rows, sql.params, 'once'),
    ])
    return { items: rows.rows.map(map), total: count.rows[0]?.total ?? 0, page: sql.page, limit: sql.limit }
  }

  async #transaction<T>(operation: string, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    this.#checkUsable(operation)
    const client = await this.#checkout(operation)
    let broken = false
    try {
      await client.query('BEGIN')
      const result = await work(client)
      await client.query('COMMIT')
      return result
    } catch (error) {
      await client.query('ROLLBACK').catch(() => {
        broken = true
      })
      throw this.#error(operation, error)
    } finally {
      client.release(broken)
    }
  }

  async #checkout(operation: string): Promise<pg.PoolClient> {
    try {
      return await this.#pool.connect()
    } catch (error) {
      throw this.#error(operation, error)
    }
  }

  #checkUsable(operation: string): void {
    if (this.#closed !== undefined) throw this.#closedError(operation)
    if (!this.#ready) {
      throw new StoreError(`postgres store: ${operation} called before init(); await store.init() first`)
    }
  }

  #closedError(operation: string): StoreError {
    return new StoreError(`postgres store: ${operation} called after close()`)
  }

  #error(operation: string, error: unknown): Error {
    const mapped = toStoreError(operation, error, this.#mask, this.#maskedUrl)
    if (mapped instanceof StoreError) {
      this.#logger.warn('store operation failed', { operation, error: mapped.message })
    }
    return mapped
  }
}

interface EventRow {
  /** bigint, as text: the driver does not turn int8 into a number. */
  event_id: string
  record: Omit<ExecutionEvent, 'id'>
}

function eventFromRow(row: EventRow): ExecutionEvent {
  return { ...row.record, id: Number(row.event_id) }
}

function json(value: unknown): string {
  return JSON.stringify(value)
}

function checkOptions(options: PostgresStoreOptions): ValidationIssue[] {
  const issues: ValidationIssue[] = []
  if (typeof options?.connectionString !== 'string' || options.connectionString.trim() === '') {
    issues.push({
      field: 'connectionString',
      message: 'must be a PostgreSQL URL such as postgres://user:password@host:5432/db',
    })
  }
  const poolSize = options?.poolSize
  if (poolSize !== undefined && (!Number.isInteger(poolSize) || poolSize < 1)) {
    issues.push({ field: 'poolSize', message: `must be a positive integer, got ${String(poolSize)}` })
  }
  const schema = options?.schema
  if (schema !== undefined && (typeof schema !== 'string' || !/^[A-Za-z_][A-Za-z0-9_]{0,62}$/.test(schema))) {
    issues.push({
      field: 'schema',
      message: `must be 1 to 63 letters, digits or '_' not starting with a digit, got ${JSON.stringify(schema)}`,
    })
  }
  return issues
}

function checkNodeId(operation: string, nodeId: string): void {
  if (typeof nodeId !== 'string' || nodeId === '') {
    throw new InvalidRequestError(`postgres store: ${operation}: nodeId must be a non-empty string`)
  }
}

function checkCount(operation: string, field: string, value: number): void {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new InvalidRequestError(
      `postgres store: ${operation}: ${field} must be a finite number >= 0, got ${String(value)}`,
    )
  }
}
