import { useEffect, useState } from 'react'
import { getApiKey, onAuthProblem, setApiKey } from './api.ts'
import { Designer } from './Designer.tsx'
import { ExecutionDetail, ExecutionList } from './Executions.tsx'
import { Analytics, ComponentsPage, TriggersPage } from './Pages.tsx'
import { Templates } from './Templates.tsx'
import { WorkflowList } from './Workflows.tsx'

function useHash(): string {
  const [hash, setHash] = useState(location.hash.slice(1) || '/workflows')
  useEffect(() => {
    const update = (): void => setHash(location.hash.slice(1) || '/workflows')
    addEventListener('hashchange', update)
    return () => removeEventListener('hashchange', update)
  }, [])
  return hash
}

export function navigate(path: string): void {
  location.hash = path
}

const NAV = [
  ['/workflows', 'Workflows'],
  ['/executions', 'Executions'],
  ['/templates', 'Templates'],
  ['/triggers', 'Triggers'],
  ['/components', 'Components'],
  ['/analytics', 'Analytics'],
] as const

export function App() {
  const route = useHash()
  const [theme, setTheme] = useState(localStorage.getItem('harmonia.theme') ?? 'light')
  const [authProblem, setAuthProblem] = useState<number | undefined>()
  const [keyDraft, setKeyDraft] = useState(getApiKey())
  const [keyOpen, setKeyOpen] = useState(false)

  useEffect(() => {
    document.documentElement.dataset.theme = theme
    localStorage.setItem('harmonia.theme', theme)
  }, [theme])
  useEffect(() => onAuthProblem((status) => setAuthProblem(status)), [])

  const parts = route.split('/').filter((p) => p !== '')
  let page
  if (parts[0] === 'designer') page = <Designer key={parts[1] ?? 'new'} workflowId={parts[1]} />
  else if (parts[0] === 'executions' && parts[1] !== undefined)
    page = <ExecutionDetail key={parts[1]} executionId={parts[1]} />
  else if (parts[0] === 'executions') page = <ExecutionList />
  else if (parts[0] === 'templates') page = <Templates />
  else if (parts[0] === 'triggers') page = <TriggersPage />
  else if (parts[0] === 'components') page = <ComponentsPage />
  else if (parts[0] === 'analytics') page = <Analytics workflowId={parts[1]} />
  else page = <WorkflowList />

  return (
    <div className="shell">
      <header className="topbar">
        <a className="brand" href="#/workflows">
          Harmonia
        </a>
        <nav aria-label="Main">
          {NAV.map(([path, label]) => (
            <a key={path} href={`#${path}`} aria-current={route.startsWith(path) ? 'page' : undefined}>
              {label}
            </a>
          ))}
        </nav>
        <div className="spacer" />
        <button type="button" onClick={() => setTheme(theme === 'dark' ? 'light' : 'dark')}>
          {theme === 'dark' ? 'Light theme' : 'Dark theme'}
        </button>
        <button type="button" onClick={() => setKeyOpen(!keyOpen)} aria-expanded={keyOpen}>
          API key{getApiKey() === '' ? '' : ' ✓'}
        </button>
      </header>
      {(keyOpen || authProblem !== undefined) && (
        <form
          className="keybar"
          onSubmit={(event) => {
            event.preventDefault()
            setApiKey(keyDraft.trim())
            setAuthProblem(undefined)
            setKeyOpen(false)
            location.reload()
          }}
        >
          {authProblem === 401 && <span role="alert">The server needs an API key.</span>}
          {authProblem === 403 && <span role="alert">Your API key is not allowed to do that.</span>}
          <label>
            API key <input type="password" value={keyDraft} onChange={(e) => setKeyDraft(e.target.value)} />
          </label>
          <button type="submit">Save key</button>
          <button type="button" onClick={() => setAuthProblem(undefined)}>
            Dismiss
          </button>
        </form>
      )}
      <main>{page}</main>
    </div>
  )
}
