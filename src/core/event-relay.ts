/**
 * Cluster event relay: events persisted by other nodes reach this node's bus, so stream subscribers on any
 * node see every execution's events. Woken by the store's `events` notification (PostgreSQL NOTIFY), it
 * reads the persisted events after its cursor in id order (the PostgreSQL store commits event ids in
 * increasing order) and publishes, marked as relayed, those this node's bus has not carried yet: an event
 * is new when its `seq` is above the highest one the bus has seen for its execution. A slow safety-net poll
 * covers a lost notification.
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
  /** True while this node runs the execution: its events reach the bus from the engine itself. */
  hostedHere: (executionId: string) => boolean
  /** Safety-net poll; 0 disables. */
  pollIntervalMs?: number
  pageSize?: number
  /** Executions whose highest seen `seq` is remembered (least recently updated forgotten first). */
  trackedExecutions?: number
}

export interface EventRelay {
  /** Starts from the newest persisted event. */
  start(): Promise<void>
  stop(): void
  /** Reads and publishes what is persisted after the cursor now (tests and a wake-up use it). */
  drain(): Promise<void>
}

export function createEventRelay(options: EventRelayOptions): EventRelay {
  const pageSize = options.pageSize ?? 1000
  const tracked = options.trackedExecutions ?? 50_000
  const highestSeq = new Map<string, number>()
  let cursor = 0
  let stopped = true
  let running: Promise<void> | undefined
  let again = false
  const removers: (() => void)[] = []
  let timer: { cancel(): void } | undefined

  const remember = (event: ExecutionEvent): void => {
    const previous = highestSeq.get(event.execution_id)
    if (previous !== undefined && previous >= event.seq) return
    highestSeq.delete(event.execution_id)
    highestSeq.set(event.execution_id, event.seq)
    if (highestSeq.size > tracked) {
      const oldest = highestSeq.keys().next().value
      if (oldest !== undefined) highestSeq.delete(oldest)
    }
  }

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
            if (options.hostedHere(event.execution_id)) continue
            if (event.seq > (highestSeq.get(event.execution_id) ?? 0)) options.bus.publishRelayed(event)
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
      if (!stopped) return
      stopped = false
      // Everything the bus carries, local or relayed, counts as seen.
      removers.push(options.bus.subscribe(remember))
      cursor = (await options.store.lastEventId?.()) ?? 0
      removers.push(options.store.listen('events', () => void drain()))
      schedulePoll()
    },
    stop() {
      stopped = true
      for (const remove of removers.splice(0)) remove()
      timer?.cancel()
    },
    drain,
  }
}
