/**
 * Event triggers: start workflow B when an execution of workflow A completes or fails, with B's input
 * mapped by expressions over A's execution (`${output.x}`, `${input.x}`, `${status}`, `${error}`,
 * `${execution_id}`).
 *
 * Durable: when A's execution ends, a pending row per matching trigger is written in the same transaction
 * as the end event (the engine's event write hook: an outbox), so a crash between A's end and B's start
 * loses nothing; the pending rows are worked off after the event is published and again on start.
 * `markOnce('event-triggers', '<trigger>:<execution>')` and the start's idempotency key
 * `trigger:<trigger>:<execution>` make sure B starts once even when several nodes see the end.
 */
import { analyzeValue } from '../core/expressions.ts'
import type { ExpressionScope } from '../core/compiled-workflow.ts'
import { InvalidRequestError, NotFoundError, ValidationError, type ValidationIssue } from '../core/errors.ts'
import type { Engine } from '../core/engine-api.ts'
import type { ExecutionEvent } from '../core/events.ts'
import { newId } from '../core/ids.ts'
import type { Logger } from '../core/logger.ts'
import type { JsonObject, JsonValue } from '../core/model.ts'
import type { DocumentWrite, Store } from '../core/store.ts'

export const TriggerEvent = { completed: 'completed', failed: 'failed' } as const
export type TriggerEvent = (typeof TriggerEvent)[keyof typeof TriggerEvent]

export interface EventTrigger {
  trigger_id: string
  name: string
  /** Workflow A, whose executions are watched. */
  source_workflow_id: string
  /** Which ends of A's executions start B. */
  on: TriggerEvent[]
  /** Workflow B. */
  workflow_id: string
  /** B's input: values with `${...}` over `output`, `input`, `status`, `error`, `execution_id`, `workflow_id`. */
  input_mapping: JsonObject
  enabled: boolean
  created_at: string
  updated_at: string
}

export interface EventTriggerService {
  create(body: unknown): Promise<EventTrigger>
  get(triggerId: string): Promise<EventTrigger>
  list(): Promise<EventTrigger[]>
  update(triggerId: string, changes: unknown): Promise<EventTrigger>
  delete(triggerId: string): Promise<void>
  /** Executions started by a trigger: `{source_execution_id, execution_id}`. */
  runs(triggerId: string): Promise<JsonObject[]>
  /** Installs the outbox hook and works off rows left by a crash. */
  start(): Promise<void>
  stop(): Promise<void>
}

const COLLECTION = 'event_triggers'
const RUNS = 'event_trigger_runs'
const PENDING = 'event_trigger_pending'
const CHANGED = 'harmonia_event_triggers'
const VARIABLES = ['output', 'input', 'status', 'error', 'execution_id', 'workflow_id'] as const
const ENDS: Record<string, TriggerEvent> = { execution_completed: 'completed', execution_failed: 'failed' }

export function createEventTriggerService(options: {
  store: Store
  engine: Engine
  logger: Logger
}): EventTriggerService {
  const { store, engine, logger } = options
  const removers: Array<() => void> = []
  /** Enabled triggers by source workflow: the write hook is synchronous, so it reads this cache. */
  let bySource = new Map<string, EventTrigger[]>()
  const refresh = async (): Promise<void> => {
    const next = new Map<string, EventTrigger[]>()
    for (const trigger of await listAll()) {
      if (!trigger.enabled) continue
      next.set(trigger.source_workflow_id, [...(next.get(trigger.source_workflow_id) ?? []), trigger])
    }
    bySource = next
  }
  let refreshing: Promise<void> | undefined
  /** One refresh at a time; callers during one share it. */
  const refreshOnce = (): Promise<void> => {
    refreshing ??= refresh().finally(() => {
      refreshing = undefined
    })
    return refreshing
  }
  const changed = async (): Promise<void> => {
    await refresh()
    await store.notify(CHANGED, '')
  }

  const read = async (triggerId: string): Promise<EventTrigger> => {
    const doc = await store.getDocument(COLLECTION, triggerId)
    if (doc === undefined) {
      throw new NotFoundError('not_found', `Trigger with ID '${triggerId}' not found`, {
        trigger_id: triggerId,
      })
    }
    return doc as unknown as EventTrigger
  }

  const listAll = async (): Promise<EventTrigger[]> => {
    const all: EventTrigger[] = []
    for (let page = 1; ; page++) {
      const answer = await store.listDocuments(COLLECTION, { page, limit: 200 })
      for (const doc of answer.items) all.push(doc as unknown as EventTrigger)
      if (answer.items.length === 0 || page * answer.limit >= answer.total) break
    }
    return all
  }

  const fire = async (trigger: EventTrigger, event: ExecutionEvent, end: TriggerEvent): Promise<void> => {
    const sourceId = event.execution_id
    if (!(await store.markOnce('event-triggers', `${trigger.trigger_id}:${sourceId}`))) return
    await startTarget(trigger, event, end)
  }

  const startTarget = async (
    trigger: EventTrigger,
    event: ExecutionEvent,
    end: TriggerEvent,
  ): Promise<void> => {
    const sourceId = event.execution_id
    try {
      const source = await store.getExecution(sourceId)
      const scope = {
        output: (source?.output ?? event.data.output ?? null) as JsonValue,
        input: (source?.input ?? {}) as JsonValue,
        status: end,
        error: (source?.error ?? event.data.error ?? null) as JsonValue,
        execution_id: sourceId,
        workflow_id: event.workflow_id,
      } as unknown as ExpressionScope
      // Without a mapping, B's input is A's output (when it is an object).
      const output = scope as unknown as { output: JsonValue }
      const input =
        Object.keys(trigger.input_mapping).length === 0
          ? isObject(output.output)
            ? output.output
            : {}
          : compileMapping(trigger.input_mapping).compiled.evaluate(scope)
      const execution = await engine.startExecution({
        workflow_id: trigger.workflow_id,
        input: input as JsonObject,
        idempotency_key: `trigger:${trigger.trigger_id}:${sourceId}`,
      })
      await store.putDocument(RUNS, `${trigger.trigger_id}:${sourceId}`, {
        trigger_id: trigger.trigger_id,
        source_execution_id: sourceId,
        execution_id: execution.execution_id,
        at: new Date().toISOString(),
      })
      logger.info('event trigger started a workflow', {
        triggerId: trigger.trigger_id,
        sourceExecutionId: sourceId,
        executionId: execution.execution_id,
      })
    } catch (error) {
      logger.warn('event trigger could not start its workflow', {
        triggerId: trigger.trigger_id,
        sourceExecutionId: sourceId,
        error: error instanceof Error ? error.message : String(error),
      })
    }
  }

  /** The outbox: one pending row per matching trigger, in the same transaction as A's end event. */
  const pendingWrites = (event: ExecutionEvent): DocumentWrite[] => {
    const end = ENDS[event.type]
    if (end === undefined) return []
    return (bySource.get(event.workflow_id) ?? [])
      .filter((trigger) => trigger.on.includes(end))
      .map((trigger) => ({
        collection: PENDING,
        id: `${trigger.trigger_id}:${event.execution_id}`,
        doc: {
          trigger_id: trigger.trigger_id,
          end,
          event: { ...event, data: {} } as unknown as JsonObject,
        },
      }))
  }

  let draining: Promise<void> = Promise.resolve()
  /** Works off the pending rows (serialized within the process). */
  const drain = (): Promise<void> => {
    draining = draining.then(async () => {
      for (;;) {
        const page = await store.listDocuments(PENDING, { page: 1, limit: 100 })
        if (page.items.length === 0) return
        for (const row of page.items) {
          const trigger = (await store.getDocument(COLLECTION, String(row.trigger_id))) as unknown as
            EventTrigger | undefined
          const event = row.event as unknown as ExecutionEvent
          if (trigger !== undefined && trigger.enabled) {
            await fire(trigger, event, row.end as TriggerEvent)
          }
          await store.deleteDocument(PENDING, `${String(row.trigger_id)}:${event.execution_id}`)
        }
      }
    })
    draining = draining.catch((error: unknown) =>
      logger.warn('event triggers could not be worked off', {
        error: error instanceof Error ? error.message : String(error),
      }),
    )
    return draining
  }

  return {
    async create(body) {
      const draft = check(body, true)
      const timestamp = new Date().toISOString()
      const trigger: EventTrigger = {
        trigger_id: draft.trigger_id ?? newId('trigger'),
        name: draft.name ?? 'trigger',
        source_workflow_id: draft.source_workflow_id!,
        on: draft.on ?? ['completed'],
        workflow_id: draft.workflow_id!,
        input_mapping: draft.input_mapping ?? {},
        enabled: draft.enabled ?? true,
        created_at: timestamp,
        updated_at: timestamp,
      }
      await store.putDocument(COLLECTION, trigger.trigger_id, trigger as unknown as JsonObject)
      await changed()
      return trigger
    },
    get: read,
    list: listAll,
    async update(triggerId, changes) {
      const current = await read(triggerId)
      const draft = check({ ...current, ...(changes as object) }, false)
      const next: EventTrigger = {
        ...current,
        ...(draft as Partial<EventTrigger>),
        trigger_id: triggerId,
        created_at: current.created_at,
        updated_at: new Date().toISOString(),
      }
      await store.putDocument(COLLECTION, triggerId, next as unknown as JsonObject)
      await changed()
      return next
    },
    async delete(triggerId) {
      await read(triggerId)
      await store.deleteDocument(COLLECTION, triggerId)
      await changed()
    },
    async runs(triggerId) {
      await read(triggerId)
      const answer = await store.listDocuments(RUNS, {
        page: 1,
        limit: 500,
        where: { trigger_id: triggerId },
      })
      return answer.items
    },
    async start() {
      if (removers.length > 0) return
      await refresh()
      removers.push(engine.addEventWriteHook(pendingWrites))
      removers.push(
        engine.bus.subscribe((event) => {
          const end = ENDS[event.type]
          if (end === undefined) return
          // The cache may be stale (a trigger created on another node whose wake-up has not arrived):
          // refreshed triggers that match fire directly too; markOnce keeps it to one start.
          void refreshOnce()
            .then(async () => {
              for (const trigger of bySource.get(event.workflow_id) ?? []) {
                if (trigger.on.includes(end)) await fire(trigger, event, end)
              }
            })
            .then(drain)
            .catch((error: unknown) =>
              logger.warn('event triggers could not be read', {
                error: error instanceof Error ? error.message : String(error),
              }),
            )
        }),
      )
      removers.push(store.listen(CHANGED, () => void refresh().catch(() => {})))
      // Ends written before a crash or a restart.
      await drain()
    },
    async stop() {
      for (const remove of removers.splice(0)) remove()
      await draining
    },
  }
}

function compileMapping(mapping: JsonObject): ReturnType<typeof analyzeValue> {
  return analyzeValue(mapping, { field: 'input_mapping' }, { allowedRoots: [], variables: VARIABLES })
}

interface TriggerDraft {
  trigger_id?: string
  name?: string
  source_workflow_id?: string
  on?: TriggerEvent[]
  workflow_id?: string
  input_mapping?: JsonObject
  enabled?: boolean
}

function check(body: unknown, creating: boolean): TriggerDraft {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new InvalidRequestError('an event trigger must be a JSON object')
  }
  const draft = body as TriggerDraft & Record<string, unknown>
  const issues: ValidationIssue[] = []
  for (const field of ['source_workflow_id', 'workflow_id'] as const) {
    if (typeof draft[field] !== 'string' || draft[field] === '') {
      if (creating || draft[field] !== undefined)
        issues.push({ field, message: 'is required: a workflow id' })
    }
  }
  if (
    draft.on !== undefined &&
    (!Array.isArray(draft.on) || draft.on.length === 0 || draft.on.some((end) => !(end in TriggerEvent)))
  ) {
    issues.push({ field: 'on', message: 'must be a non-empty list of "completed" and/or "failed"' })
  }
  if (draft.enabled !== undefined && typeof draft.enabled !== 'boolean') {
    issues.push({ field: 'enabled', message: 'must be true or false' })
  }
  if (draft.input_mapping !== undefined) {
    if (
      typeof draft.input_mapping !== 'object' ||
      draft.input_mapping === null ||
      Array.isArray(draft.input_mapping)
    ) {
      issues.push({
        field: 'input_mapping',
        message: 'must be an object of input name → value or ${...} expression',
      })
    } else {
      issues.push(...compileMapping(draft.input_mapping).issues)
    }
  }
  if (issues.length > 0) throw new ValidationError('invalid event trigger', issues)
  return draft
}

function isObject(value: JsonValue): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}
