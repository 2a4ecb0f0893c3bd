import {
  Background,
  Controls,
  MiniMap,
  ReactFlow,
  type Connection,
  type Edge,
  type Node,
  type NodeChange,
} from '@xyflow/react'
import { useCallback, useEffect, useMemo, useRef, useState } from 'react'
import YAML from 'yaml'
import { navigate } from './App.tsx'
import { ApiError, api, taskList, type Component, type Json, type TaskDef, type Workflow } from './api.ts'
import { layoutTasks } from './layout.ts'
import { RunDialog } from './RunDialog.tsx'
import { FitView, nodeTypes, useNodeSizes, type TaskNodeData } from './TaskNode.tsx'

interface Draft {
  name: string
  description?: string
  input_schema?: Record<string, Json>
  tasks: TaskDef[]
  [key: string]: unknown
}

interface Problem {
  task?: string
  field: string
  message: string
}

type Positions = Record<string, { x: number; y: number }>

function toDraft(workflow: Workflow): Draft {
  const {
    workflow_id: _id,
    revision: _r,
    status: _s,
    created_at: _c,
    updated_at: _u,
    tasks,
    ...rest
  } = workflow
  return { ...rest, tasks: taskList({ ...workflow, tasks }).map((t) => ({ ...t })) } as Draft
}

/** Server problems name `tasks[2].input` or carry `task`: attach them to a task name and field. */
function locate(problem: { field?: string; message: string; task?: string }, draft: Draft): Problem {
  const field = problem.field ?? ''
  if (problem.task !== undefined) return { task: problem.task, field, message: problem.message }
  const index = /^tasks\[(\d+)\]\.?(.*)$/.exec(field)
  if (index !== null) {
    const task = draft.tasks[Number(index[1])]?.name
    return { task, field: index[2] ?? '', message: problem.message }
  }
  const named = /^tasks\.([^.]+)\.?(.*)$/.exec(field)
  if (named !== null) return { task: named[1], field: named[2] ?? '', message: problem.message }
  return { field, message: problem.message }
}

export function Designer({ workflowId }: { workflowId?: string }) {
  const [draft, setDraftState] = useState<Draft>({ name: 'new-workflow', tasks: [] })
  const [positions, setPositions] = useState<Positions>({})
  const [selected, setSelected] = useState<string | undefined>()
  const [components, setComponents] = useState<Component[]>([])
  const [problems, setProblems] = useState<Problem[]>([])
  const [message, setMessage] = useState<string>('')
  const [codeMode, setCodeMode] = useState<'graph' | 'json' | 'yaml'>('graph')
  const [saved, setSaved] = useState<Workflow | undefined>()
  const [running, setRunning] = useState(false)
  const [filter, setFilter] = useState('')
  const [layoutVersion, setLayoutVersion] = useState(0)
  const undoStack = useRef<{ past: Draft[]; future: Draft[] }>({ past: [], future: [] })
  const [, force] = useState(0)

  const setDraft = useCallback((next: Draft | ((d: Draft) => Draft)) => {
    setDraftState((current) => {
      const value = typeof next === 'function' ? next(current) : next
      if (value !== current) {
        undoStack.current.past.push(current)
        if (undoStack.current.past.length > 200) undoStack.current.past.shift()
        undoStack.current.future = []
      }
      return value
    })
    force((n) => n + 1)
  }, [])

  const undo = (): void => {
    const previous = undoStack.current.past.pop()
    if (previous === undefined) return
    undoStack.current.future.push(draft)
    setDraftState(previous)
    force((n) => n + 1)
  }
  const redo = (): void => {
    const next = undoStack.current.future.pop()
    if (next === undefined) return
    undoStack.current.past.push(draft)
    setDraftState(next)
    force((n) => n + 1)
  }

  // Ctrl/Cmd+Z undoes, Ctrl/Cmd+Shift+Z or Ctrl+Y redoes (outside text fields, which keep their own undo).
  const keys = useRef({ undo, redo })
  keys.current = { undo, redo }
  useEffect(() => {
    const onKey = (event: KeyboardEvent): void => {
      const target = event.target as HTMLElement | null
      if (target !== null && ['INPUT', 'TEXTAREA', 'SELECT'].includes(target.tagName)) return
      if (!(event.ctrlKey || event.metaKey)) return
      const key = event.key.toLowerCase()
      if (key === 'z' && !event.shiftKey) keys.current.undo()
      else if (key === 'y' || (key === 'z' && event.shiftKey)) keys.current.redo()
      else return
      event.preventDefault()
    }
    addEventListener('keydown', onKey)
    return () => removeEventListener('keydown', onKey)
  }, [])

  useEffect(() => {
    api<{ items: Component[] }>('GET', '/components?limit=200')
      .then((page) => setComponents(page.items))
      .catch((error: unknown) => setMessage(String((error as Error).message)))
    if (workflowId !== undefined) {
      api<Workflow>('GET', `/workflows/${encodeURIComponent(workflowId)}`)
        .then(async (workflow) => {
          const loaded = toDraft(workflow)
          setSaved(workflow)
          setDraftState(loaded)
          setPositions(await layoutTasks(loaded.tasks))
          setLayoutVersion((n) => n + 1)
        })
        .catch((error: unknown) => setMessage(String((error as Error).message)))
    }
  }, [workflowId])

  // Validation as you edit (debounced): the server's own validator.
  useEffect(() => {
    if (draft.tasks.length === 0) {
      setProblems([])
      return
    }
    const timer = setTimeout(() => {
      api<{ valid: boolean; errors?: { field?: string; message: string; task?: string }[] }>(
        'POST',
        '/workflows/validate',
        draft,
      )
        .then((answer) => setProblems((answer.errors ?? []).map((p) => locate(p, draft))))
        .catch((error: unknown) => {
          if (error instanceof ApiError && error.body.details?.errors !== undefined)
            setProblems(error.body.details.errors.map((p) => locate(p, draft)))
        })
    }, 400)
    return () => clearTimeout(timer)
  }, [draft])

  const problemFor = (task: string, field?: string): string | undefined =>
    problems
      .filter((p) => p.task === task && (field === undefined || p.field.startsWith(field)))
      .map((p) => (field === undefined && p.field !== '' ? `${p.field}: ${p.message}` : p.message))
      .join('; ') || undefined

  const [sizes, onSizes] = useNodeSizes()
  const nodes: Node[] = useMemo(
    () =>
      draft.tasks.map((task, index) => ({
        id: task.name,
        type: 'task',
        position: positions[task.name] ?? { x: 40 + (index % 4) * 220, y: 40 + Math.floor(index / 4) * 120 },
        measured: sizes[task.name],
        selected: task.name === selected,
        data: {
          name: task.name,
          subtitle: `${task.component}.${task.action}`,
          error: problemFor(task.name),
        } satisfies TaskNodeData,
      })),
    [draft, positions, sizes, selected, problems],
  )
  const edges: Edge[] = useMemo(
    () =>
      draft.tasks.flatMap((task) =>
        (task.depends_on ?? []).map((dep) => ({
          id: `${dep}->${task.name}`,
          source: dep,
          target: task.name,
          animated: false,
        })),
      ),
    [draft],
  )

  const onNodesChange = (changes: NodeChange[]): void => {
    onSizes(changes)
    const moved: Positions = {}
    for (const change of changes) {
      if (change.type === 'position' && change.position !== undefined) moved[change.id] = change.position
      if (change.type === 'select' && change.selected) setSelected(change.id)
      if (change.type === 'remove') removeTask(change.id)
    }
    if (Object.keys(moved).length > 0) setPositions((p) => ({ ...p, ...moved }))
  }

  const onConnect = (connection: Connection): void => {
    if (connection.source === connection.target) return
    setDraft((d) => ({
      ...d,
      tasks: d.tasks.map((t) =>
        t.name === connection.target && !(t.depends_on ?? []).includes(connection.source)
          ? { ...t, depends_on: [...(t.depends_on ?? []), connection.source] }
          : t,
      ),
    }))
  }

  const onEdgesDelete = (deleted: Edge[]): void => {
    setDraft((d) => ({
      ...d,
      tasks: d.tasks.map((t) => {
        const gone = deleted.filter((e) => e.target === t.name).map((e) => e.source)
        return gone.length === 0
          ? t
          : { ...t, depends_on: (t.depends_on ?? []).filter((x) => !gone.includes(x)) }
      }),
    }))
  }

  const addTask = (component: string, action: string): void => {
    const base = action.replace(/[^A-Za-z0-9_]/g, '_')
    let n = 1
    while (draft.tasks.some((t) => t.name === `${base}_${n}`)) n += 1
    const name = `${base}_${n}`
    const index = draft.tasks.length
    setPositions((p) => ({
      ...p,
      [name]: { x: 40 + (index % 4) * 220, y: 40 + Math.floor(index / 4) * 120 },
    }))
    setDraft((d) => ({ ...d, tasks: [...d.tasks, { name, component, action, input: {} }] }))
    setSelected(name)
    setLayoutVersion((v) => v + 1)
  }

  function removeTask(name: string): void {
    setDraft((d) => ({
      ...d,
      tasks: d.tasks
        .filter((t) => t.name !== name)
        .map((t) => ({ ...t, depends_on: (t.depends_on ?? []).filter((x) => x !== name) })),
    }))
    setSelected(undefined)
  }

  const updateTask = (name: string, patch: Partial<TaskDef>): void => {
    setDraft((d) => {
      const renamed = patch.name !== undefined && patch.name !== name ? patch.name : undefined
      if (renamed !== undefined) {
        setPositions((p) => ({ ...p, [renamed]: p[name] ?? { x: 0, y: 0 } }))
        setSelected(renamed)
      }
      return {
        ...d,
        tasks: d.tasks.map((t) => {
          let next = t.name === name ? { ...t, ...patch } : t
          if (renamed !== undefined && (next.depends_on ?? []).includes(name))
            next = { ...next, depends_on: (next.depends_on ?? []).map((x) => (x === name ? renamed : x)) }
          for (const key of Object.keys(next) as (keyof TaskDef)[])
            if (next[key] === undefined) delete (next as Record<string, unknown>)[key as string]
          return next
        }),
      }
    })
  }

  const autoLayout = async (): Promise<void> => {
    setPositions(await layoutTasks(draft.tasks))
    setLayoutVersion((n) => n + 1)
  }

  const save = async (publish: boolean): Promise<void> => {
    setMessage('')
    try {
      let answer: Workflow
      if (saved?.workflow_id === undefined) answer = await api<Workflow>('POST', '/workflows', draft)
      else if (publish) answer = await api<Workflow>('PUT', `/workflows/${saved.workflow_id}`, draft)
      else answer = await api<Workflow>('POST', `/workflows/${saved.workflow_id}/draft`, draft)
      setSaved(answer)
      setProblems([])
      setMessage(`Saved ${publish ? 'and published' : 'as draft'} (revision ${answer.revision ?? '?'})`)
      if (workflowId === undefined && answer.workflow_id !== undefined)
        history.replaceState(null, '', `#/designer/${answer.workflow_id}`)
    } catch (error) {
      if (error instanceof ApiError && error.body.details?.errors !== undefined)
        setProblems(error.body.details.errors.map((p) => locate(p, draft)))
      setMessage(`Not saved: ${(error as Error).message}`)
    }
  }

  const task = draft.tasks.find((t) => t.name === selected)
  const actionInfo = components
    .find((c) => c.name === task?.component)
    ?.actions.find((a) => a.name === task?.action)
  const generalProblems = problems.filter((p) => p.task === undefined)

  return (
    <div className="designer">
      <aside className="palette" aria-label="Component palette">
        <h2>Palette</h2>
        <input
          aria-label="Search actions"
          placeholder="Search actions"
          value={filter}
          onChange={(e) => setFilter(e.target.value)}
        />
        {components.map((c) => (
          <section key={c.name}>
            <h3 title={c.description}>{c.name}</h3>
            {c.actions
              .filter((a) => filter === '' || `${c.name}.${a.name}`.includes(filter))
              .map((a) => (
                <button
                  type="button"
                  key={a.name}
                  className="palette-item"
                  aria-label={`Add ${c.name}.${a.name}`}
                  title={a.description}
                  onClick={() => addTask(c.name, a.name)}
                >
                  {a.name}
                  <small>{a.description?.slice(0, 60)}</small>
                </button>
              ))}
          </section>
        ))}
      </aside>
      <section className="canvas-area">
        <div className="toolbar" role="toolbar" aria-label="Designer">
          <label>
            Workflow name{' '}
            <input value={draft.name} onChange={(e) => setDraft({ ...draft, name: e.target.value })} />
          </label>
          <button type="button" onClick={undo} disabled={undoStack.current.past.length === 0}>
            Undo
          </button>
          <button type="button" onClick={redo} disabled={undoStack.current.future.length === 0}>
            Redo
          </button>
          <button type="button" onClick={() => void autoLayout()}>
            Auto layout
          </button>
          <select
            aria-label="View"
            value={codeMode}
            onChange={(e) => setCodeMode(e.target.value as typeof codeMode)}
          >
            <option value="graph">Graph</option>
            <option value="json">JSON</option>
            <option value="yaml">YAML</option>
          </select>
          <button type="button" onClick={() => void save(false)} disabled={saved === undefined}>
            Save draft
          </button>
          <button type="button" onClick={() => void save(true)}>
            Save
          </button>
          <button type="button" onClick={() => setRunning(true)} disabled={saved?.workflow_id === undefined}>
            Run
          </button>
        </div>
        {message !== '' && (
          <p className="message" role="status">
            {message}
          </p>
        )}
        {generalProblems.length > 0 && (
          <ul className="problems" aria-label="Validation errors">
            {generalProblems.map((p, i) => (
              <li key={i}>
                {p.field}: {p.message}
              </li>
            ))}
          </ul>
        )}
        {codeMode === 'graph' ? (
          <div className="canvas">
            <ReactFlow
              nodes={nodes}
              edges={edges}
              nodeTypes={nodeTypes}
              onNodesChange={onNodesChange}
              onConnect={onConnect}
              onEdgesDelete={onEdgesDelete}
              onPaneClick={() => setSelected(undefined)}
              onlyRenderVisibleElements={nodes.length > 200}
              fitView
              fitViewOptions={{ maxZoom: 1 }}
              colorMode={document.documentElement.dataset.theme === 'dark' ? 'dark' : 'light'}
              minZoom={0.05}
              deleteKeyCode={['Delete']}
            >
              <FitView version={layoutVersion} />
              <Background />
              <Controls />
              <MiniMap pannable zoomable />
            </ReactFlow>
          </div>
        ) : (
          <CodeView draft={draft} mode={codeMode} onChange={(d) => setDraft(d)} />
        )}
      </section>
      {task !== undefined && (
        <TaskPanel
          key={task.name}
          task={task}
          upstream={upstreamOf(draft.tasks, task.name)}
          inputNames={Object.keys((draft.input_schema?.properties as Record<string, Json>) ?? {})}
          components={components}
          description={actionInfo?.description}
          schema={actionInfo?.input_schema}
          problemFor={(field) => problemFor(task.name, field)}
          onChange={(patch) => updateTask(task.name, patch)}
          onDelete={() => removeTask(task.name)}
        />
      )}
      {running && saved?.workflow_id !== undefined && (
        <RunDialog
          workflow={saved}
          onClose={() => setRunning(false)}
          onStarted={(id) => navigate(`/executions/${id}`)}
        />
      )}
    </div>
  )
}

function CodeView({
  draft,
  mode,
  onChange,
}: {
  draft: Draft
  mode: 'json' | 'yaml'
  onChange: (d: Draft) => void
}) {
  const render = (d: Draft): string => (mode === 'json' ? JSON.stringify(d, null, 2) : YAML.stringify(d))
  const [text, setText] = useState(render(draft))
  const [error, setError] = useState('')
  const last = useRef(draft)
  useEffect(() => {
    if (draft !== last.current) {
      last.current = draft
      setText(render(draft))
    }
  }, [draft, mode])
  return (
    <div className="code-view">
      <textarea
        aria-label={`Workflow ${mode.toUpperCase()}`}
        spellCheck={false}
        value={text}
        onChange={(e) => {
          setText(e.target.value)
          try {
            const parsed = (
              mode === 'json' ? JSON.parse(e.target.value) : YAML.parse(e.target.value)
            ) as Workflow
            const next = toDraft(parsed)
            last.current = next
            onChange(next)
            setError('')
          } catch (problem) {
            setError(String((problem as Error).message))
          }
        }}
      />
      {error !== '' && <p role="alert">{error}</p>}
    </div>
  )
}

/** The tasks `name` depends on, directly or not, in definition order: the ones its expressions may read. */
function upstreamOf(tasks: readonly TaskDef[], name: string): string[] {
  const byName = new Map(tasks.map((t) => [t.name, t]))
  const seen = new Set<string>()
  const pending = [...(byName.get(name)?.depends_on ?? [])]
  while (pending.length > 0) {
    const next = pending.pop()!
    if (seen.has(next) || next === name || !byName.has(next)) continue
    seen.add(next)
    pending.push(...(byName.get(next)?.depends_on ?? []))
  }
  return tasks.filter((t) => seen.has(t.name)).map((t) => t.name)
}

function TaskPanel(props: {
  task: TaskDef
  upstream: string[]
  inputNames: string[]
  components: Component[]
  description?: string
  schema?: Record<string, Json>
  problemFor: (field: string) => string | undefined
  onChange: (patch: Partial<TaskDef>) => void
  onDelete: () => void
}) {
  const { task, onChange, problemFor } = props
  const [name, setName] = useState(task.name)
  const [inputText, setInputText] = useState(JSON.stringify(task.input ?? {}, null, 2))
  const [inputError, setInputError] = useState('')
  const component = props.components.find((c) => c.name === task.component)
  const suggestions = [
    ...props.inputNames.map((n) => `\${input.${n}}`),
    ...props.upstream.map((n) => `\${tasks.${n}.output}`),
  ]
  useEffect(() => {
    try {
      if (JSON.stringify(JSON.parse(inputText)) === JSON.stringify(task.input ?? {})) return
    } catch {
      // being edited: replaced by the new value below
    }
    setInputText(JSON.stringify(task.input ?? {}, null, 2))
  }, [task.input])
  const inputArea = useRef<HTMLTextAreaElement>(null)
  const lastField = useRef<{ key: string; type?: string; element: HTMLInputElement } | undefined>(undefined)
  const inputObject =
    typeof task.input === 'object' && task.input !== null && !Array.isArray(task.input)
      ? (task.input as Record<string, Json>)
      : {}
  const properties = (props.schema?.properties ?? {}) as Record<
    string,
    { type?: string; description?: string; enum?: Json[] }
  >
  const required = (props.schema?.required ?? []) as string[]
  const formFields = Object.entries(properties).filter(
    ([, spec]) => spec.type !== 'object' && spec.type !== 'array',
  )
  const setInputJson = (text: string): void => {
    setInputText(text)
    try {
      onChange({ input: JSON.parse(text) as Json })
      setInputError('')
    } catch (problem) {
      setInputError(String((problem as Error).message))
    }
  }
  const setField = (key: string, text: string, type?: string): void => {
    const next: Record<string, Json> = { ...inputObject }
    if (text === '') delete next[key]
    else if ((type === 'integer' || type === 'number') && !text.includes('${') && !Number.isNaN(Number(text)))
      next[key] = Number(text)
    else if (type === 'boolean' && (text === 'true' || text === 'false')) next[key] = text === 'true'
    else next[key] = text
    setInputText(JSON.stringify(next, null, 2))
    setInputError('')
    onChange({ input: next })
  }
  const insertReference = (reference: string): void => {
    const field = lastField.current
    if (field !== undefined) {
      const at = field.element.selectionStart ?? field.element.value.length
      setField(
        field.key,
        field.element.value.slice(0, at) + reference + field.element.value.slice(at),
        field.type,
      )
      return
    }
    const area = inputArea.current
    const text = inputText
    const at = area?.selectionStart ?? text.length
    const end = area?.selectionEnd ?? at
    // Inside a JSON string the reference goes in as is; elsewhere it becomes a JSON string value.
    const quotes = text.slice(0, at).match(/(?<!\\)"/g) ?? []
    const piece = quotes.length % 2 === 1 ? reference : JSON.stringify(reference)
    setInputJson(text.slice(0, at) + piece + text.slice(end))
  }
  const fieldError = (field: string) => {
    const problem = problemFor(field)
    return problem === undefined ? null : (
      <span className="field-error" role="alert">
        {problem}
      </span>
    )
  }
  const retry = typeof task.retry === 'number' ? task.retry : (task.retry?.max_attempts as number | undefined)
  return (
    <aside className="side-panel" aria-label="Task editor">
      <h2>Task {task.name}</h2>
      {props.description !== undefined && <p className="muted">{props.description}</p>}
      <label>
        Task name
        <input
          value={name}
          onChange={(e) => setName(e.target.value)}
          onBlur={() => name !== task.name && name.trim() !== '' && onChange({ name: name.trim() })}
        />
      </label>
      {fieldError('name')}
      <label>
        Component
        <select value={task.component} onChange={(e) => onChange({ component: e.target.value })}>
          {!props.components.some((c) => c.name === task.component) && <option>{task.component}</option>}
          {props.components.map((c) => (
            <option key={c.name}>{c.name}</option>
          ))}
        </select>
      </label>
      {fieldError('component')}
      <label>
        Action
        <select value={task.action} onChange={(e) => onChange({ action: e.target.value })}>
          {!(component?.actions ?? []).some((a) => a.name === task.action) && <option>{task.action}</option>}
          {(component?.actions ?? []).map((a) => (
            <option key={a.name}>{a.name}</option>
          ))}
        </select>
      </label>
      {fieldError('action')}
      {formFields.length > 0 && (
        <fieldset className="schema-form">
          <legend>Input</legend>
          {formFields.map(([key, spec]) => {
            const current = inputObject[key]
            const text =
              current === undefined ? '' : typeof current === 'string' ? current : JSON.stringify(current)
            return (
              <label key={key}>
                {key}
                {required.includes(key) ? ' *' : ''}
                {spec.enum !== undefined ? (
                  <select value={text} onChange={(e) => setField(key, e.target.value, spec.type)}>
                    <option value="">—</option>
                    {spec.enum.map((v) => (
                      <option key={String(v)}>{String(v)}</option>
                    ))}
                  </select>
                ) : (
                  <input
                    value={text}
                    placeholder={spec.type}
                    onFocus={(e) => (lastField.current = { key, type: spec.type, element: e.target })}
                    onChange={(e) => setField(key, e.target.value, spec.type)}
                  />
                )}
                {spec.description !== undefined && <small>{spec.description}</small>}
              </label>
            )
          })}
        </fieldset>
      )}
      <label>
        Input (JSON)
        <textarea
          ref={inputArea}
          rows={8}
          spellCheck={false}
          value={inputText}
          onFocus={() => (lastField.current = undefined)}
          onChange={(e) => setInputJson(e.target.value)}
        />
      </label>
      {inputError !== '' && (
        <span className="field-error" role="alert">
          {inputError}
        </span>
      )}
      {fieldError('input')}
      {props.schema !== undefined && (
        <details>
          <summary>Input schema</summary>
          <pre>{JSON.stringify(props.schema, null, 2)}</pre>
        </details>
      )}
      {suggestions.length > 0 && (
        <div className="refs" role="group" aria-label="Insert a reference">
          {suggestions.map((s) => (
            <button type="button" key={s} title="Insert at the cursor" onClick={() => insertReference(s)}>
              {s}
            </button>
          ))}
        </div>
      )}
      <label>
        Depends on
        <input
          value={(task.depends_on ?? []).join(', ')}
          onChange={(e) =>
            onChange({
              depends_on: e.target.value
                .split(',')
                .map((s) => s.trim())
                .filter((s) => s !== ''),
            })
          }
        />
      </label>
      {fieldError('depends_on')}
      <label>
        Retries
        <input
          type="number"
          min={0}
          value={retry ?? ''}
          onChange={(e) => onChange({ retry: e.target.value === '' ? undefined : Number(e.target.value) })}
        />
      </label>
      {fieldError('retry')}
      <label>
        Timeout (seconds)
        <input
          type="number"
          min={0}
          value={task.timeout ?? ''}
          onChange={(e) => onChange({ timeout: e.target.value === '' ? undefined : Number(e.target.value) })}
        />
      </label>
      {fieldError('timeout')}
      <label>
        When
        <input
          value={task.when ?? ''}
          placeholder="${tasks.a.output.ok}"
          onChange={(e) => onChange({ when: e.target.value === '' ? undefined : e.target.value })}
        />
      </label>
      {fieldError('when')}
      <label>
        For each
        <input
          value={
            task.for_each === undefined
              ? ''
              : typeof task.for_each === 'string'
                ? task.for_each
                : JSON.stringify(task.for_each)
          }
          onChange={(e) => onChange({ for_each: e.target.value === '' ? undefined : e.target.value })}
        />
      </label>
      {fieldError('for_each')}
      <button type="button" className="danger" onClick={props.onDelete}>
        Delete task
      </button>
    </aside>
  )
}
