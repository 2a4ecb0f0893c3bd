/**
 * The engine: starts executions, hosts their runs on this node under a lease, recovers unfinished ones on
 * start, and carries out pause, resume, cancel, rerun, checkpoint and restore.
 */
import { BatchWriter } from './batch-writer.ts'
import { systemClock, type Clock } from './clock.ts'
import type { CompiledWorkflow } from './compiled-workflow.ts'
import type { ChildWorkflowRequest, ComponentResolver } from './component.ts'
import type { Engine, ExecutionDetail, StartExecutionRequest } from './engine-api.ts'
import {
  ConflictError,
  ErrorCode,
  HarmoniaError,
  InvalidRequestError,
  NotFoundError,
  TaskFailure,
  ValidationError,
} from './errors.ts'
import { EventBus, EventType, type ExecutionEvent } from './events.ts'
import { ExecutionRun, type RunHost, type Unit } from './execution-run.ts'
import { newId } from './ids.ts'
import { silentLogger, type Logger } from './logger.ts'
import {
  FINISHED_EXECUTION_STATUSES,
  MAX_JSON_DEPTH,
  TASK_ROW,
  tooDeepAt,
  type CheckpointRecord,
  type ExecutionOptions,
  type ExecutionRecord,
  type JsonValue,
  type RetryPolicySpec,
  type TaskState,
  type WorkflowDefinition,
} from './model.ts'
import type { DocumentWrite, Store } from './store.ts'
import { compileWorkflow } from './validate.ts'

export interface EngineOptions {
  store: Store
  components: ComponentResolver
  clock?: Clock
  logger?: Logger
  /** Identity of this node for leases. Embedded stores use one stable id so a restart recovers at once. */
  nodeId?: string
  /** Task invocations running at once on this node. */
  maxConcurrentTasks?: number
  /** Task invocations running at once in one execution. */
  maxTasksPerExecution?: number
  leaseMs?: number
  /** How often to look for orphaned executions (cluster safety net). 0 disables. */
  claimIntervalMs?: number
  /** Environment variables expressions may read as `env.X` (already filtered by the allow-list). */
  env?: Record<string, string>
  defaults?: { retry?: number | RetryPolicySpec; taskTimeoutSeconds?: number; forEachConcurrency?: number }
}

const COMPILED_CACHE_LIMIT = 256
/** Store channel on which a node asks the execution's owner to cancel, pause or resume it. */
const CONTROL_CHANNEL = 'control'
const CONTROL_TIMEOUT_MS = 10_000

interface ControlRequest {
  execution_id: string
  action: 'cancel' | 'pause' | 'resume'
  reason?: string
}

export function createEngine(options: EngineOptions): Engine {
  return new WorkflowEngine(options)
}

class WorkflowEngine implements Engine, RunHost {
  readonly bus: EventBus
  readonly nodeId: string
  readonly writer: BatchWriter
  readonly clock: Clock
  readonly logger: Logger
  readonly components: ComponentResolver
  readonly maxTasksPerExecution: number
  readonly #store: Store
  readonly #options: EngineOptions
  readonly #runs = new Map<string, ExecutionRun>()
  readonly #compiled = new Map<string, CompiledWorkflow>()
  readonly #slotWaiters = new Set<ExecutionRun>()
  readonly #writeHooks = new Set<(event: ExecutionEvent) => DocumentWrite[]>()
  readonly #maxConcurrentTasks: number
  readonly #leaseMs: number
  #runningTasks = 0
  #started = false
  #stopping = false
  #renewTimer: { cancel(): void } | undefined
  #claimTimer: { cancel(): void } | undefined
  #unlisten: (() => void) | undefined
  #unlistenControl: (() => void) | undefined
  #claiming: Promise<void> | undefined

  constructor(options: EngineOptions) {
    this.#options = options
    this.#store = options.store
    this.components = options.components
    this.clock = options.clock ?? systemClock
    this.logger = options.logger ?? silentLogger
    this.nodeId = options.nodeId ?? 'local'
    this.#maxConcurrentTasks = options.maxConcurrentTasks ?? 10_000
    this.maxTasksPerExecution = options.maxTasksPerExecution ?? 1_000
    this.#leaseMs = options.leaseMs ?? 30_000
    this.bus = new EventBus((error) => this.logger.error('event listener failed', { error: String(error) }))
    this.writer = new BatchWriter({
      store: this.#store,
      nodeId: this.nodeId,
      leaseMs: this.#leaseMs,
      publish: (events) => {
        for (const event of events) this.bus.publish(event)
      },
      writesFor: (event) => {
        if (this.#writeHooks.size === 0) return []
        const writes: DocumentWrite[] = []
        for (const hook of this.#writeHooks) {
          try {
            writes.push(...hook(event))
          } catch (error) {
            this.logger.error('event write hook failed', { error: String(error) })
          }
        }
        return writes
      },
    })
  }

  // ----- lifecycle ---------------------------------------------------------------------------------------

  async start(): Promise<void> {
    if (this.#started) return
    this.#started = true
    this.#stopping = false
    this.#unlistenControl = this.#store.listen(CONTROL_CHANNEL, (payload) => this.#onControl(payload))
    await this.#claimOrphans()
    this.#scheduleRenewal()
    const claimIntervalMs = this.#options.claimIntervalMs ?? 0
    if (claimIntervalMs > 0) {
      const tick = (): void => {
        this.#claimTimer = this.clock.setTimeout(() => {
          void this.#claimOrphans().finally(() => {
            if (!this.#stopping) tick()
          })
        }, claimIntervalMs)
      }
      tick()
      this.#unlisten = this.#store.listen('executions', () => void this.#claimOrphans())
    }
  }

  async stop(options: { graceMs?: number } = {}): Promise<void> {
    if (this.#stopping) return
    this.#stopping = true
    this.#renewTimer?.cancel()
    this.#claimTimer?.cancel()
    this.#unlisten?.()
    this.#unlistenControl?.()
    const runs = [...this.#runs.values()]
    for (const run of runs) if (run.record.status === 'running') this.#slotWaiters.delete(run)
    const graceMs = options.graceMs ?? 10_000
    const idle = Promise.all(runs.map((run) => this.#whenIdle(run)))
    let timer: { cancel(): void } | undefined
    await Promise.race([
      idle,
      new Promise<void>((resolve) => (timer = this.clock.setTimeout(resolve, graceMs))),
    ])
    timer?.cancel()
    for (const run of this.#runs.values()) run.abandon('node stopping')
    await this.writer.drain()
    for (const run of runs) {
      if (!FINISHED_EXECUTION_STATUSES.has(run.record.status)) {
        await this.#store.releaseExecution(this.nodeId, run.executionId).catch(() => {})
      }
    }
    this.#runs.clear()
    this.#started = false
  }

  /**
   * Resolves once a stopping run has nothing in flight but durable waits (its other tasks reached a
   * persisted point); the waits are abandoned with the run and resume on the next node.
   */
  #whenIdle(run: ExecutionRun): Promise<void> {
    return new Promise((resolve) => {
      const check = (): void => {
        if (run.isEnded || run.busyCount === 0) {
          unsubscribe()
          resolve()
        }
      }
      const unsubscribe = this.bus.subscribe(() => queueMicrotask(check), run.executionId)
      void run.whenEnded().then(check)
      check()
    })
  }

  #scheduleRenewal(): void {
    const every = Math.max(50, Math.floor(this.#leaseMs / 3))
    const tick = (): void => {
      this.#renewTimer = this.clock.setTimeout(() => {
        void this.#renewLeases().finally(() => {
          if (!this.#stopping) tick()
        })
      }, every)
    }
    tick()
  }

  async #renewLeases(): Promise<void> {
    const ids = [...this.#runs.keys()]
    if (ids.length === 0) return
    try {
      const held = new Set(await this.#store.renewLeases(this.nodeId, ids, this.#leaseMs))
      for (const id of ids) {
        if (!held.has(id)) this.#runs.get(id)?.abandon('lease lost')
      }
    } catch (error) {
      this.logger.warn('could not renew leases', { error: String(error) })
    }
  }

  #claimOrphans(): Promise<void> {
    if (this.#claiming !== undefined) return this.#claiming
    this.#claiming = (async () => {
      try {
        for (;;) {
          if (this.#stopping) return
          const ids = await this.#store.claimExecutions(this.nodeId, this.#leaseMs, 500)
          const fresh = ids.filter((id) => !this.#runs.has(id))
          for (const id of fresh) await this.#load(id)
          if (ids.length < 500 || fresh.length === 0) return
        }
      } catch (error) {
        this.logger.error('could not claim executions', { error: String(error) })
      } finally {
        this.#claiming = undefined
      }
    })()
    return this.#claiming
  }

  /** Loads a claimed execution from the store and resumes it. */
  async #load(executionId: string): Promise<ExecutionRun | undefined> {
    const record = await this.#store.getExecution(executionId)
    if (record === undefined || FINISHED_EXECUTION_STATUSES.has(record.status)) return undefined
    const states = await this.#store.getTaskStates(executionId)
    const existing = this.#runs.get(executionId)
    if (existing !== undefined) return existing
    let compiled: CompiledWorkflow
    try {
      compiled = this.#compile(
        record.definition,
        record.workflow_id,
        record.workflow_revision,
        record.execution_options,
      )
    } catch (error) {
      this.logger.error('cannot recover execution: its definition no longer compiles', {
        executionId,
        error: String(error),
      })
      return undefined
    }
    const run = new ExecutionRun(this, record, compiled, states, this.#options.env ?? {})
    this.#runs.set(executionId, run)
    this.logger.info('execution recovered', { executionId, status: record.status })
    run.begin()
    return run
  }

  // ----- RunHost -----------------------------------------------------------------------------------------

  acquireSlot(run: ExecutionRun): boolean {
    if (this.#stopping) return false
    if (this.#runningTasks >= this.#maxConcurrentTasks) {
      this.#slotWaiters.add(run)
      return false
    }
    this.#runningTasks++
    return true
  }

  releaseSlot(): void {
    this.#runningTasks--
    if (this.#slotWaiters.size === 0 || this.#stopping) return
    for (const run of this.#slotWaiters) {
      if (this.#runningTasks >= this.#maxConcurrentTasks) return
      this.#slotWaiters.delete(run)
      if (run.wantsSlot) run.pump()
    }
  }

  ended(run: ExecutionRun): void {
    if (this.#runs.get(run.executionId) === run) this.#runs.delete(run.executionId)
    this.#slotWaiters.delete(run)
    if (FINISHED_EXECUTION_STATUSES.has(run.record.status)) {
      void this.#store.releaseExecution(this.nodeId, run.executionId).catch(() => {})
    }
  }

  async runChildWorkflow(
    parent: ExecutionRun,
    unit: Unit,
    request: ChildWorkflowRequest,
    signal: AbortSignal,
  ): Promise<JsonValue> {
    const itemSuffix = unit.state.item_index === TASK_ROW ? '' : `:${unit.state.item_index}`
    const child = await this.startExecution({
      ...(request.workflow_id === undefined ? {} : { workflow_id: request.workflow_id }),
      ...(request.workflow === undefined ? {} : { workflow: request.workflow }),
      ...(request.revision === undefined ? {} : { revision: request.revision }),
      input: request.input ?? {},
      idempotency_key: `${parent.executionId}:${unit.task.name}${itemSuffix}:child`,
      parent: { execution_id: parent.executionId, task: unit.task.name, item_index: unit.state.item_index },
    })
    const onAbort = (): void => {
      void this.cancel(child.execution_id, 'parent task was aborted').catch(() => {})
    }
    signal.addEventListener('abort', onAbort, { once: true })
    try {
      const done = await this.waitForExecution(child.execution_id)
      if (done.status === 'completed') return done.output ?? null
      throw new TaskFailure(
        done.status === 'cancelled' ? 'CHILD_WORKFLOW_CANCELLED' : 'CHILD_WORKFLOW_FAILED',
        `child execution '${child.execution_id}' ${done.status}: ${done.error?.message ?? ''}`.trim(),
        {
          retriable: false,
          details: {
            child_execution_id: child.execution_id,
            error: (done.error ?? null) as unknown as JsonValue,
          },
        },
      )
    } finally {
      signal.removeEventListener('abort', onAbort)
    }
  }

  // ----- executions --------------------------------------------------------------------------------------

  async startExecution(request: StartExecutionRequest): Promise<ExecutionRecord> {
    if (this.#stopping) throw new ConflictError('the engine is stopping; no new execution can start')
    const deep = tooDeepAt(request.input)
    if (deep !== undefined) {
      throw new ValidationError('the execution input is too deep (flatten it, or pass it as text)', [
        { field: `input.${deep}`, message: `nests deeper than ${MAX_JSON_DEPTH} levels` },
      ])
    }
    if (request.idempotency_key !== undefined) {
      const existing = await this.#store.findExecutionByIdempotencyKey(request.idempotency_key)
      if (existing !== undefined) return existing
    }
    let definition: WorkflowDefinition
    let workflowId: string
    let revision: number
    if (request.workflow !== undefined) {
      if (request.workflow_id !== undefined) {
        throw new InvalidRequestError('give either workflow_id or an inline workflow, not both')
      }
      const compiled = this.#compile(request.workflow, undefined, 0, request.execution_options ?? {})
      definition = compiled.definition
      workflowId = `inline:${definition.name}`
      revision = 0
    } else if (request.workflow_id !== undefined) {
      let workflow = await this.#store.getWorkflow(request.workflow_id, request.revision)
      if (workflow !== undefined && request.revision === undefined && workflow.status === 'draft') {
        // A draft is not what runs: the latest published revision does (a draft runs by its revision).
        const revisions = await this.#store.listWorkflowRevisions(request.workflow_id)
        workflow = undefined
        for (const r of revisions) {
          if (r.status !== 'draft' && (workflow === undefined || r.revision > workflow.revision)) workflow = r
        }
        if (workflow === undefined) {
          throw new ConflictError(
            `workflow '${request.workflow_id}' has only drafts: publish a revision, or start a draft by its revision`,
            { workflow_id: request.workflow_id },
          )
        }
      }
      if (workflow === undefined) {
        throw new NotFoundError(
          'workflow_not_found',
          request.revision === undefined
            ? `Workflow with ID '${request.workflow_id}' not found`
            : `Workflow with ID '${request.workflow_id}' has no revision ${request.revision}`,
          { workflow_id: request.workflow_id },
        )
      }
      definition = workflow.definition
      workflowId = workflow.workflow_id
      revision = workflow.revision
    } else {
      throw new InvalidRequestError('workflow_id or workflow is required to start an execution')
    }
    const executionOptions = request.execution_options ?? {}
    const compiled = this.#compile(
      definition,
      request.workflow === undefined ? workflowId : undefined,
      revision,
      executionOptions,
    )
    const input = compiled.prepareInput(structuredClone(request.input ?? {}))
    const now = new Date(this.clock.now()).toISOString()
    const executionId = newId('exec')
    const record: ExecutionRecord = {
      execution_id: executionId,
      workflow_id: workflowId,
      workflow_revision: revision,
      workflow_name: compiled.definition.name,
      definition: compiled.definition,
      status: 'pending',
      input,
      execution_options: executionOptions,
      created_at: now,
      updated_at: now,
      completed_tasks: 0,
      total_tasks: compiled.tasks.size,
      last_event_seq: 0,
      ...(request.parent === undefined ? {} : { parent: request.parent }),
      ...(request.idempotency_key === undefined ? {} : { idempotency_key: request.idempotency_key }),
    }
    const states = compiled.order.map<TaskState>((task) => ({
      execution_id: executionId,
      task,
      item_index: TASK_ROW,
      status: 'pending',
      attempts: 0,
    }))
    return this.#launch(record, states, compiled)
  }

  /** Persists a new execution with its task rows and starts it in the same batch. */
  async #launch(
    record: ExecutionRecord,
    states: TaskState[],
    compiled: CompiledWorkflow,
  ): Promise<ExecutionRecord> {
    const snapshot = structuredClone({ ...record, definition: undefined }) as unknown as ExecutionRecord
    snapshot.definition = record.definition
    const inserted = this.writer.execution(record, true)
    for (const state of states) this.writer.task(state)
    const run = new ExecutionRun(this, record, compiled, states, this.#options.env ?? {})
    this.#runs.set(record.execution_id, run)
    run.begin()
    try {
      await inserted
    } catch (error) {
      this.#runs.delete(record.execution_id)
      run.abandon(error)
      if (error instanceof ConflictError && record.idempotency_key !== undefined) {
        const existing = await this.#store.findExecutionByIdempotencyKey(record.idempotency_key)
        if (existing !== undefined) return existing
      }
      throw error
    }
    return snapshot
  }

  #compile(
    definition: WorkflowDefinition,
    workflowId: string | undefined,
    revision: number,
    executionOptions: ExecutionOptions,
  ): CompiledWorkflow {
    const retry = executionOptions.retry_policy
    const defaults = { ...this.#options.defaults }
    if (retry !== undefined && typeof retry === 'object') {
      defaults.retry = {
        max_attempts: (retry.max_retries ?? 0) + 1,
        initial_delay_ms: (retry.retry_interval ?? 1) * 1000,
        backoff_factor: 2,
      }
    }
    const key =
      workflowId === undefined
        ? undefined
        : `${workflowId}@${revision}@${JSON.stringify(defaults.retry ?? null)}`
    if (key !== undefined) {
      const cached = this.#compiled.get(key)
      if (cached !== undefined) return cached
    }
    const compiled = compileWorkflow(definition, {
      components: this.components,
      unknownComponents: 'ignore',
      envAllowList: Object.keys(this.#options.env ?? {}),
      defaults,
    })
    if (key !== undefined) {
      if (this.#compiled.size >= COMPILED_CACHE_LIMIT)
        this.#compiled.delete(this.#compiled.keys().next().value!)
      this.#compiled.set(key, compiled)
    }
    return compiled
  }

  async getExecution(executionId: string): Promise<ExecutionDetail> {
    const run = this.#runs.get(executionId)
    if (run !== undefined) {
      return {
        execution: structuredClone(run.record),
        tasks: run.taskStates(),
        current_tasks: run.currentTasks,
      }
    }
    const record = await this.#mustGet(executionId)
    const tasks = await this.#store.getTaskStates(executionId)
    const current = new Set<string>()
    for (const state of tasks) if (state.status === 'running') current.add(state.task)
    return { execution: record, tasks, current_tasks: [...current] }
  }

  async deleteExecution(executionId: string): Promise<void> {
    const active = this.#runs.get(executionId)
    if (active !== undefined && active.isClosing) await active.whenEnded()
    const record = this.#runs.get(executionId)?.record ?? (await this.#mustGet(executionId))
    if (this.#runs.has(executionId) || !FINISHED_EXECUTION_STATUSES.has(record.status)) {
      throw new ConflictError(
        `cannot delete execution '${executionId}': it is ${record.status}; cancel it first`,
        { execution_id: executionId, status: record.status },
        'invalid_state',
      )
    }
    const deleted = await this.#store.deleteExecutions({ execution_ids: [executionId], limit: 1 })
    if (deleted.length === 0) {
      // Gone meanwhile, or claimed by a rerun on some node.
      const now = await this.#mustGet(executionId)
      throw new ConflictError(
        `cannot delete execution '${executionId}': a node holds it (a rerun is starting)`,
        { execution_id: executionId, status: now.status },
        'invalid_state',
      )
    }
    this.logger.info('execution deleted', { execution_id: executionId })
  }

  async pruneExecutions(options: {
    finishedBefore: string
    batchSize?: number
    signal?: AbortSignal
  }): Promise<number> {
    const limit = options.batchSize ?? 500
    let total = 0
    for (;;) {
      const deleted = await this.#store.deleteExecutions({ finished_before: options.finishedBefore, limit })
      total += deleted.length
      if (deleted.length < limit || options.signal?.aborted === true) return total
    }
  }

  async #mustGet(executionId: string): Promise<ExecutionRecord> {
    const record = await this.#store.getExecution(executionId)
    if (record === undefined) {
      throw new NotFoundError('execution_not_found', `Execution with ID '${executionId}' not found`, {
        execution_id: executionId,
      })
    }
    return record
  }

  async waitForExecution(
    executionId: string,
    options: { timeoutMs?: number } = {},
  ): Promise<ExecutionRecord> {
    const timeoutMs = options.timeoutMs
    return this.#awaitRecord(executionId, {
      wakeOn: (event) =>
        event.type === EventType.execution_completed ||
        event.type === EventType.execution_failed ||
        event.type === EventType.execution_cancelled,
      done: (record) => FINISHED_EXECUTION_STATUSES.has(record.status),
      ...(timeoutMs === undefined
        ? {}
        : {
            timeoutMs,
            timeoutError: () =>
              new HarmoniaError(
                ErrorCode.timeout,
                `execution '${executionId}' did not finish within ${timeoutMs} ms`,
                { details: { execution_id: executionId } },
              ),
          }),
    })
  }

  /**
   * Resolves with the persisted record once `done` holds: read at the start (after `kick`, when given) and
   * again on each event of the execution that `wakeOn` accepts (events of other nodes arrive through the
   * cluster's event relay). Rejects when the execution does not exist, or at the timeout.
   */
  async #awaitRecord(
    executionId: string,
    options: {
      wakeOn: (event: ExecutionEvent) => boolean
      done: (record: ExecutionRecord) => boolean
      timeoutMs?: number
      timeoutError?: () => Error
      kick?: () => Promise<void>
    },
  ): Promise<ExecutionRecord> {
    let unsubscribe = (): void => {}
    let timer: { cancel(): void } | undefined
    try {
      return await new Promise<ExecutionRecord>((resolve, reject) => {
        const check = (): void => {
          void this.#store.getExecution(executionId).then((record) => {
            if (record === undefined) {
              reject(
                new NotFoundError('execution_not_found', `Execution with ID '${executionId}' not found`, {
                  execution_id: executionId,
                }),
              )
            } else if (options.done(record)) {
              resolve(record)
            }
          }, reject)
        }
        unsubscribe = this.bus.subscribe((event) => {
          if (options.wakeOn(event)) check()
        }, executionId)
        if (options.timeoutMs !== undefined && options.timeoutError !== undefined) {
          const timeoutError = options.timeoutError
          timer = this.clock.setTimeout(() => reject(timeoutError()), options.timeoutMs)
        }
        if (options.kick === undefined) check()
        else options.kick().then(check, reject)
      })
    } finally {
      unsubscribe()
      timer?.cancel()
    }
  }

  /**
   * The run of an execution on this node, claiming and loading it if it is free; `remote` when another node
   * holds it (the caller forwards the request there).
   */
  async #localRun(executionId: string): Promise<ExecutionRun | 'remote' | undefined> {
    const run = this.#runs.get(executionId)
    if (run !== undefined && !run.isClosing) return run
    if (run !== undefined) await run.whenEnded()
    const record = await this.#mustGet(executionId)
    if (FINISHED_EXECUTION_STATUSES.has(record.status)) return undefined
    if (!(await this.#store.claimExecution(this.nodeId, executionId, this.#leaseMs))) return 'remote'
    return this.#load(executionId)
  }

  /**
   * Asks the node that runs the execution to cancel, pause or resume it (a NOTIFY on the shared store), and
   * waits until the persisted record shows the effect. The owner's events reach this node through the
   * cluster's event relay; the store is read again on each, and once at the start.
   */
  async #forward(
    executionId: string,
    request: ControlRequest,
    done: (record: ExecutionRecord) => boolean,
  ): Promise<ExecutionRecord> {
    return this.#awaitRecord(executionId, {
      wakeOn: () => true,
      done,
      timeoutMs: CONTROL_TIMEOUT_MS,
      timeoutError: () =>
        new ConflictError(
          `execution '${executionId}' is running on another node, which did not ${request.action} it ` +
            `within ${CONTROL_TIMEOUT_MS} ms; retry later`,
          { execution_id: executionId },
        ),
      kick: () => this.#store.notify(CONTROL_CHANNEL, JSON.stringify(request)),
    })
  }

  /** A control request from another node: acted on only by the node that runs the execution. */
  #onControl(payload: string): void {
    let request: ControlRequest
    try {
      request = JSON.parse(payload) as ControlRequest
    } catch {
      return
    }
    const run = this.#runs.get(request.execution_id)
    if (run === undefined || run.isClosing) return
    this.logger.info('control request from another node', { ...request })
    if (request.action === 'cancel') run.cancel(request.reason ?? 'cancelled by request')
    else if (request.action === 'pause' && run.record.status === 'running') run.pause()
    else if (request.action === 'resume') run.resume()
  }

  async cancel(executionId: string, reason = 'cancelled by request'): Promise<ExecutionRecord> {
    const run = await this.#localRun(executionId)
    if (run === undefined) return this.#notActive(executionId, 'cancel')
    if (run === 'remote') {
      return this.#forward(
        executionId,
        { execution_id: executionId, action: 'cancel', reason: reason.slice(0, 1000) },
        (record) => FINISHED_EXECUTION_STATUSES.has(record.status),
      )
    }
    run.cancel(reason)
    await run.whenEnded()
    return structuredClone(run.record)
  }

  async pause(executionId: string): Promise<ExecutionRecord> {
    const run = await this.#localRun(executionId)
    if (run === undefined) return this.#notActive(executionId, 'pause')
    if (run === 'remote') {
      return this.#forward(
        executionId,
        { execution_id: executionId, action: 'pause' },
        (record) => record.status !== 'running',
      )
    }
    if (run.record.status === 'running') run.pause()
    const after = structuredClone(run.record)
    await this.writer.drain()
    return after
  }

  async resume(executionId: string): Promise<ExecutionRecord> {
    const run = await this.#localRun(executionId)
    if (run === undefined) return this.#notActive(executionId, 'resume')
    if (run === 'remote') {
      return this.#forward(
        executionId,
        { execution_id: executionId, action: 'resume' },
        (record) => record.status !== 'paused',
      )
    }
    run.resume()
    const after = structuredClone(run.record)
    await this.writer.drain()
    return after
  }

  async #notActive(executionId: string, action: string): Promise<never> {
    const record = await this.#mustGet(executionId)
    throw new ConflictError(
      `cannot ${action} execution '${executionId}': it is already ${record.status}`,
      {
        execution_id: executionId,
        status: record.status,
      },
      'invalid_state',
    )
  }

  async rerun(executionId: string): Promise<ExecutionRecord> {
    const active = this.#runs.get(executionId)
    if (active !== undefined && active.isClosing) await active.whenEnded()
    if (this.#runs.has(executionId)) {
      throw new ConflictError(
        `cannot rerun execution '${executionId}': it is still running`,
        undefined,
        'invalid_state',
      )
    }
    const record = await this.#mustGet(executionId)
    if (record.status !== 'failed' && record.status !== 'cancelled') {
      throw new ConflictError(
        `cannot rerun execution '${executionId}': it is ${record.status}; only failed or cancelled executions can be rerun`,
        { execution_id: executionId, status: record.status },
        'invalid_state',
      )
    }
    if (!(await this.#store.claimExecution(this.nodeId, executionId, this.#leaseMs))) {
      throw new ConflictError(`execution '${executionId}' is held by another node`, {
        execution_id: executionId,
      })
    }
    const states = await this.#store.getTaskStates(executionId)
    const reset: TaskState[] = []
    for (const state of states) {
      if (state.status === 'completed' || state.status === 'skipped') continue
      const next: TaskState = { ...state, status: 'pending', attempts: 0 }
      delete next.error
      delete next.completed_at
      delete next.next_attempt_at
      delete next.started_at
      if (next.item_index === TASK_ROW) {
        delete next.item_count
        delete next.output
      }
      reset.push(next)
    }
    const resetByKey = new Map(reset.map((s) => [`${s.task}\u0000${s.item_index}`, s]))
    // A fan-out that failed is rerun from its failed items: its completed items are kept.
    const merged = states.map((s) => resetByKey.get(`${s.task}\u0000${s.item_index}`) ?? s)
    const fanOuts = new Set(merged.filter((s) => s.item_index !== TASK_ROW).map((s) => s.task))
    for (const state of merged) {
      if (state.item_index === TASK_ROW && fanOuts.has(state.task) && state.status === 'pending') {
        state.status = 'running'
        state.attempts = 1
      }
    }
    record.status = 'running'
    delete record.error
    delete record.completed_at
    delete record.output
    const compiled = this.#compile(
      record.definition,
      record.workflow_id,
      record.workflow_revision,
      record.execution_options,
    )
    for (const state of merged) this.writer.task(state)
    const run = new ExecutionRun(this, record, compiled, merged, this.#options.env ?? {})
    this.#runs.set(executionId, run)
    record.last_event_seq++
    const event: ExecutionEvent = {
      seq: record.last_event_seq,
      type: EventType.execution_rerun,
      timestamp: new Date(this.clock.now()).toISOString(),
      execution_id: executionId,
      workflow_id: record.workflow_id,
      data: { rerun_tasks: [...new Set(reset.map((s) => s.task))] },
    }
    this.writer.event(event)
    const written = this.writer.execution(record)
    run.begin()
    await written
    return structuredClone(run.record)
  }

  async checkpoint(
    executionId: string,
    options: { name?: string; description?: string },
  ): Promise<CheckpointRecord> {
    const run = this.#runs.get(executionId)
    await this.writer.drain()
    const record = run?.record ?? (await this.#mustGet(executionId))
    const taskStates = run?.taskStates() ?? (await this.#store.getTaskStates(executionId))
    const checkpoint: CheckpointRecord = {
      checkpoint_id: newId('ckpt'),
      execution_id: executionId,
      workflow_id: record.workflow_id,
      name: options.name ?? `checkpoint of ${executionId}`,
      ...(options.description === undefined ? {} : { description: options.description }),
      created_at: new Date(this.clock.now()).toISOString(),
      task_states: taskStates,
    }
    await this.#store.saveCheckpoint(checkpoint)
    return checkpoint
  }

  async restore(
    checkpointId: string,
    options: { execution_options?: ExecutionOptions } = {},
  ): Promise<ExecutionRecord> {
    const checkpoint = await this.#store.getCheckpoint(checkpointId)
    if (checkpoint === undefined) {
      throw new NotFoundError('checkpoint_not_found', `Checkpoint with ID '${checkpointId}' not found`, {
        checkpoint_id: checkpointId,
      })
    }
    const source = await this.#mustGet(checkpoint.execution_id)
    const executionOptions = options.execution_options ?? source.execution_options
    const compiled = this.#compile(
      source.definition,
      source.workflow_id,
      source.workflow_revision,
      executionOptions,
    )
    const now = new Date(this.clock.now()).toISOString()
    const executionId = newId('exec')
    const completed = new Map<string, TaskState>()
    for (const state of checkpoint.task_states) {
      if (state.status === 'completed' || state.status === 'skipped') {
        completed.set(`${state.task}\u0000${state.item_index}`, state)
      }
    }
    const states: TaskState[] = []
    for (const task of compiled.order) {
      const kept = completed.get(`${task}\u0000${TASK_ROW}`)
      states.push(
        kept === undefined
          ? { execution_id: executionId, task, item_index: TASK_ROW, status: 'pending', attempts: 0 }
          : { ...kept, execution_id: executionId },
      )
    }
    const record: ExecutionRecord = {
      execution_id: executionId,
      workflow_id: source.workflow_id,
      workflow_revision: source.workflow_revision,
      workflow_name: source.workflow_name,
      definition: source.definition,
      status: 'pending',
      input: source.input,
      execution_options: executionOptions,
      created_at: now,
      updated_at: now,
      completed_tasks: 0,
      total_tasks: compiled.tasks.size,
      last_event_seq: 0,
      restored_from_checkpoint: checkpointId,
    }
    return this.#launch(record, states, compiled)
  }

  addEventWriteHook(hook: (event: ExecutionEvent) => DocumentWrite[]): () => void {
    this.#writeHooks.add(hook)
    return () => this.#writeHooks.delete(hook)
  }

  hosts(executionId: string): boolean {
    return this.#runs.has(executionId)
  }

  stats(): { running_executions: number; running_tasks: number } {
    return { running_executions: this.#runs.size, running_tasks: this.#runningTasks }
  }
}
