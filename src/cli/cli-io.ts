/**
 * What every command shares: the streams it writes to, its exit codes, and how a failure is printed
 * (`error: <message>` on stderr, then each validation issue on its own line).
 */
import { CommanderError } from 'commander'
import {
  ErrorCode,
  ExpressionError,
  HarmoniaError,
  InvalidRequestError,
  ValidationError,
  formatIssue,
  type ValidationIssue,
} from '../core/errors.ts'
import type { ExecutionStatus } from '../core/model.ts'

/** Exit codes of the `harmonia` command. */
export const ExitCode = {
  /** The command succeeded; for run and resume, every execution completed. */
  ok: 0,
  /** An execution failed or was cancelled, or the command could not do its work. */
  failed: 1,
  /** The definition, the input, the configuration or the command line is invalid. */
  invalid: 2,
  /** Stopped by Ctrl-C (128 + SIGINT). */
  interrupted: 130,
  /** Stopped by SIGTERM (128 + SIGTERM). */
  terminated: 143,
} as const
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode]

/** A stream the CLI writes to: process.stdout or process.stderr, or a test double. */
export interface Output {
  write(text: string): boolean
  readonly isTTY?: boolean
  readonly columns?: number
  readonly rows?: number
}

export interface CliIo {
  stdout: Output
  stderr: Output
  cwd: string
  env: Record<string, string | undefined>
}

/** Options every command accepts (declared once on the program). */
export interface GlobalFlags {
  dataDir?: string
  config?: string
  json?: boolean
  logLevel?: string
  storage?: string
}

/** The exit code that fits a failure: 2 for anything the user must fix in what they gave, else 1. */
export function exitCodeFor(error: unknown): ExitCode {
  if (error instanceof CommanderError) return ExitCode.invalid
  if (
    error instanceof ValidationError ||
    error instanceof InvalidRequestError ||
    error instanceof ExpressionError
  ) {
    return ExitCode.invalid
  }
  if (error instanceof HarmoniaError) {
    return error.code === ErrorCode.validation_error || error.code === ErrorCode.invalid_request
      ? ExitCode.invalid
      : ExitCode.failed
  }
  return ExitCode.failed
}

/** `error: <message>` and one `  - task 'x', field: message` line per issue. */
export function formatError(error: unknown): string {
  if (error instanceof ValidationError && error.issues.length > 0) {
    return formatProblems(messageWithoutIssues(error), error.issues)
  }
  if (error instanceof Error) return `error: ${error.message}\n`
  return `error: ${String(error)}\n`
}

export function formatProblems(message: string, issues: readonly ValidationIssue[]): string {
  return `error: ${message}\n${issues.map((issue) => `  - ${formatIssue(issue)}\n`).join('')}`
}

/** ValidationError's message repeats its issues after the summary; the CLI lists them one per line. */
function messageWithoutIssues(error: ValidationError): string {
  const suffix = `: ${error.issues.map(formatIssue).join('; ')}`
  return error.message.endsWith(suffix) ? error.message.slice(0, -suffix.length) : error.message
}

/** Exit code of run and resume for an execution's final status. */
export function exitCodeForStatus(status: ExecutionStatus): ExitCode {
  return status === 'completed' ? ExitCode.ok : ExitCode.failed
}

/** Pretty JSON with a final newline. */
export function prettyJson(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`
}

/** Runs a command's action, prints its failure if it throws, and ends the process with its exit code. */
export type CommandRunner = (action: () => Promise<ExitCode>) => Promise<void>
