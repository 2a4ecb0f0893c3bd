/**
 * What the commands that drive a server share: which server (`--server`, `HARMONIA_URL`, else the address
 * `harmonia serve` listens on by default) and which key (`--api-key`, `HARMONIA_API_KEY`); how a failed
 * request is printed (every validation problem on its own line, a hint when the server cannot be reached
 * or refuses the key) and which exit code it gives; the options that name them on each such command; and
 * the answers in the shapes the CLI's displays read.
 */
import type { Command } from 'commander'
import { HarmoniaApiError, HarmoniaClient, type Execution, type ExecutionDetail } from '../client/index.ts'
import type { ValidationIssue } from '../core/errors.ts'
import { TASK_ROW, type ExecutionRecord, type JsonValue, type TaskState } from '../core/model.ts'
import { ExitCode, formatProblems, type CliIo, type GlobalFlags } from './cli-io.ts'

/** Where `harmonia serve` listens unless told otherwise. */
export const DEFAULT_SERVER_URL = 'http://127.0.0.1:8002'

export interface ServerFlags extends GlobalFlags {
  /** `--server <url>`. */
  server?: string
  /** `--api-key <key>`. */
  apiKey?: string
}

/** The server named by `--server` or `HARMONIA_URL`; undefined when neither is given. */
export function namedServer(flags: ServerFlags, env: CliIo['env']): string | undefined {
  const url = flags.server ?? env['HARMONIA_URL']
  return url === undefined || url.trim() === '' ? undefined : url.trim()
}

/** `--server`, `--api-key` and `--json` on a command that talks to a server (each added once). */
export function withServerOptions(command: Command): Command {
  const has = (flag: string): boolean => command.options.some((option) => option.long === flag)
  if (!has('--server')) {
    command.option('--server <url>', 'the Harmonia server (default HARMONIA_URL, else http://127.0.0.1:8002)')
  }
  if (!has('--api-key'))
    command.option('--api-key <key>', 'API key for the server (default HARMONIA_API_KEY)')
  if (!has('--json')) command.option('--json', 'print the JSON answer on stdout and nothing else')
  return command
}

/** A client for the named server, or the default local one. */
export function connect(flags: ServerFlags, io: CliIo): HarmoniaClient {
  const apiKey = flags.apiKey ?? io.env['HARMONIA_API_KEY']
  return new HarmoniaClient({
    baseUrl: namedServer(flags, io.env) ?? DEFAULT_SERVER_URL,
    ...(apiKey === undefined || apiKey === '' ? {} : { apiKey }),
  })
}

/**
 * Runs `action` with a client; a HarmoniaApiError is printed (`error: ...` and hints) and becomes the exit
 * code, anything else is left to the command runner.
 */
export async function withServer(
  flags: ServerFlags,
  io: CliIo,
  action: (client: HarmoniaClient) => Promise<ExitCode>,
): Promise<ExitCode> {
  const client = connect(flags, io)
  try {
    return await action(client)
  } catch (error) {
    if (!(error instanceof HarmoniaApiError)) throw error
    io.stderr.write(formatApiError(error, client.baseUrl))
    return exitCodeForApiError(error)
  }
}

/** 2 for what the user must fix in what they sent (a definition, an input), 1 for everything else. */
export function exitCodeForApiError(error: HarmoniaApiError): ExitCode {
  return error.code === 'validation_error' ||
    error.code === 'invalid_request' ||
    error.code === 'expression_error' ||
    error.code === 'invalid_argument'
    ? ExitCode.invalid
    : ExitCode.failed
}

export function formatApiError(error: HarmoniaApiError, baseUrl: string): string {
  const issues = issuesOf(error.details)
  if (issues.length > 0) {
    const suffix = `: ${issues.map(issueText).join('; ')}`
    const message = error.message.endsWith(suffix) ? error.message.slice(0, -suffix.length) : error.message
    return formatProblems(message, issues)
  }
  let text = `error: ${error.message}\n`
  if (error.code === 'network_error') {
    text += `  is 'harmonia serve' running at ${baseUrl}? Name another server with --server <url> or HARMONIA_URL\n`
  } else if (error.code === 'authentication_failed') {
    text += '  pass a key with --api-key <key> or HARMONIA_API_KEY\n'
  }
  return text
}

function issuesOf(details: JsonValue): ValidationIssue[] {
  if (typeof details !== 'object' || details === null || Array.isArray(details)) return []
  const errors: unknown = details['errors']
  if (!Array.isArray(errors)) return []
  return errors.filter(
    (issue: unknown): issue is ValidationIssue =>
      typeof issue === 'object' &&
      issue !== null &&
      typeof (issue as { message?: unknown }).message === 'string',
  )
}

function issueText(issue: ValidationIssue): string {
  const where = [issue.task === undefined ? undefined : `task '${issue.task}'`, issue.field]
    .filter((part) => part !== undefined)
    .join(', ')
  return where === '' ? issue.message : `${where}: ${issue.message}`
}

/** Task rows of an execution's detail, in the model's shape (what the progress display and reports read). */
export function taskStatesOf(detail: ExecutionDetail): TaskState[] {
  const states: TaskState[] = []
  for (const [task, entry] of Object.entries(detail.task_status)) {
    const state: TaskState = {
      execution_id: detail.execution_id,
      task,
      item_index: TASK_ROW,
      status: entry.status,
      attempts: entry.attempts,
    }
    if (entry.output !== null && entry.output !== undefined) state.output = entry.output
    if (entry.error !== null && entry.error !== undefined) state.error = entry.error
    if (entry.started_at !== null && entry.started_at !== undefined) state.started_at = entry.started_at
    if (entry.completed_at !== null && entry.completed_at !== undefined)
      state.completed_at = entry.completed_at
    if (entry.item_count !== undefined) state.item_count = entry.item_count
    states.push(state)
  }
  return states
}

/**
 * The execution of a detail (or of a list item) as the model's record, for the CLI's reports and tables.
 * The API does not send the definition, so `definition` is absent (reports then list tasks in the server's
 * order).
 */
export function executionRecordOf(detail: Execution): ExecutionRecord {
  const record = {
    execution_id: detail.execution_id,
    workflow_id: detail.workflow_id,
    workflow_revision: detail.workflow_revision,
    workflow_name: detail.workflow_name,
    status: detail.status,
    input: detail.input,
    execution_options: detail.execution_options,
    created_at: detail.created_at,
    updated_at: detail.updated_at,
    completed_tasks: detail.progress.completed_tasks,
    total_tasks: detail.progress.total_tasks,
    last_event_seq: detail.last_event_seq,
    ...(detail.output === null ? {} : { output: detail.output }),
    ...(detail.error === null ? {} : { error: detail.error }),
    ...(detail.started_at === null ? {} : { started_at: detail.started_at }),
    ...(detail.completed_at === null ? {} : { completed_at: detail.completed_at }),
    ...(detail.parent === undefined ? {} : { parent: detail.parent }),
  }
  return record as ExecutionRecord
}
