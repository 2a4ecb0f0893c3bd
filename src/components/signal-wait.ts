/**
 * Signals: `core.wait_for_signal` waits, durably, for `POST /executions/{id}/signals/{name}`; the signal's
 * payload becomes the task's output. This is how a human approval step is built.
 *
 * - A signal is a document `signals/<execution_id>:<name>`; sending one writes it and wakes waiters with
 *   `store.notify('signals', '<execution_id>:<name>')` (PostgreSQL NOTIFY across nodes). The first signal
 *   of a name wins; a signal sent before the task waits is kept until it does.
 * - The waiting task first reads the document, then sleeps until woken (and re-reads once a minute in
 *   case a wake-up was missed), so a restart loses nothing: the engine invokes the task again and it
 *   finds the signal, or waits on.
 * - An optional `timeout_seconds` is counted from the first wait: the deadline is stored in
 *   `signal_waits/<task idempotency key>` when the task first waits, so a restart keeps it. At the deadline
 *   `timeout_outcome` decides: `fail` (default; code SIGNAL_TIMEOUT, not retriable) or `continue` with
 *   `default_output`.
 * - Cancelling the execution (or the task's own timeout) aborts the wait at once.
 */
import type { ActionHandler, TaskContext } from '../core/component.ts'
import { ConflictError, InvalidRequestError, TaskFailure } from '../core/errors.ts'
import type { JsonObject, JsonValue } from '../core/model.ts'
import type { Store } from '../core/store.ts'
import { abortReason } from './abort-reason.ts'

export const SIGNALS = 'signals'
export const SIGNAL_WAITS = 'signal_waits'
export const SIGNALS_CHANNEL = 'signals'
export const SIGNAL_NAME = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$/
/** A wait re-reads its signal this often even without a wake-up. */
const RECHECK_MS = 60_000
/** The longest timeout (366 days); longer waits belong to a schedule. */
const MAX_TIMEOUT_SECONDS = 366 * 24 * 3600

type SignalStore = Pick<Store, 'getDocument' | 'putDocument' | 'listDocuments' | 'notify' | 'listen'>

export function signalKey(executionId: string, name: string): string {
  return `${executionId}:${name}`
}

/** Stores a signal and wakes its waiters. Throws ConflictError when this name was already signalled. */
export async function sendSignal(
  store: SignalStore,
  executionId: string,
  name: string,
  payload: JsonValue,
  nowIso: string,
): Promise<JsonObject> {
  if (!SIGNAL_NAME.test(name)) {
    throw new InvalidRequestError(
      `signal name '${name}' is not valid: use letters, digits, '_', '.', ':' and '-' (at most 128 characters)`,
      { field: 'name' },
    )
  }
  const key = signalKey(executionId, name)
  const existing = await store.getDocument(SIGNALS, key)
  if (existing !== undefined) {
    throw new ConflictError(
      `execution '${executionId}' already received signal '${name}' (at ${String(existing['received_at'])}); a signal is taken once`,
      { execution_id: executionId, name },
    )
  }
  const doc: JsonObject = { execution_id: executionId, name, payload, received_at: nowIso }
  await store.putDocument(SIGNALS, key, doc)
  await store.notify(SIGNALS_CHANNEL, key)
  return doc
}

/** Signals an execution received, the waits still open, and every wait (with its status and deadline). */
export async function listSignals(
  store: SignalStore,
  executionId: string,
): Promise<{ received: JsonObject[]; waiting: JsonObject[]; waits: JsonObject[] }> {
  const received = await store.listDocuments(SIGNALS, { where: { execution_id: executionId }, limit: 500 })
  const waits = await store.listDocuments(SIGNAL_WAITS, { where: { execution_id: executionId }, limit: 500 })
  return {
    received: received.items,
    waiting: waits.items.filter((wait) => wait['status'] === 'waiting'),
    waits: waits.items,
  }
}

interface WaitInput {
  name: string
  timeout_seconds?: number
  timeout_outcome?: 'fail' | 'continue'
  default_output?: JsonValue
}

export function createSignalActions(store: SignalStore): ActionHandler[] {
  const waitForSignal: ActionHandler = {
    resumable: true,
    descriptor: {
      name: 'wait_for_signal',
      description:
        'Waits (durably, across restarts) for POST /executions/{id}/signals/{name}; the signal payload is the output. Optional timeout_seconds with timeout_outcome fail (default) or continue (output: default_output).',
      input_schema: {
        type: 'object',
        properties: {
          name: { type: 'string', pattern: SIGNAL_NAME.source, description: 'The signal to wait for.' },
          timeout_seconds: {
            type: 'number',
            exclusiveMinimum: 0,
            maximum: MAX_TIMEOUT_SECONDS,
            description: 'Counted from the first wait; kept across restarts.',
          },
          timeout_outcome: { enum: ['fail', 'continue'], default: 'fail' },
          default_output: { description: 'The output when the wait times out with outcome continue.' },
        },
        required: ['name'],
        additionalProperties: false,
      },
      output_schema: { description: 'The payload of the signal (or default_output after a timeout).' },
    },
    async invoke(input, context) {
      const {
        name,
        timeout_seconds: timeoutSeconds,
        timeout_outcome: outcome,
        default_output: fallback,
      } = input as unknown as WaitInput
      const key = signalKey(context.executionId, name)
      const wake = new Wake()
      const unlisten = store.listen(SIGNALS_CHANNEL, (payload) => {
        if (payload === key) wake.fire()
      })
      try {
        const wait = await startWait(store, context, name, timeoutSeconds)
        for (;;) {
          const signal = await store.getDocument(SIGNALS, key)
          if (signal !== undefined) {
            await finishWait(store, wait, 'received')
            context.log.info('signal received', { signal: name })
            return (signal['payload'] ?? null) as JsonValue
          }
          const remainingMs = wait.deadlineMs - Date.now()
          if (remainingMs <= 0) {
            await finishWait(store, wait, 'timed_out')
            if (outcome === 'continue') return fallback === undefined ? { timed_out: true } : fallback
            throw new TaskFailure(
              'SIGNAL_TIMEOUT',
              `task '${context.task}': no signal '${name}' arrived within ${timeoutSeconds} s (not retriable)`,
              { details: { signal: name, timeout_seconds: timeoutSeconds ?? null } },
            )
          }
          await wake.next(Math.min(remainingMs, RECHECK_MS), context.signal)
        }
      } finally {
        unlisten()
      }
    },
  }
  return [waitForSignal]
}

interface WaitRecord {
  id: string
  doc: JsonObject
  deadlineMs: number
}

async function startWait(
  store: SignalStore,
  context: TaskContext,
  name: string,
  timeoutSeconds: number | undefined,
): Promise<WaitRecord> {
  const id = `${context.idempotencyKey}:${name}`
  const existing = await store.getDocument(SIGNAL_WAITS, id)
  // The same wait, invoked again after a restart, keeps its deadline; a rerun after it ended waits anew.
  if (existing !== undefined && existing['status'] === 'waiting') {
    const deadline = existing['deadline_at']
    return {
      id,
      doc: existing,
      deadlineMs: typeof deadline === 'string' ? Date.parse(deadline) : Infinity,
    }
  }
  const nowMs = Date.now()
  const deadlineMs = timeoutSeconds === undefined ? Infinity : nowMs + timeoutSeconds * 1000
  const doc: JsonObject = {
    execution_id: context.executionId,
    task: context.task,
    ...(context.itemIndex === undefined ? {} : { item_index: context.itemIndex }),
    name,
    status: 'waiting',
    started_at: new Date(nowMs).toISOString(),
    deadline_at: deadlineMs === Infinity ? null : new Date(deadlineMs).toISOString(),
  }
  await store.putDocument(SIGNAL_WAITS, id, doc)
  return { id, doc, deadlineMs }
}

async function finishWait(store: SignalStore, wait: WaitRecord, status: string): Promise<void> {
  if (wait.doc['status'] === status) return
  await store.putDocument(SIGNAL_WAITS, wait.id, {
    ...wait.doc,
    status,
    finished_at: new Date().toISOString(),
  })
}

/** A wake-up that is not lost when it fires before anyone waits. */
class Wake {
  #fired = false
  #resolve: (() => void) | undefined

  fire(): void {
    this.#fired = true
    this.#resolve?.()
  }

  /** Resolves when fired (or already fired) or after `timeoutMs`; rejects when `signal` aborts. */
  next(timeoutMs: number, signal: AbortSignal): Promise<void> {
    if (signal.aborted) return Promise.reject(abortReason(signal))
    if (this.#fired) {
      this.#fired = false
      return Promise.resolve()
    }
    return new Promise<void>((resolve, reject) => {
      const done = (): void => {
        clearTimeout(timer)
        signal.removeEventListener('abort', onAbort)
        this.#resolve = undefined
        this.#fired = false
        resolve()
      }
      const onAbort = (): void => {
        clearTimeout(timer)
        this.#resolve = undefined
        reject(abortReason(signal))
      }
      const timer = setTimeout(done, timeoutMs)
      this.#resolve = done
      signal.addEventListener('abort', onAbort, { once: true })
    })
  }
}
