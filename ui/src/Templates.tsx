import { useEffect, useState } from 'react'
import { navigate } from './App.tsx'
import { ApiError, api, type Json, type Workflow } from './api.ts'

interface Parameter {
  type?: string
  required?: boolean
  default?: Json
  options?: Json[]
  enum?: Json[]
  description?: string
  title?: string
}

interface Template {
  template_id: string
  name: string
  description?: string
  version?: number
  tags?: string[]
  category?: string
  usage_count?: number
  parameters?: Record<string, Parameter>
  updated_at?: string
}

function items<T>(answer: unknown): T[] {
  if (Array.isArray(answer)) return answer as T[]
  const page = answer as { items?: T[]; templates?: T[]; versions?: T[] }
  return page.items ?? page.templates ?? page.versions ?? []
}

export function Templates() {
  const [templates, setTemplates] = useState<Template[] | undefined>()
  const [missing, setMissing] = useState(false)
  const [search, setSearch] = useState('')
  const [chosen, setChosen] = useState<Template | undefined>()
  const [message, setMessage] = useState('')
  const [tick, setTick] = useState(0)

  useEffect(() => {
    api<unknown>('GET', '/templates?limit=100')
      .then((answer) => setTemplates(items<Template>(answer)))
      .catch((error: unknown) => {
        if (error instanceof ApiError && error.status === 404) setMissing(true)
        else setMessage((error as Error).message)
      })
  }, [tick])

  const importFile = async (file: File): Promise<void> => {
    setMessage('')
    try {
      const text = await file.text()
      const body = JSON.parse(text) as unknown
      const answer = await api<{ template_id: string; name?: string }>('POST', '/templates/import', body)
      setMessage(`Imported template ${answer.name ?? answer.template_id}`)
      setTick((n) => n + 1)
    } catch (error) {
      setMessage(`Import failed: ${(error as Error).message}`)
    }
  }

  const exportTemplate = async (template: Template): Promise<void> => {
    try {
      const file = await api<unknown>('GET', `/templates/${encodeURIComponent(template.template_id)}/export`)
      const url = URL.createObjectURL(new Blob([JSON.stringify(file, null, 2)], { type: 'application/json' }))
      const link = document.createElement('a')
      link.href = url
      link.download = `${template.name.replace(/[^A-Za-z0-9_-]+/g, '_')}.json`
      link.click()
      URL.revokeObjectURL(url)
    } catch (error) {
      setMessage(`Export failed: ${(error as Error).message}`)
    }
  }

  if (missing) return <p className="page muted">Templates are not available on this server.</p>
  const needle = search.toLowerCase()
  const shown = (templates ?? []).filter(
    (t) =>
      needle === '' ||
      t.name.toLowerCase().includes(needle) ||
      (t.description ?? '').toLowerCase().includes(needle) ||
      (t.tags ?? []).some((tag) => tag.toLowerCase().includes(needle)),
  )
  return (
    <div className="page">
      <div className="row">
        <h1>Templates</h1>
        <div className="spacer" />
        <input
          aria-label="Search templates"
          placeholder="Search"
          value={search}
          onChange={(e) => setSearch(e.target.value)}
        />
        <label className="file-button">
          Import Tekton template file
          <input
            type="file"
            accept=".json,application/json"
            onChange={(e) => {
              const file = e.target.files?.[0]
              if (file !== undefined) void importFile(file)
              e.target.value = ''
            }}
          />
        </label>
      </div>
      {message !== '' && (
        <p role="status" className="message">
          {message}
        </p>
      )}
      <div className="cards">
        {shown.map((t) => (
          <article key={t.template_id} className="card" aria-label={`Template ${t.name}`}>
            <h2>{t.name}</h2>
            <p>{t.description}</p>
            <div className="tags">
              {(t.tags ?? []).map((tag) => (
                <span key={tag} className="tag">
                  {tag}
                </span>
              ))}
            </div>
            <p className="muted">
              version {t.version ?? 1} · used {t.usage_count ?? 0} times
            </p>
            <div className="row">
              <button type="button" onClick={() => setChosen(t)}>
                Use template
              </button>
              <button type="button" onClick={() => void exportTemplate(t)}>
                Export
              </button>
            </div>
          </article>
        ))}
      </div>
      {templates !== undefined && shown.length === 0 && <p className="muted">No templates match.</p>}
      {chosen !== undefined && <Instantiate template={chosen} onClose={() => setChosen(undefined)} />}
    </div>
  )
}

function Instantiate({ template, onClose }: { template: Template; onClose: () => void }) {
  const parameters = template.parameters ?? {}
  const [name, setName] = useState(template.name)
  const [values, setValues] = useState<Record<string, string>>(
    Object.fromEntries(
      Object.entries(parameters).map(([k, p]) => [
        k,
        p.default === undefined || p.default === null
          ? ''
          : typeof p.default === 'string'
            ? p.default
            : JSON.stringify(p.default),
      ]),
    ),
  )
  const [error, setError] = useState('')
  const [fieldErrors, setFieldErrors] = useState<Record<string, string>>({})
  const [versions, setVersions] = useState<Template[] | undefined>()
  const [version, setVersion] = useState('')

  useEffect(() => {
    api<unknown>('GET', `/templates/${encodeURIComponent(template.template_id)}/versions`)
      .then((answer) => setVersions(items<Template>(answer)))
      .catch(() => setVersions(undefined))
  }, [template.template_id])

  const submit = async (): Promise<void> => {
    setError('')
    const parameterValues: Record<string, Json> = {}
    for (const [key, spec] of Object.entries(parameters)) {
      const text = values[key] ?? ''
      if (text === '') continue
      const type = spec.type ?? 'string'
      try {
        parameterValues[key] =
          type === 'number' || type === 'integer'
            ? Number(text)
            : type === 'boolean'
              ? text === 'true'
              : type === 'object' || type === 'array'
                ? (JSON.parse(text) as Json)
                : text
      } catch {
        setFieldErrors({ [key]: `${key}: expected JSON (${type})` })
        return
      }
    }
    try {
      const workflow = await api<Workflow>(
        'POST',
        `/templates/${encodeURIComponent(template.template_id)}/instantiate`,
        {
          name,
          parameter_values: parameterValues,
        },
      )
      navigate(`/designer/${workflow.workflow_id}`)
    } catch (problem) {
      const errors: Record<string, string> = {}
      if (problem instanceof ApiError)
        for (const e of problem.body.details?.errors ?? []) {
          const key = Object.keys(parameters).find((k) => e.field.includes(k))
          if (key !== undefined) errors[key] = e.message
        }
      setFieldErrors(errors)
      setError((problem as Error).message)
    }
  }

  return (
    <div className="dialog-backdrop">
      <form
        role="dialog"
        aria-label={`Instantiate ${template.name}`}
        className="dialog"
        onSubmit={(e) => {
          e.preventDefault()
          void submit()
        }}
      >
        <h2>New workflow from {template.name}</h2>
        <label>
          Workflow name
          <input value={name} onChange={(e) => setName(e.target.value)} required />
        </label>
        {Object.entries(parameters).map(([key, spec]) => {
          const choices = spec.options ?? spec.enum
          const label = spec.title ?? key
          return (
            <label key={key}>
              {label}
              {spec.required === true ? ' *' : ''}
              {choices !== undefined ? (
                <select value={values[key]} onChange={(e) => setValues({ ...values, [key]: e.target.value })}>
                  <option value="">—</option>
                  {choices.map((c) => (
                    <option key={String(c)}>{String(c)}</option>
                  ))}
                </select>
              ) : spec.type === 'text' || spec.type === 'object' || spec.type === 'array' ? (
                <textarea
                  rows={3}
                  value={values[key]}
                  required={spec.required === true && spec.default === undefined}
                  onChange={(e) => setValues({ ...values, [key]: e.target.value })}
                />
              ) : spec.type === 'boolean' ? (
                <select value={values[key]} onChange={(e) => setValues({ ...values, [key]: e.target.value })}>
                  <option value="">—</option>
                  <option>true</option>
                  <option>false</option>
                </select>
              ) : (
                <input
                  type={spec.type === 'number' || spec.type === 'integer' ? 'number' : 'text'}
                  value={values[key]}
                  required={spec.required === true && spec.default === undefined}
                  onChange={(e) => setValues({ ...values, [key]: e.target.value })}
                />
              )}
              {spec.description !== undefined && <small>{spec.description}</small>}
              {fieldErrors[key] !== undefined && (
                <span className="field-error" role="alert">
                  {fieldErrors[key]}
                </span>
              )}
            </label>
          )
        })}
        {versions !== undefined && versions.length > 1 && (
          <label>
            Version
            <select value={version} onChange={(e) => setVersion(e.target.value)}>
              <option value="">latest ({template.version ?? versions.length})</option>
              {versions.map((v) => (
                <option key={v.version} value={String(v.version)}>
                  version {v.version} · {v.updated_at}
                </option>
              ))}
            </select>
          </label>
        )}
        {error !== '' && <p role="alert">{error}</p>}
        <div className="row">
          <button type="submit">Create workflow</button>
          <button type="button" onClick={onClose}>
            Close
          </button>
        </div>
      </form>
    </div>
  )
}
