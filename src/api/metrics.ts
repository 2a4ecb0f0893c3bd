/**
 * Prometheus metrics (text format, served at `/metrics`), with prom-client on a registry of this app's own
 * (several apps may live in one process, as in tests):
 *
 * - `harmonia_executions{status}`                   executions in the store by status (read at scrape time)
 * - `harmonia_executions_started_total`, `harmonia_executions_finished_total{status}`   on this node
 * - `harmonia_task_duration_seconds{outcome}`        histogram of task run times (completed, failed)
 * - `harmonia_running_tasks`, `harmonia_running_executions`   on this node, now
 * - `harmonia_event_stream_clients{transport}`       open WebSocket and SSE streams
 * - `harmonia_http_requests_total{method,route,status_code}` and `harmonia_http_request_duration_seconds`
 */
import type { FastifyInstance } from 'fastify'
import { Counter, Gauge, Histogram, Registry } from 'prom-client'
import { EventType, type ExecutionEvent } from '../core/events.ts'
import type { Harmonia } from '../harmonia.ts'
import type { StreamRegistry } from './event-stream.ts'
import { EXECUTION_STATUSES } from './schemas.ts'

export interface Metrics {
  readonly registry: Registry
  /** Prometheus text exposition. */
  render(): Promise<string>
  readonly contentType: string
}

const TASK_BUCKETS_SECONDS = [0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800]
const HTTP_BUCKETS_SECONDS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

export function installMetrics(app: FastifyInstance, harmonia: Harmonia, streams: StreamRegistry): Metrics {
  const registry = new Registry()
  const store = harmonia.store

  new Gauge({
    name: 'harmonia_executions',
    help: 'Executions in the store, by status',
    labelNames: ['status'],
    registers: [registry],
    async collect() {
      const totals = await Promise.all(
        EXECUTION_STATUSES.map(async (status) => (await store.listExecutions({ status, limit: 1 })).total),
      )
      EXECUTION_STATUSES.forEach((status, i) => this.set({ status }, totals[i]!))
    },
  })
  const started = new Counter({
    name: 'harmonia_executions_started_total',
    help: 'Executions that started on this node',
    registers: [registry],
  })
  const finished = new Counter({
    name: 'harmonia_executions_finished_total',
    help: 'Executions that finished on this node, by final status',
    labelNames: ['status'],
    registers: [registry],
  })
  const taskDuration = new Histogram({
    name: 'harmonia_task_duration_seconds',
    help: 'How long tasks ran, by outcome',
    labelNames: ['outcome'],
    buckets: TASK_BUCKETS_SECONDS,
    registers: [registry],
  })
  new Gauge({
    name: 'harmonia_running_tasks',
    help: 'Task invocations running on this node now',
    registers: [registry],
    collect() {
      this.set(harmonia.engine.stats().running_tasks)
    },
  })
  new Gauge({
    name: 'harmonia_running_executions',
    help: 'Executions this node hosts now',
    registers: [registry],
    collect() {
      this.set(harmonia.engine.stats().running_executions)
    },
  })
  new Gauge({
    name: 'harmonia_event_stream_clients',
    help: 'Open event streams, by transport',
    labelNames: ['transport'],
    registers: [registry],
    collect() {
      this.set({ transport: 'ws' }, streams.count('ws'))
      this.set({ transport: 'sse' }, streams.count('sse'))
    },
  })
  const httpRequests = new Counter({
    name: 'harmonia_http_requests_total',
    help: 'HTTP requests answered, by route pattern and status',
    labelNames: ['method', 'route', 'status_code'],
    registers: [registry],
  })
  const httpDuration = new Histogram({
    name: 'harmonia_http_request_duration_seconds',
    help: 'HTTP request durations, by route pattern',
    labelNames: ['method', 'route'],
    buckets: HTTP_BUCKETS_SECONDS,
    registers: [registry],
  })

  // Task start times, for durations the finishing event does not carry (failures). Bounded by running tasks.
  const taskStarts = new Map<string, Map<string, number>>()
  const observeTask = (event: ExecutionEvent, outcome: 'completed' | 'failed'): void => {
    const task = event.data['task']
    if (typeof task !== 'string') return
    const startedAt = taskStarts.get(event.execution_id)?.get(task)
    taskStarts.get(event.execution_id)?.delete(task)
    const durationMs = event.data['duration_ms']
    const ms =
      typeof durationMs === 'number'
        ? durationMs
        : startedAt === undefined
          ? undefined
          : Date.parse(event.timestamp) - startedAt
    if (ms !== undefined && Number.isFinite(ms) && ms >= 0) taskDuration.observe({ outcome }, ms / 1000)
  }
  const unsubscribe = harmonia.engine.bus.subscribe((event) => {
    // Counters are per node: an event another node produced is counted there.
    if (harmonia.engine.bus.isRelayed(event)) return
    switch (event.type) {
      case EventType.execution_started:
        started.inc()
        break
      case EventType.execution_completed:
      case EventType.execution_failed:
      case EventType.execution_cancelled:
        finished.inc({ status: event.type.slice('execution_'.length) })
        taskStarts.delete(event.execution_id)
        break
      case EventType.task_started: {
        const task = event.data['task']
        if (typeof task !== 'string' || event.data['item_index'] !== undefined) break
        let tasks = taskStarts.get(event.execution_id)
        if (tasks === undefined) taskStarts.set(event.execution_id, (tasks = new Map()))
        tasks.set(task, Date.parse(event.timestamp))
        break
      }
      case EventType.task_completed:
        observeTask(event, 'completed')
        break
      case EventType.task_failed:
        observeTask(event, 'failed')
        break
      case EventType.task_skipped:
      case EventType.task_cancelled: {
        const task = event.data['task']
        if (typeof task === 'string') taskStarts.get(event.execution_id)?.delete(task)
        break
      }
    }
  })
  app.addHook('onClose', async () => unsubscribe())

  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unmatched'
    const labels = { method: request.method, route }
    httpRequests.inc({ ...labels, status_code: String(reply.statusCode) })
    httpDuration.observe(labels, reply.elapsedTime / 1000)
  })

  return {
    registry,
    contentType: registry.contentType,
    render: () => registry.metrics(),
  }
}
