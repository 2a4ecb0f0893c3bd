import { useEffect, useState } from 'react'
import {
  api,
  formatDuration,
  optional,
  type Component,
  type Execution,
  type Page,
  type Workflow,
} from './api.ts'

function list<T>(answer: unknown): T[] {
  if (answer === undefined || answer === null) return []
  if (Array.isArray(answer)) return answer as T[]
  const page = answer as Record<string, unknown>
  for (const key of [
    'items',
    'webhooks',
    'subscriptions',
    'schedules',
    'triggers',
    'runs',
    'calls',
    'events',
    'deliveries',
  ])
    if (Array.isArray(page[key])) return page[key] as T[]
  return []
}

type Row = Record<string, unknown>

function Cell({ value }: { value: unknown }) {
  if (value === null || value === undefined) return <>—</>
  if (typeof value === 'object') return <code>{JSON.stringify(value).slice(0, 80)}</code>
  return <>{String(value)}</>
}

function Section(props: {
  title: string
  path: string
  columns: string[]
  detail?: (row: Row) => string | undefined
}) {
  const [rows, setRows] = useState<Row[] | undefined>()
  const [missing, setMissing] = useState(false)
  const [open, setOpen] = useState<string | undefined>()
  const [log, setLog] = useState<Row[]>([])
  const [error, setError] = useState('')
  useEffect(() => {
    optional<unknown>(props.path)
      .then((answer) => (answer === undefined ? setMissing(true) : setRows(list<Row>(answer))))
      .catch((e: unknown) => setError((e as Error).message))
  }, [props.path])
  useEffect(() => {
    if (open === undefined) return
    optional<unknown>(open)
      .then((answer) => setLog(list<Row>(answer)))
      .catch(() => setLog([]))
  }, [open])
  if (missing) return null
  return (
    <section aria-label={props.title}>
      <h2>{props.title}</h2>
      {error !== '' && <p role="alert">{error}</p>}
      <table>
        <thead>
          <tr>
            {props.columns.map((c) => (
              <th key={c}>{c}</th>
            ))}
            {props.detail !== undefined && <th />}
          </tr>
        </thead>
        <tbody>
          {(rows ?? []).map((row, i) => (
            <tr key={i}>
              {props.columns.map((c) => (
                <td key={c}>
                  <Cell value={row[c]} />
                </td>
              ))}
              {props.detail !== undefined && (
                <td>
                  <button type="button" onClick={() => setOpen(props.detail?.(row))}>
                    History
                  </button>
                </td>
              )}
            </tr>
          ))}
        </tbody>
      </table>
      {rows !== undefined && rows.length === 0 && <p className="muted">None yet.</p>}
      {open !== undefined && (
        <div className="log">
          <h3>History</h3>
          <table>
            <tbody>
              {log.map((entry, i) => (
                <tr key={i}>
                  {[
                    'timestamp',
                    'created_at',
                    'scheduled_for',
                    'status',
                    'status_code',
                    'success',
                    'execution_id',
                    'error',
                  ]
                    .filter((k) => k in entry)
                    .map((k) => (
                      <td key={k}>
                        <Cell value={entry[k]} />
                      </td>
                    ))}
                </tr>
              ))}
            </tbody>
          </table>
          {log.length === 0 && <p className="muted">No records.</p>}
        </div>
      )}
    </section>
  )
}

export function TriggersPage() {
  return (
    <div className="page">
      <h1>Triggers</h1>
      <Section
        title="Webhooks"
        path="/webhooks"
        columns={['name', 'endpoint', 'trigger_type', 'workflow_id', 'enabled']}
        detail={(row) => `/webhooks/${String(row.webhook_id ?? row.id)}/calls`}
      />
      <Section
        title="Subscriptions"
        path="/subscriptions"
        columns={['name', 'external_url', 'event_types', 'enabled']}
        detail={(row) => `/subscriptions/${String(row.subscription_id ?? row.id)}/deliveries`}
      />
      <Section
        title="Schedules"
        path="/schedules"
        columns={['name', 'cron', 'timezone', 'workflow_id', 'next_runs', 'enabled']}
        detail={(row) => `/schedules/${String(row.schedule_id ?? row.id)}/runs`}
      />
      <Section
        title="Event triggers"
        path="/triggers"
        columns={['name', 'source_workflow_id', 'on', 'workflow_id', 'enabled']}
      />
    </div>
  )
}

export function ComponentsPage() {
  const [components, setComponents] = useState<Component[]>([])
  const [error, setError] = useState('')
  useEffect(() => {
    api<{ items: Component[] }>('GET', '/components?limit=200')
      .then((page) => setComponents(page.items))
      .catch((e: unknown) => setError((e as Error).message))
  }, [])
  return (
    <div className="page">
      <h1>Components</h1>
      {error !== '' && <p role="alert">{error}</p>}
      <div className="cards">
        {components.map((c) => {
          const health = c.status ?? (c.healthy === false ? 'unhealthy' : 'healthy')
          return (
            <article className="card" key={c.name} aria-label={`Component ${c.name}`}>
              <h2>
                {c.name} <span className={`badge health-${health}`}>{health}</span>
              </h2>
              <p>{c.description}</p>
              <p className="muted">{c.kind}</p>
              <ul>
                {c.actions.map((a) => (
                  <li key={a.name}>
                    <strong>{a.name}</strong> {a.description}
                  </li>
                ))}
              </ul>
            </article>
          )
        })}
      </div>
    </div>
  )
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0
}

function Bars({ label, data }: { label: string; data: [string, number][] }) {
  const max = Math.max(1, ...data.map(([, v]) => v))
  return (
    <figure className="chart" aria-label={label}>
      <figcaption>{label}</figcaption>
      {data.length === 0 && <p className="muted">No data.</p>}
      {data.map(([k, v]) => (
        <div key={k} className="bar-row">
          <span className="bar-label">{k}</span>
          <span className="bar" style={{ width: `${(v / max) * 100}%` }} />
          <span>{Number.isInteger(v) ? v : v.toFixed(1)}</span>
        </div>
      ))}
    </figure>
  )
}

export function Analytics({ workflowId }: { workflowId?: string }) {
  const [workflows, setWorkflows] = useState<Workflow[]>([])
  const [executions, setExecutions] = useState<Execution[]>([])
  const [details, setDetails] = useState<Execution[]>([])
  useEffect(() => {
    api<Page<Workflow>>('GET', '/workflows?limit=100')
      .then((p) => setWorkflows(p.items))
      .catch(() => {})
  }, [])
  useEffect(() => {
    if (workflowId === undefined) return
    api<Page<Execution>>('GET', `/executions?workflow_id=${encodeURIComponent(workflowId)}&limit=100`)
      .then(async (p) => {
        setExecutions(p.items)
        const recent = p.items.slice(0, 30)
        setDetails(
          await Promise.all(recent.map((e) => api<Execution>('GET', `/executions/${e.execution_id}`))),
        )
      })
      .catch(() => {})
  }, [workflowId])

  const finished = executions.filter((e) => e.status === 'completed' || e.status === 'failed')
  const success =
    finished.length === 0 ? 0 : finished.filter((e) => e.status === 'completed').length / finished.length
  const durations = finished
    .filter((e) => e.started_at !== null && e.completed_at !== null)
    .map((e) => Date.parse(e.completed_at as string) - Date.parse(e.started_at as string))
    .sort((a, b) => a - b)
  const perDay = new Map<string, number>()
  for (const e of executions) {
    const day = e.created_at.slice(0, 10)
    perDay.set(day, (perDay.get(day) ?? 0) + 1)
  }
  const taskTime = new Map<string, number[]>()
  const failures = new Map<string, number>()
  for (const e of details)
    for (const [name, t] of Object.entries(e.task_status ?? {})) {
      if (t.started_at !== null && t.completed_at !== null) {
        const list = taskTime.get(name) ?? []
        list.push(Date.parse(t.completed_at) - Date.parse(t.started_at))
        taskTime.set(name, list)
      }
      if (t.status === 'failed') {
        const key = `${name} (${t.error?.code ?? 'error'})`
        failures.set(key, (failures.get(key) ?? 0) + 1)
      }
    }
  const slowest = [...taskTime.entries()]
    .map(([k, v]) => [k, v.reduce((a, b) => a + b, 0) / v.length] as [string, number])
    .sort((a, b) => b[1] - a[1])
    .slice(0, 10)

  return (
    <div className="page">
      <div className="row">
        <h1>Analytics</h1>
        <label>
          Workflow{' '}
          <select value={workflowId ?? ''} onChange={(e) => (location.hash = `/analytics/${e.target.value}`)}>
            <option value="">choose…</option>
            {workflows.map((w) => (
              <option key={w.workflow_id} value={w.workflow_id}>
                {w.name}
              </option>
            ))}
          </select>
        </label>
      </div>
      {workflowId !== undefined && (
        <div className="analytics">
          <dl className="stats">
            <dt>Runs</dt>
            <dd>{executions.length}</dd>
            <dt>Success rate</dt>
            <dd>{(success * 100).toFixed(0)}%</dd>
            <dt>p50</dt>
            <dd>{formatDuration(percentile(durations, 50))}</dd>
            <dt>p90</dt>
            <dd>{formatDuration(percentile(durations, 90))}</dd>
            <dt>p99</dt>
            <dd>{formatDuration(percentile(durations, 99))}</dd>
          </dl>
          <Bars label="Runs per day" data={[...perDay.entries()].sort()} />
          <Bars label="Slowest tasks (mean ms)" data={slowest} />
          <Bars label="Failures by task and error code" data={[...failures.entries()]} />
        </div>
      )}
    </div>
  )
}
