/**
 * `notify`/`listen` for the embedded stores: wake-ups delivered to listeners in this process, always
 * asynchronously (a microtask after `notify`), so a listener never runs inside the caller's stack. A
 * listener that throws is logged and does not disturb the others.
 */
import { InvalidRequestError } from '../core/errors.ts'
import type { Logger } from '../core/logger.ts'
import { describe } from './list-query.ts'

export class LocalNotifier {
  readonly #channels = new Map<string, Set<(payload: string) => void>>()
  readonly #logger: Logger

  constructor(logger: Logger) {
    this.#logger = logger
  }

  hasListeners(channel: string): boolean {
    return (this.#channels.get(channel)?.size ?? 0) > 0
  }

  notify(channel: string, payload: string): void {
    checkChannel('notify', channel)
    if (typeof payload !== 'string') {
      throw new InvalidRequestError(`notify: payload must be a string, got ${describe(payload)}`)
    }
    const listeners = this.#channels.get(channel)
    if (listeners === undefined || listeners.size === 0) return
    // A snapshot: a listener added during delivery waits for the next notification.
    for (const listener of [...listeners]) {
      queueMicrotask(() => {
        if (!listeners.has(listener)) return
        try {
          listener(payload)
        } catch (error) {
          this.#logger.warn('store notification listener failed', { channel, error: String(error) })
        }
      })
    }
  }

  listen(channel: string, listener: (payload: string) => void): () => void {
    checkChannel('listen', channel)
    if (typeof listener !== 'function') {
      throw new InvalidRequestError(`listen: listener must be a function, got ${typeof listener}`)
    }
    let listeners = this.#channels.get(channel)
    if (listeners === undefined) this.#channels.set(channel, (listeners = new Set()))
    const set = listeners
    const wrapped = (payload: string): void => listener(payload)
    set.add(wrapped)
    return () => {
      set.delete(wrapped)
      if (set.size === 0 && this.#channels.get(channel) === set) this.#channels.delete(channel)
    }
  }

  clear(): void {
    this.#channels.clear()
  }
}

function checkChannel(operation: string, channel: unknown): void {
  if (typeof channel !== 'string' || channel === '') {
    throw new InvalidRequestError(
      `${operation}: channel must be a non-empty string, got ${describe(channel)}`,
    )
  }
}
