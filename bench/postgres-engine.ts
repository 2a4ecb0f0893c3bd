/**
 * Engine figures on PostgreSQL (issue 7), one JSON line per figure: per-step overhead of a 200-step chain,
 * single-task executions per second with 1 and with 3 nodes, and a 10,000-task fan-out. Each node is an
 * engine in its own worker thread (its own event loop and connection pool) on one fresh schema of
 * HARMONIA_TEST_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/test), dropped after.
 *
 *   npm run bench -- postgres
 */
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads'
import pg from 'pg'
import { createComponentRegistry, registerBuiltins } from '../src/components/index.ts'
import { createEngine } from '../src/core/engine.ts'
import type { WorkflowDefinition } from '../src/core/model.ts'
import { createPostgresStore } from '../src/storage/postgres-store.ts'
import { chain, fanOut, round, type Figure } from './engine.ts'

const URL = process.env['HARMONIA_TEST_DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test'

type Job =
  | { kind: 'chain'; steps: number; runs: number }
  | { kind: 'singles'; count: number }
  | { kind: 'fanout'; items: number }

interface WorkerInput {
  schema: string
  nodeId: string
}

const single: WorkflowDefinition = {
  name: 'single',
  tasks: { only: { name: 'only', component: 'core', action: 'echo', input: { x: 1 } } },
}

/** A node: an engine on the shared schema that runs the jobs it is sent and answers with milliseconds. */
async function node({ schema, nodeId }: WorkerInput): Promise<void> {
  const store = createPostgresStore({ connectionString: URL, schema, poolSize: 10 })
  await store.init()
  const components = createComponentRegistry()
  registerBuiltins(components, { shell: { enabled: false } })
  const engine = createEngine({ store, components, nodeId })
  await engine.start()
  const run = async (workflow: WorkflowDefinition, input: Record<string, unknown> = {}): Promise<void> => {
    const exec = await engine.startExecution({ workflow, input: input as never })
    const done = await engine.waitForExecution(exec.execution_id)
    if (done.status !== 'completed') throw new Error(`${workflow.name} ended ${done.status}`)
  }
  parentPort!.on('message', (job: Job | 'stop') => {
    void (async () => {
      if (job === 'stop') {
        await engine.stop({ graceMs: 0 })
        await store.close()
        parentPort!.postMessage({ stopped: true })
        return
      }
      const started = performance.now()
      if (job.kind === 'chain') {
        const times: number[] = []
        for (let i = 0; i <= job.runs; i++) {
          const t0 = performance.now()
          await run(chain(job.steps))
          if (i > 0) times.push(performance.now() - t0) // the first run warms up
        }
        times.sort((a, b) => a - b)
        parentPort!.postMessage({ ms: times[Math.floor(times.length / 2)] })
        return
      }
      if (job.kind === 'singles') {
        await Promise.all(Array.from({ length: job.count }, () => run(single)))
      } else {
        await run(fanOut('fanout'), { items: Array.from({ length: job.items }, (_, i) => i) })
      }
      parentPort!.postMessage({ ms: performance.now() - started })
    })().catch((error: unknown) => parentPort!.postMessage({ error: String(error) }))
  })
  parentPort!.postMessage({ ready: true })
}

class NodeThread {
  readonly #worker: Worker
  readonly #ready: Promise<void>

  constructor(input: WorkerInput) {
    this.#worker = new Worker(new globalThis.URL(import.meta.url), { workerData: input })
    this.#ready = this.#next().then(() => undefined)
  }

  #next(): Promise<Record<string, unknown>> {
    return new Promise((resolve, reject) => {
      this.#worker.once('message', (message: Record<string, unknown>) =>
        message['error'] === undefined ? resolve(message) : reject(new Error(String(message['error']))),
      )
      this.#worker.once('error', reject)
    })
  }

  async run(job: Job): Promise<number> {
    await this.#ready
    const answer = this.#next()
    this.#worker.postMessage(job)
    return Number((await answer)['ms'])
  }

  async stop(): Promise<void> {
    const answer = this.#next()
    this.#worker.postMessage('stop')
    await answer
    await this.#worker.terminate()
  }
}

async function withNodes<T>(count: number, body: (nodes: NodeThread[]) => Promise<T>): Promise<T> {
  const schema = `harmonia_bench_${Math.random().toString(36).slice(2, 10)}`
  // One node migrates first; the others find the schema ready.
  const nodes = [new NodeThread({ schema, nodeId: 'bench-1' })]
  await nodes[0]!.run({ kind: 'singles', count: 1 })
  for (let i = 2; i <= count; i++) nodes.push(new NodeThread({ schema, nodeId: `bench-${i}` }))
  // Several nodes: every one warms up (JIT, prepared statements, pool connections) before the measure. One
  // node is warm by the time its singles are measured (the chain runs first), and its chain figure is taken
  // on a fresh schema, as before.
  if (count > 1) await Promise.all(nodes.map((n) => n.run({ kind: 'singles', count: 200 })))
  try {
    return await body(nodes)
  } finally {
    await Promise.all(nodes.map((n) => n.stop()))
    const client = new pg.Client({ connectionString: URL })
    await client.connect()
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)
    await client.end()
  }
}

export async function postgresFigures(): Promise<Figure[]> {
  const figures: Figure[] = []
  const emit = (figure: Figure): void => {
    figures.push(figure)
    console.log(JSON.stringify(figure))
  }
  const probe = new pg.Client({ connectionString: URL, connectionTimeoutMillis: 3_000 })
  try {
    await probe.connect()
  } catch (error) {
    console.log(JSON.stringify({ name: 'postgres', skipped: `PostgreSQL not reachable: ${String(error)}` }))
    return figures
  } finally {
    await probe.end().catch(() => {})
  }

  await withNodes(1, async ([one]) => {
    const ms = await one!.run({ kind: 'chain', steps: 200, runs: 5 })
    emit({
      name: 'postgres_chain_per_step_overhead',
      value: round(ms / 200, 3),
      unit: 'ms/step',
      runs: 'median of 5 after a warm-up',
      target: '<= 0.9',
    })
    const singles = await one!.run({ kind: 'singles', count: 1000 })
    emit({
      name: 'postgres_single_task_executions_1_node',
      value: round(1000 / (singles / 1000), 0),
      unit: 'executions/s',
      count: 1000,
      target: '>= 1200',
    })
    const fanout = await one!.run({ kind: 'fanout', items: 10_000 })
    emit({
      name: 'postgres_fanout_10000',
      value: round(10_000 / (fanout / 1000), 0),
      unit: 'tasks/s',
      wall_ms: round(fanout, 0),
      target: '>= 3000',
    })
  })

  await withNodes(3, async (nodes) => {
    const started = performance.now()
    const shares = [334, 333, 333]
    await Promise.all(nodes.map((n, i) => n.run({ kind: 'singles', count: shares[i]! })))
    const seconds = (performance.now() - started) / 1000
    emit({
      name: 'postgres_single_task_executions_3_nodes',
      value: round(1000 / seconds, 0),
      unit: 'executions/s',
      count: 1000,
      note: 'three engines in worker threads of one process on this machine',
    })
  })
  return figures
}

if (!isMainThread && (workerData as WorkerInput | undefined)?.schema !== undefined) {
  await node(workerData as WorkerInput)
}
