/**
 * Cluster event relay: events persisted by other nodes reach this node's bus, so stream subscribers on any
 * node see every execution's events. Woken by the store's `events` notification (PostgreSQL NOTIFY), it
 * reads the persisted events after its cursor in id order and publishes those this node did not publish
 * itself. A slow safety-net poll covers a lost notification.
 */
import type { Clock } from './clock.ts'
import type { EventBus, ExecutionEvent } from './events.ts'
import type { Logger } from './logger.ts'
import type { Store } from './store.ts'

export interface EventRelayOptions {
  store: Store
  bus: EventBus
  clock: Clock
  logger: Logger
  /** Ids this node published itself (the engine marks them). */
  isLocal: (event: ExecutionEvent) => boolean
  /** Safety-net poll; 0 disables. */
  pollIntervalMs?: number
  pageSize?: number
}

export interface EventRelay {
  /** Starts from the newest persisted event. */
  start(): Promise<void>
  stop(): void
}

export function createEventRelay(options: EventRelayOptions): EventRelay {
  const pageSize = options.pageSize ?? 1000
  let cursor = 0
  let stopped = true
  let running: Promise<void> | undefined
  let again = false
  let unlisten: (() => void) | undefined
  let timer: { cancel(): void } | undefined

  const drain = (): Promise<void> => {
    if (stopped) return Promise.resolve()
    if (running !== undefined) {
      again = true
      return running
    }
    running = (async () => {
      do {
        again = false
        for (;;) {
          const events = await options.store.listAllEvents(cursor, pageSize)
          for (const event of events) {
            cursor = Math.max(cursor, event.id ?? cursor)
            if (!options.isLocal(event)) options.bus.publish(event)
          }
          if (events.length < pageSize || stopped) break
        }
      } while (again && !stopped)
    })()
      .catch((error: unknown) =>
        options.logger.warn('event relay could not read events', { error: String(error) }),
      )
      .finally(() => {
        running = undefined
      })
    return running
  }

  const schedulePoll = (): void => {
    const every = options.pollIntervalMs ?? 5000
    if (every <= 0 || stopped) return
    timer = options.clock.setTimeout(() => {
      void drain().finally(schedulePoll)
    }, every)
  }

  return {
    async start() {
      stopped = false
      cursor = (await options.store.lastEventId?.()) ?? 0
      unlisten = options.store.listen('events', () => void drain())
      schedulePoll()
    },
    stop() {
      stopped = true
      unlisten?.()
      timer?.cancel()
    },
  }
}
