/**
 * Live progress of executions from the engine's events, in one of two modes:
 * - `tty`: a table of tasks (symbol, status, attempts, duration, a note such as the last error) redrawn in
 *   place with ANSI escapes, at most every `refreshIntervalMs` (10 per second by default);
 * - `plain`: one line per event worth reading in a log (`12:00:01 task fetch completed in 120 ms`).
 * Events of executions that are not tracked (child executions, for instance) are ignored.
 */
import type { ExecutionEvent } from '../core/events.ts'
import { TASK_ROW, type JsonValue, type TaskState, type TaskStatus } from '../core/model.ts'
import type { Output } from './cli-io.ts'
import { clockTime, formatDuration, plural, truncate } from './text-format.ts'

export interface TrackedExecution {
  executionId: string
  workflowName: string
  /** Task names in display order (the workflow's topological order reads best). */
  tasks: readonly string[]
  /** Persisted task states, when resuming: finished tasks show as finished, running ones as running. */
  states?: readonly TaskState[]
}

export interface ProgressRenderer {
  track(execution: TrackedExecution): void
  handle(event: ExecutionEvent): void
  /** Draws the final state and stops redrawing. Idempotent. */
  close(): void
}

export interface ProgressOptions {
  output: Output
  mode: 'tty' | 'plain'
  /** ANSI colors in tty mode (default true; false when NO_COLOR is set, for instance). */
  color?: boolean
  /** Least time between two redraws of the table. Default 100 ms. */
  refreshIntervalMs?: number
  now?: () => number
}

interface TaskRow {
  name: string
  status: TaskStatus
  attempts: number
  startedAtMs?: number
  durationMs?: number
  itemsDone?: number
  itemCount?: number
  note?: string
}

interface ExecutionView {
  executionId: string
  workflowName: string
  rows: Map<string, TaskRow>
  status: string
  startedAtMs: number
  endedAtMs?: number
  /** Last tenth of a fan-out's items printed in plain mode, per task. */
  printedTenths: Map<string, number>
}

const SYMBOLS: Record<TaskStatus, string> = {
  pending: '○',
  running: '▶',
  retrying: '↻',
  completed: '✔',
  failed: '✖',
  skipped: '↷',
  cancelled: '⊘',
}

const COLORS: Partial<Record<TaskStatus, string>> = {
  running: '\x1b[36m',
  retrying: '\x1b[33m',
  completed: '\x1b[32m',
  failed: '\x1b[31m',
  skipped: '\x1b[2m',
  cancelled: '\x1b[2m',
  pending: '\x1b[2m',
}
const RESET = '\x1b[0m'
const BOLD = '\x1b[1m'

export function createProgressRenderer(options: ProgressOptions): ProgressRenderer {
  return options.mode === 'tty' ? new TableRenderer(options) : new LineRenderer(options)
}

/** Shared bookkeeping: each event updates the rows of its execution. */
abstract class BaseRenderer implements ProgressRenderer {
  protected readonly views = new Map<string, ExecutionView>()
  protected readonly output: Output
  protected readonly now: () => number
  protected closed = false

  constructor(options: ProgressOptions) {
    this.output = options.output
    this.now = options.now ?? Date.now
  }

  track(execution: TrackedExecution): void {
    const rows = new Map<string, TaskRow>()
    for (const name of execution.tasks) rows.set(name, { name, status: 'pending', attempts: 0 })
    const items = new Map<string, number>()
    for (const state of execution.states ?? []) {
      if (state.item_index !== TASK_ROW) {
        if (state.status === 'completed' || state.status === 'skipped')
          items.set(state.task, (items.get(state.task) ?? 0) + 1)
        continue
      }
      const row = rows.get(state.task) ?? { name: state.task, status: 'pending', attempts: 0 }
      rows.set(state.task, row)
      row.status = state.status
      row.attempts = state.attempts
      if (state.item_count !== undefined) row.itemCount = state.item_count
      const started = state.started_at === undefined ? undefined : Date.parse(state.started_at)
      if (started !== undefined) row.startedAtMs = started
      if (state.completed_at !== undefined && started !== undefined) {
        row.durationMs = Date.parse(state.completed_at) - started
      }
      if (state.error !== undefined) row.note = `${state.error.code}: ${state.error.message}`
    }
    for (const [task, done] of items) {
      const row = rows.get(task)
      if (row !== undefined) row.itemsDone = done
    }
    this.views.set(execution.executionId, {
      executionId: execution.executionId,
      workflowName: execution.workflowName,
      rows,
      status: 'running',
      startedAtMs: this.now(),
      printedTenths: new Map(),
    })
    this.changed()
  }

  handle(event: ExecutionEvent): void {
    if (this.closed) return
    const view = this.views.get(event.execution_id)
    if (view === undefined) return
    const data = event.data
    const taskName = typeof data['task'] === 'string' ? data['task'] : undefined
    const row = taskName === undefined ? undefined : rowOf(view, taskName)
    const itemIndex = typeof data['item_index'] === 'number' ? data['item_index'] : undefined
    const at = Date.parse(event.timestamp)
    switch (event.type) {
      case 'execution_started':
        view.status = 'running'
        view.startedAtMs = at
        break
      case 'task_started':
        if (row === undefined) break
        row.status = 'running'
        row.attempts = typeof data['attempt'] === 'number' ? data['attempt'] : Math.max(1, row.attempts)
        row.startedAtMs = at
        delete row.durationMs
        if (typeof data['item_count'] === 'number') {
          row.itemCount = data['item_count']
          row.itemsDone = 0
        }
        break
      case 'task_progress':
        if (row === undefined) break
        if (itemIndex !== undefined && row.itemCount !== undefined && typeof data['progress'] === 'number') {
          row.itemsDone = Math.round(data['progress'] * row.itemCount)
        } else if (typeof data['message'] === 'string') {
          row.note = data['message']
        }
        break
      case 'task_retrying':
        if (row === undefined) break
        if (itemIndex === undefined) {
          row.status = 'retrying'
          row.attempts = numberOr(data['attempt'], row.attempts)
        }
        row.note = `${itemIndex === undefined ? '' : `item ${itemIndex}: `}${errorText(data['error'])}; retry in ${formatDuration(numberOr(data['delay_ms'], 0))}`
        break
      case 'task_completed':
        if (row === undefined) break
        row.status = 'completed'
        row.durationMs = numberOr(data['duration_ms'], at - (row.startedAtMs ?? at))
        if (row.itemCount !== undefined) row.itemsDone = row.itemCount
        delete row.note
        break
      case 'task_failed':
        if (row === undefined) break
        row.status = 'failed'
        row.durationMs = at - (row.startedAtMs ?? at)
        row.note = errorText(data['error_details'] ?? data['error'])
        break
      case 'task_skipped':
        if (row === undefined) break
        row.status = 'skipped'
        if (typeof data['reason'] === 'string') row.note = data['reason']
        break
      case 'task_cancelled':
        if (row === undefined) break
        row.status = 'cancelled'
        row.durationMs = at - (row.startedAtMs ?? at)
        break
      case 'execution_paused':
        view.status = 'paused'
        break
      case 'execution_resumed':
        view.status = 'running'
        break
      case 'execution_completed':
      case 'execution_failed':
      case 'execution_cancelled':
        view.status = event.type.slice('execution_'.length)
        view.endedAtMs = at
        break
      default:
        break
    }
    this.onEvent(view, event, row, itemIndex)
  }

  close(): void {
    if (this.closed) return
    this.closed = true
    this.onClose()
  }

  /** Called after the state changed outside of an event (a new execution is tracked). */
  protected abstract changed(): void
  protected abstract onEvent(
    view: ExecutionView,
    event: ExecutionEvent,
    row: TaskRow | undefined,
    itemIndex: number | undefined,
  ): void
  protected abstract onClose(): void
}

function rowOf(view: ExecutionView, task: string): TaskRow {
  let row = view.rows.get(task)
  if (row === undefined) {
    row = { name: task, status: 'pending', attempts: 0 }
    view.rows.set(task, row)
  }
  return row
}

/** `CODE: message` from a TaskError-like value, or the text itself. */
function errorText(value: JsonValue | undefined): string {
  if (typeof value === 'string') return value
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    const code = typeof value['code'] === 'string' ? value['code'] : undefined
    const message = typeof value['message'] === 'string' ? value['message'] : JSON.stringify(value)
    return code === undefined ? message : `${code}: ${message}`
  }
  return value === undefined ? 'unknown error' : JSON.stringify(value)
}

function numberOr(value: JsonValue | undefined, fallback: number): number {
  return typeof value === 'number' && Number.isFinite(value) ? value : fallback
}

/** Plain mode: one line per event that a reader of a log wants. */
class LineRenderer extends BaseRenderer {
  protected changed(): void {}
  protected onClose(): void {}

  protected onEvent(
    view: ExecutionView,
    event: ExecutionEvent,
    row: TaskRow | undefined,
    itemIndex: number | undefined,
  ): void {
    const line = this.#describe(view, event, row, itemIndex)
    if (line === undefined) return
    const prefix = this.views.size > 1 ? `[${view.executionId}] ` : ''
    this.output.write(`${clockTime(Date.parse(event.timestamp))} ${prefix}${line}\n`)
  }

  #describe(
    view: ExecutionView,
    event: ExecutionEvent,
    row: TaskRow | undefined,
    itemIndex: number | undefined,
  ): string | undefined {
    const data = event.data
    const task = row === undefined ? '' : `task ${row.name}`
    switch (event.type) {
      case 'execution_started':
        return `execution ${view.executionId} started: ${view.workflowName} (${plural(numberOr(data['total_tasks'], view.rows.size), 'task')})`
      case 'task_started': {
        const attempt = row !== undefined && row.attempts > 1 ? ` (attempt ${row.attempts})` : ''
        const items = row?.itemCount === undefined ? '' : ` over ${plural(row.itemCount, 'item')}`
        const again = data['resumed'] === true ? ' again after a restart' : ''
        return `${task} started${again}${attempt}${items}`
      }
      case 'task_progress': {
        if (row === undefined) return undefined
        if (itemIndex !== undefined && row.itemCount !== undefined && row.itemCount > 0) {
          const tenth = Math.floor(((row.itemsDone ?? 0) * 10) / row.itemCount)
          if (tenth >= 10 || tenth <= (view.printedTenths.get(row.name) ?? 0)) return undefined
          view.printedTenths.set(row.name, tenth)
          return `${task} ${row.itemsDone}/${row.itemCount} items done`
        }
        const percent = typeof data['progress'] === 'number' ? ` ${Math.round(data['progress'] * 100)}%` : ''
        const message = typeof data['message'] === 'string' ? ` ${data['message']}` : ''
        return `${task}${percent}${message}`
      }
      case 'task_retrying': {
        const item = itemIndex === undefined ? '' : ` item ${itemIndex}`
        return `${task}${item} attempt ${numberOr(data['attempt'], 1)}/${numberOr(data['max_attempts'], 1)} failed: ${errorText(data['error'])}; retrying in ${formatDuration(numberOr(data['delay_ms'], 0))}`
      }
      case 'task_completed':
        return `${task} completed in ${formatDuration(row?.durationMs ?? 0)}`
      case 'task_failed': {
        const attempts = numberOr(data['retry_count'], 0) + 1
        return `${task} failed after ${plural(attempts, 'attempt')}: ${errorText(data['error_details'] ?? data['error'])}`
      }
      case 'task_skipped':
        return `${task} skipped${typeof data['reason'] === 'string' ? ` (${data['reason']})` : ''}`
      case 'task_cancelled':
        return `${task} cancelled`
      case 'execution_paused':
        return 'execution paused'
      case 'execution_resumed':
        return 'execution resumed'
      case 'execution_completed':
        return `execution completed in ${durationOf(data['duration_seconds'])}`
      case 'execution_failed':
        return `execution failed in ${durationOf(data['duration_seconds'])}: ${errorText(data['error'])}`
      case 'execution_cancelled':
        return `execution cancelled${typeof data['reason'] === 'string' ? `: ${data['reason']}` : ''}`
      default:
        return undefined
    }
  }
}

function durationOf(seconds: JsonValue | undefined): string {
  return formatDuration(numberOr(seconds, 0) * 1000)
}

/** TTY mode: the task table, redrawn in place. */
class TableRenderer extends BaseRenderer {
  readonly #color: boolean
  readonly #refreshIntervalMs: number
  #timer: ReturnType<typeof setInterval> | undefined
  #dirty = false
  #drawnLines = 0

  constructor(options: ProgressOptions) {
    super(options)
    this.#color = options.color ?? true
    this.#refreshIntervalMs = options.refreshIntervalMs ?? 100
  }

  protected changed(): void {
    this.#dirty = true
    if (this.#timer !== undefined || this.closed) return
    this.#draw()
    this.#timer = setInterval(() => {
      const running = [...this.views.values()].some((view) =>
        [...view.rows.values()].some((row) => row.status === 'running'),
      )
      if (this.#dirty || running) this.#draw()
    }, this.#refreshIntervalMs)
    this.#timer.unref()
  }

  protected onEvent(): void {
    this.#dirty = true
  }

  protected onClose(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer)
    this.#timer = undefined
    this.#draw()
  }

  #draw(): void {
    this.#dirty = false
    const width = Math.max(20, (this.output.columns ?? 80) - 1)
    const height = Math.max(4, (this.output.rows ?? 24) - 1)
    const lines: string[] = []
    const views = [...this.views.values()]
    const perView = Math.max(3, Math.floor(height / Math.max(1, views.length)))
    for (const view of views) lines.push(...this.#viewLines(view, width, perView))
    let text = this.#drawnLines > 0 ? `\x1b[${this.#drawnLines}F` : ''
    for (const line of lines) text += `\x1b[2K${line}\n`
    text += '\x1b[0J'
    this.#drawnLines = lines.length
    this.output.write(text)
  }

  #viewLines(view: ExecutionView, width: number, maxLines: number): string[] {
    const rows = [...view.rows.values()]
    const done = rows.filter((row) => row.status === 'completed' || row.status === 'skipped').length
    const elapsed = (view.endedAtMs ?? this.now()) - view.startedAtMs
    const header = truncate(
      `${view.workflowName}  ${view.executionId}  ${view.status}  ${done}/${rows.length} tasks  ${formatDuration(elapsed)}`,
      width,
    )
    const lines = [this.#paint(BOLD, header)]
    let shown = rows
    let hidden: TaskRow[] = []
    if (rows.length > maxLines - 1) {
      // Too many to show: keep what needs attention (running, retrying, failed), then the rest in order.
      const budget = maxLines - 2
      const important = new Set(
        rows.filter(
          (row) => row.status === 'running' || row.status === 'retrying' || row.status === 'failed',
        ),
      )
      const keep = new Set([...important].slice(0, budget))
      for (const row of rows) if (keep.size < budget) keep.add(row)
      shown = rows.filter((row) => keep.has(row))
      hidden = rows.filter((row) => !keep.has(row))
    }
    const nameWidth = Math.min(30, Math.max(4, ...shown.map((row) => row.name.length)))
    for (const row of shown) lines.push(this.#rowLine(row, nameWidth, width))
    if (hidden.length > 0) {
      const counts = new Map<string, number>()
      for (const row of hidden) counts.set(row.status, (counts.get(row.status) ?? 0) + 1)
      const summary = [...counts].map(([status, count]) => `${count} ${status}`).join(', ')
      lines.push(this.#paint(COLORS.pending!, truncate(`  … ${hidden.length} more: ${summary}`, width)))
    }
    return lines
  }

  #rowLine(row: TaskRow, nameWidth: number, width: number): string {
    const duration =
      row.durationMs !== undefined
        ? formatDuration(row.durationMs)
        : row.status === 'running' && row.startedAtMs !== undefined
          ? formatDuration(this.now() - row.startedAtMs)
          : ''
    const items = row.itemCount === undefined ? '' : `${row.itemsDone ?? 0}/${row.itemCount} items`
    const fixed = [
      truncate(row.name, nameWidth).padEnd(nameWidth),
      row.status.padEnd(9),
      String(row.attempts || '').padStart(2),
      duration.padStart(8),
    ].join('  ')
    const note = [items, row.note ?? ''].filter(Boolean).join('  ')
    const plainWidth = 2 + fixed.length
    const tail = note === '' ? '' : `  ${truncate(note, width - plainWidth - 2)}`
    const line = truncate(`${fixed}${width - plainWidth > 3 ? tail : ''}`, width - 2).trimEnd()
    const color = COLORS[row.status] ?? ''
    const statusStart = nameWidth + 2
    return `${this.#paint(color, SYMBOLS[row.status])} ${line.slice(0, statusStart)}${this.#paint(color, line.slice(statusStart, statusStart + 9))}${line.slice(statusStart + 9)}`
  }

  #paint(code: string, text: string): string {
    return this.#color && code !== '' && text !== '' ? `${code}${text}${RESET}` : text
  }
}
