/**
 * One execution in memory on the node that holds its lease: the task state machine. Every transition is
 * queued to the BatchWriter; side effects (invoking a component, arming a timer) wait for the commit that
 * records the transition, so a crash never loses a finished task and never runs one twice by this node.
 *
 * Units: a task without `for_each` is one unit (its own row, item_index -1); a `for_each` task fans out
 * into one unit per item (rows item_index 0..n-1) and its row aggregates them.
 */
import type { BatchWriter } from './batch-writer.ts'
import type { Clock } from './clock.ts'
import type { CompiledTask, CompiledWorkflow, ExpressionScope } from './compiled-workflow.ts'
import type { ChildWorkflowRequest, ComponentResolver, TaskContext } from './component.ts'
import { HarmoniaError, TaskFailure, toTaskError } from './errors.ts'
import { EventType, type ExecutionEvent } from './events.ts'
import type { Logger } from './logger.ts'
import {
  FINISHED_TASK_STATUSES,
  MAX_JSON_DEPTH,
  TASK_ROW,
  tooDeepAt,
  type ExecutionError,
  type ExecutionRecord,
  type JsonValue,
  type TaskError,
  type TaskState,
  type TaskStatus,
} from './model.ts'
import { isRetriable, retryDelayMs } from './retry-policy.ts'

/** What a run needs from the engine that hosts it. */
export interface RunHost {
  readonly writer: BatchWriter
  readonly clock: Clock
  readonly logger: Logger
  readonly components: ComponentResolver
  readonly maxTasksPerExecution: number
  /** Takes a global task slot; false when none is free (the run is then called back through `pump`). */
  acquireSlot(run: ExecutionRun): boolean
  releaseSlot(): void
  runChildWorkflow(
    parent: ExecutionRun,
    unit: Unit,
    request: ChildWorkflowRequest,
    signal: AbortSignal,
  ): Promise<JsonValue>
  /** The run has ended (finished, or abandoned after a failed write). */
  ended(run: ExecutionRun): void
}

export interface Unit {
  task: CompiledTask
  state: TaskState
  controller?: AbortController
  timer?: { cancel(): void }
  /** The running action only waits, durably (see ActionHandler.resumable). */
  resumable?: boolean
}

/** Simple FIFO with O(1) push and shift. */
class Queue<T> {
  #items: T[] = []
  #head = 0
  get size(): number {
    return this.#items.length - this.#head
  }
  push(item: T): void {
    this.#items.push(item)
  }
  shift(): T | undefined {
    if (this.#head >= this.#items.length) return undefined
    const item = this.#items[this.#head]
    this.#items[this.#head++] = undefined as T
    if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head)
      this.#head = 0
    }
    return item
  }
  drain(): T[] {
    const rest = this.#items.slice(this.#head)
    this.#items = []
    this.#head = 0
    return rest
  }
}

interface ForEachProgress {
  items: Unit[]
  total: number
  finished: number
  running: number
  waiting: Queue<Unit>
}

export class ExecutionRun {
  readonly record: ExecutionRecord
  readonly compiled: CompiledWorkflow
  readonly #host: RunHost
  readonly #rows = new Map<string, Unit>()
  readonly #forEach = new Map<string, ForEachProgress>()
  /** Unfinished dependencies per task. */
  readonly #remaining = new Map<string, number>()
  readonly #ready = new Queue<Unit>()
  readonly #running = new Set<Unit>()
  readonly #waiting = new Set<Unit>()
  readonly #controller = new AbortController()
  readonly #scope: ExpressionScope
  readonly #log: Logger
  #finishedTasks = 0
  /** Task rows that completed or were skipped: the progress reported as `completed_tasks`. */
  #succeededTasks = 0
  #failure: ExecutionError | undefined
  #ended = false
  /** Finalizing or abandoned: no more work starts. */
  #closing = false
  #deadline: { cancel(): void } | undefined
  readonly #endWaiters: Array<() => void> = []

  constructor(
    host: RunHost,
    record: ExecutionRecord,
    compiled: CompiledWorkflow,
    states: TaskState[],
    env: Record<string, string>,
  ) {
    this.#host = host
    this.record = record
    this.compiled = compiled
    this.#log = host.logger.child({ executionId: record.execution_id })
    this.#scope = {
      workflow: {
        input: record.input,
        id: record.workflow_id,
        name: record.workflow_name,
        ...(compiled.definition.version === undefined ? {} : { version: compiled.definition.version }),
      },
      input: record.input,
      tasks: {},
      execution: {
        id: record.execution_id,
        workflow_id: record.workflow_id,
        ...(record.started_at === undefined ? {} : { started_at: record.started_at }),
      },
      context: {
        execution_id: record.execution_id,
        workflow_id: record.workflow_id,
        workflow_name: record.workflow_name,
      },
      env,
    }
    const byTask = new Map<string, TaskState[]>()
    for (const state of states) {
      if (state.item_index === TASK_ROW) continue
      let list = byTask.get(state.task)
      if (list === undefined) byTask.set(state.task, (list = []))
      list[state.item_index] = state
    }
    for (const name of compiled.order) {
      const task = compiled.tasks.get(name)!
      this.#rows.set(name, { task, state: this.#initialRow(name, record.execution_id) })
      const items = byTask.get(name)
      if (items !== undefined) {
        this.#forEach.set(name, {
          items: items.map((item) => ({ task, state: item })),
          total: items.length,
          finished: 0,
          running: 0,
          waiting: new Queue(),
        })
      }
    }
    for (const state of states) {
      if (state.item_index !== TASK_ROW) continue
      const unit = this.#rows.get(state.task)
      if (unit !== undefined) unit.state = state
    }
  }

  get executionId(): string {
    return this.record.execution_id
  }
  get isEnded(): boolean {
    return this.#ended
  }
  /** The run is finishing (its final state is being written) or has ended. */
  get isClosing(): boolean {
    return this.#closing
  }
  get runningCount(): number {
    return this.#running.size
  }
  /** Running tasks a stopping node must let reach a persisted point (all but durable waits). */
  get busyCount(): number {
    let busy = 0
    for (const unit of this.#running) if (unit.resumable !== true) busy++
    return busy
  }
  get currentTasks(): string[] {
    const names = new Set<string>()
    for (const unit of this.#running) names.add(unit.task.name)
    return [...names]
  }
  /** Current task states (rows then items), for checkpoints and reads. */
  taskStates(): TaskState[] {
    const states: TaskState[] = []
    for (const [name, unit] of this.#rows) {
      states.push({ ...unit.state })
      const fe = this.#forEach.get(name)
      if (fe !== undefined) for (const item of fe.items) states.push({ ...item.state })
    }
    return states
  }

  /** Resolves when the run has ended. */
  whenEnded(): Promise<void> {
    return this.#ended ? Promise.resolve() : new Promise((resolve) => this.#endWaiters.push(resolve))
  }

  /**
   * Starts (or resumes after a restart or a rerun) from the persisted states: finished tasks stay finished,
   * running units are invoked again with their persisted attempt (at-least-once), retry timers re-armed.
   */
  begin(): void {
    const now = this.#host.clock.now()
    if (this.record.status === 'pending') {
      this.record.status = 'running'
      this.record.started_at = new Date(now).toISOString()
      this.#scope.execution.started_at = this.record.started_at
      this.#emit(EventType.execution_started, {
        workflow_id: this.record.workflow_id,
        input: this.record.input,
        total_tasks: this.record.total_tasks,
        ...(this.record.restored_from_checkpoint === undefined
          ? {}
          : { restored_from_checkpoint: this.record.restored_from_checkpoint }),
      })
    }
    this.#armDeadline(now)
    this.#finishedTasks = 0
    this.#succeededTasks = 0
    for (const [name, unit] of this.#rows) {
      this.#scope.tasks[name] = this.#scopeEntry(unit.state)
      if (this.#isDone(unit.state.status)) this.#finishedTasks++
      if (unit.state.status === 'completed' || unit.state.status === 'skipped') this.#succeededTasks++
    }
    for (const [name, unit] of this.#rows) {
      let remaining = 0
      for (const dep of unit.task.dependsOn) if (!this.#isDone(this.#rows.get(dep)!.state.status)) remaining++
      this.#remaining.set(name, remaining)
    }
    this.#syncProgress()
    for (const unit of this.#rows.values()) {
      if (
        unit.state.status === 'failed' &&
        unit.task.onFailure !== 'continue' &&
        this.#failure === undefined
      ) {
        this.#failure = {
          code: unit.state.error?.code ?? 'TASK_ERROR',
          message: `task '${unit.task.name}' failed: ${unit.state.error?.message ?? 'unknown error'}`,
          task: unit.task.name,
        }
      }
    }
    if (this.#failure !== undefined) {
      // The execution was failing when the process stopped: what was in flight goes back to pending.
      for (const state of this.taskStates()) {
        if (state.status === 'running' || state.status === 'retrying') {
          const unit =
            state.item_index === TASK_ROW
              ? this.#rows.get(state.task)!
              : this.#forEach.get(state.task)!.items[state.item_index]!
          unit.state.status = 'pending'
          this.#host.writer.task(unit.state)
        }
      }
      this.#maybeFinish()
      return
    }
    for (const [name, unit] of this.#rows) {
      const status = unit.state.status
      if (this.#isDone(status)) continue
      const fe = this.#forEach.get(name)
      if (fe !== undefined && status !== 'pending') {
        // A fan-out in progress: resume its items.
        for (const item of fe.items) {
          if (FINISHED_TASK_STATUSES.has(item.state.status) && item.state.status !== 'cancelled')
            fe.finished++
          else this.#resumeUnit(item, now)
        }
        if (fe.finished === fe.total) this.#completeForEach(unit, fe)
        continue
      }
      if (status === 'running' || status === 'retrying' || status === 'cancelled' || status === 'failed') {
        this.#resumeUnit(unit, now)
      } else if (this.#remaining.get(name) === 0) {
        this.#decide(unit)
      }
    }
    this.#pump()
    this.#maybeFinish()
  }

  // ----- public controls -------------------------------------------------------------------------------

  pause(): void {
    if (this.#closing || this.record.status !== 'running') return
    this.record.status = 'paused'
    this.#emit(EventType.execution_paused, { running_tasks: this.currentTasks })
  }

  resume(): void {
    if (this.#closing || this.record.status !== 'paused') return
    this.record.status = 'running'
    this.#emit(EventType.execution_resumed, {})
    this.#pump()
    this.#maybeFinish()
  }

  cancel(reason: string): void {
    if (this.#closing) return
    this.#controller.abort(new TaskFailure('CANCELLED', reason, { retriable: false }))
    const now = this.#host.clock.now()
    for (const unit of [...this.#running, ...this.#waiting]) {
      unit.timer?.cancel()
      unit.controller?.abort(new TaskFailure('CANCELLED', reason))
      unit.state.status = 'cancelled'
      unit.state.completed_at = new Date(now).toISOString()
      this.#host.writer.task(unit.state)
      if (unit.state.item_index === TASK_ROW) this.#emit(EventType.task_cancelled, { task: unit.task.name })
    }
    for (const [name, unit] of this.#rows) {
      if (unit.state.status === 'running' || unit.state.status === 'retrying') {
        unit.state.status = 'cancelled'
        unit.state.completed_at = new Date(now).toISOString()
        this.#host.writer.task(unit.state)
        this.#emit(EventType.task_cancelled, { task: name })
      }
    }
    for (let i = 0; i < this.#running.size; i++) this.#host.releaseSlot()
    this.#running.clear()
    this.#waiting.clear()
    this.#ready.drain()
    this.#finalize('cancelled', { reason })
  }

  /** Stops the run on this node without changing its persisted state (shutdown, lost lease, failed write). */
  abandon(reason: unknown): void {
    if (this.#ended) return
    this.#log.warn('execution abandoned on this node', { reason: String(reason) })
    this.#controller.abort(
      new TaskFailure('NODE_STOPPING', 'execution moved off this node', { retriable: true }),
    )
    for (const unit of this.#waiting) unit.timer?.cancel()
    for (const unit of this.#running) {
      unit.controller?.abort()
      this.#host.releaseSlot()
    }
    this.#running.clear()
    this.#waiting.clear()
    this.#end()
  }

  /** Called by the host when a global slot frees up. */
  pump(): void {
    this.#pump()
  }

  get wantsSlot(): boolean {
    return (
      !this.#closing &&
      this.record.status === 'running' &&
      this.#failure === undefined &&
      this.#ready.size > 0
    )
  }

  // ----- scheduling ------------------------------------------------------------------------------------

  #initialRow(task: string, executionId: string): TaskState {
    return { execution_id: executionId, task, item_index: TASK_ROW, status: 'pending', attempts: 0 }
  }

  /** Done for scheduling purposes: finished, or failed but tolerated by `on_failure: continue`. */
  #isDone(status: TaskStatus): boolean {
    return status === 'completed' || status === 'skipped' || status === 'failed'
  }

  #resumeUnit(unit: Unit, now: number): void {
    const state = unit.state
    if (state.status === 'running') {
      this.#ready.push(unit)
      ;(unit as { resumed?: boolean }).resumed = true
    } else if (state.status === 'retrying') {
      const due = state.next_attempt_at === undefined ? now : Date.parse(state.next_attempt_at)
      this.#armRetry(unit, Math.max(0, due - now))
    } else if (state.status === 'pending' || state.status === 'cancelled' || state.status === 'failed') {
      if (unit.state.item_index === TASK_ROW && this.#remaining.get(unit.task.name) !== 0) return
      state.status = 'pending'
      this.#ready.push(unit)
    }
  }

  /** All dependencies of a task are done: apply its trigger rule and `when`. */
  #decide(unit: Unit): void {
    const task = unit.task
    let skipped = 0
    let completed = 0
    for (const dep of task.dependsOn) {
      const status = this.#rows.get(dep)!.state.status
      if (status === 'skipped') skipped++
      else if (status === 'completed') completed++
    }
    const total = task.dependsOn.length
    let run: boolean
    switch (task.triggerRule) {
      case 'all_success':
        run = completed === total
        break
      case 'all_done':
        run = true
        break
      default:
        run = total === 0 || skipped < total
    }
    if (!run) return this.#skip(unit, 'dependencies were skipped')
    if (task.when !== undefined) {
      let ok: boolean
      try {
        ok = task.when.evaluate(this.#scope)
      } catch (error) {
        return this.#failTask(unit, toTaskError(error))
      }
      if (!ok) return this.#skip(unit, `condition is false: ${task.when.source}`)
    }
    if (task.forEach !== undefined) return this.#fanOut(unit)
    try {
      unit.state.input = task.input.evaluate(this.#scope)
    } catch (error) {
      return this.#failTask(unit, toTaskError(error))
    }
    this.#ready.push(unit)
  }

  #fanOut(unit: Unit): void {
    const task = unit.task
    let list: JsonValue
    try {
      list = task.forEach!.evaluate(this.#scope)
    } catch (error) {
      return this.#failTask(unit, toTaskError(error))
    }
    if (!Array.isArray(list)) {
      return this.#failTask(unit, {
        code: 'expression_error',
        message: `task '${task.name}', for_each: expected a list, got ${list === null ? 'null' : typeof list}`,
        retriable: false,
      })
    }
    const now = new Date(this.#host.clock.now()).toISOString()
    const items: Unit[] = []
    for (let index = 0; index < list.length; index++) {
      const itemScope: ExpressionScope = { ...this.#scope, item: list[index]!, item_index: index }
      let input: JsonValue
      try {
        input = task.input.evaluate(itemScope)
      } catch (error) {
        return this.#failTask(unit, { ...toTaskError(error), details: { item_index: index } })
      }
      const state: TaskState = {
        execution_id: this.record.execution_id,
        task: task.name,
        item_index: index,
        status: 'pending',
        attempts: 0,
        input,
      }
      items.push({ task, state })
      this.#host.writer.task(state)
    }
    const fe: ForEachProgress = { items, total: items.length, finished: 0, running: 0, waiting: new Queue() }
    this.#forEach.set(task.name, fe)
    unit.state.status = 'running'
    unit.state.attempts = 1
    unit.state.started_at = now
    unit.state.item_count = items.length
    this.#host.writer.task(unit.state)
    this.#scope.tasks[task.name] = this.#scopeEntry(unit.state)
    this.#emit(EventType.task_started, { task: task.name, item_count: items.length })
    if (items.length === 0) return this.#completeForEach(unit, fe)
    for (const item of items) this.#ready.push(item)
  }

  #pump(): void {
    if (this.#closing || this.record.status !== 'running' || this.#failure !== undefined) return
    while (this.#ready.size > 0 && this.#running.size < this.#host.maxTasksPerExecution) {
      if (!this.#host.acquireSlot(this)) return
      const unit = this.#ready.shift()!
      if (unit.state.item_index !== TASK_ROW) {
        const fe = this.#forEach.get(unit.task.name)!
        if (fe.running >= unit.task.concurrency) {
          fe.waiting.push(unit)
          this.#host.releaseSlot()
          continue
        }
        fe.running++
      }
      this.#startUnit(unit)
    }
  }

  #startUnit(unit: Unit): void {
    const state = unit.state
    const resumed = (unit as { resumed?: boolean }).resumed === true
    ;(unit as { resumed?: boolean }).resumed = false
    this.#running.add(unit)
    if (!resumed) {
      state.status = 'running'
      state.attempts++
      state.started_at = new Date(this.#host.clock.now()).toISOString()
      delete state.next_attempt_at
      delete state.completed_at
      this.#host.writer.task(state)
      if (state.item_index === TASK_ROW) {
        this.#scope.tasks[unit.task.name] = this.#scopeEntry(state)
        this.#emit(EventType.task_started, {
          task: unit.task.name,
          attempt: state.attempts,
          input: state.input,
        })
      }
      this.#host.writer.execution(this.record).then(
        () => this.#invoke(unit),
        (error: unknown) => this.#writeFailed(error),
      )
    } else {
      // Invoked again after a restart or a takeover: same attempt, same idempotency key; watchers are told.
      if (state.item_index === TASK_ROW) {
        this.#emit(EventType.task_started, {
          task: unit.task.name,
          attempt: state.attempts,
          input: state.input,
          resumed: true,
        })
      }
      this.#invoke(unit)
    }
  }

  #invoke(unit: Unit): void {
    if (this.#closing || !this.#running.has(unit)) return
    const task = unit.task
    const state = unit.state
    const controller = new AbortController()
    unit.controller = controller
    const onCancel = (): void => controller.abort(this.#controller.signal.reason)
    this.#controller.signal.addEventListener('abort', onCancel, { once: true })
    let timeout: { cancel(): void } | undefined
    if (task.timeoutMs !== undefined) {
      const timeoutMs = task.timeoutMs
      timeout = this.#host.clock.setTimeout(
        () =>
          controller.abort(
            new TaskFailure('TIMEOUT', `task '${task.name}' timed out after ${timeoutMs / 1000} s`, {
              retriable: true,
            }),
          ),
        timeoutMs,
      )
    }
    const idempotencyKey =
      state.item_index === TASK_ROW
        ? `${this.record.execution_id}:${task.name}`
        : `${this.record.execution_id}:${task.name}:${state.item_index}`
    const context: TaskContext = {
      executionId: this.record.execution_id,
      workflowId: this.record.workflow_id,
      task: task.name,
      ...(state.item_index === TASK_ROW ? {} : { itemIndex: state.item_index }),
      attempt: state.attempts,
      idempotencyKey,
      signal: controller.signal,
      attemptStartedAtMs:
        state.started_at === undefined ? this.#host.clock.now() : Date.parse(state.started_at),
      progress: (fraction, message) => this.#progress(unit, fraction, message),
      log: this.#log.child({ task: task.name, attempt: state.attempts }),
      runChildWorkflow: (request) => this.#host.runChildWorkflow(this, unit, request, controller.signal),
    }
    const aborted = new Promise<never>((_, reject) => {
      controller.signal.addEventListener('abort', () => reject(controller.signal.reason), { once: true })
    })
    aborted.catch(() => {})
    let invocation: Promise<JsonValue>
    const handler = this.#host.components.resolve(task.definition.component, task.definition.action)
    if (handler === undefined) {
      const components = this.#host.components
      const known = components.actionsOf(task.definition.component)
      const reason = components.unavailableReason?.(task.definition.component)
      invocation = Promise.reject(
        new TaskFailure(
          'component_error',
          known === undefined
            ? `task '${task.name}': component '${task.definition.component}' is not registered${reason === undefined ? '' : ` (${reason})`}`
            : `task '${task.name}': component '${task.definition.component}' has no action '${task.definition.action}'; its actions: ${known.join(', ')}`,
          { retriable: false },
        ),
      )
    } else {
      unit.resumable = handler.resumable === true
      try {
        invocation = handler.invoke(state.input ?? null, context)
      } catch (error) {
        invocation = Promise.reject(error)
      }
    }
    Promise.race([invocation, aborted]).then(
      (output) => {
        timeout?.cancel()
        this.#controller.signal.removeEventListener('abort', onCancel)
        const deep = tooDeepAt(output)
        if (deep !== undefined) {
          this.#unitFailed(
            unit,
            new TaskFailure(
              'OUTPUT_TOO_DEEP',
              `task '${task.name}': its output nests deeper than ${MAX_JSON_DEPTH} levels (at output.${deep})`,
              { retriable: false },
            ),
          )
          return
        }
        this.#unitSucceeded(unit, output === undefined ? null : output)
      },
      (error: unknown) => {
        timeout?.cancel()
        this.#controller.signal.removeEventListener('abort', onCancel)
        this.#unitFailed(unit, error)
      },
    )
  }

  #progress(unit: Unit, fraction: number, message?: string): void {
    if (this.#closing || !this.#running.has(unit)) return
    const progress = Number.isFinite(fraction) ? Math.min(1, Math.max(0, fraction)) : 0
    this.#emit(EventType.task_progress, {
      task: unit.task.name,
      progress,
      ...(message === undefined ? {} : { message }),
      ...(unit.state.item_index === TASK_ROW ? {} : { item_index: unit.state.item_index }),
    })
  }

  #leaveRunning(unit: Unit): boolean {
    if (this.#closing || !this.#running.delete(unit)) return false
    unit.controller = undefined
    this.#host.releaseSlot()
    if (unit.state.item_index !== TASK_ROW) {
      const fe = this.#forEach.get(unit.task.name)!
      fe.running--
      const next = fe.waiting.shift()
      if (next !== undefined) this.#ready.push(next)
    }
    return true
  }

  #unitSucceeded(unit: Unit, output: JsonValue): void {
    if (!this.#leaveRunning(unit)) return
    const state = unit.state
    state.status = 'completed'
    state.output = output
    delete state.error
    state.completed_at = new Date(this.#host.clock.now()).toISOString()
    this.#host.writer.task(state)
    if (state.item_index === TASK_ROW) {
      this.#taskFinished(unit, EventType.task_completed, {
        task: unit.task.name,
        output,
        attempt: state.attempts,
        duration_ms: Date.parse(state.completed_at) - Date.parse(state.started_at ?? state.completed_at),
      })
    } else {
      const row = this.#rows.get(unit.task.name)!
      const fe = this.#forEach.get(unit.task.name)!
      fe.finished++
      this.#emit(EventType.task_progress, {
        task: unit.task.name,
        item_index: state.item_index,
        progress: fe.finished / fe.total,
        message: `${fe.finished}/${fe.total} items done`,
      })
      if (fe.finished === fe.total && row.state.status === 'running') this.#completeForEach(row, fe)
    }
    this.#pump()
    this.#maybeFinish()
  }

  #completeForEach(row: Unit, fe: ForEachProgress): void {
    const state = row.state
    state.status = 'completed'
    state.output = fe.items.map((item) => item.state.output ?? null)
    state.completed_at = new Date(this.#host.clock.now()).toISOString()
    this.#host.writer.task(state)
    this.#taskFinished(row, EventType.task_completed, {
      task: row.task.name,
      output: state.output,
      item_count: fe.total,
      duration_ms: Date.parse(state.completed_at) - Date.parse(state.started_at ?? state.completed_at),
    })
  }

  #unitFailed(unit: Unit, thrown: unknown): void {
    if (!this.#leaveRunning(unit)) return
    const error = toTaskError(thrown)
    const state = unit.state
    const policy = unit.task.retry
    state.error = error
    if (
      state.attempts < policy.maxAttempts &&
      isRetriable(policy, error) &&
      !this.#controller.signal.aborted
    ) {
      const delayMs = retryDelayMs(policy, state.attempts)
      state.status = 'retrying'
      state.next_attempt_at = new Date(this.#host.clock.now() + delayMs).toISOString()
      this.#host.writer.task(state)
      this.#emit(EventType.task_retrying, {
        task: unit.task.name,
        ...(state.item_index === TASK_ROW ? {} : { item_index: state.item_index }),
        attempt: state.attempts,
        max_attempts: policy.maxAttempts,
        error: error as unknown as JsonValue,
        delay_ms: delayMs,
        next_attempt_at: state.next_attempt_at,
      })
      this.#host.writer.execution(this.record).then(
        () => this.#armRetry(unit, delayMs),
        (writeError: unknown) => this.#writeFailed(writeError),
      )
      return
    }
    state.status = 'failed'
    state.completed_at = new Date(this.#host.clock.now()).toISOString()
    this.#host.writer.task(state)
    if (state.item_index === TASK_ROW) {
      this.#failTask(unit, error)
    } else {
      const row = this.#rows.get(unit.task.name)!
      if (row.state.status === 'running') {
        this.#failTask(row, {
          ...error,
          message: `item ${state.item_index}: ${error.message}`,
          details: {
            item_index: state.item_index,
            ...(error.details === undefined ? {} : { error: error.details }),
          },
        })
      }
    }
    this.#pump()
    this.#maybeFinish()
  }

  #armRetry(unit: Unit, delayMs: number): void {
    if (this.#closing) return
    this.#waiting.add(unit)
    unit.timer = this.#host.clock.setTimeout(() => {
      unit.timer = undefined
      if (!this.#waiting.delete(unit) || this.#closing) return
      this.#ready.push(unit)
      this.#pump()
      this.#maybeFinish()
    }, delayMs)
  }

  #failTask(unit: Unit, error: TaskError): void {
    const state = unit.state
    state.status = 'failed'
    state.error = error
    state.completed_at = new Date(this.#host.clock.now()).toISOString()
    this.#host.writer.task(state)
    const policy = unit.task.retry
    this.#taskFinished(unit, EventType.task_failed, {
      task: unit.task.name,
      error: error.message,
      error_details: error as unknown as JsonValue,
      retry_count: Math.max(0, state.attempts - 1),
      max_retries: policy.maxAttempts - 1,
    })
    if (unit.task.onFailure !== 'continue' && this.#failure === undefined) {
      this.#failure = {
        code: error.code,
        message: `task '${unit.task.name}' failed: ${error.message}`,
        task: unit.task.name,
      }
      // Stop starting tasks: queued and waiting units go back to pending for a later rerun.
      for (const queued of this.#ready.drain())
        if (queued.state.status !== 'running') queued.state.status = 'pending'
      for (const waiting of this.#waiting) {
        waiting.timer?.cancel()
        waiting.state.status = 'failed'
        this.#host.writer.task(waiting.state)
      }
      this.#waiting.clear()
    }
  }

  #skip(unit: Unit, reason: string): void {
    unit.state.status = 'skipped'
    unit.state.completed_at = new Date(this.#host.clock.now()).toISOString()
    this.#host.writer.task(unit.state)
    this.#taskFinished(unit, EventType.task_skipped, { task: unit.task.name, reason })
  }

  /** A task row reached a final status: record it, then release its dependents. */
  #taskFinished(unit: Unit, type: EventType, data: ExecutionEvent['data']): void {
    this.#scope.tasks[unit.task.name] = this.#scopeEntry(unit.state)
    this.#finishedTasks++
    if (unit.state.status === 'completed' || unit.state.status === 'skipped') this.#succeededTasks++
    this.#syncProgress()
    this.#emit(type, { ...data, task_index: this.#finishedTasks, total_tasks: this.record.total_tasks })
    if (this.#failure !== undefined) return
    if (unit.state.status === 'failed' && unit.task.onFailure !== 'continue') return
    for (const name of unit.task.dependents) {
      const left = this.#remaining.get(name)! - 1
      this.#remaining.set(name, left)
      if (left === 0) this.#decide(this.#rows.get(name)!)
    }
  }

  #scopeEntry(state: TaskState): ExpressionScope['tasks'][string] {
    return {
      status: state.status,
      // A skipped task's output reads as null, so an output mapping over optional branches still resolves.
      ...(state.output === undefined
        ? state.status === 'skipped'
          ? { output: null }
          : {}
        : { output: state.output }),
      ...(state.error === undefined ? {} : { error: state.error }),
    }
  }

  #syncProgress(): void {
    this.record.completed_tasks = this.#succeededTasks
  }

  #maybeFinish(): void {
    if (this.#closing || this.#running.size > 0) return
    if (this.#failure !== undefined) return this.#finalize('failed')
    if (this.#waiting.size > 0 || this.#ready.size > 0) return
    if (this.#finishedTasks < this.#rows.size) return
    let output: JsonValue | undefined
    if (this.compiled.output !== undefined) {
      try {
        output = this.compiled.output.evaluate(this.#scope)
      } catch (error) {
        const taskError = toTaskError(error)
        this.#failure = { code: taskError.code, message: `workflow output: ${taskError.message}` }
        return this.#finalize('failed')
      }
    }
    this.#finalize('completed', undefined, output)
  }

  #armDeadline(now: number): void {
    const seconds = this.record.execution_options.timeout ?? this.compiled.definition.timeout
    if (typeof seconds !== 'number' || !(seconds > 0) || this.record.started_at === undefined) return
    const deadline = Date.parse(this.record.started_at) + seconds * 1000
    this.#deadline = this.#host.clock.setTimeout(() => this.#timedOut(seconds), Math.max(0, deadline - now))
  }

  #timedOut(seconds: number): void {
    if (this.#closing) return
    const message = `execution exceeded its timeout of ${seconds} s`
    this.#failure ??= { code: 'TIMEOUT', message }
    this.#controller.abort(new TaskFailure('TIMEOUT', message, { retriable: false }))
    for (const unit of [...this.#running]) this.#unitFailed(unit, new TaskFailure('TIMEOUT', message))
    this.#maybeFinish()
  }

  #finalize(
    status: 'completed' | 'failed' | 'cancelled',
    extra: { reason?: string } = {},
    output?: JsonValue,
  ): void {
    const now = this.#host.clock.now()
    const record = this.record
    record.status = status
    record.completed_at = new Date(now).toISOString()
    delete record.requested
    const durationSeconds = (now - Date.parse(record.started_at ?? record.created_at)) / 1000
    if (status === 'completed') {
      if (output !== undefined) record.output = output
      this.#emit(EventType.execution_completed, { duration_seconds: durationSeconds, output: output ?? null })
    } else if (status === 'failed') {
      record.error = this.#failure!
      this.#emit(EventType.execution_failed, {
        duration_seconds: durationSeconds,
        error: record.error as unknown as JsonValue,
      })
    } else {
      record.error = { code: 'cancelled', message: extra.reason ?? 'cancelled' }
      this.#emit(EventType.execution_cancelled, {
        duration_seconds: durationSeconds,
        reason: extra.reason ?? null,
      })
    }
    this.#host.writer.execution(record).then(
      () => this.#end(),
      (error: unknown) => this.#writeFailed(error),
    )
    this.#closing = true
  }

  #end(): void {
    this.#ended = true
    this.#closing = true
    this.#deadline?.cancel()
    this.#host.ended(this)
    for (const resolve of this.#endWaiters.splice(0)) resolve()
  }

  #writeFailed(error: unknown): void {
    this.#log.error('could not persist execution state; leaving it to recovery', {
      error: error instanceof HarmoniaError ? error.toJSON() : String(error),
    })
    this.abandon(error)
  }

  #emit(type: EventType, data: ExecutionEvent['data']): void {
    const record = this.record
    record.last_event_seq++
    record.updated_at = new Date(this.#host.clock.now()).toISOString()
    this.#host.writer.event({
      seq: record.last_event_seq,
      type,
      timestamp: record.updated_at,
      execution_id: record.execution_id,
      workflow_id: record.workflow_id,
      data,
    })
    this.#host.writer.execution(record)
  }
}
