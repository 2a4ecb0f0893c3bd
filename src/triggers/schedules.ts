/**
 * Schedules: cron expressions (croner, with a time zone) that start a saved workflow, or a template
 * instantiated once when the schedule is created, with a given input.
 *
 * Each node arms one timer per enabled schedule, for its next due slot (no polling). A slot fires once
 * across restarts and across nodes sharing the store: `markOnce('schedule-slots', '<id>:<slot ISO>')`
 * claims it, and the start carries the idempotency key `schedule:<id>:<slot ISO>`.
 *
 * After downtime (slots that fell due while no node ran), the schedule's `misfire_policy` decides:
 * `skip` (default) fires nothing for them, `run_once` fires the latest missed slot once.
 */
import { Cron } from 'croner'
import { InvalidRequestError, NotFoundError, ValidationError } from '../core/errors.ts'
import type { Engine } from '../core/engine-api.ts'
import { newId } from '../core/ids.ts'
import type { Logger } from '../core/logger.ts'
import type { JsonObject } from '../core/model.ts'
import type { Store } from '../core/store.ts'
import type { TemplateService } from '../templates/template-service.ts'

export const MisfirePolicy = { skip: 'skip', run_once: 'run_once' } as const
export type MisfirePolicy = (typeof MisfirePolicy)[keyof typeof MisfirePolicy]

export interface Schedule {
  schedule_id: string
  name: string
  cron: string
  timezone: string
  workflow_id: string
  template_id?: string
  input: JsonObject
  enabled: boolean
  misfire_policy: MisfirePolicy
  /** The latest slot fired (ISO), by any node. */
  last_slot?: string
  last_execution_id?: string
  created_at: string
  updated_at: string
}

export interface ScheduleView extends Schedule {
  /** The next due slots (ISO), none when disabled. */
  next_runs: string[]
}

export interface ScheduleService {
  create(body: unknown): Promise<ScheduleView>
  get(scheduleId: string): Promise<ScheduleView>
  list(): Promise<ScheduleView[]>
  update(scheduleId: string, changes: unknown): Promise<ScheduleView>
  setEnabled(scheduleId: string, enabled: boolean): Promise<ScheduleView>
  delete(scheduleId: string): Promise<void>
  /** Slots fired for a schedule: `{slot, execution_id}`, oldest first. */
  runs(scheduleId: string): Promise<Array<{ slot: string; execution_id: string }>>
  start(): Promise<void>
  stop(): void
}

export interface ScheduleServiceOptions {
  store: Store
  engine: Engine
  templates: TemplateService
  logger: Logger
  /** Current time in ms; tests may move it. */
  now?: () => number
}

const COLLECTION = 'schedules'
const RUNS = 'schedule_runs'
const CHANGED = 'harmonia_schedules'
const NEXT_RUNS = 5
/** setTimeout's limit; longer waits re-arm. */
const MAX_TIMER_MS = 2 ** 31 - 1

export function createScheduleService(options: ScheduleServiceOptions): ScheduleService {
  const { store, engine, templates, logger } = options
  const now = options.now ?? Date.now
  const timers = new Map<string, NodeJS.Timeout>()
  let running = false
  let unlisten: (() => void) | undefined

  const read = async (scheduleId: string): Promise<Schedule> => {
    const doc = await store.getDocument(COLLECTION, scheduleId)
    if (doc === undefined) {
      throw new NotFoundError('not_found', `Schedule with ID '${scheduleId}' not found`, {
        schedule_id: scheduleId,
      })
    }
    return doc as unknown as Schedule
  }

  const view = (schedule: Schedule): ScheduleView => {
    const next: string[] = []
    if (schedule.enabled) {
      const cron = cronOf(schedule)
      let from = new Date(now())
      for (let i = 0; i < NEXT_RUNS; i++) {
        const at = cron.nextRun(from)
        if (at === null) break
        next.push(at.toISOString())
        from = at
      }
    }
    return { ...schedule, next_runs: next }
  }

  const save = async (schedule: Schedule): Promise<void> => {
    await store.putDocument(COLLECTION, schedule.schedule_id, schedule as unknown as JsonObject)
    await store.notify(CHANGED, schedule.schedule_id)
  }

  const fire = async (scheduleId: string, slot: Date): Promise<void> => {
    const slotIso = slot.toISOString()
    if (!(await store.markOnce('schedule-slots', `${scheduleId}:${slotIso}`))) return
    const schedule = (await store.getDocument(COLLECTION, scheduleId)) as unknown as Schedule | undefined
    if (schedule === undefined || !schedule.enabled) return
    try {
      const execution = await engine.startExecution({
        workflow_id: schedule.workflow_id,
        input: schedule.input,
        idempotency_key: `schedule:${scheduleId}:${slotIso}`,
      })
      await store.putDocument(RUNS, `${scheduleId}:${slotIso}`, {
        schedule_id: scheduleId,
        slot: slotIso,
        execution_id: execution.execution_id,
      })
      const latest = (await store.getDocument(COLLECTION, scheduleId)) as unknown as Schedule | undefined
      if (latest !== undefined && (latest.last_slot === undefined || latest.last_slot < slotIso)) {
        await store.putDocument(COLLECTION, scheduleId, {
          ...latest,
          last_slot: slotIso,
          last_execution_id: execution.execution_id,
        } as unknown as JsonObject)
      }
      logger.info('schedule fired', { scheduleId, slot: slotIso, executionId: execution.execution_id })
    } catch (error) {
      logger.warn('schedule could not start its workflow', {
        scheduleId,
        slot: slotIso,
        error: error instanceof Error ? error.message : String(error),
      })
    }
  }

  const disarm = (scheduleId: string): void => {
    const timer = timers.get(scheduleId)
    if (timer !== undefined) clearTimeout(timer)
    timers.delete(scheduleId)
  }

  /** Arms the timer for the first slot after `after` (ms). */
  const arm = (schedule: Schedule, after: number): void => {
    disarm(schedule.schedule_id)
    if (!running || !schedule.enabled) return
    const slot = cronOf(schedule).nextRun(new Date(after))
    if (slot === null) return
    const wait = (): void => {
      const delayMs = Math.min(Math.max(0, slot.getTime() - now()), MAX_TIMER_MS)
      const timer = setTimeout(() => {
        if (!running) return
        if (now() < slot.getTime()) {
          wait()
          return
        }
        void fire(schedule.schedule_id, slot).finally(() => {
          if (!running || timers.get(schedule.schedule_id) !== timer) return
          void store.getDocument(COLLECTION, schedule.schedule_id).then((doc) => {
            if (doc !== undefined && timers.get(schedule.schedule_id) === timer) {
              arm(doc as unknown as Schedule, slot.getTime())
            }
          })
        })
      }, delayMs)
      timer.unref()
      timers.set(schedule.schedule_id, timer)
    }
    wait()
  }

  /** On start: applies the misfire policy to slots missed while no node ran, then arms the timer. */
  const resume = async (schedule: Schedule): Promise<void> => {
    if (!schedule.enabled) return
    const at = now()
    if (schedule.misfire_policy === 'run_once') {
      const since = new Date(schedule.last_slot ?? schedule.updated_at)
      const cron = cronOf(schedule)
      let missed: Date | undefined
      // The latest slot in (since, now]: previousRuns gives it directly.
      const previous = cron.previousRuns(1, new Date(at))[0]
      if (previous !== undefined && previous.getTime() > since.getTime()) missed = previous
      if (missed !== undefined) await fire(schedule.schedule_id, missed)
    }
    arm(schedule, at)
  }

  const reload = async (scheduleId: string): Promise<void> => {
    const doc = await store.getDocument(COLLECTION, scheduleId)
    if (doc === undefined) disarm(scheduleId)
    else arm(doc as unknown as Schedule, now())
  }

  return {
    async create(body) {
      const draft = checkBody(body, true)
      const timestamp = new Date(now()).toISOString()
      let workflowId = draft.workflow_id
      if (workflowId === undefined) {
        const instance = await templates.instantiate(draft.template_id!, {
          ...(draft.parameter_values === undefined ? {} : { parameter_values: draft.parameter_values }),
          ...(draft.template_version === undefined ? {} : { version: draft.template_version }),
        })
        workflowId = instance.workflow!.workflow_id
      }
      const schedule: Schedule = {
        schedule_id: draft.schedule_id ?? newId('sched'),
        name: draft.name ?? draft.schedule_id ?? 'schedule',
        cron: draft.cron!,
        timezone: draft.timezone ?? 'UTC',
        workflow_id: workflowId,
        ...(draft.template_id === undefined ? {} : { template_id: draft.template_id }),
        input: draft.input ?? {},
        enabled: draft.enabled ?? true,
        misfire_policy: draft.misfire_policy ?? 'skip',
        created_at: timestamp,
        updated_at: timestamp,
      }
      await save(schedule)
      arm(schedule, now())
      return view(schedule)
    },
    async get(scheduleId) {
      return view(await read(scheduleId))
    },
    async list() {
      const all: ScheduleView[] = []
      for (let page = 1; ; page++) {
        const answer = await store.listDocuments(COLLECTION, { page, limit: 200 })
        for (const doc of answer.items) all.push(view(doc as unknown as Schedule))
        if (answer.items.length === 0 || page * answer.limit >= answer.total) break
      }
      return all
    },
    async update(scheduleId, changes) {
      const current = await read(scheduleId)
      const draft = checkBody({ ...current, ...(changes as object) }, false)
      const next: Schedule = {
        ...current,
        ...(draft.name === undefined ? {} : { name: draft.name }),
        cron: draft.cron ?? current.cron,
        timezone: draft.timezone ?? current.timezone,
        input: draft.input ?? current.input,
        enabled: draft.enabled ?? current.enabled,
        misfire_policy: draft.misfire_policy ?? current.misfire_policy,
        ...(draft.workflow_id === undefined ? {} : { workflow_id: draft.workflow_id }),
        updated_at: new Date(now()).toISOString(),
      }
      await save(next)
      arm(next, now())
      return view(next)
    },
    async setEnabled(scheduleId, enabled) {
      const current = await read(scheduleId)
      const next = { ...current, enabled, updated_at: new Date(now()).toISOString() }
      await save(next)
      if (enabled) arm(next, now())
      else disarm(scheduleId)
      return view(next)
    },
    async delete(scheduleId) {
      await read(scheduleId)
      await store.deleteDocument(COLLECTION, scheduleId)
      disarm(scheduleId)
      await store.notify(CHANGED, scheduleId)
    },
    async runs(scheduleId) {
      await read(scheduleId)
      const runs: Array<{ slot: string; execution_id: string }> = []
      for (let page = 1; ; page++) {
        const answer = await store.listDocuments(RUNS, {
          page,
          limit: 500,
          where: { schedule_id: scheduleId },
        })
        for (const doc of answer.items)
          runs.push({ slot: String(doc.slot), execution_id: String(doc.execution_id) })
        if (answer.items.length === 0 || page * answer.limit >= answer.total) break
      }
      return runs.sort((a, b) => a.slot.localeCompare(b.slot))
    },
    async start() {
      if (running) return
      running = true
      unlisten = store.listen(CHANGED, (scheduleId) => {
        if (running) void reload(scheduleId)
      })
      for (const schedule of await this.list()) await resume(schedule)
    },
    stop() {
      running = false
      unlisten?.()
      for (const id of [...timers.keys()]) disarm(id)
    },
  }
}

function cronOf(schedule: Pick<Schedule, 'cron' | 'timezone'>): Cron {
  return new Cron(schedule.cron, { timezone: schedule.timezone, paused: true })
}

interface ScheduleDraft {
  schedule_id?: string
  name?: string
  cron?: string
  timezone?: string
  workflow_id?: string
  template_id?: string
  template_version?: number
  parameter_values?: JsonObject
  input?: JsonObject
  enabled?: boolean
  misfire_policy?: MisfirePolicy
}

const SCHEDULE_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/

/** Checks a schedule body, listing every problem (ValidationError naming the fields). */
function checkBody(body: unknown, creating: boolean): ScheduleDraft {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new InvalidRequestError('a schedule must be a JSON object')
  }
  const draft = body as ScheduleDraft & Record<string, unknown>
  const errors: Array<{ field: string; message: string }> = []
  const problem = (field: string, message: string): void => {
    errors.push({ field, message })
  }
  if (
    draft.schedule_id !== undefined &&
    (typeof draft.schedule_id !== 'string' || !SCHEDULE_ID.test(draft.schedule_id))
  )
    problem('schedule_id', 'must be letters, digits, ".", "_" or "-" (at most 128)')
  if (draft.name !== undefined && typeof draft.name !== 'string') problem('name', 'must be a string')
  if (typeof draft.cron !== 'string' || draft.cron.trim() === '') {
    problem(
      'cron',
      'is required: a cron expression such as "*/5 * * * *" (an optional leading seconds field)',
    )
  }
  if (draft.timezone !== undefined && typeof draft.timezone !== 'string')
    problem('timezone', 'must be an IANA time zone name')
  if (typeof draft.cron === 'string' && draft.cron.trim() !== '') {
    try {
      new Cron(draft.cron, { timezone: draft.timezone ?? 'UTC', paused: true }).nextRun()
    } catch (error) {
      problem(
        'cron',
        `'${draft.cron}' is not a valid cron expression${draft.timezone === undefined ? '' : ` in time zone '${draft.timezone}'`}: ${error instanceof Error ? error.message : String(error)}`,
      )
    }
  }
  if (creating) {
    const targets = [draft.workflow_id, draft.template_id].filter((value) => value !== undefined)
    if (targets.length !== 1) problem('workflow_id', 'give exactly one of workflow_id or template_id')
  }
  if (draft.workflow_id !== undefined && typeof draft.workflow_id !== 'string')
    problem('workflow_id', 'must be a string')
  if (draft.template_id !== undefined && typeof draft.template_id !== 'string')
    problem('template_id', 'must be a string')
  if (draft.template_version !== undefined && !Number.isInteger(draft.template_version))
    problem('template_version', 'must be an integer')
  for (const field of ['input', 'parameter_values'] as const) {
    const value = draft[field]
    if (value !== undefined && (typeof value !== 'object' || value === null || Array.isArray(value)))
      problem(field, 'must be an object')
  }
  if (draft.enabled !== undefined && typeof draft.enabled !== 'boolean')
    problem('enabled', 'must be true or false')
  if (draft.misfire_policy !== undefined && !Object.values(MisfirePolicy).includes(draft.misfire_policy))
    problem(
      'misfire_policy',
      `must be one of ${Object.values(MisfirePolicy).join(', ')}; got '${String(draft.misfire_policy)}'`,
    )
  if (errors.length > 0) {
    throw new ValidationError('invalid schedule', errors)
  }
  return draft
}
