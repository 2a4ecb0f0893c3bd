/**
 * Two Harmonia nodes sharing one PostgreSQL schema: a remote component registered on one node is usable on
 * the other at once (told through NOTIFY), and unregistered on both. Skipped with the reason when
 * PostgreSQL is absent (failing under CI=true).
 */
import assert from 'node:assert/strict'
import { after, it } from 'node:test'
import { resolveConfig } from '../../src/core/config.ts'
import { createHarmonia, type Harmonia } from '../../src/harmonia.ts'
import { PostgresFixture, skipWithoutPostgres } from '../storage/postgres-support.ts'
import { startRemoteComponent } from './remote-server.ts'

const fixture = new PostgresFixture()
const nodes: Harmonia[] = []
after(async () => {
  for (const node of nodes) await node.close().catch(() => {})
  await fixture.dispose()
})

async function until(done: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 10_000
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`${what} not reached in time`)
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

it('a registration on one node reaches the other through the shared store', async (t) => {
  if (await skipWithoutPostgres(t)) return
  const component = await startRemoteComponent({ greet: { run: (params) => ({ hello: params }) } })
  t.after(() => component.close())
  const schema = fixture.schema()
  const node = async (id: string): Promise<Harmonia> => {
    const config = resolveConfig({
      flags: { storage: { kind: 'memory' }, engine: { nodeId: id }, log: { level: 'silent' } },
    })
    const store = fixture.store(schema)
    await store.init()
    const harmonia = await createHarmonia(config, { store })
    nodes.push(harmonia)
    await harmonia.start()
    await store.listening()
    return harmonia
  }
  const a = await node('node-a')
  const b = await node('node-b')

  await a.remote.register({ name: 'greeter', base_url: component.baseUrl })
  await until(() => b.components.describe('greeter') !== undefined, 'node b sees the registration')
  assert.deepEqual(
    b.components.describe('greeter')!.actions.map((action) => action.name),
    ['greet'],
  )
  const execution = await b.engine.startExecution({
    workflow: {
      name: 'on-b',
      tasks: { hi: { name: 'hi', component: 'greeter', action: 'greet', input: { who: 'b' } } },
    },
  })
  const done = await b.engine.waitForExecution(execution.execution_id, { timeoutMs: 10_000 })
  assert.equal(done.status, 'completed', JSON.stringify(done.error))

  assert.equal(await a.remote.unregister('greeter'), true)
  await until(() => b.components.describe('greeter') === undefined, 'node b drops it')
})
