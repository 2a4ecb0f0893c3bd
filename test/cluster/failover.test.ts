/**
 * Three `harmonia serve` processes on one PostgreSQL schema run 200 executions whose tasks include durable
 * delays and an HTTP call to a counter on 127.0.0.1. One node is killed with SIGKILL while it holds work.
 * The others take its executions over when its leases expire, and:
 * - all 200 executions complete;
 * - no task that had completed is invoked again (its started event never follows its completed one, and
 *   the counter sees at most one call per execution beyond an interrupted one);
 * - an interrupted call is made at most twice, both times with the same idempotency key;
 * - each execution's persisted history is gapless (seq 1..n) and tells the whole run.
 * Skipped (with the reason) when PostgreSQL is not reachable, except under CI=true.
 */
import assert from 'node:assert/strict'
import { after, test } from 'node:test'
import { PostgresFixture, skipWithoutPostgres } from '../storage/postgres-support.ts'
import { api, Counter, getJson, startNode, type ClusterNodeProcess } from './cluster-support.ts'

const EXECUTIONS = 200

interface Listing {
  items: { execution_id: string; status: string }[]
  total: number
}

interface WireEvent {
  type: string
  seq: number
  data: { task?: string }
}

const fixture = new PostgresFixture()
const nodes: ClusterNodeProcess[] = []
const counter = new Counter(400)

after(async () => {
  await Promise.all(nodes.map((node) => node.stop('SIGKILL').catch(() => {})))
  await counter.stop()
  await fixture.dispose()
})

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs
  let last: unknown
  for (;;) {
    try {
      const value = await probe()
      if (value !== undefined) return value
    } catch (error) {
      last = error
    }
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

test('three nodes, one killed midway: every execution completes, no completed task runs again', async (t) => {
  if (await skipWithoutPostgres(t)) return
  const schema = fixture.schema()
  await counter.start()
  // Short leases so the test sees a takeover in seconds; claims are also woken by NOTIFY.
  const env = {
    HARMONIA_LEASE_MS: '1500',
    HARMONIA_CLAIM_INTERVAL_MS: '300',
    HARMONIA_ENV_ALLOW: 'HARMONIA_NODE_ID',
  }
  for (const id of ['node-1', 'node-2', 'node-3']) nodes.push(await startNode(schema, id, env))
  const [first, second, victim] = nodes as [ClusterNodeProcess, ClusterNodeProcess, ClusterNodeProcess]

  const health = await getJson<{ cluster: { nodes: { node_id: string }[] } }>(`${first.url}/health`)
  assert.deepEqual(health.cluster.nodes.map((n) => n.node_id).sort(), ['node-1', 'node-2', 'node-3'])

  const workflow = await api<{ workflow_id: string }>(first.url, 'POST', '/workflows', {
    name: 'failover',
    input: { n: { type: 'integer' }, ms: { type: 'integer' } },
    tasks: {
      prep: { component: 'core', action: 'echo', input: { n: '${workflow.input.n}' } },
      wait: {
        component: 'core',
        action: 'delay',
        input: { ms: '${workflow.input.ms}' },
        depends_on: ['prep'],
      },
      call: {
        component: 'http',
        action: 'request',
        input: {
          method: 'POST',
          url: counter.url,
          json: { execution: '${execution.id}', node: '${env.HARMONIA_NODE_ID}' },
        },
        depends_on: ['wait'],
      },
      settle: { component: 'core', action: 'delay', input: { ms: 300 }, depends_on: ['call'] },
      done: {
        component: 'core',
        action: 'echo',
        input: { n: '${tasks.call.output.body.n}' },
        depends_on: ['settle'],
      },
    },
  })

  // Executions go to the three nodes in turn; their delays differ, so they end over a few seconds and the
  // victim still holds work when some have completed.
  const ids: string[] = []
  const submit = async (from: number, to: number, targets: ClusterNodeProcess[]): Promise<void> => {
    const batch: Promise<{ execution_id: string }>[] = []
    for (let i = from; i < to; i++) {
      const node = targets[i % targets.length]!
      batch.push(
        api(node.url, 'POST', '/executions', {
          workflow_id: workflow.workflow_id,
          input: { n: i, ms: 300 + (i % 10) * 250 },
        }),
      )
    }
    for (const started of await Promise.all(batch)) ids.push(started.execution_id)
  }
  await submit(0, EXECUTIONS / 2, nodes)
  await until(
    'the victim to be calling the counter while some executions have completed',
    async () => {
      const done = await api<Listing>(first.url, 'GET', '/executions?status=completed&limit=1')
      return done.total >= 5 && counter.inFlight(victim.nodeId).length >= 2 ? true : undefined
    },
    60_000,
  )
  await victim.stop('SIGKILL')
  const killedAt = Date.now()
  // Calls the victim made and never got an answer to: their tasks cannot have completed there.
  const interrupted = counter.inFlight(victim.nodeId).map((call) => call.execution)
  assert.ok(interrupted.length > 0, 'the victim died with calls in flight')
  await submit(EXECUTIONS / 2, EXECUTIONS, [first, second])
  assert.equal(new Set(ids).size, EXECUTIONS)

  const completed = await until(
    `all ${EXECUTIONS} executions to complete`,
    async () => {
      const listing = await api<Listing>(
        second.url,
        'GET',
        `/executions?workflow_id=${workflow.workflow_id}&limit=1`,
      )
      const done = await api<Listing>(
        second.url,
        'GET',
        `/executions?workflow_id=${workflow.workflow_id}&status=completed&limit=1`,
      )
      const failed = await api<Listing>(
        second.url,
        'GET',
        `/executions?workflow_id=${workflow.workflow_id}&status=failed&limit=1`,
      )
      if (failed.total > 0) throw new Error(`${failed.total} executions failed`)
      return listing.total === EXECUTIONS && done.total === EXECUTIONS ? done.total : undefined
    },
    120_000,
  )
  assert.equal(completed, EXECUTIONS)

  // The counter: each execution called at least once, at most twice, always with one idempotency key.
  const byExecution = new Map<string, string[]>()
  for (const call of counter.calls) {
    const keys = byExecution.get(call.execution) ?? []
    keys.push(call.idempotencyKey)
    byExecution.set(call.execution, keys)
  }
  assert.deepEqual([...byExecution.keys()].sort(), [...ids].sort(), 'every execution called the counter')
  let repeated = 0
  for (const [execution, keys] of byExecution) {
    assert.ok(keys.length <= 2, `${execution} called the counter ${keys.length} times`)
    assert.deepEqual(new Set(keys), new Set([`${execution}:call`]), `${execution} used one idempotency key`)
    if (keys.length === 2) repeated++
  }

  // The history of each execution: gapless, every task completed once, none started after completing.
  const tasks = ['prep', 'wait', 'call', 'settle', 'done']
  for (const id of ids) {
    const page = await api<{ items: WireEvent[]; has_more: boolean }>(
      first.url,
      'GET',
      `/executions/${id}/events?after=0&limit=1000`,
    )
    assert.equal(page.has_more, false)
    const events = page.items
    assert.deepEqual(
      events.map((e) => e.seq),
      events.map((_, i) => i + 1),
      `${id}: the persisted history has no gap`,
    )
    assert.equal(events[0]?.type, 'execution_started', `${id} starts with execution_started`)
    assert.equal(events.at(-1)?.type, 'execution_completed', `${id} ends with execution_completed`)
    for (const task of tasks) {
      const mine = events.filter((e) => e.data.task === task)
      const completedAt = mine.findIndex((e) => e.type === 'task_completed')
      assert.ok(completedAt >= 0, `${id}: ${task} completed`)
      assert.equal(mine.filter((e) => e.type === 'task_completed').length, 1, `${id}: ${task} completed once`)
      assert.ok(
        !mine.slice(completedAt + 1).some((e) => e.type === 'task_started'),
        `${id}: ${task} was not started again after it completed`,
      )
    }
  }
  t.diagnostic(
    `${interrupted.length} calls were in flight on the killed node; ${repeated} calls were made twice`,
  )
  // Each interrupted call was made again by a surviving node, with the same idempotency key (checked above).
  for (const execution of interrupted) {
    const calls = counter.calls.filter((call) => call.execution === execution)
    assert.equal(calls.length, 2, `${execution}: the interrupted call was made again`)
    assert.ok(
      (calls[1]?.at ?? 0) >= killedAt,
      `${execution}: the second call was made after the kill, by a surviving node: ${JSON.stringify(calls)}`,
    )
  }
})
