import { Background, Controls, ReactFlow, type Edge, type Node } from '@xyflow/react'
import { useEffect, useMemo, useRef, useState } from 'react'
import { navigate } from './App.tsx'
import {
  ApiError,
  api,
  formatDuration,
  liveSocket,
  taskList,
  type ExecEvent,
  type Execution,
  type Page,
  type TaskDef,
  type Workflow,
} from './api.ts'
import { layoutTasks } from './layout.ts'
import { FitView, nodeTypes, useNodeSizes, type TaskNodeData } from './TaskNode.tsx'

const STATUSES = ['', 'pending', 'running', 'paused', 'completed', 'failed', 'cancelled']

export function ExecutionList() {
  const [page, setPage] = useState<Page<Execution> | undefined>()
  const [status, setStatus] = useState('')
  const [workflow, setWorkflow] = useState('')
  const [since, setSince] = useState('')
  const [pageNumber, setPageNumber] = useState(1)
  const [tick, setTick] = useState(0)
  const [live, setLive] = useState(false)
  const [error, setError] = useState('')
  const pending = useRef<ReturnType<typeof setTimeout> | undefined>(undefined)
  const requested = useRef(0)
  const applied = useRef(0)

  useEffect(
    () =>
      liveSocket(
        '/ws/events',
        () => {
          if (pending.current !== undefined) return
          pending.current = setTimeout(() => {
            pending.current = undefined
            setTick((n) => n + 1)
          }, 300)
        },
        setLive,
      ),
    [],
  )
  useEffect(() => {
    const query = new URLSearchParams({ limit: '50', page: String(pageNumber) })
    if (status !== '') query.set('status', status)
    if (workflow !== '') query.set('workflow_id', workflow)
    if (since !== '') query.set('created_after', new Date(since).toISOString())
    const seq = ++requested.current
    api<Page<Execution>>('GET', `/executions?${query.toString()}`)
      .then((p) => {
        if (seq < applied.current) return
        applied.current = seq
        setPage(p)
        setError('')
      })
      .catch((e: unknown) => setError((e as Error).message))
  }, [status, workflow, since, pageNumber, tick])

  const pages = page === undefined ? 1 : Math.max(1, Math.ceil(page.total / page.limit))
  return (
    <div className="page">
      <div className="row">
        <h1>Executions</h1>
        <span className={`live ${live ? 'on' : 'off'}`} role="status">
          {live ? 'live' : 'reconnecting…'}
        </span>
        <div className="spacer" />
        <label>
          Status{' '}
          <select value={status} onChange={(e) => setStatus(e.target.value)}>
            {STATUSES.map((s) => (
              <option key={s} value={s}>
                {s === '' ? 'any' : s}
              </option>
            ))}
          </select>
        </label>
        <label>
          Workflow ID <input value={workflow} onChange={(e) => setWorkflow(e.target.value.trim())} />
        </label>
        <label>
          Since <input type="datetime-local" value={since} onChange={(e) => setSince(e.target.value)} />
        </label>
      </div>
      {error !== '' && <p role="alert">{error}</p>}
      <table>
        <thead>
          <tr>
            <th>Execution</th>
            <th>Workflow</th>
            <th>Status</th>
            <th>Started</th>
            <th>Duration</th>
          </tr>
        </thead>
        <tbody>
          {page?.items.map((e) => (
            <tr key={e.execution_id}>
              <td>
                <a href={`#/executions/${e.execution_id}`}>{e.execution_id.slice(0, 18)}</a>
              </td>
              <td>{e.workflow_name ?? e.workflow_id}</td>
              <td>
                <span className={`badge status-${e.status}`}>{e.status}</span>
              </td>
              <td>{new Date(e.created_at).toLocaleString()}</td>
              <td>
                {e.started_at !== null
                  ? formatDuration(
                      (e.completed_at !== null ? Date.parse(e.completed_at) : Date.now()) -
                        Date.parse(e.started_at),
                    )
                  : '—'}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <div className="row">
        <button type="button" disabled={pageNumber <= 1} onClick={() => setPageNumber(pageNumber - 1)}>
          Previous page
        </button>
        <span>
          Page {pageNumber} of {pages} ({page?.total ?? 0} executions)
        </span>
        <button type="button" disabled={pageNumber >= pages} onClick={() => setPageNumber(pageNumber + 1)}>
          Next page
        </button>
      </div>
    </div>
  )
}

export function ExecutionDetail({ executionId }: { executionId: string }) {
  const [execution, setExecution] = useState<Execution | undefined>()
  const [tasks, setTasks] = useState<TaskDef[]>([])
  const [positions, setPositions] = useState<Record<string, { x: number; y: number }>>({})
  const [events, setEvents] = useState<ExecEvent[]>([])
  const [selected, setSelected] = useState<string | undefined>()
  const [tab, setTab] = useState<'graph' | 'timeline' | 'events'>('graph')
  const [message, setMessage] = useState('')
  const [explanation, setExplanation] = useState<string | undefined>()
  const [live, setLive] = useState(false)
  const [tick, setTick] = useState(0)
  const [layoutVersion, setLayoutVersion] = useState(0)
  const pending = useRef<ReturnType<typeof setTimeout> | undefined>(undefined)

  useEffect(
    () =>
      liveSocket(
        `/ws/executions/${encodeURIComponent(executionId)}`,
        () => {
          if (pending.current !== undefined) return
          pending.current = setTimeout(() => {
            pending.current = undefined
            setTick((n) => n + 1)
          }, 100)
        },
        (connected) => {
          setLive(connected)
          if (connected) setTick((n) => n + 1)
        },
      ),
    [executionId],
  )
  // Answers can arrive out of order: only one newer than the last applied one is shown.
  const requested = useRef(0)
  const applied = useRef({ execution: 0, events: 0 })
  useEffect(() => {
    const seq = ++requested.current
    api<Execution>('GET', `/executions/${encodeURIComponent(executionId)}`)
      .then((answer) => {
        if (seq < applied.current.execution) return
        applied.current.execution = seq
        setExecution(answer)
      })
      .catch((e: unknown) => setMessage((e as Error).message))
    void (async () => {
      const all: ExecEvent[] = []
      for (let after = 0; all.length < 20_000;) {
        const page = await api<{ items: ExecEvent[] }>(
          'GET',
          `/executions/${encodeURIComponent(executionId)}/events?limit=1000&after=${after}`,
        )
        all.push(...page.items)
        const last = page.items[page.items.length - 1]?.seq
        if (page.items.length < 1000 || last === undefined) break
        after = last
      }
      if (seq < applied.current.events) return
      applied.current.events = seq
      setEvents(all)
    })().catch(() => {})
  }, [executionId, tick])
  const workflowId = execution?.workflow_id
  useEffect(() => {
    if (workflowId === undefined) return
    api<Workflow>('GET', `/workflows/${encodeURIComponent(workflowId)}`)
      .then(async (w) => {
        const list = taskList(w)
        setTasks(list)
        setPositions(await layoutTasks(list))
        setLayoutVersion((n) => n + 1)
      })
      .catch(() => {})
  }, [workflowId])

  const states = execution?.task_status ?? {}
  const [sizes, onSizes] = useNodeSizes()
  const nodes: Node[] = useMemo(() => {
    const names = tasks.length > 0 ? tasks.map((t) => t.name) : Object.keys(states)
    return names.map((name, i) => {
      const def = tasks.find((t) => t.name === name)
      return {
        id: name,
        type: 'task',
        position: positions[name] ?? { x: 40, y: 40 + i * 100 },
        measured: sizes[name],
        selected: name === selected,
        draggable: false,
        data: {
          name,
          subtitle: def === undefined ? '' : `${def.component}.${def.action}`,
          status: states[name]?.status ?? 'pending',
        } satisfies TaskNodeData,
      }
    })
  }, [tasks, positions, sizes, states, selected])
  const edges: Edge[] = useMemo(
    () =>
      tasks.flatMap((t) =>
        (t.depends_on ?? []).map((d) => ({
          id: `${d}->${t.name}`,
          source: d,
          target: t.name,
          animated: states[t.name]?.status === 'running',
        })),
      ),
    [tasks, states],
  )

  const act = async (label: string, method: string, path: string): Promise<void> => {
    setMessage('')
    try {
      const answer = await api<Record<string, unknown>>(method, path, {})
      setMessage(`${label}: done`)
      setTick((n) => n + 1)
      return void answer
    } catch (error) {
      setMessage(`${label}: ${(error as Error).message}`)
    }
  }
  const restore = async (): Promise<void> => {
    try {
      const list = await api<{ items: { checkpoint_id: string }[] }>(
        'GET',
        `/executions/${encodeURIComponent(executionId)}/checkpoints`,
      )
      const latest = list.items[list.items.length - 1]
      if (latest === undefined) {
        setMessage('Restore: this execution has no checkpoint')
        return
      }
      const restored = await api<Execution>('POST', `/checkpoints/${latest.checkpoint_id}/restore`, {})
      navigate(`/executions/${restored.execution_id}`)
    } catch (error) {
      setMessage(`Restore: ${(error as Error).message}`)
    }
  }
  const remove = async (): Promise<void> => {
    if (!window.confirm('Delete this execution with its events and checkpoints? This cannot be undone.'))
      return
    try {
      await api('DELETE', `/executions/${encodeURIComponent(executionId)}`)
      navigate('/executions')
    } catch (error) {
      setMessage(`Delete: ${(error as Error).message}`)
    }
  }
  const explain = async (): Promise<void> => {
    setExplanation('Explaining…')
    try {
      const answer = await api<Record<string, unknown>>(
        'POST',
        `/executions/${encodeURIComponent(executionId)}/explain`,
        { use_llm: true },
      )
      const lines = [
        answer.failed_task == null ? undefined : `Failed task: ${String(answer.failed_task)}`,
        answer.category === undefined ? undefined : `Category: ${String(answer.category)}`,
        answer.diagnosis === undefined ? undefined : `Diagnosis: ${String(answer.diagnosis)}`,
        answer.suggested_fix === undefined ? undefined : `Suggested fix: ${String(answer.suggested_fix)}`,
        answer.patch == null ? undefined : `Patch: ${JSON.stringify(answer.patch, null, 2)}`,
      ].filter((line) => line !== undefined)
      setExplanation(lines.length > 0 ? lines.join('\n') : JSON.stringify(answer, null, 2))
    } catch (error) {
      setExplanation(
        error instanceof ApiError && error.status === 404 && error.body.code === 'not_found'
          ? 'Explanations are not available on this server.'
          : (error as Error).message,
      )
    }
  }

  const id = encodeURIComponent(executionId)
  const status = execution?.status ?? ''
  const unfinished = status === 'pending' || status === 'running' || status === 'paused'
  const task = selected === undefined ? undefined : states[selected]
  const taskEvents = events.filter((e) => e.data?.task === selected)
  return (
    <div className="execution">
      <div className="row toolbar" role="toolbar" aria-label="Execution actions">
        <h1>
          {execution?.workflow_name ?? 'Execution'}{' '}
          <span className={`badge status-${status}`} aria-label="Execution status">
            {status}
          </span>
        </h1>
        <span className={`live ${live ? 'on' : 'off'}`}>{live ? 'live' : 'reconnecting…'}</span>
        <div className="spacer" />
        <button
          type="button"
          disabled={!unfinished}
          onClick={() => void act('Cancel', 'POST', `/executions/${id}/cancel`)}
        >
          Cancel
        </button>
        <button
          type="button"
          disabled={status !== 'running' && status !== 'pending'}
          onClick={() => void act('Pause', 'POST', `/executions/${id}/pause`)}
        >
          Pause
        </button>
        <button
          type="button"
          disabled={status !== 'paused'}
          onClick={() => void act('Resume', 'POST', `/executions/${id}/resume`)}
        >
          Resume
        </button>
        <button
          type="button"
          disabled={status !== 'failed' && status !== 'cancelled'}
          onClick={() => void act('Re-run', 'POST', `/executions/${id}/rerun`)}
        >
          Re-run from failed
        </button>
        <button type="button" onClick={() => void act('Checkpoint', 'POST', `/executions/${id}/checkpoint`)}>
          Checkpoint
        </button>
        <button type="button" onClick={() => void restore()}>
          Restore
        </button>
        <button type="button" disabled={status === '' || unfinished} onClick={() => void remove()}>
          Delete
        </button>
        {status === 'failed' && (
          <button type="button" onClick={() => void explain()}>
            Explain this failure
          </button>
        )}
      </div>
      {message !== '' && (
        <p role="status" className="message">
          {message}
        </p>
      )}
      {execution?.error != null && (
        <p className="error-box" role="alert">
          {execution.error.task !== undefined ? `Task ${execution.error.task}: ` : ''}
          {execution.error.message}
        </p>
      )}
      {explanation !== undefined && (
        <pre className="explain" aria-label="Failure explanation">
          {explanation}
        </pre>
      )}
      <div role="tablist" className="tabs">
        {(['graph', 'timeline', 'events'] as const).map((t) => (
          <button key={t} type="button" role="tab" aria-selected={tab === t} onClick={() => setTab(t)}>
            {t === 'graph' ? 'Graph' : t === 'timeline' ? 'Timeline' : 'Event log'}
          </button>
        ))}
      </div>
      <div className="execution-body">
        <div className="canvas">
          {tab === 'graph' && (
            <ReactFlow
              nodes={nodes}
              edges={edges}
              nodeTypes={nodeTypes}
              onNodesChange={onSizes}
              onNodeClick={(_e, node) => setSelected(node.id)}
              nodesConnectable={false}
              onlyRenderVisibleElements={nodes.length > 200}
              fitView
              fitViewOptions={{ maxZoom: 1 }}
              colorMode={document.documentElement.dataset.theme === 'dark' ? 'dark' : 'light'}
              minZoom={0.05}
            >
              <FitView version={layoutVersion} />
              <Background />
              <Controls />
            </ReactFlow>
          )}
          {tab === 'timeline' && <Timeline execution={execution} events={events} onSelect={setSelected} />}
          {tab === 'events' && (
            <ol className="event-log" aria-label="Event log">
              {events.map((e, i) => (
                <li key={e.seq ?? i}>
                  <time>{new Date(e.timestamp).toLocaleTimeString()}</time> <strong>{e.type}</strong>{' '}
                  {e.data?.task !== undefined && <span>{String(e.data.task)}</span>}{' '}
                  {e.data?.error !== undefined && <span className="field-error">{String(e.data.error)}</span>}
                </li>
              ))}
            </ol>
          )}
        </div>
        {selected !== undefined && (
          <aside className="side-panel" aria-label="Task details">
            <h2>
              Task {selected}{' '}
              <span className={`badge status-${task?.status ?? 'pending'}`}>{task?.status ?? 'pending'}</span>
            </h2>
            <button type="button" onClick={() => setSelected(undefined)}>
              Close
            </button>
            <dl>
              <dt>Attempts</dt>
              <dd>{task?.attempts ?? 0}</dd>
              <dt>Started</dt>
              <dd>{task?.started_at ?? '—'}</dd>
              <dt>Completed</dt>
              <dd>{task?.completed_at ?? '—'}</dd>
              {task?.started_at != null && task.completed_at != null && (
                <>
                  <dt>Duration</dt>
                  <dd>{formatDuration(Date.parse(task.completed_at) - Date.parse(task.started_at))}</dd>
                </>
              )}
            </dl>
            {task?.error != null && (
              <section aria-label="Task error" className="error-box">
                <strong>{task.error.code}</strong> {task.error.message}
              </section>
            )}
            <h3>Input</h3>
            <pre aria-label="Task input">{JSON.stringify(task?.input ?? null, null, 2)}</pre>
            <h3>Output</h3>
            <pre aria-label="Task output">{JSON.stringify(task?.output ?? null, null, 2)}</pre>
            <h3>Attempts</h3>
            <ol>
              {taskEvents.map((e, i) => (
                <li key={i}>
                  {new Date(e.timestamp).toLocaleTimeString()} {e.type}
                  {e.data?.attempt !== undefined ? ` (attempt ${String(e.data.attempt)})` : ''}
                  {e.data?.error !== undefined ? `: ${String(e.data.error)}` : ''}
                </li>
              ))}
            </ol>
          </aside>
        )}
      </div>
    </div>
  )
}

function Timeline(props: { execution?: Execution; events: ExecEvent[]; onSelect: (task: string) => void }) {
  const bars: { task: string; attempt: number; start: number; end: number; status: string }[] = []
  const open = new Map<string, { start: number; attempt: number }>()
  for (const e of props.events) {
    const task = e.data?.task
    if (typeof task !== 'string') continue
    const at = Date.parse(e.timestamp)
    if (e.type === 'task_started') open.set(task, { start: at, attempt: Number(e.data.attempt ?? 1) })
    else if (/^task_(completed|failed|retrying|cancelled|skipped)/.test(e.type)) {
      const started = open.get(task)
      if (started !== undefined) {
        bars.push({ task, attempt: started.attempt, start: started.start, end: at, status: e.type.slice(5) })
        open.delete(task)
      }
    }
  }
  for (const [task, started] of open)
    bars.push({ task, attempt: started.attempt, start: started.start, end: Date.now(), status: 'running' })
  if (bars.length === 0) return <p className="muted">No task attempts yet.</p>
  const min = Math.min(...bars.map((b) => b.start))
  const max = Math.max(...bars.map((b) => b.end), min + 1)
  return (
    <div className="gantt" aria-label="Timeline">
      {bars.map((b, i) => (
        <button type="button" key={i} className="gantt-row" onClick={() => props.onSelect(b.task)}>
          <span className="gantt-label">
            {b.task} #{b.attempt}
          </span>
          <span className="gantt-track">
            <span
              className={`gantt-bar status-${b.status}`}
              style={{
                left: `${((b.start - min) / (max - min)) * 100}%`,
                width: `${Math.max(0.5, ((b.end - b.start) / (max - min)) * 100)}%`,
              }}
              title={formatDuration(b.end - b.start)}
            />
          </span>
          <span className="gantt-time">{formatDuration(b.end - b.start)}</span>
        </button>
      ))}
    </div>
  )
}
