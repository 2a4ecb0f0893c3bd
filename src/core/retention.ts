/**
 * History retention: a periodic sweep deletes finished executions (with their task states, events and
 * checkpoints) some days after they finished, as Temporal's namespace retention or Airflow's `db clean`
 * do. Off unless `engine.retentionDays` is set. On a cluster every node sweeps; the store's deletion skips
 * rows another sweep holds, so they share the work instead of waiting on each other.
 */
import type { Clock } from './clock.ts'
import type { Engine } from './engine-api.ts'
import { InvalidRequestError } from './errors.ts'
import type { Logger } from './logger.ts'

const DAY_MS = 86_400_000

/**
 * The finish time before which executions go (canonical ISO): `finishedBefore` as given, or `olderThanDays`
 * before `nowMs`. The retention sweep and the prune route both use it.
 */
export function pruneCutoff(
  bound: { finishedBefore: string } | { olderThanDays: number },
  nowMs: number,
): string {
  if ('olderThanDays' in bound) return new Date(nowMs - bound.olderThanDays * DAY_MS).toISOString()
  const ms = Date.parse(bound.finishedBefore)
  if (Number.isNaN(ms)) {
    throw new InvalidRequestError(
      `finished_before must be an ISO 8601 timestamp such as 2024-05-01T00:00:00Z, got '${bound.finishedBefore}'`,
      { field: 'finished_before' },
    )
  }
  return new Date(ms).toISOString()
}

export interface RetentionOptions {
  engine: Pick<Engine, 'pruneExecutions'>
  clock: Clock
  logger: Logger
  /** Finished executions older than this many days go; 0 disables the sweep. */
  retentionDays: number
  /** Time between sweeps; the first runs at start. */
  sweepIntervalMs: number
}

export interface Retention {
  start(): void
  /** Stops sweeping; resolves once a sweep under way has ended. */
  stop(): Promise<void>
  /** Runs one sweep now; resolves with how many executions it deleted. */
  sweep(): Promise<number>
}

export function createRetention(options: RetentionOptions): Retention {
  let timer: { cancel(): void } | undefined
  let running: Promise<number> | undefined
  let stopped = true
  // Aborted by stop: a sweep through a large backlog ends after its current batch.
  let abort = new AbortController()

  const sweep = (): Promise<number> => {
    if (running !== undefined) return running
    const cutoff = pruneCutoff({ olderThanDays: options.retentionDays }, options.clock.now())
    running = options.engine
      .pruneExecutions({ finishedBefore: cutoff, signal: abort.signal })
      .then((deleted) => {
        if (deleted > 0) options.logger.info('retention: deleted finished executions', { deleted, cutoff })
        return deleted
      })
      .finally(() => {
        running = undefined
      })
    return running
  }

  const schedule = (): void => {
    if (stopped) return
    timer = options.clock.setTimeout(() => {
      void sweep()
        .catch((error: unknown) => options.logger.warn('retention sweep failed', { error: String(error) }))
        .finally(schedule)
    }, options.sweepIntervalMs)
  }

  return {
    start() {
      if (options.retentionDays <= 0 || !stopped) return
      stopped = false
      abort = new AbortController()
      void sweep()
        .catch((error: unknown) => options.logger.warn('retention sweep failed', { error: String(error) }))
        .finally(schedule)
    },
    async stop() {
      stopped = true
      timer?.cancel()
      abort.abort()
      await running?.catch(() => {})
    },
    sweep,
  }
}
