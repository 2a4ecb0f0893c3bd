/**
 * Rule-based diagnosis of a failed execution, which answers without any LLM: timeouts, non-retriable HTTP
 * 4xx answers, rate limits and server errors, unreachable services, invalid or missing input fields,
 * expression errors, unknown components or actions, cancellations. Each diagnosis says what happened, how
 * to fix it, and — when the fix is a change of the definition that can be known — a JSON merge patch.
 */
import type { ComponentDescriptor, ComponentResolver } from '../core/component.ts'
import type { JsonObject, JsonValue, TaskDefinition } from '../core/model.ts'
import type { FailureContext } from './failure-context.ts'

export const FailureCategory = {
  timeout: 'timeout',
  execution_timeout: 'execution_timeout',
  http_client_error: 'http_client_error',
  rate_limited: 'rate_limited',
  server_error: 'server_error',
  connection_error: 'connection_error',
  invalid_input: 'invalid_input',
  expression_error: 'expression_error',
  unknown_component: 'unknown_component',
  component_unavailable: 'component_unavailable',
  cancelled: 'cancelled',
  task_error: 'task_error',
  none: 'none',
} as const
export type FailureCategory = (typeof FailureCategory)[keyof typeof FailureCategory]

export interface Diagnosis {
  category: FailureCategory
  diagnosis: string
  suggested_fix: string
  /** A JSON merge patch (RFC 7386) of the definition, when the fix is known. */
  patch: JsonObject | null
}

/** What the rules may ask of the component registry: which components and actions exist. */
export type KnownComponents = ComponentResolver & { list?(): ComponentDescriptor[] }

/** A retry policy suggested for transient failures. */
export const SUGGESTED_RETRY = Object.freeze({ max_attempts: 3, initial_delay_ms: 1000, backoff_factor: 2 })

export function diagnoseByRules(context: FailureContext, components?: KnownComponents): Diagnosis {
  const failed = context.failedTask
  if (failed === undefined) return withoutFailedTask(context)
  const task = failed.definition
  const error = failed.error
  const where = `task '${failed.name}'${failed.itemIndex === undefined ? '' : ` (for_each item ${failed.itemIndex})`}`
  const attempts = `after ${failed.attempts} ${failed.attempts === 1 ? 'attempt' : 'attempts'}`
  const code = error.code
  const http = /^HTTP_(4\d\d)$/.exec(code)

  if (code === 'TIMEOUT') return timeout(context, task, where, attempts, error.details)
  if (http !== null) return clientError(task, where, Number(http[1]), error.message, error.details)
  if (code === 'RATE_LIMITED') {
    return {
      category: FailureCategory.rate_limited,
      diagnosis: `${where} was refused with 429 Too Many Requests ${attempts}: ${error.message}`,
      suggested_fix: `Retry with backoff${task.for_each === undefined ? '' : ' and lower the for_each concurrency'} so the service's rate limit is respected.`,
      patch: retryPatch(
        task,
        failed.attempts,
        task.for_each === undefined ? {} : { concurrency: lowerConcurrency(task) },
      ),
    }
  }
  if (code === 'SERVER_ERROR') {
    return {
      category: FailureCategory.server_error,
      diagnosis: `${where}: the service failed on its side (5xx) ${attempts}: ${error.message}`,
      suggested_fix:
        'The fault is in the called service: check its logs. A 5xx is often transient; a retry policy with backoff rides it out, and the execution can be re-run from this task.',
      patch: retryPatch(task, failed.attempts),
    }
  }
  if (code === 'CONNECTION_ERROR' || code === 'TLS_ERROR') {
    const url = urlOf(failed.input)
    return {
      category: FailureCategory.connection_error,
      diagnosis: `${where} could not reach the service${url === undefined ? '' : ` at ${url}`} ${attempts}: ${error.message}`,
      suggested_fix:
        code === 'TLS_ERROR'
          ? "The TLS handshake failed: check the service's certificate and that the URL uses the right scheme and host."
          : 'Check that the service is running and that the host and port in the URL are right (and reachable from the Harmonia server); then re-run the execution. A retry policy rides out short outages.',
      patch: code === 'TLS_ERROR' ? null : retryPatch(task, failed.attempts),
    }
  }
  if (code === 'INVALID_INPUT') return invalidInput(context, task, where, error.message, error.details)
  if (code === 'expression_error') return expressionError(context, where, error.message, error.details)
  if (code === 'component_error')
    return componentError(task, where, error.message, error.retriable, components)
  if (code === 'cancelled' || code === 'CANCELLED') {
    return {
      category: FailureCategory.cancelled,
      diagnosis: `${where} was cancelled: ${error.message}`,
      suggested_fix: 'Nothing failed on its own: re-run the execution to finish it.',
      patch: null,
    }
  }
  return {
    category: FailureCategory.task_error,
    diagnosis: `${where} (${task.component}.${task.action}) failed with ${code} ${attempts}: ${error.message}`,
    suggested_fix: error.retriable
      ? 'The error is marked retriable: a retry policy may get past it; otherwise fix the cause the message names and re-run.'
      : 'The error is not retriable: fix the cause the message names (input, credentials, the called service), then re-run.',
    patch: error.retriable ? retryPatch(task, failed.attempts) : null,
  }
}

function withoutFailedTask(context: FailureContext): Diagnosis {
  const error = context.executionError
  if (context.status === 'cancelled') {
    return {
      category: FailureCategory.cancelled,
      diagnosis: `the execution was cancelled${error === undefined ? '' : `: ${error.message}`}`,
      suggested_fix: 'Nothing failed on its own: re-run the execution to finish it.',
      patch: null,
    }
  }
  if (error !== undefined && error.code === 'TIMEOUT') {
    const seconds = context.definition.timeout
    return {
      category: FailureCategory.execution_timeout,
      diagnosis: `the whole execution ran out of time: ${error.message}`,
      suggested_fix:
        seconds === undefined
          ? 'Raise the execution timeout (execution_options.timeout) or make the slow tasks faster.'
          : `Raise the workflow's timeout (now ${seconds} s) or make the slow tasks faster.`,
      patch: seconds === undefined ? null : { timeout: Math.ceil(seconds * 2) },
    }
  }
  if (error !== undefined && error.code === 'expression_error') {
    return {
      category: FailureCategory.expression_error,
      diagnosis: `the workflow output mapping could not be evaluated: ${error.message}`,
      suggested_fix:
        'Fix the expression in `output`: read only fields the tasks really return, or use default(x, fallback).',
      patch: null,
    }
  }
  if (error !== undefined) {
    return {
      category: FailureCategory.task_error,
      diagnosis: `the execution failed with ${error.code}: ${error.message}`,
      suggested_fix: 'Fix the cause the message names, then re-run the execution.',
      patch: null,
    }
  }
  return {
    category: FailureCategory.none,
    diagnosis: `the execution is ${context.status} and no task failed`,
    suggested_fix: 'Nothing to fix.',
    patch: null,
  }
}

function timeout(
  context: FailureContext,
  task: TaskDefinition,
  where: string,
  attempts: string,
  details: JsonValue | undefined,
): Diagnosis {
  const requestTimeoutMs = numberAt(details, 'timeout_ms')
  if (requestTimeoutMs !== undefined) {
    return {
      category: FailureCategory.timeout,
      diagnosis: `${where}: the request got no complete answer within its timeout_ms of ${requestTimeoutMs} ms ${attempts}`,
      suggested_fix: `Raise input.timeout_ms of task '${task.name}' if the service is legitimately slow, or find why it is slow; timeouts are retriable, so a retry policy also helps.`,
      patch: taskPatch(task.name, {
        input: { timeout_ms: requestTimeoutMs * 2 },
        ...(task.retry === undefined ? { retry: { ...SUGGESTED_RETRY } } : {}),
      }),
    }
  }
  const seconds = task.timeout
  const fallback = context.definition.timeout
  return {
    category: FailureCategory.timeout,
    diagnosis:
      seconds === undefined
        ? `${where} did not finish in time ${attempts} (it has no timeout of its own: a default or the execution's timeout applied)`
        : `${where} did not finish within its timeout of ${seconds} s ${attempts}`,
    suggested_fix: `Raise the timeout of task '${task.name}' if the work legitimately takes longer, or find why it is slow.${task.retry === undefined ? ' Timed-out attempts can be retried with a retry policy.' : ''}`,
    patch: taskPatch(task.name, {
      timeout: Math.ceil((seconds ?? Math.min(fallback ?? 60, 60)) * 2),
      ...(task.retry === undefined ? { retry: { ...SUGGESTED_RETRY } } : {}),
    }),
  }
}

function clientError(
  task: TaskDefinition,
  where: string,
  status: number,
  message: string,
  details: JsonValue | undefined,
): Diagnosis {
  const excerpt = stringAt(details, 'body_excerpt')
  const answered = `${where} got HTTP ${status} from the service, which is not retriable (the same request gets the same answer): ${message}${excerpt === undefined ? '' : `; the answer said: ${excerpt.slice(0, 300)}`}`
  const fixes: Record<number, string> = {
    400: "The service rejected the request as malformed: compare the task's input (json/body, query, headers) with what the service expects.",
    401: "The request is not authenticated: send the credentials the service needs (for example an Authorization header from ${env.TOKEN}, with TOKEN on the server's environment allow-list).",
    403: 'The credentials are not allowed to do this: use a key or account with the needed permission.',
    404: "The URL or resource does not exist: check input.url, especially the parts built from expressions (an id from an upstream task's output, for instance).",
    405: 'The service does not accept this method on this URL: check input.method.',
    409: 'The service reports a conflict with the current state of the resource (it may exist already): make the call idempotent or check the state first.',
    413: 'The request body is too large for the service: send less data per call (for_each over smaller parts).',
    415: 'The service does not accept this content type: send JSON with input.json, or set the content-type header it expects.',
    422: "The service understood the request but rejected its content: check the fields the answer names against the task's input.",
  }
  return {
    category: FailureCategory.http_client_error,
    diagnosis: answered,
    suggested_fix:
      fixes[status] ??
      `Fix the request of task '${task.name}' so the service accepts it; retrying it unchanged will not help.`,
    patch: null,
  }
}

function invalidInput(
  context: FailureContext,
  task: TaskDefinition,
  where: string,
  message: string,
  details: JsonValue | undefined,
): Diagnosis {
  const problems = arrayAt(details, 'errors')
    .map((problem) => ({ field: stringAt(problem, 'field'), message: stringAt(problem, 'message') ?? '' }))
    .filter((problem) => problem.message !== '')
  const missing = new Set<string>()
  for (const problem of problems) {
    const match = /required property '([^']+)'/.exec(problem.message)
    if (match !== null) {
      const parent = (problem.field ?? 'input').replace(/^input\.?/, '')
      missing.add(parent === '' ? match[1]! : `${parent}.${match[1]!}`)
    }
  }
  const inputNames = new Set(Object.keys(context.definition.input ?? {}))
  const patchInput: JsonObject = {}
  for (const field of missing) {
    if (!field.includes('.') && inputNames.has(field)) patchInput[field] = `\${workflow.input.${field}}`
  }
  const listed = problems.map((p) => `${p.field ?? 'input'}: ${p.message}`)
  return {
    category: FailureCategory.invalid_input,
    diagnosis: `${where}: the input given to ${task.component}.${task.action} does not match what the action accepts (not retriable): ${listed.length > 0 ? listed.join('; ') : message}`,
    suggested_fix:
      missing.size > 0
        ? `Add the missing input field${missing.size === 1 ? '' : 's'} ${[...missing].map((f) => `input.${f}`).join(', ')} to task '${task.name}'${Object.keys(patchInput).length > 0 ? ' (the workflow has an input of the same name: the patch passes it on)' : ''}.`
        : `Change the input of task '${task.name}' so each field has the type and value the action's input schema asks for (GET /components/${task.component}/actions/${task.action} shows it).`,
    patch: Object.keys(patchInput).length > 0 ? taskPatch(task.name, { input: patchInput }) : null,
  }
}

function expressionError(
  context: FailureContext,
  where: string,
  message: string,
  details: JsonValue | undefined,
): Diagnosis {
  const expression = stringAt(details, 'expression')
  const field = stringAt(details, 'field')
  const missingKey = /No such key: ([^\s'"),]+)/.exec(message)?.[1]
  let hint = ''
  if (missingKey !== undefined) {
    const shapes = Object.entries(context.upstream)
      .filter(
        ([, upstream]) =>
          upstream.output !== null && typeof upstream.output === 'object' && !Array.isArray(upstream.output),
      )
      .map(
        ([name, upstream]) =>
          `tasks.${name}.output has ${Object.keys(upstream.output as JsonObject).join(', ') || 'no fields'}`,
      )
    hint = ` The key '${missingKey}' is not there${shapes.length > 0 ? `: ${shapes.join('; ')}` : ''}.`
  }
  return {
    category: FailureCategory.expression_error,
    diagnosis: `${where}: an expression${field === undefined ? '' : ` in ${field}`} could not be evaluated${expression === undefined ? '' : ` ('${expression}')`}: ${message}.${hint}`,
    suggested_fix:
      'Read only fields the upstream tasks really return (their outputs are shown with this diagnosis), or guard the read with has(...) or default(x, fallback).',
    patch: null,
  }
}

function componentError(
  task: TaskDefinition,
  where: string,
  message: string,
  retriable: boolean,
  components: KnownComponents | undefined,
): Diagnosis {
  const actions = components?.actionsOf(task.component)
  if (components !== undefined && actions !== undefined && actions.includes(task.action)) {
    return {
      category: FailureCategory.component_unavailable,
      diagnosis: `${where}: component '${task.component}' failed or was unavailable${retriable ? ' (retriable)' : ''}: ${message}`,
      suggested_fix: `Check the health of '${task.component}' (GET /components/${task.component}); once it answers again, re-run the execution from this task.`,
      patch: retriable ? retryPatch(task, 1) : null,
    }
  }
  if (components !== undefined && actions !== undefined) {
    const closest = closestName(task.action, actions)
    return {
      category: FailureCategory.unknown_component,
      diagnosis: `${where}: component '${task.component}' has no action '${task.action}'; its actions: ${actions.join(', ') || 'none'}`,
      suggested_fix:
        closest === undefined
          ? `Use one of the actions of '${task.component}'.`
          : `Use action '${closest}' (the closest name).`,
      patch: closest === undefined ? null : taskPatch(task.name, { action: closest }),
    }
  }
  const reason = components?.unavailableReason?.(task.component)
  const known = components?.list?.().map((component) => component.name) ?? []
  const closest = closestName(task.component, known)
  const closestHasAction =
    closest !== undefined && components?.actionsOf(closest)?.includes(task.action) === true
  return {
    category: FailureCategory.unknown_component,
    diagnosis: `${where}: component '${task.component}' is not registered${reason === undefined ? '' : ` (${reason})`}: ${message}`,
    suggested_fix:
      reason !== undefined
        ? `Enable the component: ${reason}.`
        : closestHasAction
          ? `Use component '${closest}' (the closest registered name), or register '${task.component}' (POST /components) and re-run.`
          : `Register the component (POST /components with its base_url) or use a registered one${known.length > 0 ? `: ${known.join(', ')}` : ''}; then re-run.`,
    patch: reason === undefined && closestHasAction ? taskPatch(task.name, { component: closest! }) : null,
  }
}

function retryPatch(task: TaskDefinition, attempts: number, extra: JsonObject = {}): JsonObject | null {
  const maxAttempts =
    typeof task.retry === 'number'
      ? task.retry + 1
      : typeof task.retry === 'object' && task.retry !== null
        ? (task.retry.max_attempts ?? 1)
        : 1
  const change: JsonObject = { ...extra }
  if (maxAttempts < SUGGESTED_RETRY.max_attempts || attempts >= maxAttempts) {
    change['retry'] =
      maxAttempts >= SUGGESTED_RETRY.max_attempts
        ? { max_attempts: maxAttempts + 2, initial_delay_ms: 2000, backoff_factor: 2 }
        : { ...SUGGESTED_RETRY }
  }
  return Object.keys(change).length === 0 ? null : taskPatch(task.name, change)
}

function lowerConcurrency(task: TaskDefinition): number {
  return Math.max(1, Math.floor((task.concurrency ?? 10) / 2))
}

export function taskPatch(task: string, change: JsonObject): JsonObject {
  return { tasks: { [task]: change } }
}

function urlOf(input: JsonValue | undefined): string | undefined {
  return stringAt(input, 'url')
}

function numberAt(value: JsonValue | undefined, key: string): number | undefined {
  const found = objectOf(value)?.[key]
  return typeof found === 'number' ? found : undefined
}

function stringAt(value: JsonValue | undefined, key: string): string | undefined {
  const found = objectOf(value)?.[key]
  return typeof found === 'string' ? found : undefined
}

function arrayAt(value: JsonValue | undefined, key: string): JsonValue[] {
  const found = objectOf(value)?.[key]
  return Array.isArray(found) ? found : []
}

function objectOf(value: JsonValue | undefined): JsonObject | undefined {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? value : undefined
}

/** The name closest to `wanted` when it is close enough to be a typo. */
export function closestName(wanted: string, names: readonly string[]): string | undefined {
  let best: string | undefined
  let bestDistance = Math.max(1, Math.ceil(wanted.length / 3)) + 1
  for (const name of names) {
    if (Math.abs(name.length - wanted.length) >= bestDistance) continue
    const distance = editDistance(wanted.toLowerCase(), name.toLowerCase())
    if (distance < bestDistance) {
      best = name
      bestDistance = distance
    }
  }
  return best
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, index) => index)
  for (let i = 1; i <= a.length; i++) {
    const current = [i]
    for (let j = 1; j <= b.length; j++) {
      current.push(
        Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1)),
      )
    }
    previous = current
  }
  return previous[b.length]!
}
