/** What an action rejects with when its task's signal aborts: the engine's own reason (timeout, cancel). */
import { TaskFailure } from '../core/errors.ts'

export function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? new TaskFailure('CANCELLED', 'the task was aborted')
}
