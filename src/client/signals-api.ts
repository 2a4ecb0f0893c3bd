/**
 * The SDK's signals (docs/triggers.md, "Signals and approvals"): `core.wait_for_signal` waits, durably, for
 * a named signal sent to its execution; the signal's payload (any JSON) becomes that task's output. A name
 * is taken once per execution, and a signal sent before the task waits is kept until it does.
 */
import type { CallOptions } from './harmonia-client.ts'
import type { JsonValue } from './wire-types.ts'

/** A signal an execution received. */
export interface ReceivedSignal {
  execution_id: string
  name: string
  payload: JsonValue
  received_at: string
}

/** `POST /executions/{id}/signals/{name}` (202): the signal as stored. */
export interface SignalSentAnswer extends ReceivedSignal {
  success: boolean
}

/** A task that waits (or waited) for a signal. */
export interface SignalWait {
  execution_id: string
  task: string
  /** The item of a `for_each` task. */
  item_index?: number
  name: string
  status: 'waiting' | 'received' | 'timed_out'
  started_at: string
  /** From `timeout_seconds`; null: no deadline. */
  deadline_at: string | null
  finished_at?: string
}

/** `GET /executions/{id}/signals`. */
export interface ExecutionSignals {
  execution_id: string
  received: ReceivedSignal[]
  /** The waits still open. */
  waiting: SignalWait[]
  /** Every wait, open or finished. */
  waits: SignalWait[]
}

export interface SignalsApi {
  /**
   * Sends a signal (`name`: letters, digits, `_`, `.`, `:`, `-`); `payload` (default null) is the output of
   * the task waiting for it. A name already signalled is a 409 `conflict`; a finished execution, 409
   * `conflict` with `details.reason` `invalid_state`.
   */
  send(
    executionId: string,
    name: string,
    payload?: JsonValue,
    options?: CallOptions,
  ): Promise<SignalSentAnswer>
  /** The signals an execution received and the tasks waiting for one. */
  list(executionId: string, options?: CallOptions): Promise<ExecutionSignals>
}

type Api = <T>(
  method: string,
  path: string,
  init?: { body?: unknown; options?: CallOptions | undefined },
) => Promise<T>

export function createSignalsApi(api: Api, segment: (value: string, what: string) => string): SignalsApi {
  const at = (executionId: string): string => `/executions/${segment(executionId, 'execution id')}/signals`
  return {
    send: async (executionId, name, payload = null, options) =>
      api('POST', `${at(executionId)}/${segment(name, 'signal name')}`, { body: payload, options }),
    list: async (executionId, options) => api('GET', at(executionId), { options }),
  }
}
