/**
 * What only the PostgreSQL store has to prove: several nodes on one database (migrations started together,
 * leases, fenced commits, markOnce, LISTEN/NOTIFY across stores and across a dropped connection, event ids
 * that become visible in order), and masked secrets. The behaviour every store shares is in contract.ts.
 */
import assert from 'node:assert/strict'
import { after, describe, it } from 'node:test'
import {
  ConflictError,
  InvalidRequestError,
  LeaseLostError,
  StoreError,
  ValidationError,
} from '../../src/core/errors.ts'
import type { ExecutionEvent } from '../../src/core/events.ts'
import type { ExecutionRecord, ExecutionStatus, TaskState } from '../../src/core/model.ts'
import { createSecretMask, maskConnectionString } from '../../src/storage/postgres-errors.ts'
import { MIGRATIONS } from '../../src/storage/postgres-migrations.ts'
import { channelName, createPostgresStore, type PostgresStore } from '../../src/storage/postgres-store.ts'
import {
  PostgresFixture,
  recordingLogger,
  skipWithoutPostgres,
  sql,
  type LogLine,
} from './postgres-support.ts'

const fixture = new PostgresFixture()
after(() => fixture.dispose())

const NOW = '2024-05-01T10:00:00.000Z'

function execution(id: string, overrides: Partial<ExecutionRecord> = {}): ExecutionRecord {
  return {
    execution_id: id,
    workflow_id: 'wf-1',
    workflow_revision: 1,
    workflow_name: 'hello',
    definition: { name: 'hello', tasks: { a: { name: 'a', component: 'core', action: 'echo' } } },
    status: 'pending',
    input: { who: 'world' },
    execution_options: {},
    created_at: NOW,
    updated_at: NOW,
    completed_tasks: 0,
    total_tasks: 1,
    last_event_seq: 0,
    ...overrides,
  }
}

function task(executionId: string, overrides: Partial<TaskState> = {}): TaskState {
  return {
    execution_id: executionId,
    task: 'a',
    item_index: -1,
    status: 'pending',
    attempts: 0,
    ...overrides,
  }
}

function event(executionId: string, seq: number): ExecutionEvent {
  return {
    seq,
    type: 'task_started',
    timestamp: NOW,
    execution_id: executionId,
    workflow_id: 'wf-1',
    data: { task: 'a' },
  }
}

async function openStores(count: number, schema = fixture.schema()): Promise<PostgresStore[]> {
  const stores = Array.from({ length: count }, (_, i) => fixture.store(schema, { nodeId: `node-${i}` }))
  await Promise.all(stores.map((store) => store.init()))
  return stores
}

/** Inserts executions with no owner (as a crashed or released node leaves them). */
async function seed(
  store: PostgresStore,
  count: number,
  status: ExecutionStatus = 'running',
): Promise<string[]> {
  const ids = Array.from({ length: count }, (_, i) => `exec-${String(i).padStart(3, '0')}`)
  await store.commit({ executions: ids.map((id) => execution(id, { status })) })
  return ids
}

/** Waits for `check` to hold, polling with a deadline; the failure reports the last state seen. */
async function until<T>(what: string, read: () => T | Promise<T>, check: (value: T) => boolean): Promise<T> {
  const deadline = Date.now() + 10_000
  let last: T
  for (;;) {
    last = await read()
    if (check(last)) return last
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}; last: ${JSON.stringify(last)}`)
    await new Promise((resolve) => setImmediate(resolve))
  }
}

function nextPayload(store: PostgresStore, channel: string): { received: Promise<string>; stop: () => void } {
  let stop!: () => void
  const received = new Promise<string>((resolve) => {
    stop = store.listen(channel, (payload) => {
      stop()
      resolve(payload)
    })
  })
  return { received, stop }
}

describe('PostgreSQL store: migrations', () => {
  it('applies each migration once when three nodes initialize the same fresh schema together', async (t) => {
    if (await skipWithoutPostgres(t)) return
    const schema = fixture.schema()
    const lines: LogLine[] = []
    const stores = [0, 1, 2].map((i) =>
      fixture.store(schema, { nodeId: `node-${i}`, logger: recordingLogger(lines) }),
    )
    await Promise.all(stores.map((store) => store.init()))
    const rows = await sql<{ version: number; name: string }>(
      `SELECT version, name FROM "${schema}".harmonia_migrations ORDER BY version`,
    )
    assert.deepEqual(
      rows,
      MIGRATIONS.map((m) => ({ version: m.version, name: m.name })),
    )
    const migratedBy = lines.filter((line) => line.message === 'database migrated')
    assert.equal(migratedBy.length, 1, 'exactly one node applies the migrations')
    await stores[0]!.init()
    const tables = await sql<{ table_name: string }>(
      `SELECT table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY table_name`,
      [schema],
    )
    assert.deepEqual(
      tables.map((row) => row.table_name),
      [
        'checkpoints',
        'documents',
        'events',
        'executions',
        'harmonia_migrations',
        'once_marks',
        'task_states',
        'workflows',
      ],
    )
    for (const store of stores) assert.deepEqual(await store.health(), { ok: true })
  })

  it('refuses a schema migrated by a newer Harmonia, naming both versions', async (t) => {
    if (await skipWithoutPostgres(t)) return
    const [first] = await openStores(1)
    const schema = first!.schema
    await sql(`INSERT INTO "${schema}".harmonia_migrations (version, name) VALUES (999, 'from the future')`)
    const late = fixture.store(schema)
    await assert.rejects(late.init(), (error: unknown) => {
      assert.ok(error instanceof StoreError)
      assert.equal(error.code, 'store_error')
      assert.match(error.message, new RegExp(`schema '${schema}' is at migration 999`))
      assert.match(error.message, new RegExp(`knows migrations up to ${MIGRATIONS.at(-1)!.version}`))
      return true
    })
  })
})

describe('PostgreSQL store: commit', () => {
  it('claims the executions a fenced batch inserts and never rewrites their immutable fields', async (t) => {
    if (await skipWithoutPostgres(t)) return
    const [store] = await openStores(1)
    const record = execution('exec-1', { idempotency_key: 'key-1' })
    const events = [event('exec-1', 1), event('exec-1', 2)]
    await store!.commit({
      executions: [record],
      tasks: [task('exec-1')],
      events,
      fence: { node_id: 'node-a', execution_ids: ['exec-1'], lease_ms: 60_000 },
    })
    assert.ok(events[0]!.id! > 0 && events[1]!.id === events[0]!.id! + 1, 'ids set in order on the events')
    const [lease] = await sql<{ owner_node: string; seconds: number }>(
      `SELECT owner_node, extract(epoch FROM lease_expires_at - now())::float AS seconds
       FROM "${store!.schema}".executions WHERE execution_id = 'exec-1'`,
    )
    assert.equal(lease!.owner_node, 'node-a')
    assert.ok(lease!.seconds > 50 && lease!.seconds <= 60, `lease of ~60 s, got ${lease!.seconds}`)

    // A later upsert carrying different "immutable" values changes only the mutable fields.
    await store!.commit({
      executions: [
        {
          ...record,
          status: 'running',
          input: { who: 'changed' },
          definition: { name: 'other', tasks: {} },
          created_at: '2030-01-01T00:00:00.000Z',
          started_at: NOW,
          last_event_seq: 2,
        },
      ],
      tasks: [task('exec-1', { status: 'running', attempts: 1, started_at: NOW })],
      fence: { node_id: 'node-a', execution_ids: ['exec-1'] },
    })
    const stored = await store!.getExecution('exec-1')
    assert.deepEqual(stored, { ...record, status: 'running', started_at: NOW, last_event_seq: 2 })
    assert.deepEqual(await store!.findExecutionByIdempotencyKey('key-1'), stored)
    assert.deepEqual(await store!.getTaskStates('exec-1'), [
      task('exec-1', { status: 'running', attempts: 1, started_at: NOW }),
    ])
    assert.deepEqual(
      (await store!.listEvents('exec-1', 0, 10)).map((e) => [e.seq, e.id]),
      events.map((e) => [e.seq, e.id]),
    )
  })

  it('writes nothing and rejects with LeaseLostError when another node holds the lease', async (t) => {
    if (await skipWithoutPostgres(t)) return
    const [store] = await openStores(1)
    await store!.commit({
      executions: [execution('exec-1')],
      fence: { node_id: 'node-a', execution_ids: ['exec-1'] },
    })
    const late = {
      executions: [execution('exec-1', { status: 'completed' })],
      tasks: [task('exec-1', { status: 'completed' })],
      events: [event('exec-1', 1)],
      documents: [{ collection: 'outbox', id: 'o1', doc: { to: 'x' } }],
      fence: { node_id: 'node-b', execution_ids: ['exec-1'] },
    }
    await assert.rejects(store!.commit(late), (error: unknown) => {
      assert.ok(error instanceof LeaseLostError)
      assert.equal(error.code, 'lease_lost')
      assert.equal(error.message, "lease of execution 'exec-1' is held by another node")
      return true
    })
    assert.equal(late.events[0]!.id, undefined, 'no id is given to an event that was not stored')
    assert.equal((await store!.getExecution('exec-1'))!.status, 'pending')
    assert.deepEqual(await store!.getTaskStates('exec-1'), [])
    assert.deepEqual(await store!.listEvents('exec-1', 0, 10), [])
    assert.equal(await store!.getDocument('outbox', 'o1'), undefined)

    // An expired lease is not held either, even by its former owner.
    await sql(`UPDATE "${store!.schema}".executions SET lease_expires_at = now() - interval '1 second'`)
    await assert.rejects(
      store!.commit({ tasks: [task('exec-1')], fence: { node_id: 'node-a', execution_ids: ['exec-1'] } }),
      LeaseLostError,
    )
  })

  it("commits a running execution's batch in one statement: all of it, ids in order, or nothing", async (t) => {
    if (await skipWithoutPostgres(t)) return
    const [store, other] = await openStores(2)
    const fence = { node_id: 'node-a', execution_ids: ['exec-1', 'exec-2'] }
    // The inserts go through the transaction; the store then knows both executions.
    await store!.commit({ executions: [execution('exec-1'), execution('exec-2')], fence })
    const events = [event('exec-2', 1), event('exec-1', 1), event('exec-1', 2)]
    await store!.commit({
      executions: [execution('exec-1', { status: 'running' }), execution('exec-2', { status: 'running' })],
      tasks: [
        task('exec-1', { status: 'running' }),
        task('exec-2', { status: 'completed', output: { n: 2 } }),
      ],
      events,
      fence,
    })
    assert.equal((await store!.getExecution('exec-1'))!.status, 'running')
    assert.equal((await store!.getExecution('exec-2'))!.status, 'running')
    assert.deepEqual((await store!.getTaskStates('exec-2'))[0]?.output, { n: 2 })
    const ids = events.map((e) => e.id!)
    assert.ok(
      ids.every((id) => Number.isInteger(id)),
      'every event got its id',
    )
    assert.deepEqual(
      [...ids].sort((a, b) => a - b),
      ids,
      'ids follow the batch order',
    )
    assert.deepEqual(
      (await store!.listAllEvents(0, 10)).map((e) => [e.execution_id, e.seq, e.id]),
      events.map((e) => [e.execution_id, e.seq, e.id]),
    )

    // Another node takes exec-2 over once its lease expired: a batch fenced on both writes nothing.
    await sql(
      `UPDATE "${store!.schema}".executions SET lease_expires_at = now() - interval '1 second' WHERE execution_id = 'exec-2'`,
    )
    assert.equal(await other!.claimExecution('node-b', 'exec-2', 30_000), true)
    const late = {
      executions: [execution('exec-1', { status: 'completed' }), execution('exec-2', { status: 'failed' })],
      tasks: [task('exec-1', { status: 'completed' })],
      events: [event('exec-1', 3), event('exec-2', 2)],
      fence,
    }
    await assert.rejects(store!.commit(late), (error: unknown) => {
      assert.ok(error instanceof LeaseLostError)
      assert.match(error.message, /exec-2/)
      return true
    })
    assert.equal((await store!.getExecution('exec-1'))!.status, 'running', 'exec-1 unchanged')
    assert.equal((await store!.getTaskStates('exec-1'))[0]?.status, 'running')
    assert.equal((await store!.listAllEvents(0, 10)).length, 3, 'no event added')
    assert.equal(late.events[0]!.id, undefined)
  })

  it('answers a second execution with the same idempotency key with ConflictError', async (t) => {
    if (await skipWithoutPostgres(t)) return
    const [store] = await openStores(1)
    await store!.commit({ executions: [execution('exec-1', { idempotency_key: 'same' })] })
    await assert.rejects(
      store!.commit({ executions: [execution('exec-2', { idempotency_key: 'same' })] }),
      (error: unknown) => {
        assert.ok(error instanceof ConflictError)
        assert.equal(error.code, 'conflict')
        assert.match(
          error.message,
          /^postgres store: commit: an execution with this idempotency_key already exists/,
        )
        assert.match(error.message, /\(idempotency_key\)=\(same\)/)
        return true
      },
    )
    assert.equal(await store!.getExecution('exec-2'), undefined)
  })

  it('explains a NUL character in JSON instead of failing obscurely', async (t) => {
    if (await skipWithoutPostgres(t)) return
    const [store] = await openStores(1)
    await assert.rejects(
      store!.commit({ tasks: [task('exec-1', { output: 'a\u0000b' })] }),
      (error: unknown) => {
        assert.ok(error instanceof StoreError)
        assert.match(error.message, /^postgres store: commit failed: a JSON value holds the NUL character/)
        return true
      },
    )
  })

  it('lets event ids become visible only in increasing order while two nodes commit at once', async (t) => {
    if (await skipWithoutPostgres(t)) return
    const [a, b, reader] = await openStores(3)
    const commitsPerNode = 60
    const writer = async (store: PostgresStore, node: string): Promise<void> => {
      for (let i = 0; i < commitsPerNode; i++) {
        const id = `${node}-${i}`
        await store.commit({ executions: [execution(id)], events: [event(id, 1), event(id, 2)] })
      }
    }
    const seen: number[] = []
    let writing = true
    const read = async (): Promise<void> => {
      // Follows the cluster's stream as a consumer would: everything after the last id it has seen.
      while (writing) {
        const batch = await reader!.listAllEvents(seen.at(-1) ?? 0, 1000)
        for (const e of batch) seen.push(e.id!)
      }
      for (const e of await reader!.listAllEvents(seen.at(-1) ?? 0, 1000)) seen.push(e.id!)
    }
    const reading = read()
    await Promise.all([writer(a!, 'a'), writer(b!, 'b')])
    writing = false
    await reading
    const all = (await reader!.listAllEvents(0, 10_000)).map((e) => e.id!)
    assert.equal(all.length, commitsPerNode * 2 * 2)
    assert.deepEqual(seen, all, 'the follower missed no event')
  })
})

describe('PostgreSQL store: leases', () => {
  it('never gives the same execution to two nodes claiming at once', async (t) => {
    if (await skipWithoutPostgres(t)) return
    const [a, b] = await openStores(2)
    const ids = await seed(a!, 200)
    await seed(a!, 0)
    await a!.commit({ executions: [execution('done', { status: 'completed' })] })
    const claims: Array<{ node: string; ids: string[] }> = []
    await Promise.all(
      [a!, b!].flatMap((store, n) =>
        Array.from({ length: 5 }, async () => {
          claims.push({ node: `node-${n}`, ids: await store.claimExecutions(`node-${n}`, 30_000, 30) })
        }),
      ),
    )
    const byNode = new Map<string, string>()
    for (const claim of claims) {
      for (const id of claim.ids) {
        const holder = byNode.get(id)
        assert.ok(
          holder === undefined || holder === claim.node,
          `${id} claimed by ${holder} and ${claim.node}`,
        )
        byNode.set(id, claim.node)
      }
    }
    assert.equal(byNode.has('done'), false, 'a finished execution is not claimed')
    // Whatever is left is claimed by the next call; in the end every unfinished execution has one owner.
    const rest = [...(await a!.claimExecutions('node-0', 30_000, 500))].filter((id) => !byNode.has(id))
    for (const id of rest) byNode.set(id, 'node-0')
    assert.deepEqual([...byNode.keys()].sort(), ids)
    const owners = await sql<{ execution_id: string; owner_node: string }>(
      `SELECT execution_id, owner_node FROM "${a!.schema}".executions WHERE status = 'running'`,
    )
    for (const row of owners) assert.equal(row.owner_node, byNode.get(row.execution_id))
  })

  it('takes over an expired lease, renews only live leases it holds, and releases', async (t) => {
    if (await skipWithoutPostgres(t)) return
    const [a, b] = await openStores(2)
    await seed(a!, 3)
    assert.deepEqual((await a!.claimExecutions('node-a', 30_000, 10)).sort(), [
      'exec-000',
      'exec-001',
      'exec-002',
    ])
    assert.deepEqual(await b!.claimExecutions('node-b', 30_000, 10), [], 'live leases are not taken')
    assert.equal(await b!.claimExecution('node-b', 'exec-000', 30_000), false)
    assert.deepEqual(
      (await a!.claimExecutions('node-a', 30_000, 10)).sort(),
      ['exec-000', 'exec-001', 'exec-002'],
      'a node re-claims its own',
    )

    // node-a stalls: its lease on exec-001 expires (by the database clock) and node-b takes it over.
    await sql(
      `UPDATE "${a!.schema}".executions SET lease_expires_at = now() - interval '1 second'
       WHERE execution_id = 'exec-001'`,
    )
    assert.deepEqual(await b!.claimExecutions('node-b', 30_000, 10), ['exec-001'])
    assert.deepEqual(
      (await a!.renewLeases('node-a', ['exec-000', 'exec-001', 'exec-002', 'unknown'], 30_000)).sort(),
      ['exec-000', 'exec-002'],
    )
    await assert.rejects(
      a!.commit({ tasks: [task('exec-001')], fence: { node_id: 'node-a', execution_ids: ['exec-001'] } }),
      LeaseLostError,
    )
    await b!.commit({ tasks: [task('exec-001')], fence: { node_id: 'node-b', execution_ids: ['exec-001'] } })

    // Releasing lets another node claim at once, and wakes the cluster's claimers.
    const wake = nextPayload(b!, 'executions')
    await b!.listening()
    await a!.releaseExecution('node-a', 'exec-000')
    assert.equal(await wake.received, 'exec-000')
    await a!.releaseExecution('node-a', 'exec-002')
    await b!.releaseExecution('node-b', 'exec-002') // not its own: no effect
    assert.equal(await b!.claimExecution('node-b', 'exec-000', 30_000), true)
    assert.equal(await b!.claimExecution('node-b', 'missing', 30_000), false)

    // claimExecution also takes a finished execution (a rerun).
    await b!.commit({
      executions: [execution('exec-000', { status: 'failed' })],
      fence: { node_id: 'node-b', execution_ids: ['exec-000'] },
    })
    await b!.releaseExecution('node-b', 'exec-000')
    assert.equal(await a!.claimExecution('node-a', 'exec-000', 30_000), true)
  })

  it('rejects nonsense lease arguments with the field named', async (t) => {
    if (await skipWithoutPostgres(t)) return
    const [store] = await openStores(1)
    await assert.rejects(store!.claimExecutions('', 1000, 1), (error: unknown) => {
      assert.ok(error instanceof InvalidRequestError)
      assert.equal(error.message, 'postgres store: claimExecutions: nodeId must be a non-empty string')
      return true
    })
    await assert.rejects(store!.renewLeases('n', ['x'], Number.NaN), (error: unknown) => {
      assert.ok(error instanceof InvalidRequestError)
      assert.equal(
        error.message,
        'postgres store: renewLeases: leaseMs must be a finite number >= 0, got NaN',
      )
      return true
    })
  })
})

describe('PostgreSQL store: markOnce', () => {
  it('says true exactly once per key when two nodes mark at the same time', async (t) => {
    if (await skipWithoutPostgres(t)) return
    const [a, b] = await openStores(2)
    const keys = Array.from({ length: 25 }, (_, i) => `slot-${i}`)
    const results = await Promise.all(
      keys.flatMap((key) =>
        [a!, b!, a!, b!].map(async (store) => ({ key, first: await store.markOnce('cron', key) })),
      ),
    )
    for (const key of keys) {
      const firsts = results.filter((r) => r.key === key && r.first)
      assert.equal(firsts.length, 1, `key ${key}: ${firsts.length} callers were told they were first`)
    }
    assert.equal(await a!.markOnce('other-scope', 'slot-0'), true, 'scopes are separate')
  })

  it('lets an expired mark be taken again, once', async (t) => {
    if (await skipWithoutPostgres(t)) return
    const [a, b] = await openStores(2)
    assert.equal(await a!.markOnce('webhook', 'delivery-1', 60_000), true)
    assert.equal(await b!.markOnce('webhook', 'delivery-1', 60_000), false)
    await sql(`UPDATE "${a!.schema}".once_marks SET expires_at = now() - interval '1 second'`)
    const again = await Promise.all([
      a!.markOnce('webhook', 'delivery-1', 60_000),
      b!.markOnce('webhook', 'delivery-1'),
    ])
    assert.deepEqual(
      again.filter((first) => first),
      [true],
    )
    assert.equal(await a!.markOnce('webhook', 'delivery-1'), false)
  })
})

describe('PostgreSQL store: notifications', () => {
  it('delivers notify from one node to listeners on another, by channel', async (t) => {
    if (await skipWithoutPostgres(t)) return
    const [a, b] = await openStores(2)
    const received: string[] = []
    const stopOther = b!.listen('other', (payload) => received.push(`other:${payload}`))
    const custom = nextPayload(b!, 'my-channel.v1')
    await b!.listening()
    await a!.notify('my-channel.v1', 'hello')
    assert.equal(await custom.received, 'hello')

    // After unlisten, a notification on that channel is not delivered: the one sent after it arrives alone.
    stopOther()
    const last = nextPayload(b!, 'last')
    await b!.listening()
    await a!.notify('other', 'dropped')
    await a!.notify('last', 'done')
    assert.equal(await last.received, 'done')
    assert.deepEqual(received, [])
  })

  it('tells listeners of "events" the new highest id when a batch with events commits', async (t) => {
    if (await skipWithoutPostgres(t)) return
    const [a, b] = await openStores(2)
    const next = nextPayload(b!, 'events')
    await b!.listening()
    const events = [event('exec-1', 1), event('exec-1', 2), event('exec-1', 3)]
    await a!.commit({ executions: [execution('exec-1')], events })
    assert.equal(await next.received, String(events[2]!.id))
  })

  it('listens again after its connection is killed', async (t) => {
    if (await skipWithoutPostgres(t)) return
    const schema = fixture.schema()
    const lines: LogLine[] = []
    const a = fixture.store(schema)
    const b = fixture.store(schema, { logger: recordingLogger(lines), listenBackoffMs: { min: 5, max: 20 } })
    await Promise.all([a.init(), b.init()])
    const payloads: string[] = []
    b.listen('wake', (payload) => payloads.push(payload))
    await b.listening()
    const firstPid = b.listenerProcessId!
    await sql('SELECT pg_terminate_backend($1)', [firstPid])
    await until(
      'a new LISTEN connection',
      () => b.listenerProcessId,
      (pid) => pid !== undefined && pid !== firstPid,
    )
    await b.listening()
    await a.notify('wake', 'after reconnect')
    await until(
      'the notification',
      () => payloads,
      (p) => p.length === 1,
    )
    assert.deepEqual(payloads, ['after reconnect'])
    assert.ok(lines.some((line) => line.message === 'listen connection lost' && line.level === 'warn'))
  })

  it('maps channel names to bounded harmonia_ identifiers and refuses oversized payloads', async (t) => {
    assert.equal(channelName('events'), 'harmonia_events')
    assert.equal(channelName('my-channel.v1'), 'harmonia_my_channel_v1')
    const long = channelName('x'.repeat(100))
    assert.ok(long.length <= 63, `${long} is a valid identifier length`)
    assert.notEqual(long, channelName(`${'x'.repeat(99)}y`), 'long names stay distinct')
    assert.throws(() => channelName(''), InvalidRequestError)
    const scoped = channelName('events', 'harmonia_tenant_a')
    assert.match(scoped, /^harmonia_[0-9a-f]{8}_events$/)
    assert.notEqual(scoped, channelName('events', 'harmonia_tenant_b'), 'schemas get their own channels')
    assert.ok(channelName('y'.repeat(100), 'harmonia_tenant_a').length <= 63)
    if (await skipWithoutPostgres(t)) return
    const [store] = await openStores(1)
    await assert.rejects(store!.notify('events', 'x'.repeat(8000)), (error: unknown) => {
      assert.ok(error instanceof StoreError)
      assert.match(error.message, /payload is 8000 bytes, PostgreSQL allows at most 7999/)
      return true
    })
  })
})

describe('PostgreSQL store: connections', () => {
  it('keeps at most poolSize pooled connections plus one LISTEN connection, named after the node', async (t) => {
    if (await skipWithoutPostgres(t)) return
    const nodeId = `pool-${globalThis.crypto.randomUUID().slice(0, 8)}`
    const schema = fixture.schema()
    const store = fixture.store(schema, { nodeId, poolSize: 2 })
    await store.init()
    store.listen('wake', () => {})
    await store.listening()
    await Promise.all(Array.from({ length: 12 }, () => store.getExecution('x')))
    const connections = await sql<{ pid: number; query: string }>(
      'SELECT pid, query FROM pg_stat_activity WHERE application_name = $1',
      [`harmonia:${nodeId}`],
    )
    const listener = connections.find((c) => c.pid === store.listenerProcessId)
    assert.ok(listener !== undefined, `the LISTEN connection is open: ${JSON.stringify(connections)}`)
    assert.equal(listener.query, `LISTEN "${channelName('wake', schema)}"`)
    // Twelve queries at once went through two pooled connections, the LISTEN one was not among them.
    assert.equal(connections.length, 3, JSON.stringify(connections))
  })
})

describe('PostgreSQL store: errors and secrets', () => {
  it('masks the password in connection strings', () => {
    assert.equal(
      maskConnectionString('postgres://user:s3cret@db:5432/app'),
      'postgres://user:***@db:5432/app',
    )
    assert.equal(maskConnectionString('postgresql://user@db/app'), 'postgresql://user@db/app')
    assert.equal(
      maskConnectionString('postgres://u:p%40ss@db/app?sslmode=require&password=other'),
      'postgres://u:***@db/app?sslmode=require&password=***',
    )
    assert.equal(
      maskConnectionString("host=db user=u password='a b' dbname=x"),
      'host=db user=u password=*** dbname=x',
    )
    const mask = createSecretMask('postgres://u:p%40ssword@db/app')
    assert.equal(mask('auth failed for p@ssword and p%40ssword'), 'auth failed for *** and ***')
  })

  it('never shows the password in errors, health or logs when the database cannot be reached', async () => {
    const lines: LogLine[] = []
    const url = 'postgres://harmonia:Sup3rSecretPw@127.0.0.1:1/harmonia'
    const store = createPostgresStore({
      connectionString: url,
      logger: recordingLogger(lines),
      connectTimeoutMs: 2000,
    })
    try {
      await assert.rejects(store.init(), (error: unknown) => {
        assert.ok(error instanceof StoreError)
        assert.equal(error.code, 'store_error')
        assert.match(
          error.message,
          /^postgres store: init failed: cannot reach postgres:\/\/harmonia:\*\*\*@127\.0\.0\.1:1\/harmonia: /,
        )
        return true
      })
      await assert.rejects(store.getExecution('x'), (error: unknown) => {
        assert.ok(error instanceof StoreError)
        assert.equal(
          error.message,
          'postgres store: getExecution called before init(); await store.init() first',
        )
        return true
      })
      const health = await store.health()
      assert.equal(health.ok, false)
      assert.match(health.detail!, /cannot reach postgres:\/\/harmonia:\*\*\*@127\.0\.0\.1:1\/harmonia/)
      const everything = JSON.stringify(lines) + health.detail
      assert.ok(lines.length > 0, 'the failure was logged')
      assert.equal(everything.includes('Sup3rSecretPw'), false)
    } finally {
      await store.close()
    }
  })

  it('rejects invalid options at construction, naming each field', () => {
    assert.throws(
      () => createPostgresStore({ connectionString: '', poolSize: 0, schema: 'bad-name; DROP' }),
      (error: unknown) => {
        assert.ok(error instanceof ValidationError)
        assert.equal(error.code, 'validation_error')
        assert.equal(
          error.message,
          'invalid PostgreSQL store options: connectionString: must be a PostgreSQL URL such as ' +
            'postgres://user:password@host:5432/db; poolSize: must be a positive integer, got 0; schema: must be ' +
            `1 to 63 letters, digits or '_' not starting with a digit, got "bad-name; DROP"`,
        )
        return true
      },
    )
  })

  it('refuses use after close', async (t) => {
    if (await skipWithoutPostgres(t)) return
    const [store] = await openStores(1)
    await store!.close()
    await store!.close()
    await assert.rejects(store!.getWorkflow('x'), (error: unknown) => {
      assert.ok(error instanceof StoreError)
      assert.equal(error.message, 'postgres store: getWorkflow called after close()')
      return true
    })
    assert.deepEqual(await store!.health(), { ok: false, detail: 'postgres store is closed' })
  })
})
