/** The Harmonia REST client the UI uses: the API key from localStorage, one error shape, WS with reconnect. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json }

export interface ApiErrorBody {
  code: string
  message: string
  details?: { errors?: { field: string; message: string }[] } & Record<string, unknown>
}

export class ApiError extends Error {
  readonly status: number
  readonly body: ApiErrorBody
  constructor(status: number, body: ApiErrorBody) {
    super(body.message)
    this.status = status
    this.body = body
  }
}

const KEY = 'harmonia.apiKey'

export function getApiKey(): string {
  return localStorage.getItem(KEY) ?? ''
}

export function setApiKey(key: string): void {
  if (key === '') localStorage.removeItem(KEY)
  else localStorage.setItem(KEY, key)
}

type AuthListener = (status: number) => void
const authListeners = new Set<AuthListener>()
export function onAuthProblem(listener: AuthListener): () => void {
  authListeners.add(listener)
  return () => authListeners.delete(listener)
}

export async function api<T = unknown>(method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' }
  const key = getApiKey()
  if (key !== '') headers['x-api-key'] = key
  if (body !== undefined) headers['content-type'] = 'application/json'
  let response: Response
  try {
    response = await fetch(`/api/v1${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    })
  } catch {
    throw new ApiError(0, { code: 'unreachable', message: 'the Harmonia server cannot be reached' })
  }
  const text = await response.text()
  const parsed = text === '' ? undefined : (JSON.parse(text) as unknown)
  if (!response.ok) {
    const error = (parsed as { error?: ApiErrorBody } | undefined)?.error ?? {
      code: String(response.status),
      message: response.statusText,
    }
    if (response.status === 401 || response.status === 403) for (const l of authListeners) l(response.status)
    throw new ApiError(response.status, error)
  }
  return parsed as T
}

/** A route another part of Harmonia may not have: undefined on 404. */
export async function optional<T>(path: string): Promise<T | undefined> {
  try {
    return await api<T>('GET', path)
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) return undefined
    throw error
  }
}

export interface Page<T> {
  items: T[]
  total: number
  page: number
  limit: number
}

export interface TaskDef {
  name: string
  component: string
  action: string
  input?: Json
  depends_on?: string[]
  retry?: number | Record<string, Json>
  timeout?: number
  when?: string
  for_each?: string | Json[]
  [key: string]: unknown
}

export interface Workflow {
  workflow_id?: string
  name: string
  description?: string
  version?: string
  input_schema?: Record<string, Json>
  tasks: TaskDef[] | Record<string, TaskDef>
  status?: string
  revision?: number
  updated_at?: string
  [key: string]: unknown
}

export interface TaskState {
  status: string
  started_at: string | null
  completed_at: string | null
  output: Json
  error: { code?: string; message?: string } | null
  attempts: number
  input?: Json
}

export interface Execution {
  execution_id: string
  workflow_id: string
  workflow_name?: string
  status: string
  input: Json
  output: Json
  error: { code?: string; message?: string; task?: string } | null
  created_at: string
  started_at: string | null
  completed_at: string | null
  task_status?: Record<string, TaskState>
}

export interface ExecEvent {
  type: string
  timestamp: string
  data: Record<string, Json>
  seq?: number
}

export interface ComponentAction {
  name: string
  description?: string
  input_schema?: Record<string, Json>
}

export interface Component {
  name: string
  description?: string
  kind?: string
  healthy?: boolean
  status?: string
  actions: ComponentAction[]
}

export function taskList(workflow: Workflow): TaskDef[] {
  return Array.isArray(workflow.tasks) ? workflow.tasks : Object.values(workflow.tasks)
}

/**
 * A WebSocket to `path` (e.g. `/ws/executions/x`) that reconnects with backoff while open; `onMessage`
 * gets each parsed message, `onState` whether it is connected.
 */
export function liveSocket(
  path: string,
  onMessage: (message: Record<string, unknown>) => void,
  onState: (connected: boolean) => void = () => {},
): () => void {
  let closed = false
  let socket: WebSocket | undefined
  let delay = 500
  let timer: ReturnType<typeof setTimeout> | undefined
  const open = (): void => {
    const key = getApiKey()
    const scheme = location.protocol === 'https:' ? 'wss' : 'ws'
    const sep = path.includes('?') ? '&' : '?'
    const url = `${scheme}://${location.host}${path}${key === '' ? '' : `${sep}api_key=${encodeURIComponent(key)}`}`
    socket = new WebSocket(url)
    socket.onopen = () => {
      delay = 500
      onState(true)
    }
    socket.onmessage = (event) => {
      try {
        onMessage(JSON.parse(String(event.data)) as Record<string, unknown>)
      } catch {
        // not JSON: ignore
      }
    }
    socket.onclose = () => {
      onState(false)
      if (closed) return
      timer = setTimeout(open, delay)
      delay = Math.min(delay * 2, 10_000)
    }
  }
  open()
  return () => {
    closed = true
    if (timer !== undefined) clearTimeout(timer)
    socket?.close()
  }
}

export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`
  return `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`
}
