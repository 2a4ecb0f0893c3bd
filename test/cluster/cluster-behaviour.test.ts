/**
 * Cluster-wide behaviour on one PostgreSQL schema, with three Harmonia nodes in this process: a schedule
 * every second fires once per slot; the events of an execution run by one node reach the bus (and so the
 * streams) of the others, in order and without gaps; /health lists the live nodes, and a stopped node
 * leaves the list; cancel, pause and resume sent to any node act on the node that runs the execution. Skipped (with the reason) when PostgreSQL is not reachable, except under CI=true.
 */
import assert from 'node:assert/strict'
import { after, describe, it } from 'node:test'
import { buildApp } from '../../src/api/app.ts'
import { resolveConfig } from '../../src/core/config.ts'
import type { ExecutionEvent } from '../../src/core/events.ts'
import { createHarmonia, type Harmonia } from '../../src/harmonia.ts'
import { eventually } from '../api/support.ts'
import { PostgresFixture, skipWithoutPostgres } from '../storage/postgres-support.ts'

describe('three nodes on one PostgreSQL schema', () => {
  const fixture = new PostgresFixture()
  const closers: Array<() => Promise<void>> = []
  after(async () => {
    for (const close of closers.reverse()) await close().catch(() => {})
    await fixture.dispose()
  })

  const node = async (schema: string, nodeId: string): Promise<Harmonia> => {
    const config = resolveConfig({
      flags: {
        storage: { kind: 'memory' },
        engine: { nodeId, leaseMs: 3_000, heartbeatMs: 200 },
        log: { level: 'silent' },
      },
    })
    const store = fixture.store(schema)
    await store.init()
    const harmonia = await createHarmonia(config, { store })
    await harmonia.start()
    closers.push(() => harmonia.close())
    return harmonia
  }

  it('fires a schedule every second once per slot across the nodes', async (t) => {
    if (await skipWithoutPostgres(t)) return
    const schema = fixture.schema()
    const nodes = [await node(schema, 'a'), await node(schema, 'b'), await node(schema, 'c')]
    const [a] = nodes as [Harmonia]
    const saved = await a.workflows.create({
      name: 'tick',
      tasks: { t: { name: 't', component: 'core', action: 'echo', input: { at: '${execution.id}' } } },
    })
    await a.schedules.create({
      schedule_id: 'every-second',
      cron: '* * * * * *',
      workflow_id: saved.workflow_id,
      misfire_policy: 'skip',
    })
    // Every node learns of the schedule and fires its slots; markOnce leaves one start per slot.
    await eventually(
      () => a.schedules.runs('every-second'),
      (runs) => runs.length >= 4,
      { what: 'four slots fired', timeoutMs: 15_000 },
    )
    await a.schedules.setEnabled('every-second', false)
    const runs = await a.schedules.runs('every-second')
    const slots = runs.map((r) => r.slot)
    assert.equal(new Set(slots).size, slots.length, `no slot fired twice: ${slots.join(', ')}`)
    const executions = await a.store.listExecutions({ workflow_id: saved.workflow_id, limit: 500 })
    assert.equal(executions.total, runs.length, 'one execution per slot')
    const seconds = slots.map((s) => Date.parse(s) / 1000).sort((x, y) => x - y)
    for (let i = 1; i < seconds.length; i++)
      assert.ok(seconds[i]! - seconds[i - 1]! >= 1, `slots are distinct seconds: ${slots.join(', ')}`)
  })

  it("relays one node's execution events to the others in order, and lists live nodes in /health", async (t) => {
    if (await skipWithoutPostgres(t)) return
    const schema = fixture.schema()
    const [a, b, c] = [await node(schema, 'a'), await node(schema, 'b'), await node(schema, 'c')]
    const seen = new Map<string, ExecutionEvent[]>([
      ['b', []],
      ['c', []],
    ])
    const started = await a.engine.startExecution({
      workflow: {
        name: 'relay',
        tasks: {
          one: { name: 'one', component: 'core', action: 'delay', input: { ms: 200 } },
          two: { name: 'two', component: 'core', action: 'echo', input: { x: 1 }, depends_on: ['one'] },
        },
      },
    })
    const id = started.execution_id
    b.engine.bus.subscribe((event) => seen.get('b')!.push(event), id)
    c.engine.bus.subscribe((event) => seen.get('c')!.push(event), id)
    await a.engine.waitForExecution(id, { timeoutMs: 10_000 })
    const persisted = await a.store.listEvents(id, 0, 1000)
    for (const [name, events] of seen) {
      const got = await eventually(
        async () => events,
        (list) => list.some((e) => e.type === 'execution_completed'),
        { what: `node ${name} to see the execution complete`, timeoutMs: 10_000 },
      )
      // Subscribed after the start: what arrives is the tail of the history, in order, without gaps.
      const tail = persisted.slice(persisted.length - got.length)
      assert.deepEqual(
        got.map((e) => [e.seq, e.type]),
        tail.map((e) => [e.seq, e.type]),
        `node ${name} saw the persisted events in order`,
      )
      assert.ok(
        got.every((e) => (name === 'b' ? b : c).engine.bus.isRelayed(e)),
        'the events are marked relayed',
      )
    }

    const app = await buildApp(b)
    closers.push(() => app.close())
    const health = (await (await app.inject({ method: 'GET', url: '/health' })).json()) as {
      cluster: { node_id: string; nodes: { node_id: string }[] }
    }
    assert.equal(health.cluster.node_id, 'b')
    assert.deepEqual(health.cluster.nodes.map((n) => n.node_id).sort(), ['a', 'b', 'c'])
    await c.close()
    const later = (await (await app.inject({ method: 'GET', url: '/health' })).json()) as typeof health
    assert.deepEqual(later.cluster.nodes.map((n) => n.node_id).sort(), ['a', 'b'], 'a stopped node leaves')
  })

  it('cancels, pauses and resumes through any node: the request reaches the node that runs the execution', async (t) => {
    if (await skipWithoutPostgres(t)) return
    const schema = fixture.schema()
    const [a, b] = [await node(schema, 'a'), await node(schema, 'b')]
    const start = () =>
      a.engine.startExecution({
        workflow: {
          name: 'long',
          tasks: {
            wait: { name: 'wait', component: 'core', action: 'delay', input: { ms: 60_000 } },
            after: { name: 'after', component: 'core', action: 'echo', input: {}, depends_on: ['wait'] },
          },
        },
      })
    const first = await start()
    assert.ok(a.engine.hosts(first.execution_id) && !b.engine.hosts(first.execution_id))
    const paused = await b.engine.pause(first.execution_id)
    assert.equal(paused.status, 'paused')
    assert.equal((await a.store.getExecution(first.execution_id))?.status, 'paused')
    const resumed = await b.engine.resume(first.execution_id)
    assert.equal(resumed.status, 'running')
    const cancelled = await b.engine.cancel(first.execution_id, 'stopped from node b')
    assert.equal(cancelled.status, 'cancelled')
    assert.ok(!b.engine.hosts(first.execution_id), 'node b never took the execution over')
    const events = await a.store.listEvents(first.execution_id, 0, 100)
    assert.deepEqual(
      events.filter((e) => e.type.startsWith('execution_')).map((e) => e.type),
      ['execution_started', 'execution_paused', 'execution_resumed', 'execution_cancelled'],
    )
  })
})
