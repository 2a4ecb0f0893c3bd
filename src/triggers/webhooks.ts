/**
 * Inbound webhooks: definitions (stored as documents `webhooks/<webhook_id>`), the call that starts an
 * execution (`/hooks/<endpoint>`, authenticated by the webhook's own auth, not by Harmonia's API keys), and
 * the record of every call (`webhook_calls/<call_id>`, listed per webhook, newest first).
 *
 * A call: find the webhook by endpoint → enabled? → per-webhook rate limit → the webhook's auth over the raw
 * body → payload parsed → deduplicated by `Idempotency-Key` (or the configured delivery-id header) across
 * nodes (`markOnce`, then the execution's idempotency key) → `input_mapping` (expressions over `payload`,
 * `headers` and `query`, compiled once per webhook version) → the execution starts. Every outcome, refusals
 * included, is recorded with the headers' secrets masked.
 */
import type { Clock } from '../core/clock.ts'
import { systemClock, isoNow } from '../core/clock.ts'
import type { ExpressionScope, CompiledValue } from '../core/compiled-workflow.ts'
import type { Engine } from '../core/engine-api.ts'
import {
  ConflictError,
  HarmoniaError,
  InvalidRequestError,
  NotFoundError,
  ValidationError,
  statusForCode,
  type ValidationIssue,
} from '../core/errors.ts'
import { analyzeValue } from '../core/expressions.ts'
import { newId, timeOrderedId } from '../core/ids.ts'
import type { Logger } from '../core/logger.ts'
import type { ExecutionRecord, JsonObject, JsonValue, WorkflowDefinition } from '../core/model.ts'
import { FINISHED_EXECUTION_STATUSES } from '../core/model.ts'
import type { Page, Store } from '../core/store.ts'
import { createTemplateService } from '../templates/template-service.ts'
import {
  checkWebhookAuth,
  maskAuthConfig,
  normalizeAuthConfig,
  redactHeaders,
  type AuthConfig,
} from './webhooks-auth.ts'

export const WEBHOOKS = 'webhooks'
export const WEBHOOK_CALLS = 'webhook_calls'

export const TRIGGER_TYPES = [
  'http_post',
  'http_get',
  'scheduled',
  'event_triggered',
  'component_callback',
  'manual',
] as const

/** Requests per minute a webhook accepts by default (per node). */
export const DEFAULT_RATE_LIMIT_PER_MINUTE = 600
/** `?wait=true` waits this long by default, and at most MAX_WAIT_SECONDS. */
export const DEFAULT_WAIT_SECONDS = 30
export const MAX_WAIT_SECONDS = 300
/** A delivery id is claimed for this long before the execution's own idempotency key takes over. */
const DELIVERY_CLAIM_TTL_MS = 60_000
/** Calls kept per webhook: older records are deleted (checked every PRUNE_EVERY calls per node). */
export const MAX_RECORDED_CALLS = 1000
const PRUNE_EVERY = 50
/** Payloads past this many characters are recorded as an excerpt. */
const RECORDED_PAYLOAD_CHARS = 64 * 1024
const ENDPOINT = /^[A-Za-z0-9][A-Za-z0-9._~-]*(?:\/[A-Za-z0-9._~-]+)*$/
const MAPPING_VARIABLES = ['payload', 'headers', 'query'] as const

export interface Webhook extends JsonObject {
  webhook_id: string
  name: string
  description: string
  endpoint: string
  trigger_type: string
  workflow_id: string | null
  template_id: string | null
  input_mapping: JsonObject | null
  enabled: boolean
  auth_type: string
  auth_config: JsonObject
  /** A header whose value identifies a delivery (e.g. X-GitHub-Delivery); Idempotency-Key always works. */
  delivery_id_header: string | null
  /** 0: unlimited. */
  rate_limit_per_minute: number
  created_at: string
  updated_at: string
}

export interface InboundCall {
  endpoint: string
  method: string
  headers: Record<string, string | string[] | undefined>
  query: Record<string, unknown>
  rawBody: Buffer
  sourceIp: string
  /** Wait for the end (`?wait=true`) up to this long. */
  waitMs?: number
  /** Cuts a wait short (server closing). */
  signal?: AbortSignal
}

export interface CallAnswer {
  status: number
  body: JsonObject
}

export interface WebhookService {
  create(body: unknown): Promise<JsonObject>
  list(query: { page?: number; limit?: number; enabled?: boolean }): Promise<Page<JsonObject>>
  get(webhookId: string): Promise<JsonObject>
  update(webhookId: string, body: unknown): Promise<JsonObject>
  delete(webhookId: string): Promise<void>
  /** Handles a call to `/hooks/<endpoint>`; refusals throw HarmoniaError (recorded first). */
  receive(call: InboundCall): Promise<CallAnswer>
  /** Replays a payload through the webhook's mapping (no auth: the caller holds a Harmonia API key). */
  deliver(
    webhookId: string,
    body: unknown,
    options?: { waitMs?: number; signal?: AbortSignal },
  ): Promise<CallAnswer>
  listCalls(webhookId: string, query: { page?: number; limit?: number }): Promise<Page<JsonObject>>
}

export interface WebhookServiceOptions {
  store: Store
  engine: Engine
  logger: Logger
  clock?: Clock
  /** Call records kept per webhook (default MAX_RECORDED_CALLS). */
  maxRecordedCalls?: number
}

interface Compiled {
  updatedAt: string
  mapping: CompiledValue | undefined
}

export function createWebhookService(options: WebhookServiceOptions): WebhookService {
  const { store, engine } = options
  const clock = options.clock ?? systemClock
  const log = options.logger
  const compiledCache = new Map<string, Compiled>()
  const windows = new Map<string, { startMs: number; count: number }>()
  const recordedSincePrune = new Map<string, number>()
  const maxRecordedCalls = options.maxRecordedCalls ?? MAX_RECORDED_CALLS
  const pruneEvery = Math.min(PRUNE_EVERY, maxRecordedCalls)
  const templates = createTemplateService({ store })

  const load = async (webhookId: string): Promise<Webhook> => {
    const doc = await store.getDocument(WEBHOOKS, webhookId)
    if (doc === undefined) {
      throw new NotFoundError('not_found', `Webhook with ID '${webhookId}' not found`, {
        webhook_id: webhookId,
      })
    }
    return doc as Webhook
  }

  const normalize = async (raw: unknown, previous?: Webhook): Promise<Webhook> => {
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
      throw new ValidationError('webhook is invalid', [{ message: 'expected a JSON object' }])
    }
    const body = { ...(previous ?? {}), ...(raw as Record<string, unknown>) }
    const issues: ValidationIssue[] = []
    const str = (field: string, required: boolean): string | null => {
      const value = body[field]
      if (value === undefined || value === null) {
        if (required) issues.push({ field, message: 'is required (a non-empty string)' })
        return null
      }
      if (typeof value !== 'string' || value.trim() === '') {
        issues.push({ field, message: `expected a non-empty string, got ${JSON.stringify(value)}` })
        return null
      }
      return value
    }
    const endpoint = normalizeEndpoint(body['endpoint'], issues)
    const name = body['name'] === undefined ? endpoint : (str('name', true) ?? '')
    const workflowId = str('workflow_id', false)
    const templateId = str('template_id', false)
    if ((workflowId === null) === (templateId === null)) {
      issues.push({ field: 'workflow_id', message: 'give exactly one of workflow_id and template_id' })
    }
    const triggerType = body['trigger_type'] ?? 'http_post'
    if (!(TRIGGER_TYPES as readonly unknown[]).includes(triggerType)) {
      issues.push({ field: 'trigger_type', message: `expected one of ${TRIGGER_TYPES.join(', ')}` })
    }
    const enabled = body['enabled'] ?? true
    if (typeof enabled !== 'boolean') issues.push({ field: 'enabled', message: 'expected true or false' })
    const authType = typeof body['auth_type'] === 'string' ? body['auth_type'] : 'none'
    const authConfig = normalizeAuthConfig(authType, body['auth_config'], issues, previous?.auth_config)
    const mapping = body['input_mapping'] ?? null
    if (mapping !== null) {
      if (typeof mapping !== 'object' || Array.isArray(mapping)) {
        issues.push({
          field: 'input_mapping',
          message: 'expected an object: workflow input name → expression',
        })
      } else {
        issues.push(...compileMapping(mapping as JsonObject).issues)
      }
    }
    const deliveryHeader =
      body['delivery_id_header'] ?? body['idempotency_header'] ?? body['delivery_header'] ?? null
    if (deliveryHeader !== null && (typeof deliveryHeader !== 'string' || deliveryHeader === '')) {
      issues.push({ field: 'delivery_id_header', message: 'expected an HTTP header name' })
    }
    const rate = body['rate_limit_per_minute'] ?? DEFAULT_RATE_LIMIT_PER_MINUTE
    if (typeof rate !== 'number' || !Number.isInteger(rate) || rate < 0) {
      issues.push({ field: 'rate_limit_per_minute', message: 'expected an integer, 0 (unlimited) or more' })
    }
    if (workflowId !== null && issues.length === 0 && (await store.getWorkflow(workflowId)) === undefined) {
      issues.push({ field: 'workflow_id', message: `workflow '${workflowId}' does not exist` })
    }
    if (
      templateId !== null &&
      issues.length === 0 &&
      (await store.getDocument('templates', templateId)) === undefined
    ) {
      issues.push({ field: 'template_id', message: `template '${templateId}' does not exist` })
    }
    if (issues.length > 0) throw new ValidationError('webhook is invalid', issues)
    const now = isoNow(clock)
    return {
      webhook_id: previous?.webhook_id ?? newId('wh'),
      name,
      description: typeof body['description'] === 'string' ? body['description'] : '',
      endpoint,
      trigger_type: triggerType as string,
      workflow_id: workflowId,
      template_id: templateId,
      input_mapping: mapping as JsonObject | null,
      enabled: enabled as boolean,
      auth_type: authType,
      auth_config: authConfig,
      delivery_id_header: deliveryHeader as string | null,
      rate_limit_per_minute: rate as number,
      created_at: previous?.created_at ?? now,
      updated_at: now,
    }
  }

  const assertEndpointFree = async (endpoint: string, webhookId: string): Promise<void> => {
    const found = await store.listDocuments(WEBHOOKS, { where: { endpoint }, limit: 1 })
    const other = found.items[0] as Webhook | undefined
    if (other !== undefined && other.webhook_id !== webhookId) {
      throw new ConflictError(
        `endpoint '${endpoint}' is used by webhook '${other.webhook_id}'; pick another`,
        {
          endpoint,
          webhook_id: other.webhook_id,
        },
      )
    }
  }

  const mappingOf = (webhook: Webhook): CompiledValue | undefined => {
    const cached = compiledCache.get(webhook.webhook_id)
    if (cached !== undefined && cached.updatedAt === webhook.updated_at) return cached.mapping
    const mapping =
      webhook.input_mapping === null ? undefined : compileMapping(webhook.input_mapping).compiled
    compiledCache.set(webhook.webhook_id, { updatedAt: webhook.updated_at, mapping })
    return mapping
  }

  const withinRate = (webhook: Webhook): boolean => {
    if (webhook.rate_limit_per_minute === 0) return true
    const now = clock.now()
    let window = windows.get(webhook.webhook_id)
    if (window === undefined || now - window.startMs >= 60_000) {
      window = { startMs: now, count: 0 }
      windows.set(webhook.webhook_id, window)
    }
    window.count++
    return window.count <= webhook.rate_limit_per_minute
  }

  const record = async (entry: JsonObject): Promise<void> => {
    const callId = timeOrderedId('whc', clock.now())
    try {
      await store.putDocument(WEBHOOK_CALLS, callId, { call_id: callId, ...entry })
      const webhookId = String(entry['webhook_id'])
      const count = (recordedSincePrune.get(webhookId) ?? 0) + 1
      recordedSincePrune.set(webhookId, count % pruneEvery)
      if (count >= pruneEvery) await prune(webhookId)
    } catch (error) {
      log.warn('webhook call not recorded', { error: String(error), webhook_id: entry['webhook_id'] })
    }
  }

  /** Deletes the oldest call records of a webhook beyond MAX_RECORDED_CALLS. */
  const prune = async (webhookId: string): Promise<void> => {
    const where = { webhook_id: webhookId }
    const { total } = await store.listDocuments(WEBHOOK_CALLS, { where, limit: 1 })
    const excess = Math.min(total - maxRecordedCalls, 500)
    if (excess <= 0) return
    const oldest = await store.listDocuments(WEBHOOK_CALLS, { where, limit: excess, sort_order: 'asc' })
    for (const call of oldest.items) await store.deleteDocument(WEBHOOK_CALLS, String(call['call_id']))
  }

  /** Maps, deduplicates, starts; answers 202 (or 200 with the outputs after a wait, or for a duplicate). */
  const start = async (
    webhook: Webhook,
    payload: JsonValue,
    headers: JsonObject,
    query: JsonObject,
    deliveryKey: string | undefined,
    wait: { waitMs?: number | undefined; signal?: AbortSignal | undefined },
  ): Promise<CallAnswer & { duplicate: boolean; executionId: string | undefined }> => {
    const idempotencyKey =
      deliveryKey === undefined ? undefined : `webhook:${webhook.webhook_id}:${deliveryKey}`
    if (idempotencyKey !== undefined) {
      const existing = await findDuplicate(idempotencyKey, webhook.webhook_id)
      if (existing !== undefined)
        return { ...duplicateAnswer(webhook, existing), duplicate: true, executionId: existing }
    }
    const mapping = mappingOf(webhook)
    const scope = { payload, headers, query } as unknown as ExpressionScope
    const mapped = mapping === undefined ? defaultInput(payload) : mapping.evaluate(scope)
    if (typeof mapped !== 'object' || mapped === null || Array.isArray(mapped)) {
      throw new InvalidRequestError(
        `webhook '${webhook.webhook_id}': input_mapping must give an object (the workflow input)`,
      )
    }
    const input = mapped
    const request = await startRequest(webhook, input)
    const record = await engine.startExecution({
      ...request,
      ...(idempotencyKey === undefined ? {} : { idempotency_key: idempotencyKey }),
      execution_options: {},
    })
    const executionId = record.execution_id
    if (wait.waitMs === undefined) {
      return {
        status: 202,
        body: { execution_id: executionId, webhook_id: webhook.webhook_id, status: record.status },
        duplicate: false,
        executionId,
      }
    }
    const finished =
      (await waitFor(executionId, wait.waitMs, wait.signal)) ?? (await store.getExecution(executionId))
    return { ...finishedAnswer(webhook, finished ?? record), duplicate: false, executionId }
  }

  const findDuplicate = async (idempotencyKey: string, webhookId: string): Promise<string | undefined> => {
    const existing = await store.findExecutionByIdempotencyKey(idempotencyKey)
    if (existing !== undefined) return existing.execution_id
    if (await store.markOnce('webhook_delivery', idempotencyKey, DELIVERY_CLAIM_TTL_MS)) return undefined
    // Another node (or request) claimed this delivery a moment ago: answer with its execution once it exists.
    const deadline = clock.now() + 5_000
    while (clock.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50))
      const started = await store.findExecutionByIdempotencyKey(idempotencyKey)
      if (started !== undefined) return started.execution_id
    }
    log.warn('duplicate webhook delivery whose first execution has not started', { webhook_id: webhookId })
    return ''
  }

  const startRequest = async (
    webhook: Webhook,
    input: JsonObject,
  ): Promise<{ workflow_id?: string; workflow?: WorkflowDefinition; input: JsonObject }> => {
    if (webhook.workflow_id !== null) return { workflow_id: webhook.workflow_id, input }
    const template = await templates.get(webhook.template_id!)
    const parameterNames = new Set(Object.keys(template.parameters ?? {}))
    const parameterValues: Record<string, JsonValue> = {}
    const rest: JsonObject = {}
    for (const [key, value] of Object.entries(input)) {
      if (parameterNames.has(key)) parameterValues[key] = value
      else rest[key] = value
    }
    const instance = await templates.instantiate(webhook.template_id!, { parameter_values: parameterValues })
    return { workflow: instance.definition, input: rest }
  }

  const waitFor = async (
    executionId: string,
    waitMs: number,
    signal: AbortSignal | undefined,
  ): Promise<ExecutionRecord | undefined> => {
    let onAbort = (): void => {}
    const aborted = new Promise<undefined>((resolve) => {
      onAbort = () => resolve(undefined)
      signal?.addEventListener('abort', onAbort, { once: true })
    })
    try {
      return await Promise.race([
        engine.waitForExecution(executionId, { timeoutMs: waitMs }).catch(() => undefined),
        aborted,
      ])
    } finally {
      signal?.removeEventListener('abort', onAbort)
    }
  }

  const finishedAnswer = (webhook: Webhook, record: ExecutionRecord): CallAnswer => {
    const finished = FINISHED_EXECUTION_STATUSES.has(record.status)
    return {
      status: finished ? 200 : 202,
      body: {
        execution_id: record.execution_id,
        webhook_id: webhook.webhook_id,
        status: record.status,
        ...(finished ? { output: (record.output ?? null) as JsonValue } : { timed_out: true }),
        ...(record.error === undefined ? {} : { error: record.error as unknown as JsonValue }),
      },
    }
  }

  const duplicateAnswer = (webhook: Webhook, executionId: string): CallAnswer => ({
    status: 200,
    body: {
      execution_id: executionId === '' ? null : executionId,
      webhook_id: webhook.webhook_id,
      duplicate: true,
    },
  })

  const service: WebhookService = {
    async create(body) {
      const webhook = await normalize(body)
      const given = (body as Record<string, unknown>)['webhook_id']
      if (typeof given === 'string' && /^[A-Za-z0-9._:-]{1,128}$/.test(given)) {
        if ((await store.getDocument(WEBHOOKS, given)) !== undefined) {
          throw new ConflictError(`webhook '${given}' already exists`, { webhook_id: given })
        }
        webhook.webhook_id = given
      }
      await assertEndpointFree(webhook.endpoint, webhook.webhook_id)
      await store.putDocument(WEBHOOKS, webhook.webhook_id, webhook)
      return toWire(webhook)
    },
    async list(query) {
      const page = await store.listDocuments(WEBHOOKS, {
        page: query.page ?? 1,
        limit: query.limit ?? 20,
        ...(query.enabled === undefined ? {} : { where: { enabled: query.enabled } }),
      })
      return { ...page, items: page.items.map((item) => toWire(item as Webhook)) }
    },
    async get(webhookId) {
      return toWire(await load(webhookId))
    },
    async update(webhookId, body) {
      const previous = await load(webhookId)
      const webhook = await normalize(body, previous)
      await assertEndpointFree(webhook.endpoint, webhookId)
      await store.putDocument(WEBHOOKS, webhookId, webhook)
      return toWire(webhook)
    },
    async delete(webhookId) {
      await load(webhookId)
      await store.deleteDocument(WEBHOOKS, webhookId)
      compiledCache.delete(webhookId)
      windows.delete(webhookId)
    },

    async receive(call) {
      const receivedAt = isoNow(clock)
      const startedMs = clock.now()
      const endpoint = call.endpoint.replace(/^\/+|\/+$/g, '')
      const found = await store.listDocuments(WEBHOOKS, { where: { endpoint }, limit: 1 })
      const webhook = found.items[0] as Webhook | undefined
      if (webhook === undefined) {
        throw new NotFoundError('not_found', `no webhook listens on endpoint '${endpoint}'`, { endpoint })
      }
      const headers = redactHeaders(call.headers, webhook.auth_config)
      const query = { ...(call.query as JsonObject) }
      let payload: JsonValue = null
      const base: JsonObject = {
        webhook_id: webhook.webhook_id,
        received_at: receivedAt,
        method: call.method,
        source_ip: call.sourceIp,
        headers,
        query,
        source: 'http',
      }
      let deliveryKey: string | undefined
      try {
        if (!webhook.enabled) {
          throw new ConflictError(
            `webhook '${webhook.webhook_id}' is disabled; enable it to accept calls`,
            { webhook_id: webhook.webhook_id },
            'invalid_state',
          )
        }
        if (!methodAllowed(webhook.trigger_type, call.method)) {
          throw new InvalidRequestError(
            `webhook '${webhook.webhook_id}' (trigger_type ${webhook.trigger_type}) does not accept ${call.method}`,
          )
        }
        if (!withinRate(webhook)) {
          throw new HarmoniaError(
            'rate_limit_exceeded',
            `webhook '${webhook.webhook_id}' accepts at most ${webhook.rate_limit_per_minute} calls per minute`,
            { details: { limit: webhook.rate_limit_per_minute, retry_after_seconds: 60 } },
          )
        }
        checkWebhookAuth(webhook.auth_type, webhook.auth_config as AuthConfig, {
          headers: call.headers,
          rawBody: call.rawBody,
          nowMs: clock.now(),
        })
        payload = call.method === 'GET' ? query : parsePayload(call.rawBody, call.headers['content-type'])
        deliveryKey = deliveryKeyOf(webhook, call.headers)
        const answer = await start(webhook, payload, plainHeaders(call.headers), query, deliveryKey, {
          waitMs: call.waitMs,
          signal: call.signal,
        })
        await record({
          ...base,
          payload: recordedPayload(payload),
          ...(deliveryKey === undefined ? {} : { delivery_id: deliveryKey }),
          result: answer.duplicate ? 'duplicate' : 'started',
          status_code: answer.status,
          execution_id: answer.executionId ?? null,
          duration_ms: clock.now() - startedMs,
        })
        return { status: answer.status, body: answer.body }
      } catch (error) {
        const failure =
          error instanceof HarmoniaError
            ? { code: error.code, message: error.message }
            : { code: 'execution_error', message: String(error) }
        await record({
          ...base,
          payload: recordedPayload(payload ?? textExcerpt(call.rawBody)),
          ...(deliveryKey === undefined ? {} : { delivery_id: deliveryKey }),
          result: failure.code === 'authentication_failed' ? 'rejected' : 'failed',
          status_code: statusForCode(failure.code),
          error: failure,
          execution_id: null,
          duration_ms: clock.now() - startedMs,
        })
        throw error
      }
    },

    async deliver(webhookId, raw, deliverOptions = {}) {
      const webhook = await load(webhookId)
      const body = (raw ?? {}) as Record<string, unknown>
      const payload = (Object.hasOwn(body, 'payload') ? body['payload'] : body) as JsonValue
      const headers = (isObject(body['headers']) ? body['headers'] : {}) as JsonObject
      const query = (isObject(body['query']) ? body['query'] : {}) as JsonObject
      const startedMs = clock.now()
      const base: JsonObject = {
        webhook_id: webhook.webhook_id,
        received_at: isoNow(clock),
        method: 'POST',
        source_ip: null,
        headers: redactHeaders(headers as Record<string, string>, webhook.auth_config),
        query,
        source: 'replay',
        payload: recordedPayload(payload),
      }
      try {
        const answer = await start(webhook, payload, headers, query, undefined, deliverOptions)
        await record({
          ...base,
          result: 'started',
          status_code: answer.status,
          execution_id: answer.executionId ?? null,
          duration_ms: clock.now() - startedMs,
        })
        return { status: answer.status, body: answer.body }
      } catch (error) {
        const failure =
          error instanceof HarmoniaError
            ? { code: error.code, message: error.message }
            : { code: 'execution_error', message: String(error) }
        await record({
          ...base,
          result: 'failed',
          status_code: statusForCode(failure.code),
          error: failure,
          execution_id: null,
          duration_ms: clock.now() - startedMs,
        })
        throw error
      }
    },

    async listCalls(webhookId, query) {
      await load(webhookId)
      return store.listDocuments(WEBHOOK_CALLS, {
        where: { webhook_id: webhookId },
        page: query.page ?? 1,
        limit: query.limit ?? 20,
        sort_order: 'desc',
      })
    },
  }
  return service
}

function normalizeEndpoint(raw: unknown, issues: ValidationIssue[]): string {
  if (typeof raw !== 'string' || raw.trim() === '') {
    issues.push({ field: 'endpoint', message: 'is required: a path such as "github/push"' })
    return ''
  }
  const endpoint = raw
    .trim()
    .replace(/^\/+|\/+$/g, '')
    .replace(/^(?:api\/(?:v1\/)?)?hooks\//, '')
  if (!ENDPOINT.test(endpoint) || endpoint.length > 200) {
    issues.push({
      field: 'endpoint',
      message: `'${raw}' is not a usable path: use letters, digits, '.', '_', '~', '-' and '/' (at most 200 characters)`,
    })
  }
  return endpoint
}

/**
 * Compiles `input_mapping`, input name → value: strings with `${...}` are expressions, and a bare path such
 * as `payload.user.id` is read as one. The reference's other form, payload path → input name
 * (`{"user.id": "user_id"}`: a key that is a dotted path, a value that is a plain name, or a whole mapping
 * of paths to plain names), is turned around.
 */
function compileMapping(mapping: JsonObject): { compiled: CompiledValue; issues: ValidationIssue[] } {
  const prepared: JsonObject = {}
  // A mapping whose every value is a plain input name (not `payload`, `headers` or `query`) and every key a
  // path is the reference's form as a whole: `{"count": "n"}` reads payload.count into n, where a constant
  // string "n" would be the other reading.
  const entries = Object.entries(mapping)
  const referenceForm =
    entries.length > 0 &&
    entries.every(
      ([key, value]) =>
        typeof value === 'string' &&
        INPUT_NAME.test(value) &&
        !MAPPING_ROOTS.has(value) &&
        (INPUT_NAME.test(key) || DOTTED_PATH.test(key)),
    )
  for (const [key, value] of entries) {
    if (
      typeof value === 'string' &&
      (referenceForm || DOTTED_PATH.test(key)) &&
      INPUT_NAME.test(value) &&
      !MAPPING_ROOTS.has(value)
    ) {
      const path = /^(payload|headers|query)\./.test(key) ? key : `payload.${key}`
      prepared[value] = `\${${path}}`
      continue
    }
    prepared[key] =
      typeof value === 'string' && !value.includes('${') && BARE_PATH.test(value) ? `\${${value}}` : value
  }
  const result = analyzeValue(
    prepared,
    { field: 'input_mapping' },
    { allowedRoots: [], variables: MAPPING_VARIABLES },
  )
  return { compiled: result.compiled, issues: result.issues }
}

const INPUT_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/
const MAPPING_ROOTS = new Set(['payload', 'headers', 'query'])
const DOTTED_PATH = /^[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*|\[\d+\])+$/
const BARE_PATH = /^(?:payload|headers|query)(?:\.[A-Za-z_][A-Za-z0-9_]*|\[(?:\d+|'[^']*'|"[^"]*")\])*$/

function defaultInput(payload: JsonValue): JsonObject {
  if (isObject(payload)) return payload as JsonObject
  return payload === null ? {} : { payload }
}

function methodAllowed(triggerType: string, method: string): boolean {
  if (triggerType === 'http_post') return method === 'POST'
  if (triggerType === 'http_get') return method === 'GET' || method === 'POST'
  return method === 'POST' || method === 'GET'
}

function deliveryKeyOf(webhook: Webhook, headers: InboundCall['headers']): string | undefined {
  const pick = (name: string): string | undefined => {
    const value = headers[name.toLowerCase()]
    const text = Array.isArray(value) ? value[0] : value
    return text === undefined || text === '' ? undefined : text.slice(0, 255)
  }
  if (webhook.delivery_id_header !== null) {
    const configured = pick(webhook.delivery_id_header)
    if (configured !== undefined) return configured
  }
  for (const name of DELIVERY_ID_HEADERS) {
    const value = pick(name)
    if (value !== undefined) return value
  }
  return undefined
}

/** Headers that identify a delivery without configuration: the standard one, Harmonia's own, GitHub's. */
export const DELIVERY_ID_HEADERS = [
  'idempotency-key',
  'x-harmonia-delivery',
  'x-github-delivery',
  'x-delivery-id',
]

/** Headers for `input_mapping` (values as sent: mapping may need them; only the record is masked). */
function plainHeaders(headers: InboundCall['headers']): JsonObject {
  const out: JsonObject = {}
  for (const [name, value] of Object.entries(headers)) if (value !== undefined) out[name] = value
  return out
}

function parsePayload(raw: Buffer, contentType: string | string[] | undefined): JsonValue {
  const type = String(Array.isArray(contentType) ? contentType[0] : (contentType ?? '')).toLowerCase()
  const text = raw.toString('utf8')
  if (text.trim() === '') return null
  if (type.includes('json') || type === '') {
    try {
      return JSON.parse(text) as JsonValue
    } catch {
      if (type.includes('json')) throw new InvalidRequestError('webhook body is not valid JSON')
      return text
    }
  }
  if (type.startsWith('application/x-www-form-urlencoded')) {
    return Object.fromEntries(new URLSearchParams(text)) as JsonObject
  }
  return text
}

function recordedPayload(payload: JsonValue): JsonValue {
  const text = JSON.stringify(payload) ?? 'null'
  if (text.length <= RECORDED_PAYLOAD_CHARS) return payload
  return { truncated: true, excerpt: text.slice(0, RECORDED_PAYLOAD_CHARS) }
}

function textExcerpt(raw: Buffer): JsonValue {
  return raw.length === 0 ? null : raw.toString('utf8').slice(0, RECORDED_PAYLOAD_CHARS)
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** A webhook as answered: secrets masked; the URL path it listens on. */
function toWire(webhook: Webhook): JsonObject {
  return {
    ...webhook,
    auth_config: maskAuthConfig(webhook.auth_config),
    hook_path: `/hooks/${webhook.endpoint}`,
  }
}
