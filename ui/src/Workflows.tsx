import { useEffect, useState } from 'react'
import { navigate } from './App.tsx'
import { api, liveSocket, type Execution, type Page, type Workflow } from './api.ts'
import { RunDialog } from './RunDialog.tsx'

export function WorkflowList() {
  const [items, setItems] = useState<Workflow[]>([])
  const [runs, setRuns] = useState<Record<string, { count: number; last?: string }>>({})
  const [search, setSearch] = useState('')
  const [error, setError] = useState('')
  const [run, setRun] = useState<Workflow | undefined>()
  const [tick, setTick] = useState(0)

  useEffect(() => liveSocket('/ws/workflows', () => setTick((n) => n + 1)), [])
  useEffect(() => {
    api<Page<Workflow>>(
      'GET',
      `/workflows?limit=100${search === '' ? '' : `&search=${encodeURIComponent(search)}`}`,
    )
      .then((page) => setItems(page.items))
      .catch((e: unknown) => setError((e as Error).message))
    api<Page<Execution>>('GET', '/executions?limit=100')
      .then((page) => {
        const counts: Record<string, { count: number; last?: string }> = {}
        for (const e of page.items) {
          const entry = (counts[e.workflow_id] ??= { count: 0 })
          entry.count += 1
          entry.last ??= e.status
        }
        setRuns(counts)
      })
      .catch(() => {})
  }, [search, tick])

  const shown = items.filter((w) => search === '' || w.name.toLowerCase().includes(search.toLowerCase()))
  return (
    <div className="page">
      <div className="row">
        <h1>Workflows</h1>
        <div className="spacer" />
        <input
          aria-label="Search workflows"
          placeholder="Search"
          value={search}
          onChange={(e) => setSearch(e.target.value)}
        />
        <button type="button" onClick={() => navigate('/designer')}>
          New workflow
        </button>
      </div>
      {error !== '' && <p role="alert">{error}</p>}
      <table>
        <thead>
          <tr>
            <th>Name</th>
            <th>Revision</th>
            <th>Status</th>
            <th>Last run</th>
            <th>Runs (recent)</th>
            <th>Actions</th>
          </tr>
        </thead>
        <tbody>
          {shown.map((w) => (
            <tr key={w.workflow_id}>
              <td>
                <a href={`#/designer/${w.workflow_id}`}>{w.name}</a>
              </td>
              <td>{w.revision}</td>
              <td>{w.status}</td>
              <td>
                <span className={`badge status-${runs[w.workflow_id ?? '']?.last ?? 'none'}`}>
                  {runs[w.workflow_id ?? '']?.last ?? '—'}
                </span>
              </td>
              <td>{runs[w.workflow_id ?? '']?.count ?? 0}</td>
              <td className="row">
                <button type="button" onClick={() => setRun(w)} aria-label={`Run ${w.name}`}>
                  Run
                </button>
                <a href={`#/analytics/${w.workflow_id}`}>Analytics</a>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {shown.length === 0 && (
        <p className="muted">No workflows yet: create one with “New workflow” or from a template.</p>
      )}
      {run !== undefined && (
        <RunDialog
          workflow={run}
          onClose={() => setRun(undefined)}
          onStarted={(id) => navigate(`/executions/${id}`)}
        />
      )}
    </div>
  )
}
