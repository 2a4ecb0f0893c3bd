import { useState } from 'react'
import { api, type Execution, type Json, type Workflow } from './api.ts'

/** Run a workflow: a form generated from its input_schema (falls back to raw JSON). */
export function RunDialog(props: {
  workflow: Workflow
  onClose: () => void
  onStarted: (id: string) => void
}) {
  const schema = props.workflow.input_schema ?? {}
  const properties = (schema.properties ?? {}) as Record<
    string,
    { type?: string; description?: string; default?: Json }
  >
  const required = (schema.required ?? []) as string[]
  const [values, setValues] = useState<Record<string, string>>(
    Object.fromEntries(
      Object.entries(properties).map(([k, p]) => [k, p.default === undefined ? '' : String(p.default)]),
    ),
  )
  const [raw, setRaw] = useState('{}')
  const [error, setError] = useState('')
  const names = Object.keys(properties)
  const start = async (): Promise<void> => {
    try {
      let input: Record<string, Json> = {}
      if (names.length === 0) input = JSON.parse(raw) as Record<string, Json>
      for (const name of names) {
        const text = values[name] ?? ''
        if (text === '') continue
        const type = properties[name]?.type
        input[name] =
          type === 'number' || type === 'integer'
            ? Number(text)
            : type === 'boolean'
              ? text === 'true'
              : type === 'object' || type === 'array'
                ? (JSON.parse(text) as Json)
                : text
      }
      const execution = await api<Execution>('POST', `/workflows/${props.workflow.workflow_id}/execute`, {
        input,
      })
      props.onStarted(execution.execution_id)
    } catch (problem) {
      setError(String((problem as Error).message))
    }
  }
  return (
    <div className="dialog-backdrop">
      <form
        role="dialog"
        aria-label="Run workflow"
        className="dialog"
        onSubmit={(e) => {
          e.preventDefault()
          void start()
        }}
      >
        <h2>Run {props.workflow.name}</h2>
        {names.map((name) => (
          <label key={name}>
            {name}
            {required.includes(name) ? ' *' : ''}
            {properties[name]?.type === 'boolean' ? (
              <select value={values[name]} onChange={(e) => setValues({ ...values, [name]: e.target.value })}>
                <option value="">—</option>
                <option>true</option>
                <option>false</option>
              </select>
            ) : (
              <input
                value={values[name] ?? ''}
                required={required.includes(name)}
                onChange={(e) => setValues({ ...values, [name]: e.target.value })}
              />
            )}
            {properties[name]?.description !== undefined && <small>{properties[name]?.description}</small>}
          </label>
        ))}
        {names.length === 0 && (
          <label>
            Input (JSON)
            <textarea rows={6} value={raw} onChange={(e) => setRaw(e.target.value)} />
          </label>
        )}
        {error !== '' && <p role="alert">{error}</p>}
        <div className="row">
          <button type="submit">Start run</button>
          <button type="button" onClick={props.onClose}>
            Close
          </button>
        </div>
      </form>
    </div>
  )
}
