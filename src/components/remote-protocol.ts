/**
 * The HTTP protocol Tekton's components speak, as Harmonia's client:
 * - `GET {base_url}/api/capabilities`: what the component offers (its actions);
 * - `GET {base_url}/api/actions/{action}/schema`: one action's input schema;
 * - `POST {base_url}/api/actions/{action}` with `{action, params, context}` and an `Idempotency-Key`
 *   header; the JSON answer is the task's output.
 *
 * Answers are read tolerantly (components written over the years answer in several shapes); failures of a
 * call become TaskFailures with the codes retry policies match, and a `health` verdict the circuit breaker
 * uses: `down` (cannot connect), `failing` (5xx, timeout) or `alive` (anything else the component said).
 */
import type { ActionDescriptor, TaskContext } from '../core/component.ts'
import { ComponentError, TaskFailure } from '../core/errors.ts'
import type { JsonObject, JsonValue } from '../core/model.ts'
import { abortReason } from './abort-reason.ts'
import { decodeBody, excerpt, readCapped, retryAfterMs, textOf } from './http-response.ts'

/** Largest answer read from a component (10 MiB). */
export const MAX_REMOTE_RESPONSE_BYTES = 10 * 1024 * 1024
/** Largest capabilities or schema document read (1 MiB). */
const MAX_DESCRIPTION_BYTES = 1024 * 1024

export type RemoteHealthVerdict = 'alive' | 'failing' | 'down'

/** A failed call: the task's error, and what it says about the component's health. */
export class RemoteCallFailure extends Error {
  readonly failure: TaskFailure
  readonly verdict: RemoteHealthVerdict
  constructor(failure: TaskFailure, verdict: RemoteHealthVerdict) {
    super(failure.message)
    this.failure = failure
    this.verdict = verdict
  }
}

/** Connection errors that mean nothing listens there (as opposed to a connection that broke mid-way). */
const CANNOT_CONNECT = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
  'EADDRNOTAVAIL',
  'UND_ERR_CONNECT_TIMEOUT',
])

export interface CallActionRequest {
  component: string
  baseUrl: string
  action: string
  params: JsonValue
  context: TaskContext
  timeoutMs: number
}

/** The request body's `context`: who is calling and the key that makes repeated deliveries harmless. */
export function callContext(context: TaskContext): JsonObject {
  return {
    execution_id: context.executionId,
    workflow_id: context.workflowId,
    task: context.task,
    task_name: context.task,
    attempt: context.attempt,
    idempotency_key: context.idempotencyKey,
    ...(context.itemIndex === undefined ? {} : { item_index: context.itemIndex }),
  }
}

/** Runs one action; throws RemoteCallFailure (or the task signal's own reason when the task was aborted). */
export async function callAction(request: CallActionRequest): Promise<JsonValue> {
  const { component, action, context, timeoutMs } = request
  const url = actionUrl(request.baseUrl, action)
  const where = `component '${component}' action '${action}' (POST ${url.origin}${url.pathname})`
  const timeout = AbortSignal.timeout(timeoutMs)
  const signal = AbortSignal.any([context.signal, timeout])
  let response: Response
  let bytes: Uint8Array
  try {
    response = await fetch(url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json',
        'idempotency-key': context.idempotencyKey,
      },
      body: JSON.stringify({ action, params: request.params, context: callContext(context) }),
      signal,
    })
    bytes = await readCapped(response, MAX_REMOTE_RESPONSE_BYTES, where)
  } catch (error) {
    if (context.signal.aborted) throw abortReason(context.signal)
    throw transportFailure(error, where, component, action, timeout.aborted ? timeoutMs : undefined)
  }
  const details: JsonObject = { component, action, status: response.status }
  if (response.status >= 400) throw statusFailure(response, bytes, where, details)
  let body: JsonValue
  try {
    body = decodeBody(bytes, response.headers.get('content-type') ?? 'application/json', where).body
  } catch {
    const text = textOf(bytes, 'text/plain') ?? ''
    throw new RemoteCallFailure(
      new ComponentError(
        `${where}: answered ${response.status} with a body that is not JSON (not retriable)`,
        {
          retriable: false,
          details: { ...details, reason: 'INVALID_RESPONSE', body_excerpt: excerpt(text) },
        },
      ),
      'alive',
    )
  }
  if (isFailureAnswer(body)) {
    const message = failureMessage(body)
    throw new RemoteCallFailure(
      new TaskFailure(
        'ACTION_FAILED',
        `${where}: the component reported a failure: ${message} (not retriable)`,
        {
          retriable: false,
          details: { ...details, answer: trimmed(body) },
        },
      ),
      'alive',
    )
  }
  return body
}

/** `GET {base_url}/api/capabilities` read as action descriptors; undefined when the route does not exist. */
export async function readCapabilities(
  baseUrl: string,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<ActionDescriptor[] | undefined> {
  const answer = await getJson(new URL('api/capabilities', withSlash(baseUrl)), timeoutMs, signal)
  return answer === undefined ? undefined : parseCapabilities(answer)
}

/** `GET {base_url}/api/actions/{action}/schema` read as a partial descriptor; undefined when absent. */
export async function readActionSchema(
  baseUrl: string,
  action: string,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<Omit<ActionDescriptor, 'name'> | undefined> {
  const url = new URL(`api/actions/${encodeURIComponent(action)}/schema`, withSlash(baseUrl))
  const answer = await getJson(url, timeoutMs, signal)
  return answer === undefined ? undefined : parseActionSchema(answer)
}

/**
 * Whether something answers HTTP at the component's address (any status below 500 counts). A health check
 * while its circuit is open; throws with the reason when it does not answer.
 */
export async function probeComponent(
  baseUrl: string,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<void> {
  const url = new URL('api/capabilities', withSlash(baseUrl))
  const response = await fetch(url, { signal: withTimeout(timeoutMs, signal) })
  await response.body?.cancel().catch(() => {})
  if (response.status >= 500) throw new Error(`GET ${url.pathname} answered ${response.status}`)
}

/** Capability documents in the shapes components use: a list, or an object holding `capabilities` or `actions`. */
export function parseCapabilities(answer: JsonValue): ActionDescriptor[] {
  let entries: JsonValue = answer
  if (isObject(answer)) {
    entries = answer.actions ?? answer.capabilities ?? answer.items ?? []
    // `{capabilities: {actions: [...]}}`: the list is one level down.
    const inner = isObject(entries) ? (entries.actions ?? entries.items) : undefined
    if (inner !== undefined && (Array.isArray(inner) || isObject(inner))) entries = inner
  }
  const actions = new Map<string, ActionDescriptor>()
  const add = (name: unknown, value: JsonValue | undefined): void => {
    if (typeof name !== 'string' || name === '' || actions.has(name)) return
    actions.set(name, { name, ...(value === undefined ? {} : parseActionSchema(value)) })
  }
  if (Array.isArray(entries)) {
    for (const entry of entries) {
      if (typeof entry === 'string') add(entry, undefined)
      else if (isObject(entry)) add(entry.name ?? entry.action ?? entry.id, entry)
    }
  } else if (isObject(entries)) {
    for (const [name, value] of Object.entries(entries)) add(name, isObject(value) ? value : undefined)
  }
  return [...actions.values()]
}

/** An action's description: `{input_schema, output_schema, description}`, `{schema}`, `{parameters}`, or the schema itself. */
export function parseActionSchema(answer: JsonValue): Omit<ActionDescriptor, 'name'> {
  if (!isObject(answer)) return {}
  const result: Omit<ActionDescriptor, 'name'> = {}
  if (typeof answer.description === 'string') result.description = answer.description
  const input = answer.input_schema ?? answer.schema ?? answer.parameters ?? answer.params_schema
  if (isObject(input) && looksLikeSchema(input)) result.input_schema = input
  else if (isObject(input) && isPropertyMap(input)) result.input_schema = fromPropertyMap(input)
  else if (input === undefined && looksLikeSchema(answer) && answer.name === undefined) {
    const { description: _description, ...schema } = answer
    result.input_schema = schema
  }
  if (isObject(answer.output_schema)) result.output_schema = answer.output_schema
  return result
}

function looksLikeSchema(value: JsonObject): boolean {
  return (
    typeof value.type === 'string' ||
    Array.isArray(value.type) ||
    isObject(value.properties) ||
    typeof value.$schema === 'string' ||
    Array.isArray(value.anyOf) ||
    Array.isArray(value.oneOf)
  )
}

/** Tekton's `{"command": {"type": "string", "required": true}}` parameter maps. */
function isPropertyMap(value: JsonObject): boolean {
  const entries = Object.values(value)
  return entries.length > 0 && entries.every((entry) => isObject(entry) && typeof entry.type === 'string')
}

function fromPropertyMap(map: JsonObject): JsonObject {
  const properties: JsonObject = {}
  const required: string[] = []
  for (const [name, value] of Object.entries(map)) {
    const { required: isRequired, ...property } = value as JsonObject
    properties[name] = property
    if (isRequired === true) required.push(name)
  }
  return { type: 'object', properties, ...(required.length === 0 ? {} : { required }) }
}

function withTimeout(timeoutMs: number, signal: AbortSignal | undefined): AbortSignal {
  const timeout = AbortSignal.timeout(timeoutMs)
  return signal === undefined ? timeout : AbortSignal.any([timeout, signal])
}

async function getJson(url: URL, timeoutMs: number, signal?: AbortSignal): Promise<JsonValue | undefined> {
  const response = await fetch(url, {
    headers: { accept: 'application/json' },
    signal: withTimeout(timeoutMs, signal),
  })
  const where = `GET ${url.origin}${url.pathname}`
  if (response.status === 404 || response.status === 405 || response.status === 501) {
    await response.body?.cancel().catch(() => {})
    return undefined
  }
  const bytes = await readCapped(response, MAX_DESCRIPTION_BYTES, where)
  if (response.status >= 400) throw new Error(`${where} answered ${response.status}`)
  return decodeBody(bytes, response.headers.get('content-type') ?? 'application/json', where).body
}

export function actionUrl(baseUrl: string, action: string): URL {
  return new URL(`api/actions/${encodeURIComponent(action)}`, withSlash(baseUrl))
}

function withSlash(baseUrl: string): string {
  return baseUrl.endsWith('/') ? baseUrl : `${baseUrl}/`
}

function statusFailure(
  response: Response,
  bytes: Uint8Array,
  where: string,
  details: JsonObject,
): RemoteCallFailure {
  const status = response.status
  const text = textOf(bytes, response.headers.get('content-type'))
  if (text !== undefined && text !== '') details.body_excerpt = excerpt(text)
  const said = text === undefined ? undefined : errorText(text)
  const answered = `${where} answered ${status}${said === undefined ? '' : `: ${said}`}`
  if (status === 429) {
    const waitMs = retryAfterMs(response.headers.get('retry-after'), Date.now())
    if (waitMs !== undefined) details.retry_after_ms = waitMs
    return new RemoteCallFailure(
      new TaskFailure('RATE_LIMITED', `${answered} (retriable)`, { retriable: true, details }),
      'alive',
    )
  }
  if (status >= 500) {
    return new RemoteCallFailure(
      new TaskFailure('SERVER_ERROR', `${answered} (retriable)`, { retriable: true, details }),
      'failing',
    )
  }
  if (status === 400 || status === 422) {
    return new RemoteCallFailure(
      new TaskFailure('INVALID_INPUT', `${answered}; the component rejected the input (not retriable)`, {
        retriable: false,
        details,
      }),
      'alive',
    )
  }
  const hint = status === 404 ? '; the component does not know this action' : ''
  return new RemoteCallFailure(
    new TaskFailure(`HTTP_${status}`, `${answered}${hint} (not retriable)`, { retriable: false, details }),
    'alive',
  )
}

function transportFailure(
  error: unknown,
  where: string,
  component: string,
  action: string,
  timedOutAfterMs: number | undefined,
): RemoteCallFailure {
  if (error instanceof TaskFailure) return new RemoteCallFailure(error, 'alive')
  if (timedOutAfterMs !== undefined) {
    return new RemoteCallFailure(
      new TaskFailure('TIMEOUT', `${where}: no complete answer within ${timedOutAfterMs} ms (retriable)`, {
        retriable: true,
        details: { component, action, timeout_ms: timedOutAfterMs },
      }),
      'failing',
    )
  }
  const cause = (error as { cause?: { code?: string; message?: string } }).cause
  const code = cause?.code ?? (error as { code?: string }).code
  const reason = code ?? cause?.message ?? (error as Error).message ?? String(error)
  const down = code !== undefined && CANNOT_CONNECT.has(code)
  return new RemoteCallFailure(
    new ComponentError(
      down
        ? `${where}: the component is down: cannot connect (${reason}) (retriable)`
        : `${where}: the exchange broke off (${reason}) (retriable)`,
      { retriable: true, details: { component, action, reason: 'CONNECTION_ERROR', cause: reason } },
    ),
    down ? 'down' : 'failing',
  )
}

/** `{"success": false, "error": ...}`: Tekton components report a failed action so, with status 200. */
function isFailureAnswer(body: JsonValue): body is JsonObject {
  return isObject(body) && body.success === false && body.error !== undefined && body.error !== null
}

function failureMessage(body: JsonObject): string {
  const error = body.error ?? body.message ?? body.detail
  if (typeof error === 'string') return excerpt(error)
  if (isObject(error) && typeof error.message === 'string') return excerpt(error.message)
  return 'no message'
}

/** The message an error answer carries (`{"error": ...}`, `{"detail": ...}`, `{"message": ...}`), if any. */
function errorText(text: string): string | undefined {
  try {
    const body = JSON.parse(text) as JsonValue
    if (isObject(body)) {
      const message = failureMessage(body)
      return message === 'no message' ? undefined : message
    }
  } catch {
    // Not JSON: the excerpt in the details is enough.
  }
  return undefined
}

function trimmed(body: JsonObject): JsonValue {
  const text = JSON.stringify(body)
  return text.length <= 2000 ? body : excerpt(text)
}

function isObject(value: unknown): value is JsonObject {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
}
