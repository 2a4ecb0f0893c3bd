/**
 * Running executions to their end in the foreground, for `run` and `resume`: opening Harmonia with the
 * CLI's logger, choosing the progress display, waiting for the executions, and stopping gracefully on
 * Ctrl-C so they stay resumable.
 */
import { access } from 'node:fs/promises'
import path from 'node:path'
import type { HarmoniaConfig } from '../core/config.ts'
import { ConflictError } from '../core/errors.ts'
import type { ExecutionEvent } from '../core/events.ts'
import type { ExecutionRecord } from '../core/model.ts'
import type { Store } from '../core/store.ts'
import { createHarmonia, type Harmonia } from '../harmonia.ts'
import type { CliIo, GlobalFlags } from './cli-io.ts'
import { createCliLogger } from './cli-logger.ts'
import { guardInterrupts, type StopSignal } from './interrupt.ts'
import { createProgressRenderer, type ProgressRenderer } from './progress.ts'

/** Harmonia on the configured store, logging to stderr. */
export function openHarmonia(
  config: Readonly<HarmoniaConfig>,
  io: CliIo,
  options: { store?: Store } = {},
): Promise<Harmonia> {
  return createHarmonia(config, {
    logger: createCliLogger(config.log.level, io.stderr),
    env: io.env,
    cwd: io.cwd,
    ...(options.store === undefined ? {} : { store: options.store }),
  })
}

/**
 * False when the configured store keeps its data in files and the data directory does not exist, so
 * read-only commands can say there is nothing yet instead of creating an empty store.
 */
export async function storeHasData(config: Readonly<HarmoniaConfig>, cwd: string): Promise<boolean> {
  if (config.storage.kind === 'postgres' || config.storage.kind === 'memory') return true
  const file =
    config.storage.kind === 'sqlite' && config.storage.sqlitePath !== undefined
      ? path.resolve(cwd, config.storage.sqlitePath)
      : path.resolve(cwd, config.dataDir)
  try {
    await access(file)
    return true
  } catch {
    return false
  }
}

/**
 * The progress display: a live table on a terminal, plain lines otherwise. With `--json`, stdout holds only
 * the final JSON, so progress goes to stderr when it is a terminal, and nowhere otherwise.
 */
export function chooseProgress(io: CliIo, json: boolean): ProgressRenderer | undefined {
  const color = io.env['NO_COLOR'] === undefined && io.env['TERM'] !== 'dumb'
  if (json) {
    return io.stderr.isTTY === true
      ? createProgressRenderer({ output: io.stderr, mode: 'tty', color })
      : undefined
  }
  return io.stdout.isTTY === true
    ? createProgressRenderer({ output: io.stdout, mode: 'tty', color })
    : createProgressRenderer({ output: io.stdout, mode: 'plain' })
}

/**
 * Buffers the bus's events until the executions to show are known (an execution's first events are
 * published before `startExecution` resolves), then forwards those of tracked executions to the renderer.
 */
export class EventFeed {
  readonly #buffer: ExecutionEvent[] = []
  readonly #unsubscribe: () => void
  #renderer: ProgressRenderer | undefined
  #live = false

  constructor(harmonia: Harmonia) {
    this.#unsubscribe = harmonia.engine.bus.subscribe((event) => {
      if (this.#live) this.#renderer?.handle(event)
      else this.#buffer.push(event)
    })
  }

  /** Replays the buffered events into the renderer, then forwards new ones as they come. */
  attach(renderer: ProgressRenderer | undefined): void {
    this.#renderer = renderer
    this.#live = true
    const buffered = this.#buffer.splice(0)
    if (renderer !== undefined) for (const event of buffered) renderer.handle(event)
  }

  dispose(): void {
    this.#unsubscribe()
    this.#renderer?.close()
  }
}

/**
 * Renews the leases of the executions this process runs in the foreground. The engine renews leases only
 * once started, and starting it also recovers every unfinished execution in the store, which `run` and
 * `resume <id>` must not do; so the CLI runs executions on an engine it does not start, and keeps their
 * leases itself: those it was given, and any other execution whose events appear on the bus (child
 * executions, which only this process runs), until they finish.
 */
export class LeaseKeeper {
  readonly #harmonia: Harmonia
  readonly #active = new Set<string>()
  readonly #unsubscribe: () => void
  readonly #timer: ReturnType<typeof setInterval>
  readonly #lost: Promise<string>
  #reportLost!: (executionId: string) => void

  constructor(harmonia: Harmonia, executionIds: readonly string[] = []) {
    this.#harmonia = harmonia
    for (const id of executionIds) this.#active.add(id)
    this.#lost = new Promise((resolve) => (this.#reportLost = resolve))
    this.#unsubscribe = harmonia.engine.bus.subscribe((event) => {
      if (FINISHED_EVENTS.has(event.type)) this.#active.delete(event.execution_id)
      else this.#active.add(event.execution_id)
    })
    const leaseMs = harmonia.config.engine.leaseMs
    this.#timer = setInterval(() => void this.#renew(leaseMs), Math.max(50, Math.floor(leaseMs / 3)))
    this.#timer.unref()
  }

  add(executionId: string): void {
    this.#active.add(executionId)
  }

  /** Resolves with the id of an execution whose lease another process took. */
  get lost(): Promise<string> {
    return this.#lost
  }

  async #renew(leaseMs: number): Promise<void> {
    const ids = [...this.#active]
    if (ids.length === 0) return
    try {
      const held = new Set(await this.#harmonia.store.renewLeases(this.#harmonia.engine.nodeId, ids, leaseMs))
      for (const id of ids) if (!held.has(id) && this.#active.has(id)) this.#reportLost(id)
    } catch (error) {
      this.#harmonia.logger.warn('could not renew leases', { error: String(error) })
    }
  }

  dispose(): void {
    clearInterval(this.#timer)
    this.#unsubscribe()
  }
}

const FINISHED_EVENTS: ReadonlySet<string> = new Set([
  'execution_completed',
  'execution_failed',
  'execution_cancelled',
])

export type WatchResult =
  { kind: 'finished'; records: ExecutionRecord[] } | { kind: 'interrupted'; signal: StopSignal }

/**
 * Waits until every execution is finished. On Ctrl-C or SIGTERM, stops the engine gracefully (running tasks
 * get the configured grace period) and answers 'interrupted'; the store stays open for the caller to read.
 */
export async function waitForExecutions(
  harmonia: Harmonia,
  executionIds: readonly string[],
  io: CliIo,
  keeper: LeaseKeeper,
): Promise<WatchResult> {
  const graceMs = harmonia.config.server.shutdownGraceMs
  const guard = guardInterrupts({ stderr: io.stderr, graceMs })
  // The engine's timers (retry backoffs, timeouts) do not keep a process alive; a foreground command must.
  const keepAlive = setInterval(() => {}, 1 << 30)
  try {
    const finished = Promise.all(executionIds.map((id) => harmonia.engine.waitForExecution(id))).then(
      (records) => ({ kind: 'finished' as const, records }),
    )
    const lost = keeper.lost.then((executionId) => {
      throw new ConflictError(
        `execution '${executionId}' was taken over by another process (its lease was not renewed in time); see it with: harmonia executions show ${executionId}`,
        { execution_id: executionId },
      )
    })
    const result = await Promise.race([
      finished,
      lost,
      guard.interrupted.then((signal) => ({ kind: 'interrupted' as const, signal })),
    ])
    if (result.kind === 'interrupted') {
      finished.catch(() => {})
      await harmonia.engine.stop({ graceMs })
    }
    return result
  } finally {
    clearInterval(keepAlive)
    guard.dispose()
  }
}

/** The command that resumes an execution (or all), with the flags that point at the same store. */
export function resumeHint(executionId: string | undefined, flags: GlobalFlags): string {
  const parts = executionId === undefined ? ['harmonia resume'] : ['harmonia resume', executionId]
  if (flags.config !== undefined) parts.push('--config', shellQuote(flags.config))
  if (flags.storage !== undefined) parts.push('--storage', shellQuote(flags.storage))
  if (flags.dataDir !== undefined) parts.push('--data-dir', shellQuote(flags.dataDir))
  return parts.join(' ')
}

function shellQuote(text: string): string {
  return /^[\w./:@=-]+$/.test(text) ? text : `'${text.replaceAll("'", "'\\''")}'`
}
