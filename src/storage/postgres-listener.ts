/**
 * One dedicated LISTEN connection per store (never a pooled one: a pooled connection would carry its
 * LISTENs to whoever borrows it next). It is opened with the first listener, LISTENs to each channel
 * that has listeners and UNLISTENs the ones that no longer do. When the connection drops it reconnects
 * with capped exponential backoff and LISTENs again; notifications sent while it was down are lost, so
 * callers treat them as wake-ups and keep a slower poll as the safety net.
 */
import type pg from 'pg'
import type { Logger } from '../core/logger.ts'
import { quoteIdentifier } from './postgres-migrations.ts'

export interface PostgresListenerOptions {
  /** A new, unconnected client (same connection settings as the pool). */
  createClient: () => pg.Client
  logger: Logger
  mask: (text: string) => string
  /** First reconnect delay. Default 100 ms. */
  minBackoffMs?: number
  /** Reconnect delays double up to this. Default 5 000 ms. */
  maxBackoffMs?: number
}

type Listener = (payload: string) => void

export class PostgresListener {
  readonly #options: PostgresListenerOptions
  /** PostgreSQL channel name → listeners. */
  readonly #listeners = new Map<string, Set<Listener>>()
  /** Channels LISTENed on the current connection. */
  readonly #active = new Set<string>()
  #client: pg.Client | undefined
  #work: Promise<void> = Promise.resolve()
  #pending = 0
  #retryTimer: ReturnType<typeof setTimeout> | undefined
  #failures = 0
  #closed = false
  #readyWaiters: Array<() => void> = []
  /** Connections opened so far (a reconnect adds one). */
  connectCount = 0

  constructor(options: PostgresListenerOptions) {
    this.#options = options
  }

  add(channel: string, listener: Listener): () => void {
    let set = this.#listeners.get(channel)
    if (set === undefined) {
      set = new Set()
      this.#listeners.set(channel, set)
    }
    // A wrapper per call, so the same function added twice is removed once per unsubscribe.
    const entry: Listener = (payload) => listener(payload)
    set.add(entry)
    if (!this.#active.has(channel)) this.#sync()
    let removed = false
    return () => {
      if (removed) return
      removed = true
      set.delete(entry)
      if (set.size === 0 && this.#listeners.get(channel) === set) {
        this.#listeners.delete(channel)
        this.#sync()
      }
    }
  }

  /** Resolves once every channel that has listeners is LISTENed on a live connection. */
  ready(): Promise<void> {
    if (this.#closed || this.#isInSync()) return Promise.resolve()
    return new Promise((resolve) => this.#readyWaiters.push(resolve))
  }

  /** Backend process id of the LISTEN connection, when connected (to watch or terminate it). */
  get processId(): number | undefined {
    return (this.#client as unknown as { processID?: number } | undefined)?.processID
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    if (this.#retryTimer !== undefined) clearTimeout(this.#retryTimer)
    this.#listeners.clear()
    await this.#work
    const client = this.#client
    this.#client = undefined
    this.#active.clear()
    await client?.end().catch(() => {})
    this.#resolveWaiters()
  }

  #isInSync(): boolean {
    if (this.#pending > 0) return false
    if (this.#listeners.size === 0) return true
    if (this.#client === undefined) return false
    for (const channel of this.#listeners.keys()) if (!this.#active.has(channel)) return false
    return true
  }

  #sync(): void {
    if (this.#closed) return
    this.#pending++
    this.#work = this.#work
      .then(() => this.#apply())
      .then(
        () => {
          this.#pending--
          if (this.#isInSync()) this.#resolveWaiters()
        },
        (error: unknown) => {
          this.#pending--
          this.#failed(error)
        },
      )
  }

  async #apply(): Promise<void> {
    if (this.#closed) return
    if (this.#client === undefined) {
      if (this.#listeners.size === 0) return
      await this.#connect()
    }
    const client = this.#client!
    for (const channel of this.#listeners.keys()) {
      if (this.#active.has(channel)) continue
      await client.query(`LISTEN ${quoteIdentifier(channel)}`)
      this.#active.add(channel)
    }
    for (const channel of [...this.#active]) {
      if (this.#listeners.has(channel)) continue
      await client.query(`UNLISTEN ${quoteIdentifier(channel)}`)
      this.#active.delete(channel)
    }
  }

  async #connect(): Promise<void> {
    const client = this.#options.createClient()
    client.on('notification', (message) => this.#deliver(message.channel, message.payload ?? ''))
    client.on('error', (error) => this.#lost(client, error))
    client.on('end', () => this.#lost(client, new Error('connection ended')))
    try {
      await client.connect()
    } catch (error) {
      await client.end().catch(() => {})
      throw error
    }
    if (this.#closed) {
      await client.end().catch(() => {})
      return
    }
    this.connectCount++
    if (this.#failures > 0)
      this.#options.logger.info('listen connection restored', { attempts: this.#failures })
    this.#failures = 0
    this.#client = client
    this.#active.clear()
  }

  #deliver(channel: string, payload: string): void {
    const set = this.#listeners.get(channel)
    if (set === undefined) return
    for (const listener of [...set]) {
      try {
        listener(payload)
      } catch (error) {
        this.#options.logger.error('notification listener failed', {
          channel,
          error: this.#options.mask(String(error)),
        })
      }
    }
  }

  /** The current connection failed or ended: forget it and reconnect if anyone still listens. */
  #lost(client: pg.Client, error: unknown): void {
    if (this.#client !== client || this.#closed) return
    this.#client = undefined
    this.#active.clear()
    client.end().catch(() => {})
    this.#options.logger.warn('listen connection lost', { error: this.#options.mask(String(error)) })
    this.#scheduleRetry()
  }

  #failed(error: unknown): void {
    if (this.#closed) return
    const client = this.#client
    this.#client = undefined
    this.#active.clear()
    client?.end().catch(() => {})
    this.#options.logger.warn('listen connection failed', {
      error: this.#options.mask(error instanceof Error ? error.message : String(error)),
      attempt: this.#failures + 1,
    })
    this.#scheduleRetry()
  }

  #scheduleRetry(): void {
    if (this.#closed || this.#retryTimer !== undefined || this.#listeners.size === 0) return
    const min = this.#options.minBackoffMs ?? 100
    const max = this.#options.maxBackoffMs ?? 5_000
    const ceiling = Math.min(max, min * 2 ** Math.min(this.#failures, 20))
    this.#failures++
    const delayMs = ceiling / 2 + Math.random() * (ceiling / 2)
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined
      this.#sync()
    }, delayMs)
    this.#retryTimer.unref()
  }

  #resolveWaiters(): void {
    const waiters = this.#readyWaiters
    this.#readyWaiters = []
    for (const resolve of waiters) resolve()
  }
}
