/**
 * Hermes, Tekton's service registry, as an HTTP client: register, heartbeat, unregister, and list the
 * components it knows (their `endpoint` is the `base_url` Harmonia calls them at). Hermes serves under
 * `/api`; `HERMES_URL` may name the server (`http://host:8001`) or its API (`http://host:8001/api`).
 */
import type { JsonObject, JsonValue } from '../core/model.ts'

export interface HermesRegistration {
  component_id: string
  name: string
  version: string
  type: string
  endpoint: string
  capabilities: string[]
  metadata: JsonObject
}

/** One component as Hermes lists it. */
export interface HermesComponent {
  component_id: string
  name: string
  endpoint: string
  capabilities: string[]
  type?: string
  version?: string
  status?: string
  description?: string
}

/** Hermes answered, but not as asked (a status or a `success: false`). */
export class HermesError extends Error {
  readonly status: number | undefined
  constructor(message: string, status?: number) {
    super(message)
    this.name = 'HermesError'
    this.status = status
  }
}

export interface HermesClient {
  readonly apiBase: string
  register(registration: HermesRegistration): Promise<{ componentId: string; token: string | undefined }>
  /** 'unknown' when Hermes does not know the component (it forgot it, or restarted: a 4xx or `success: false`). */
  heartbeat(componentId: string, token: string | undefined, status: JsonObject): Promise<'ok' | 'unknown'>
  unregister(componentId: string, token: string | undefined): Promise<void>
  listComponents(): Promise<HermesComponent[]>
}

export function hermesApiBase(url: string): string {
  const parsed = new URL(url)
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')
    throw new TypeError(`not an http(s) URL: ${url}`)
  const trimmed = parsed.pathname.replace(/\/+$/, '')
  parsed.pathname = /\/api(\/v1)?$/.test(trimmed) ? `${trimmed}/` : `${trimmed}/api/`
  parsed.search = ''
  parsed.hash = ''
  return parsed.toString()
}

export function createHermesClient(url: string, options: { timeoutMs?: number } = {}): HermesClient {
  const apiBase = hermesApiBase(url)
  const timeoutMs = options.timeoutMs ?? 5_000

  const request = async (
    method: 'GET' | 'POST',
    path: string,
    body?: JsonValue,
    token?: string,
  ): Promise<{ status: number; body: JsonValue }> => {
    const headers: Record<string, string> = { accept: 'application/json' }
    if (body !== undefined) headers['content-type'] = 'application/json'
    if (token !== undefined) headers['x-authentication-token'] = token
    const response = await fetch(new URL(path, apiBase), {
      method,
      headers,
      signal: AbortSignal.timeout(timeoutMs),
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    })
    const text = await response.text()
    let parsed: JsonValue = null
    if (text.trim() !== '') {
      try {
        parsed = JSON.parse(text) as JsonValue
      } catch {
        parsed = text
      }
    }
    return { status: response.status, body: parsed }
  }

  const failed = (what: string, answer: { status: number; body: JsonValue }): HermesError => {
    const said = isObject(answer.body)
      ? (answer.body.message ?? answer.body.detail ?? answer.body.error)
      : undefined
    return new HermesError(
      `Hermes ${what} answered ${answer.status}${typeof said === 'string' ? `: ${said.slice(0, 200)}` : ''}`,
      answer.status,
    )
  }

  return {
    apiBase,

    async register(registration) {
      const answer = await request('POST', 'register', registration as unknown as JsonValue)
      if (answer.status >= 300 || (isObject(answer.body) && answer.body.success === false)) {
        throw failed('register', answer)
      }
      const body = isObject(answer.body) ? answer.body : {}
      return {
        componentId: typeof body.component_id === 'string' ? body.component_id : registration.component_id,
        token: typeof body.token === 'string' ? body.token : undefined,
      }
    },

    async heartbeat(componentId, token, status) {
      const answer = await request('POST', 'heartbeat', { component_id: componentId, status }, token)
      // Any refusal but "slow down" means Hermes does not (or no longer) know the component: register again.
      if (answer.status >= 400 && answer.status < 500 && answer.status !== 429) return 'unknown'
      if (answer.status >= 300) throw failed('heartbeat', answer)
      if (isObject(answer.body) && answer.body.success === false) return 'unknown'
      return 'ok'
    },

    async unregister(componentId, token) {
      const answer = await request(
        'POST',
        `unregister?component_id=${encodeURIComponent(componentId)}`,
        undefined,
        token,
      )
      if (answer.status >= 300 && answer.status !== 404) throw failed('unregister', answer)
    },

    async listComponents() {
      const answer = await request('GET', 'components')
      if (answer.status >= 300) throw failed('components', answer)
      const list = Array.isArray(answer.body)
        ? answer.body
        : isObject(answer.body) && Array.isArray(answer.body.components)
          ? answer.body.components
          : undefined
      if (list === undefined) throw new HermesError('Hermes components answered without a components list')
      const components: HermesComponent[] = []
      for (const entry of list) {
        if (!isObject(entry)) continue
        const componentId = entry.component_id ?? entry.id ?? entry.name
        const endpoint = entry.endpoint ?? entry.base_url ?? entry.url
        if (typeof componentId !== 'string' || typeof endpoint !== 'string') continue
        components.push({
          component_id: componentId,
          name: typeof entry.name === 'string' ? entry.name : componentId,
          endpoint,
          capabilities: Array.isArray(entry.capabilities)
            ? entry.capabilities.flatMap((c) =>
                typeof c === 'string' ? [c] : isObject(c) && typeof c.name === 'string' ? [c.name] : [],
              )
            : [],
          ...(typeof entry.type === 'string' ? { type: entry.type } : {}),
          ...(typeof entry.version === 'string' ? { version: entry.version } : {}),
          ...(typeof entry.status === 'string' ? { status: entry.status } : {}),
          ...(typeof entry.description === 'string' ? { description: entry.description } : {}),
        })
      }
      return components
    },
  }
}

function isObject(value: unknown): value is JsonObject {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
}
