/**
 * Ctrl-C while executions run: the first SIGINT (or SIGTERM) asks the command to stop gracefully (the
 * engine lets running tasks reach a persisted point, so the executions stay resumable); a second one
 * quits at once, which is safe too because every transition is already committed.
 */
import { ExitCode, type Output } from './cli-io.ts'
import { formatDuration } from './text-format.ts'

export type StopSignal = 'SIGINT' | 'SIGTERM'

export interface InterruptGuard {
  /** Resolves with the first signal received. */
  readonly interrupted: Promise<StopSignal>
  /** Removes the signal handlers. */
  dispose(): void
}

export function guardInterrupts(options: { stderr: Output; graceMs: number }): InterruptGuard {
  let received: StopSignal | undefined
  let resolve!: (signal: StopSignal) => void
  const interrupted = new Promise<StopSignal>((res) => (resolve = res))
  const handler = (signal: StopSignal): void => {
    if (received !== undefined) {
      options.stderr.write(`${signal === 'SIGINT' ? '^C ' : ''}quitting now; the executions can be resumed\n`)
      process.exit(signal === 'SIGINT' ? ExitCode.interrupted : ExitCode.terminated)
    }
    received = signal
    options.stderr.write(
      `${signal === 'SIGINT' ? '^C ' : ''}stopping: waiting up to ${formatDuration(options.graceMs)} for running tasks (press Ctrl-C again to quit at once)\n`,
    )
    resolve(signal)
  }
  const onSigint = (): void => handler('SIGINT')
  const onSigterm = (): void => handler('SIGTERM')
  process.on('SIGINT', onSigint)
  process.on('SIGTERM', onSigterm)
  return {
    interrupted,
    dispose() {
      process.off('SIGINT', onSigint)
      process.off('SIGTERM', onSigterm)
    },
  }
}

export function exitCodeForSignal(signal: StopSignal): ExitCode {
  return signal === 'SIGINT' ? ExitCode.interrupted : ExitCode.terminated
}
