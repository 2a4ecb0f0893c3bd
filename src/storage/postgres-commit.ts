/**
 * One `commit` of the PostgreSQL store, inside the caller's transaction: the lease fence, then one
 * statement per table, each taking all of its rows as arrays expanded by `unnest` (round trips do not
 * grow with the batch). Locks are taken in a fixed order — fenced executions by id, then rows, then the
 * events lock last — so concurrent commits queue rather than deadlock.
 */
import type pg from 'pg'
import { InvalidRequestError, LeaseLostError } from '../core/errors.ts'
import type { ExecutionEvent } from '../core/events.ts'
import type { ExecutionRecord, TaskState } from '../core/model.ts'
import type { WriteBatch } from '../core/store.ts'
import { executionFixed, executionState, prepared, type Tables } from './postgres-queries.ts'

export interface CommitContext {
  tables: Tables
  /** Advisory lock that orders event-writing transactions (see postgres-store.ts). */
  eventsLockKey: string
  /** Channel told the new highest event id when the transaction commits. */
  eventsChannel: string
  defaultLeaseMs: number
}

/** Writes the batch; returns the ids given to `batch.events`, in the same order. */
export async function writeBatch(
  client: pg.ClientBase,
  batch: WriteBatch,
  context: CommitContext,
): Promise<number[]> {
  const t = context.tables
  const executions = mergeExecutions(batch.executions)
  const tasks = lastPerKey(batch.tasks, (s) => `${s.execution_id}\u0000${s.task}\u0000${s.item_index}`)
  const documents = lastPerKey(batch.documents, (d) => `${d.collection}\u0000${d.id}`)
  const events = batch.events ?? []
  const fence = batch.fence
  const fenced = new Set(fence?.execution_ids ?? [])

  const existing = new Set<string>()
  if (fence !== undefined && fenced.size > 0) {
    const rows = await client.query<{ execution_id: string; held: boolean }>(
      prepared(
        `SELECT execution_id, (owner_node = $2 AND lease_expires_at > now()) IS TRUE AS held
       FROM ${t.executions} WHERE execution_id = ANY($1::text[])
       ORDER BY execution_id FOR UPDATE`,
        [[...fenced], fence.node_id],
      ),
    )
    for (const row of rows.rows) {
      if (!row.held) throw new LeaseLostError(row.execution_id)
      existing.add(row.execution_id)
    }
  }
  const unchecked = executions.filter((e) => !fenced.has(e.execution_id)).map((e) => e.execution_id)
  if (unchecked.length > 0) {
    const rows = await client.query<{ execution_id: string }>(
      prepared(`SELECT execution_id FROM ${t.executions} WHERE execution_id = ANY($1::text[])`, [unchecked]),
    )
    for (const row of rows.rows) existing.add(row.execution_id)
  }

  const inserts = executions.filter((e) => !existing.has(e.execution_id))
  const updates = executions.filter((e) => existing.has(e.execution_id))
  if (inserts.length > 0) {
    const claimed = fence === undefined ? [] : inserts.filter((e) => fenced.has(e.execution_id))
    await insertExecutions(client, t, inserts, {
      nodeId: fence?.node_id ?? null,
      leaseMs: fence?.lease_ms ?? context.defaultLeaseMs,
      claimed: new Set(claimed.map((e) => e.execution_id)),
    })
  }
  if (updates.length > 0) await updateExecutions(client, t, updates)
  if (tasks.length > 0) {
    await client.query(
      prepared(
        `INSERT INTO ${t.tasks} (execution_id, task, item_index, status, record)
       SELECT * FROM unnest($1::text[], $2::text[], $3::int[], $4::text[], $5::jsonb[])
       ON CONFLICT (execution_id, task, item_index)
       DO UPDATE SET status = excluded.status, record = excluded.record`,
        taskArrays(tasks),
      ),
    )
  }
  const puts = documents.filter((d) => d.doc !== null)
  const deletes = documents.filter((d) => d.doc === null)
  if (puts.length > 0) {
    await client.query(
      prepared(
        `INSERT INTO ${t.documents} (collection, id, doc)
       SELECT * FROM unnest($1::text[], $2::text[], $3::jsonb[])
       ON CONFLICT (collection, id) DO UPDATE SET doc = excluded.doc, updated_at = now()`,
        [puts.map((d) => d.collection), puts.map((d) => d.id), puts.map((d) => JSON.stringify(d.doc))],
      ),
    )
  }
  if (deletes.length > 0) {
    await client.query(
      prepared(
        `DELETE FROM ${t.documents} AS d USING unnest($1::text[], $2::text[]) AS u(collection, id)
       WHERE d.collection = u.collection AND d.id = u.id`,
        [deletes.map((d) => d.collection), deletes.map((d) => d.id)],
      ),
    )
  }
  return events.length === 0 ? [] : insertEvents(client, t, events, context)
}

async function insertExecutions(
  client: pg.ClientBase,
  t: Tables,
  records: ExecutionRecord[],
  lease: { nodeId: string | null; leaseMs: number; claimed: Set<string> },
): Promise<void> {
  // A row that appeared since the check above (another writer inserting the same id) is only updated
  // when this batch would hold its lease; otherwise RETURNING misses it and the batch is refused.
  const result = await client.query<{ execution_id: string }>(
    prepared(
      `INSERT INTO ${t.executions} (execution_id, workflow_id, workflow_revision, workflow_name, status,
       parent_execution_id, idempotency_key, created_at, updated_at, started_at, completed_at,
       definition, fixed, state, owner_node, lease_expires_at)
     SELECT u.execution_id, u.workflow_id, u.workflow_revision, u.workflow_name, u.status,
       u.parent_execution_id, u.idempotency_key, u.created_at, u.updated_at, u.started_at, u.completed_at,
       u.definition, u.fixed, u.state,
       CASE WHEN u.claim THEN $16::text END,
       CASE WHEN u.claim THEN now() + $17::double precision * interval '1 millisecond' END
     FROM unnest($1::text[], $2::text[], $3::int[], $4::text[], $5::text[], $6::text[], $7::text[],
       $8::timestamptz[], $9::timestamptz[], $10::timestamptz[], $11::timestamptz[],
       $12::jsonb[], $13::jsonb[], $14::jsonb[], $15::boolean[])
       AS u(execution_id, workflow_id, workflow_revision, workflow_name, status,
         parent_execution_id, idempotency_key, created_at, updated_at, started_at, completed_at,
         definition, fixed, state, claim)
     ON CONFLICT (execution_id) DO UPDATE SET
       workflow_id = excluded.workflow_id, workflow_revision = excluded.workflow_revision,
       workflow_name = excluded.workflow_name, status = excluded.status, updated_at = excluded.updated_at,
       started_at = excluded.started_at, completed_at = excluded.completed_at, state = excluded.state
     WHERE excluded.owner_node IS NULL
       OR (${t.executions}.owner_node = excluded.owner_node AND ${t.executions}.lease_expires_at > now())
     RETURNING execution_id`,
      [
        records.map((r) => r.execution_id),
        records.map((r) => r.workflow_id),
        records.map((r) => r.workflow_revision),
        records.map((r) => r.workflow_name),
        records.map((r) => r.status),
        records.map((r) => r.parent?.execution_id ?? null),
        records.map((r) => r.idempotency_key ?? null),
        records.map((r) => r.created_at),
        records.map((r) => r.updated_at),
        records.map((r) => r.started_at ?? null),
        records.map((r) => r.completed_at ?? null),
        records.map((r) => JSON.stringify(r.definition ?? null)),
        records.map((r) => JSON.stringify(executionFixed(r))),
        records.map((r) => JSON.stringify(executionState(r))),
        records.map((r) => lease.claimed.has(r.execution_id)),
        lease.nodeId,
        lease.leaseMs,
      ],
    ),
  )
  if (result.rows.length < records.length) {
    const written = new Set(result.rows.map((row) => row.execution_id))
    const lost = records.find((r) => !written.has(r.execution_id))!
    throw new LeaseLostError(lost.execution_id)
  }
}

async function updateExecutions(client: pg.ClientBase, t: Tables, records: ExecutionRecord[]): Promise<void> {
  await client.query(
    prepared(
      `UPDATE ${t.executions} AS e SET
       workflow_id = u.workflow_id, workflow_revision = u.workflow_revision, workflow_name = u.workflow_name,
       status = u.status, updated_at = u.updated_at, started_at = u.started_at,
       completed_at = u.completed_at, state = u.state
     FROM unnest($1::text[], $2::text[], $3::int[], $4::text[], $5::text[],
       $6::timestamptz[], $7::timestamptz[], $8::timestamptz[], $9::jsonb[])
       AS u(execution_id, workflow_id, workflow_revision, workflow_name, status,
         updated_at, started_at, completed_at, state)
     WHERE e.execution_id = u.execution_id`,
      updateArrays(records),
    ),
  )
}

/**
 * Appends events under the events lock and notifies the new highest id. The lock CTE yields one row that
 * every inserted row is joined with, so it is held before the first id is drawn from the sequence; it is
 * released at commit, so event ids become visible in increasing order across the cluster.
 */
async function insertEvents(
  client: pg.ClientBase,
  t: Tables,
  events: ExecutionEvent[],
  context: CommitContext,
): Promise<number[]> {
  checkEvents(events)
  const result = await client.query<{ id: string; execution_id: string; seq: number }>(
    prepared(
      `WITH events_lock AS (SELECT pg_advisory_xact_lock(hashtext($1)) AS locked),
     inserted AS (
       INSERT INTO ${t.events} (execution_id, seq, workflow_id, type, record)
       SELECT u.execution_id, u.seq, u.workflow_id, u.type, u.record
       FROM events_lock,
         unnest($2::text[], $3::int[], $4::text[], $5::text[], $6::jsonb[])
           WITH ORDINALITY AS u(execution_id, seq, workflow_id, type, record, ord)
       ORDER BY u.ord
       RETURNING id, execution_id, seq
     ),
     notified AS (SELECT pg_notify($7, max(id)::text) FROM inserted)
     SELECT inserted.id::text AS id, inserted.execution_id, inserted.seq FROM inserted, notified`,
      [context.eventsLockKey, ...eventArrays(events), context.eventsChannel],
    ),
  )
  const ids = new Map<string, number>()
  for (const row of result.rows) ids.set(`${row.execution_id}\u0000${row.seq}`, Number(row.id))
  return events.map((e) => ids.get(`${e.execution_id}\u0000${e.seq}`)!)
}

/**
 * One row per execution, as applying the records in order would leave it: the state of the last record,
 * the immutable fields (and definition) of the first, which is the one an insert writes.
 */
function mergeExecutions(records: readonly ExecutionRecord[] | undefined): ExecutionRecord[] {
  if (records === undefined || records.length === 0) return []
  const byId = new Map<string, ExecutionRecord>()
  for (const record of records) {
    const first = byId.get(record.execution_id)
    if (first === undefined) byId.set(record.execution_id, record)
    else
      byId.set(record.execution_id, {
        ...executionState(record),
        ...executionFixed(first),
        definition: first.definition,
      } as unknown as ExecutionRecord)
  }
  return [...byId.values()]
}

/** Later writes of the same key replace earlier ones, as applying them in order would. */
function lastPerKey<T>(items: readonly T[] | undefined, key: (item: T) => string): T[] {
  if (items === undefined || items.length === 0) return []
  const byKey = new Map<string, T>()
  for (const item of items) byKey.set(key(item), item)
  return [...byKey.values()]
}

/**
 * The common commit of a running execution in one statement, so one round trip: a batch fenced by its
 * node's lease that only updates executions it fences (no insert, no document). Data-modifying CTEs share
 * one snapshot and one implicit transaction; every write is conditioned on the fence CTE, which locks the
 * executions first (FOR UPDATE, by id, as the transactional path does), so a batch whose lease is lost
 * writes nothing. Answers `undefined` when the batch does not qualify, or when a fenced execution does not
 * exist yet (an insert): nothing was written, and the caller uses the transactional path.
 */
export async function writeFencedBatchAtOnce(
  run: (query: pg.QueryConfig) => Promise<pg.QueryResult>,
  batch: WriteBatch,
  context: CommitContext,
): Promise<number[] | undefined> {
  const fence = batch.fence
  if (fence === undefined || fence.execution_ids.length === 0) return undefined
  if ((batch.documents?.length ?? 0) > 0) return undefined
  const fenced = new Set(fence.execution_ids)
  const executions = mergeExecutions(batch.executions)
  const tasks = lastPerKey(batch.tasks, (s) => `${s.execution_id}\u0000${s.task}\u0000${s.item_index}`)
  const events = batch.events ?? []
  checkEvents(events)
  if (
    executions.some((e) => !fenced.has(e.execution_id)) ||
    tasks.some((s) => !fenced.has(s.execution_id)) ||
    events.some((e) => !fenced.has(e.execution_id))
  )
    return undefined
  const t = context.tables
  const ok = '(SELECT ok FROM ok)'
  const params: unknown[] = [[...fenced], fence.node_id]
  const add = (values: unknown[]): string[] => values.map((value) => `$${params.push(value)}`)
  const parts = [
    `fence AS (SELECT execution_id, (owner_node = $2 AND lease_expires_at > now()) IS TRUE AS held
       FROM ${t.executions} WHERE execution_id = ANY($1::text[]) ORDER BY execution_id FOR UPDATE)`,
    `ok AS (SELECT count(*) = cardinality($1::text[]) AND coalesce(bool_and(held), false) AS ok FROM fence)`,
  ]
  if (executions.length > 0) {
    const p = add(updateArrays(executions))
    parts.push(`updated AS (UPDATE ${t.executions} AS e SET
       workflow_id = u.workflow_id, workflow_revision = u.workflow_revision, workflow_name = u.workflow_name,
       status = u.status, updated_at = u.updated_at, started_at = u.started_at,
       completed_at = u.completed_at, state = u.state
     FROM unnest(${p[0]}::text[], ${p[1]}::text[], ${p[2]}::int[], ${p[3]}::text[], ${p[4]}::text[],
       ${p[5]}::timestamptz[], ${p[6]}::timestamptz[], ${p[7]}::timestamptz[], ${p[8]}::jsonb[])
       AS u(execution_id, workflow_id, workflow_revision, workflow_name, status,
         updated_at, started_at, completed_at, state)
     WHERE e.execution_id = u.execution_id AND ${ok})`)
  }
  if (tasks.length > 0) {
    const p = add(taskArrays(tasks))
    parts.push(`tasks AS (INSERT INTO ${t.tasks} (execution_id, task, item_index, status, record)
       SELECT * FROM unnest(${p[0]}::text[], ${p[1]}::text[], ${p[2]}::int[], ${p[3]}::text[], ${p[4]}::jsonb[])
       WHERE ${ok}
       ON CONFLICT (execution_id, task, item_index)
       DO UPDATE SET status = excluded.status, record = excluded.record)`)
  }
  let select = `SELECT ${ok} AS ok, (SELECT array_agg(execution_id) FROM fence WHERE held) AS held, NULL::json AS ids`
  if (events.length > 0) {
    const p = add([context.eventsLockKey, ...eventArrays(events), context.eventsChannel])
    parts.push(
      `events_lock AS (SELECT pg_advisory_xact_lock(hashtext(${p[0]})) AS locked WHERE ${ok})`,
      `inserted AS (INSERT INTO ${t.events} (execution_id, seq, workflow_id, type, record)
       SELECT u.execution_id, u.seq, u.workflow_id, u.type, u.record
       FROM events_lock,
         unnest(${p[1]}::text[], ${p[2]}::int[], ${p[3]}::text[], ${p[4]}::text[], ${p[5]}::jsonb[])
           WITH ORDINALITY AS u(execution_id, seq, workflow_id, type, record, ord)
       ORDER BY u.ord
       RETURNING id, execution_id, seq)`,
      `notified AS (SELECT pg_notify(${p[6]}, max(id)::text) AS sent FROM inserted)`,
    )
    // Ids in the batch's order (the insert follows it); `notified` must be read for its NOTIFY to run.
    select = `SELECT ${ok} AS ok, (SELECT array_agg(execution_id) FROM fence WHERE held) AS held,
       (SELECT json_agg(json_build_object('id', id::text, 'execution_id', execution_id, 'seq', seq))
         FROM inserted) AS ids,
       (SELECT count(*) FROM notified) AS sent`
  }
  const result = await run(prepared(`WITH ${parts.join(',\n')}\n${select}`, params))
  const row = result.rows[0] as {
    ok: boolean
    held: string[] | null
    ids: { id: string; execution_id: string; seq: number }[] | null
  }
  if (!row.ok) {
    const held = new Set(row.held ?? [])
    // A fenced execution held by another node: the lease is lost. Otherwise one is missing: an insert.
    const exists = await run(
      prepared(`SELECT execution_id FROM ${t.executions} WHERE execution_id = ANY($1::text[])`, [
        [...fenced],
      ]),
    )
    const lost = exists.rows.map((r) => String(r['execution_id'])).find((id) => !held.has(id))
    if (lost !== undefined && exists.rows.length === fenced.size) throw new LeaseLostError(lost)
    return undefined
  }
  const ids = new Map<string, number>()
  for (const r of row.ids ?? []) ids.set(`${r.execution_id}\u0000${r.seq}`, Number(r.id))
  return events.map((e) => ids.get(`${e.execution_id}\u0000${e.seq}`)!)
}

function checkEvents(events: readonly ExecutionEvent[]): void {
  events.forEach((event, index) => {
    if (typeof event?.execution_id !== 'string' || !Number.isInteger(event.seq)) {
      throw new InvalidRequestError(
        `commit: events[${index}] needs a string execution_id and an integer seq, got ` +
          `execution_id ${JSON.stringify(event?.execution_id)} and seq ${JSON.stringify(event?.seq)}`,
      )
    }
  })
}

/** The columns an execution update writes, one array each, in the order the statements expand them. */
function updateArrays(records: readonly ExecutionRecord[]): unknown[] {
  return [
    records.map((r) => r.execution_id),
    records.map((r) => r.workflow_id),
    records.map((r) => r.workflow_revision),
    records.map((r) => r.workflow_name),
    records.map((r) => r.status),
    records.map((r) => r.updated_at),
    records.map((r) => r.started_at ?? null),
    records.map((r) => r.completed_at ?? null),
    records.map((r) => JSON.stringify(executionState(r))),
  ]
}

function taskArrays(tasks: readonly TaskState[]): unknown[] {
  return [
    tasks.map((s) => s.execution_id),
    tasks.map((s) => s.task),
    tasks.map((s) => s.item_index),
    tasks.map((s) => s.status),
    tasks.map((s) => JSON.stringify(s)),
  ]
}

function eventArrays(events: readonly ExecutionEvent[]): unknown[] {
  return [
    events.map((e) => e.execution_id),
    events.map((e) => e.seq),
    events.map((e) => e.workflow_id),
    events.map((e) => e.type),
    events.map((e) => JSON.stringify({ ...e, id: undefined })),
  ]
}
