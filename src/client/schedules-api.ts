/**
 * The SDK's schedules and event triggers: cron schedules that start a workflow or a template, and
 * triggers that start workflow B when an execution of workflow A completes or fails (docs/triggers.md).
 */
import type { CallOptions } from './harmonia-client.ts'
import type { JsonObject } from './wire-types.ts'

export interface ScheduleInput {
  schedule_id?: string
  name?: string
  /** Five fields, or six with seconds first (croner). */
  cron: string
  /** IANA name; default UTC. */
  timezone?: string
  workflow_id?: string
  template_id?: string
  template_version?: number
  parameter_values?: JsonObject
  input?: JsonObject
  enabled?: boolean
  /** After downtime: `skip` (default) or `run_once` (the latest missed slot). */
  misfire_policy?: 'skip' | 'run_once'
}

export interface Schedule {
  schedule_id: string
  name: string
  cron: string
  timezone: string
  workflow_id: string
  template_id?: string
  input: JsonObject
  enabled: boolean
  misfire_policy: 'skip' | 'run_once'
  last_slot?: string
  last_execution_id?: string
  /** The next due slots (ISO); none when disabled. */
  next_runs: string[]
  created_at: string
  updated_at: string
}

export interface EventTriggerInput {
  trigger_id?: string
  name?: string
  source_workflow_id: string
  on?: Array<'completed' | 'failed'>
  workflow_id: string
  /** B's input: values with `${...}` over `output`, `input`, `status`, `error`, `execution_id`. */
  input_mapping?: JsonObject
  enabled?: boolean
}

export interface EventTrigger extends Required<Omit<EventTriggerInput, 'trigger_id'>> {
  trigger_id: string
  created_at: string
  updated_at: string
}

export interface ItemList<T> {
  items: T[]
  total: number
}

export interface SchedulesApi {
  create(schedule: ScheduleInput, options?: CallOptions): Promise<Schedule>
  list(options?: CallOptions): Promise<ItemList<Schedule>>
  get(scheduleId: string, options?: CallOptions): Promise<Schedule>
  update(scheduleId: string, changes: Partial<ScheduleInput>, options?: CallOptions): Promise<Schedule>
  delete(scheduleId: string, options?: CallOptions): Promise<{ success: boolean }>
  enable(scheduleId: string, options?: CallOptions): Promise<Schedule>
  disable(scheduleId: string, options?: CallOptions): Promise<Schedule>
  runs(scheduleId: string, options?: CallOptions): Promise<ItemList<{ slot: string; execution_id: string }>>
}

export interface TriggersApi {
  create(trigger: EventTriggerInput, options?: CallOptions): Promise<EventTrigger>
  list(options?: CallOptions): Promise<ItemList<EventTrigger>>
  get(triggerId: string, options?: CallOptions): Promise<EventTrigger>
  update(triggerId: string, changes: Partial<EventTriggerInput>, options?: CallOptions): Promise<EventTrigger>
  delete(triggerId: string, options?: CallOptions): Promise<{ success: boolean }>
  runs(triggerId: string, options?: CallOptions): Promise<ItemList<JsonObject>>
}

type Api = <T>(
  method: string,
  path: string,
  init?: { body?: unknown; options?: CallOptions | undefined },
) => Promise<T>

export function createSchedulesApi(api: Api, segment: (value: string, what: string) => string): SchedulesApi {
  const at = (scheduleId: string): string => `/schedules/${segment(scheduleId, 'schedule id')}`
  return {
    create: async (schedule, options) => api('POST', '/schedules', { body: schedule, options }),
    list: async (options) => api('GET', '/schedules', { options }),
    get: async (scheduleId, options) => api('GET', at(scheduleId), { options }),
    update: async (scheduleId, changes, options) => api('PUT', at(scheduleId), { body: changes, options }),
    delete: async (scheduleId, options) => api('DELETE', at(scheduleId), { options }),
    enable: async (scheduleId, options) => api('POST', `${at(scheduleId)}/enable`, { options }),
    disable: async (scheduleId, options) => api('POST', `${at(scheduleId)}/disable`, { options }),
    runs: async (scheduleId, options) => api('GET', `${at(scheduleId)}/runs`, { options }),
  }
}

export function createTriggersApi(api: Api, segment: (value: string, what: string) => string): TriggersApi {
  const at = (triggerId: string): string => `/triggers/${segment(triggerId, 'trigger id')}`
  return {
    create: async (trigger, options) => api('POST', '/triggers', { body: trigger, options }),
    list: async (options) => api('GET', '/triggers', { options }),
    get: async (triggerId, options) => api('GET', at(triggerId), { options }),
    update: async (triggerId, changes, options) => api('PUT', at(triggerId), { body: changes, options }),
    delete: async (triggerId, options) => api('DELETE', at(triggerId), { options }),
    runs: async (triggerId, options) => api('GET', `${at(triggerId)}/runs`, { options }),
  }
}
