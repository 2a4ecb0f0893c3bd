/**
 * Subscriptions: where outbound notifications go. Stored as documents `subscriptions/<subscription_id>`.
 * A subscription names an `external_url`, the `event_types` it wants (default: an execution's start and
 * end; `["*"]` for every event), optional `workflow_id` / `workflow_ids` filters, a `payload_template`
 * (expressions over `event`; default: the event's JSON), extra `headers`, an `auth_type` for the receiver
 * (`none`, `basic`, `bearer`, `api_key`), a `retry_config`, `enabled`, and the `secret` that signs every
 * delivery. Secrets are never answered: the API shows `***` (a secret the server generated is answered
 * once, when the subscription is created).
 */
import { randomBytes } from 'node:crypto'
import type { ExpressionScope, CompiledValue } from '../core/compiled-workflow.ts'
import { ValidationError, type ValidationIssue } from '../core/errors.ts'
import { EventType } from '../core/events.ts'
import { analyzeValue } from '../core/expressions.ts'
import { newId } from '../core/ids.ts'
import type { JsonObject, JsonValue } from '../core/model.ts'
import { MASK, maskAuthConfig, normalizeAuthConfig } from './webhooks-auth.ts'

export const SUBSCRIPTIONS = 'subscriptions'

export const DEFAULT_EVENT_TYPES = [
  'execution_started',
  'execution_completed',
  'execution_failed',
  'execution_cancelled',
] as const

export interface RetryConfig extends JsonObject {
  /** Attempts in all, the first included. */
  max_attempts: number
  initial_delay_ms: number
  backoff_factor: number
  max_delay_ms: number
  /** One attempt waits at most this long for an answer. */
  timeout_ms: number
}

export const DEFAULT_RETRY: RetryConfig = {
  max_attempts: 6,
  initial_delay_ms: 1_000,
  backoff_factor: 2,
  max_delay_ms: 300_000,
  timeout_ms: 10_000,
}

export interface Subscription extends JsonObject {
  subscription_id: string
  name: string
  external_url: string
  event_types: string[]
  workflow_ids: string[]
  payload_template: JsonValue
  headers: { [name: string]: string }
  auth_type: string
  auth_config: JsonObject
  retry_config: RetryConfig
  enabled: boolean
  secret: string
  created_at: string
  updated_at: string
}

const RECEIVER_AUTH = ['none', 'basic', 'bearer', 'api_key'] as const

/** Checks what a client sent (merged over `previous` for an update); throws ValidationError listing all. */
export function normalizeSubscription(raw: unknown, nowIso: string, previous?: Subscription): Subscription {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new ValidationError('subscription is invalid', [{ message: 'expected a JSON object' }])
  }
  const body: Record<string, unknown> = { ...(previous ?? {}), ...(raw as Record<string, unknown>) }
  const issues: ValidationIssue[] = []
  const url = body['external_url'] ?? body['url']
  if (typeof url !== 'string' || !isHttpUrl(url)) {
    issues.push({ field: 'external_url', message: 'is required: an http:// or https:// URL' })
  }
  let eventTypes = body['event_types'] ?? body['events'] ?? body['event_type'] ?? [...DEFAULT_EVENT_TYPES]
  if (typeof eventTypes === 'string') eventTypes = [eventTypes]
  if (!Array.isArray(eventTypes) || eventTypes.some((t) => typeof t !== 'string')) {
    issues.push({ field: 'event_types', message: 'expected a list of event types' })
    eventTypes = []
  }
  const known = new Set<string>([...Object.values(EventType), '*'])
  for (const type of eventTypes as string[]) {
    if (!known.has(type)) {
      issues.push({
        field: 'event_types',
        message: `unknown event type '${type}'; use '*' or any of ${Object.values(EventType).join(', ')}`,
      })
    }
  }
  const workflowIds: string[] = []
  const filters = (isObject(body['filters']) ? body['filters'] : {}) as Record<string, unknown>
  for (const given of [body['workflow_id'], filters['workflow_id']]) {
    if (typeof given === 'string' && given !== '' && !workflowIds.includes(given)) workflowIds.push(given)
  }
  const listed = body['workflow_ids'] ?? filters['workflow_ids']
  if (listed !== undefined && listed !== null) {
    if (!Array.isArray(listed) || listed.some((id) => typeof id !== 'string')) {
      issues.push({ field: 'workflow_ids', message: 'expected a list of workflow ids' })
    } else for (const id of listed as string[]) if (!workflowIds.includes(id)) workflowIds.push(id)
  }
  const template = (body['payload_template'] ?? null) as JsonValue
  if (template !== null) issues.push(...compilePayloadTemplate(template).issues)
  const headers = body['headers'] ?? {}
  if (
    typeof headers !== 'object' ||
    headers === null ||
    Array.isArray(headers) ||
    Object.values(headers).some((v) => typeof v !== 'string')
  ) {
    issues.push({ field: 'headers', message: 'expected an object of header names to string values' })
  }
  const authType = typeof body['auth_type'] === 'string' ? body['auth_type'] : 'none'
  if (!(RECEIVER_AUTH as readonly string[]).includes(authType)) {
    issues.push({ field: 'auth_type', message: `expected one of ${RECEIVER_AUTH.join(', ')}` })
  }
  const authConfig = normalizeAuthConfig(authType, body['auth_config'], issues, previous?.auth_config)
  const retry = normalizeRetry(body['retry_config'], issues)
  const enabled = body['enabled'] ?? true
  if (typeof enabled !== 'boolean') issues.push({ field: 'enabled', message: 'expected true or false' })
  let secret = body['secret']
  if (secret === MASK && previous !== undefined) secret = previous.secret
  if (secret === undefined || secret === null) secret = randomBytes(24).toString('base64url')
  if (typeof secret !== 'string' || secret.length < 8) {
    issues.push({ field: 'secret', message: 'expected a string of at least 8 characters' })
  }
  if (issues.length > 0) throw new ValidationError('subscription is invalid', issues)
  return {
    subscription_id: previous?.subscription_id ?? newId('sub'),
    name: typeof body['name'] === 'string' ? body['name'] : '',
    external_url: url as string,
    event_types: eventTypes as string[],
    workflow_ids: workflowIds,
    payload_template: template,
    headers: headers as Record<string, string>,
    auth_type: authType,
    auth_config: authConfig,
    retry_config: retry,
    enabled: enabled as boolean,
    secret: secret as string,
    created_at: previous?.created_at ?? nowIso,
    updated_at: nowIso,
  }
}

function normalizeRetry(raw: unknown, issues: ValidationIssue[]): RetryConfig {
  if (raw === undefined || raw === null) return { ...DEFAULT_RETRY }
  if (typeof raw === 'number') raw = { max_attempts: raw + 1 }
  if (typeof raw !== 'object' || Array.isArray(raw)) {
    issues.push({
      field: 'retry_config',
      message: 'expected an object (max_attempts, initial_delay_ms, ...)',
    })
    return { ...DEFAULT_RETRY }
  }
  const given = raw as Record<string, unknown>
  const out: RetryConfig = { ...DEFAULT_RETRY }
  const limits: Record<keyof RetryConfig, [number, number]> = {
    max_attempts: [1, 100],
    initial_delay_ms: [0, 86_400_000],
    backoff_factor: [1, 10],
    max_delay_ms: [0, 86_400_000],
    timeout_ms: [100, 300_000],
  }
  /** Other names clients use, and how each converts: retries to attempts, seconds to milliseconds. */
  const aliases: Record<string, [keyof RetryConfig, (n: number) => number]> = {
    max_retries: ['max_attempts', (n) => n + 1],
    retries: ['max_attempts', (n) => n + 1],
    initial_delay: ['initial_delay_ms', (n) => n * 1000],
    initial_delay_seconds: ['initial_delay_ms', (n) => n * 1000],
    retry_delay: ['initial_delay_ms', (n) => n * 1000],
    retry_interval: ['initial_delay_ms', (n) => n * 1000],
    max_delay: ['max_delay_ms', (n) => n * 1000],
    max_delay_seconds: ['max_delay_ms', (n) => n * 1000],
    backoff_multiplier: ['backoff_factor', (n) => n],
    timeout: ['timeout_ms', (n) => n * 1000],
    timeout_seconds: ['timeout_ms', (n) => n * 1000],
  }
  for (const [key, value] of Object.entries(given)) {
    const alias = aliases[key]
    const field = alias?.[0] ?? (key as keyof RetryConfig)
    const range = limits[field]
    if (range === undefined) {
      issues.push({
        field: `retry_config.${key}`,
        message: `unknown field; known: ${[...Object.keys(limits), ...Object.keys(aliases)].join(', ')}`,
      })
      continue
    }
    const number = alias !== undefined && typeof value === 'number' ? alias[1](value) : value
    if (typeof number !== 'number' || !Number.isFinite(number) || number < range[0] || number > range[1]) {
      issues.push({
        field: `retry_config.${key}`,
        message: `expected a number from ${range[0]} to ${range[1]}`,
      })
      continue
    }
    out[field] = number
  }
  return out
}

function isHttpUrl(text: string): boolean {
  try {
    const url = new URL(text)
    return url.protocol === 'http:' || url.protocol === 'https:'
  } catch {
    return false
  }
}

/** `payload_template` compiled: `${...}` expressions read `event` (type, timestamp, execution_id, data...). */
export function compilePayloadTemplate(template: JsonValue): {
  compiled: CompiledValue
  issues: ValidationIssue[]
} {
  const result = analyzeValue(
    template,
    { field: 'payload_template' },
    { allowedRoots: [], variables: ['event'] },
  )
  return { compiled: result.compiled, issues: result.issues }
}

export function renderPayload(compiled: CompiledValue, event: JsonObject): JsonValue {
  return compiled.evaluate({ event } as unknown as ExpressionScope)
}

/** Whether the subscription wants this event. */
export function wants(subscription: Subscription, event: { type: string; workflow_id: string }): boolean {
  if (!subscription.enabled) return false
  if (!subscription.event_types.includes('*') && !subscription.event_types.includes(event.type)) return false
  return subscription.workflow_ids.length === 0 || subscription.workflow_ids.includes(event.workflow_id)
}

/** A subscription as answered: the secret and the receiver's credentials masked. */
export function subscriptionToWire(subscription: Subscription, revealSecret = false): JsonObject {
  return {
    ...subscription,
    secret: revealSecret ? subscription.secret : MASK,
    auth_config: maskAuthConfig(subscription.auth_config),
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}
