/** Schedules and event triggers, wired together for the composition root. */
import type { Engine } from '../core/engine-api.ts'
import type { Logger } from '../core/logger.ts'
import type { Store } from '../core/store.ts'
import type { TemplateService } from '../templates/template-service.ts'
import { createEventTriggerService, type EventTriggerService } from './event-triggers.ts'
import { createScheduleService, type ScheduleService } from './schedules.ts'

export interface SchedulesAndTriggers {
  readonly schedules: ScheduleService
  readonly triggers: EventTriggerService
  start(): Promise<void>
  stop(): Promise<void>
}

export function createSchedulesAndTriggers(options: {
  store: Store
  engine: Engine
  templates: TemplateService
  logger: Logger
}): SchedulesAndTriggers {
  const schedules = createScheduleService({
    ...options,
    logger: options.logger.child({ module: 'schedules' }),
  })
  const triggers = createEventTriggerService({
    ...options,
    logger: options.logger.child({ module: 'triggers' }),
  })
  return {
    schedules,
    triggers,
    async start() {
      await triggers.start()
      await schedules.start()
    },
    async stop() {
      schedules.stop()
      await triggers.stop()
    },
  }
}
