/**
 * PostgreSQL store commit throughput, one JSON line per figure. Each commit is what the engine's group
 * commit sends: a fenced batch of task rows, the execution row and one event per task. Runs on a fresh
 * schema of HARMONIA_TEST_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/test), dropped after.
 *
 *   node bench/postgres-store.ts [durationMs]
 */
import pg from 'pg'
import type { ExecutionEvent } from '../src/core/events.ts'
import type { ExecutionRecord, TaskState } from '../src/core/model.ts'
import { maskConnectionString } from '../src/storage/postgres-errors.ts'
import { createPostgresStore, type PostgresStore } from '../src/storage/postgres-store.ts'

const url = process.env['HARMONIA_TEST_DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test'
const durationMs = Number(process.argv[2] ?? 2_000)
const NODE = 'bench-node'

interface Figure {
  name: string
  value: number
  unit: string
  [key: string]: unknown
}

function print(figure: Figure): void {
  console.log(JSON.stringify(figure))
}

function executionRecord(id: string, seq: number): ExecutionRecord {
  const now = new Date().toISOString()
  return {
    execution_id: id,
    workflow_id: 'wf-bench',
    workflow_revision: 1,
    workflow_name: 'bench',
    definition: { name: 'bench', tasks: {} },
    status: 'running',
    input: {},
    execution_options: {},
    created_at: now,
    updated_at: now,
    completed_tasks: 0,
    total_tasks: 100,
    last_event_seq: seq,
  }
}

/** Commits batches of `rows` task rows (plus execution row and events) for `durationMs` from `workers`. */
async function measure(store: PostgresStore, rows: number, workers: number): Promise<Figure> {
  let commits = 0
  const latencies: number[] = []
  const deadline = performance.now() + durationMs
  const worker = async (w: number): Promise<void> => {
    const executionId = `exec-${rows}-${workers}-${w}`
    let seq = 0
    await store.commit({
      executions: [executionRecord(executionId, 0)],
      fence: { node_id: NODE, execution_ids: [executionId], lease_ms: 600_000 },
    })
    while (performance.now() < deadline) {
      const now = new Date().toISOString()
      const tasks: TaskState[] = []
      const events: ExecutionEvent[] = []
      for (let i = 0; i < rows; i++) {
        tasks.push({
          execution_id: executionId,
          task: `task-${i}`,
          item_index: -1,
          status: 'completed',
          attempts: 1,
          output: { value: i, text: 'x'.repeat(64) },
          started_at: now,
          completed_at: now,
        })
        events.push({
          seq: ++seq,
          type: 'task_completed',
          timestamp: now,
          execution_id: executionId,
          workflow_id: 'wf-bench',
          data: { task: `task-${i}` },
        })
      }
      const started = performance.now()
      await store.commit({
        executions: [executionRecord(executionId, seq)],
        tasks,
        events,
        fence: { node_id: NODE, execution_ids: [executionId] },
      })
      latencies.push(performance.now() - started)
      commits++
    }
  }
  const started = performance.now()
  await Promise.all(Array.from({ length: workers }, (_, w) => worker(w)))
  const seconds = (performance.now() - started) / 1000
  latencies.sort((a, b) => a - b)
  const p = (q: number): number => Number((latencies[Math.floor(q * (latencies.length - 1))] ?? 0).toFixed(2))
  return {
    name: `postgres commit, ${rows} task row${rows === 1 ? '' : 's'} + ${rows} event${rows === 1 ? '' : 's'} per batch, ${workers} concurrent`,
    value: Math.round(commits / seconds),
    unit: 'commits/s',
    rowsPerSecond: Math.round((commits * rows) / seconds),
    p50Ms: p(0.5),
    p99Ms: p(0.99),
  }
}

const schema = `harmonia_bench_${globalThis.crypto.randomUUID().replaceAll('-', '').slice(0, 12)}`
const store = createPostgresStore({ connectionString: url, schema, poolSize: 10, nodeId: NODE })
try {
  await store.init()
  for (const [rows, workers] of [
    [1, 1],
    [100, 1],
    [1, 8],
    [100, 8],
  ] as const) {
    print(await measure(store, rows, workers))
  }
} catch (error) {
  console.error(`postgres bench failed on ${maskConnectionString(url)}: ${String(error)}`)
  process.exitCode = 1
} finally {
  await store.close()
  const client = new pg.Client({ connectionString: url })
  await client.connect().then(
    () => client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`),
    () => undefined,
  )
  await client.end().catch(() => {})
}
