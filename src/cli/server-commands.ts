/**
 * Commands that drive a Harmonia server over its API (`--server <url>` or `HARMONIA_URL`, default
 * http://127.0.0.1:8002; `--api-key` or `HARMONIA_API_KEY`):
 *
 *   harmonia workflows create -f <file> | list | get <id> | delete <id>
 *   harmonia executions start <workflow_id> [--input k=v]... [--input-file f] [--watch]
 *   harmonia executions get <id> | watch <id> | cancel <id> | pause <id> | resume <id> | rerun <id>
 *
 * `executions list` and `executions show` read the local data dir unless a server is named; then they ask
 * it (executions-command.ts hands over to `listExecutionsOnServer` and `showExecutionOnServer`).
 * `--watch` and `watch` show live progress until the execution ends, then exit like `harmonia run`: 0 when
 * it completed, 1 when it failed or was cancelled; Ctrl-C stops watching (the execution goes on).
 */
import type { Command } from 'commander'
import type { Execution, ExecutionDetail, HarmoniaClient, WorkflowDefinition } from '../client/index.ts'
import { InvalidRequestError } from '../core/errors.ts'
import type { ExecutionEvent } from '../core/events.ts'
import type { JsonValue } from '../core/model.ts'
import { ExitCode, exitCodeForStatus, prettyJson, type CliIo, type CommandRunner } from './cli-io.ts'
import { readDefinitionFile } from './definition-file.ts'
import { errorLine, formatExecutionTable, formatExecutionText } from './execution-report.ts'
import { chooseProgress } from './execution-watch.ts'
import { buildInput, collect, declaredInputSchema } from './input-args.ts'
import { exitCodeForSignal, type StopSignal } from './interrupt.ts'
import {
  executionRecordOf,
  namedServer,
  taskStatesOf,
  withServer,
  withServerOptions,
  type ServerFlags,
} from './server-connection.ts'
import { formatTable } from './text-format.ts'

export interface ServerListFlags extends ServerFlags {
  status?: string
  workflow?: string
  limit?: string
  page?: string
  search?: string
}

interface StartFlags extends ServerFlags {
  input?: string[]
  inputFile?: string
  watch?: boolean
  idempotencyKey?: string
}

/** True when `--server` or `HARMONIA_URL` names a server, so `executions list|show` should ask it. */
export function usesServer(flags: ServerFlags, env: CliIo['env']): boolean {
  return namedServer(flags, env) !== undefined
}

// ----- workflows ----------------------------------------------------------------------------------------------

async function createWorkflow(flags: ServerFlags & { file: string }, io: CliIo): Promise<ExitCode> {
  const definition = (await readDefinitionFile(flags.file, io.cwd)) as WorkflowDefinition
  return withServer(flags, io, async (client) => {
    const workflow = await client.workflows.create(definition)
    io.stdout.write(
      flags.json === true
        ? prettyJson(workflow)
        : `workflow ${workflow.workflow_id} created: ${workflow.name} (revision ${workflow.revision}, ${Object.keys(workflow.tasks).length} tasks)\n`,
    )
    return ExitCode.ok
  })
}

async function listWorkflows(flags: ServerListFlags, io: CliIo): Promise<ExitCode> {
  const query = {
    ...pageFlags(flags),
    ...(flags.search === undefined ? {} : { search: flags.search }),
  }
  return withServer(flags, io, async (client) => {
    const page = await client.workflows.list(query)
    if (flags.json === true) {
      io.stdout.write(prettyJson(page))
      return ExitCode.ok
    }
    if (page.items.length === 0) {
      io.stdout.write('no workflows\n')
      return ExitCode.ok
    }
    io.stdout.write(
      formatTable(
        ['WORKFLOW', 'NAME', 'REVISION', 'STATUS', 'TASKS', 'UPDATED'],
        page.items.map((workflow) => [
          workflow.workflow_id,
          workflow.name,
          String(workflow.revision),
          workflow.status,
          String(Object.keys(workflow.tasks).length),
          workflow.updated_at,
        ]),
      ),
    )
    writeMore(io, page.items.length, page.total)
    return ExitCode.ok
  })
}

async function getWorkflow(
  workflowId: string,
  flags: ServerFlags & { revision?: string },
  io: CliIo,
): Promise<ExitCode> {
  const revision = flags.revision === undefined ? undefined : positiveInteger('--revision', flags.revision)
  return withServer(flags, io, async (client) => {
    const workflow = await client.workflows.get(workflowId, revision === undefined ? {} : { revision })
    io.stdout.write(prettyJson(workflow))
    return ExitCode.ok
  })
}

async function deleteWorkflow(workflowId: string, flags: ServerFlags, io: CliIo): Promise<ExitCode> {
  return withServer(flags, io, async (client) => {
    const answer = await client.workflows.delete(workflowId)
    io.stdout.write(flags.json === true ? prettyJson(answer) : `workflow ${workflowId} deleted\n`)
    return ExitCode.ok
  })
}

// ----- executions ---------------------------------------------------------------------------------------------

async function startExecution(workflowId: string, flags: StartFlags, io: CliIo): Promise<ExitCode> {
  const inputOptions = {
    ...(flags.input === undefined ? {} : { pairs: flags.input }),
    ...(flags.inputFile === undefined ? {} : { file: flags.inputFile }),
    cwd: io.cwd,
  }
  // Mistakes in --input are reported before the server is asked anything.
  await buildInput(inputOptions)
  return withServer(flags, io, async (client) => {
    // `--input` values follow the workflow's declared types: a string field keeps the text typed.
    const schema =
      flags.input === undefined || flags.input.length === 0
        ? undefined
        : declaredInputSchema(await client.workflows.get(workflowId))
    const input = await buildInput({ ...inputOptions, ...(schema === undefined ? {} : { schema }) })
    const execution = await client.executions.start(
      { workflow_id: workflowId, input },
      flags.idempotencyKey === undefined ? {} : { idempotencyKey: flags.idempotencyKey },
    )
    if (flags.watch === true) {
      if (flags.json === true || io.stdout.isTTY === true) {
        io.stderr.write(`execution ${execution.execution_id} started\n`)
      }
      return watchToEnd(client, execution.execution_id, flags, io)
    }
    io.stdout.write(flags.json === true ? prettyJson(execution) : startedText(execution))
    return ExitCode.ok
  })
}

function startedText(execution: Execution): string {
  return (
    `execution ${execution.execution_id} started: ${execution.workflow_name} (${execution.workflow_id}), status ${execution.status}\n` +
    `  follow it with: harmonia executions watch ${execution.execution_id}\n`
  )
}

/** `executions list` against a server: the same flags and table as the local list. */
export async function listExecutionsOnServer(flags: ServerListFlags, io: CliIo): Promise<ExitCode> {
  const query = {
    ...pageFlags(flags),
    ...(flags.workflow === undefined ? {} : { workflow_id: flags.workflow }),
    ...(flags.status === undefined ? {} : { status: flags.status as Execution['status'] }),
  }
  return withServer(flags, io, async (client) => {
    const page = await client.executions.list(query)
    if (flags.json === true) {
      io.stdout.write(prettyJson(page))
      return ExitCode.ok
    }
    if (page.items.length === 0) {
      io.stdout.write('no executions\n')
      return ExitCode.ok
    }
    io.stdout.write(formatExecutionTable(page.items.map(executionRecordOf)))
    writeMore(io, page.items.length, page.total)
    return ExitCode.ok
  })
}

/** `executions get <id>` (and `executions show <id>` against a server). */
export async function showExecutionOnServer(
  executionId: string,
  flags: ServerFlags,
  io: CliIo,
): Promise<ExitCode> {
  return withServer(flags, io, async (client) => {
    const detail = await client.executions.get(executionId)
    io.stdout.write(
      flags.json === true
        ? prettyJson(detail)
        : formatExecutionText(executionRecordOf(detail), taskStatesOf(detail)),
    )
    return ExitCode.ok
  })
}

async function watchExecution(executionId: string, flags: ServerFlags, io: CliIo): Promise<ExitCode> {
  return withServer(flags, io, (client) => watchToEnd(client, executionId, flags, io))
}

type ControlAction = 'cancel' | 'pause' | 'resume'

async function controlExecution(
  action: ControlAction,
  executionId: string,
  flags: ServerFlags & { reason?: string },
  io: CliIo,
): Promise<ExitCode> {
  return withServer(flags, io, async (client) => {
    const answer =
      action === 'cancel'
        ? await client.executions.cancel(
            executionId,
            flags.reason === undefined ? {} : { reason: flags.reason },
          )
        : action === 'pause'
          ? await client.executions.pause(executionId)
          : await client.executions.resume(executionId)
    io.stdout.write(flags.json === true ? prettyJson(answer) : `execution ${executionId}: ${answer.status}\n`)
    return ExitCode.ok
  })
}

async function rerunExecution(
  executionId: string,
  flags: ServerFlags & { watch?: boolean },
  io: CliIo,
): Promise<ExitCode> {
  return withServer(flags, io, async (client) => {
    const execution = await client.executions.rerun(executionId)
    if (flags.watch === true) return watchToEnd(client, executionId, flags, io, execution.last_event_seq)
    io.stdout.write(
      flags.json === true
        ? prettyJson(execution)
        : `execution ${executionId} rerun: ${execution.status}\n  follow it with: harmonia executions watch ${executionId}\n`,
    )
    return ExitCode.ok
  })
}

async function deleteExecution(executionId: string, flags: ServerFlags, io: CliIo): Promise<ExitCode> {
  return withServer(flags, io, async (client) => {
    const answer = await client.executions.delete(executionId)
    io.stdout.write(flags.json === true ? prettyJson(answer) : `execution ${executionId} deleted\n`)
    return ExitCode.ok
  })
}

async function pruneExecutions(
  flags: ServerFlags & { olderThanDays?: string; finishedBefore?: string },
  io: CliIo,
): Promise<ExitCode> {
  if ((flags.olderThanDays === undefined) === (flags.finishedBefore === undefined)) {
    throw new InvalidRequestError('give exactly one of --older-than-days <n> or --finished-before <ISO time>')
  }
  let request: { older_than_days: number } | { finished_before: string }
  if (flags.olderThanDays !== undefined) {
    const days = Number(flags.olderThanDays)
    if (flags.olderThanDays.trim() === '' || !Number.isFinite(days) || days < 0) {
      throw new InvalidRequestError(`--older-than-days '${flags.olderThanDays}' is not a number of days >= 0`)
    }
    request = { older_than_days: days }
  } else {
    request = { finished_before: flags.finishedBefore! }
  }
  return withServer(flags, io, async (client) => {
    const answer = await client.executions.prune(request)
    io.stdout.write(
      flags.json === true
        ? prettyJson(answer)
        : `${answer.deleted} finished execution(s) deleted (finished before ${answer.finished_before})\n`,
    )
    return ExitCode.ok
  })
}

/**
 * Shows live progress until the execution ends, then its output (or its error) and the exit code of its
 * status. Ctrl-C or SIGTERM stops watching only.
 */
async function watchToEnd(
  client: HarmoniaClient,
  executionId: string,
  flags: ServerFlags,
  io: CliIo,
  after?: number,
): Promise<ExitCode> {
  const json = flags.json === true
  const renderer = chooseProgress(io, json)
  const controller = new AbortController()
  let stoppedBy: StopSignal | undefined
  const onSignal = (signal: StopSignal): void => {
    stoppedBy = signal
    controller.abort()
  }
  const onSigint = (): void => onSignal('SIGINT')
  const onSigterm = (): void => onSignal('SIGTERM')
  process.on('SIGINT', onSigint)
  process.on('SIGTERM', onSigterm)
  try {
    const stream = client.watchExecution(executionId, {
      signal: controller.signal,
      ...(after === undefined ? {} : { after }),
    })
    for await (const message of stream) {
      if (message.type === 'snapshot') {
        const states = taskStatesOf(message.data)
        renderer?.track({
          executionId,
          workflowName: message.data.workflow_name,
          tasks: states.map((state) => state.task),
          // Resuming the display mid-way: tasks show as the snapshot had them.
          ...(after === undefined && message.seq === 0 ? {} : { states }),
        })
      } else {
        renderer?.handle(message as unknown as ExecutionEvent)
      }
    }
  } catch (error) {
    if (stoppedBy === undefined) throw error
    renderer?.close()
    io.stderr.write(
      `stopped watching; execution ${executionId} goes on (watch it again with: harmonia executions watch ${executionId})\n`,
    )
    return exitCodeForSignal(stoppedBy)
  } finally {
    renderer?.close()
    process.off('SIGINT', onSigint)
    process.off('SIGTERM', onSigterm)
  }
  const detail = await client.executions.get(executionId)
  if (json) io.stdout.write(prettyJson(detail))
  else if (detail.status === 'completed') io.stdout.write(prettyJson(detail.output))
  else io.stderr.write(failureText(detail))
  return exitCodeForStatus(detail.status)
}

function failureText(detail: ExecutionDetail): string {
  let text = `error: execution ${detail.execution_id} ${detail.status}${detail.error === null ? '' : `: ${detail.error.message}`}\n`
  for (const [task, entry] of Object.entries(detail.task_status)) {
    if (entry.status !== 'failed' || entry.error === null) continue
    text += `  - task '${task}': ${errorLine(entry.error as unknown as JsonValue)}${entry.attempts > 1 ? ` (after ${entry.attempts} attempts)` : ''}\n`
  }
  return text
}

// ----- flags --------------------------------------------------------------------------------------------------

function positiveInteger(flag: string, text: string, max = Number.MAX_SAFE_INTEGER): number {
  const value = Number(text)
  if (!Number.isInteger(value) || value < 1 || value > max) {
    throw new InvalidRequestError(`${flag} '${text}' is not a whole number from 1 to ${max}`)
  }
  return value
}

function pageFlags(flags: ServerListFlags): { limit?: number; page?: number } {
  return {
    ...(flags.limit === undefined ? {} : { limit: positiveInteger('--limit', flags.limit, 1000) }),
    ...(flags.page === undefined ? {} : { page: positiveInteger('--page', flags.page) }),
  }
}

function writeMore(io: CliIo, shown: number, total: number): void {
  if (total > shown) io.stdout.write(`(${shown} of ${total}; use --limit and --page to see more)\n`)
}

// ----- registration -------------------------------------------------------------------------------------------

/**
 * Adds `workflows` and the server verbs of `executions` to the program. Call it after the local
 * `executions` command is registered: its `list` and `show` get `--server` and `--api-key` too.
 */
export function registerServerCommands(program: Command, io: CliIo, done: CommandRunner): void {
  const workflows = program
    .command('workflows')
    .description('Manage the workflows saved on a Harmonia server')
  withServerOptions(
    workflows
      .command('create')
      .description('Save a workflow definition (a JSON or YAML file) on the server')
      .requiredOption('-f, --file <file>', 'workflow definition file (.json, .yaml or .yml)'),
  ).action((_options: unknown, command: Command) =>
    done(() => createWorkflow(command.optsWithGlobals<ServerFlags & { file: string }>(), io)),
  )
  withServerOptions(
    workflows
      .command('list')
      .description('List the workflows on the server, newest first')
      .option('--search <text>', 'only workflows whose name or description holds this text')
      .option('--limit <n>', 'at most this many (default 20, at most 1000)')
      .option('--page <n>', 'which page of --limit workflows (default 1)'),
  ).action((_options: unknown, command: Command) =>
    done(() => listWorkflows(command.optsWithGlobals<ServerListFlags>(), io)),
  )
  withServerOptions(
    workflows
      .command('get')
      .description('Print a workflow (its latest revision, or --revision n) as JSON')
      .argument('<workflow_id>', 'the workflow')
      .option('--revision <n>', 'a past revision'),
  ).action((workflowId: string, _options: unknown, command: Command) =>
    done(() => getWorkflow(workflowId, command.optsWithGlobals(), io)),
  )
  withServerOptions(
    workflows
      .command('delete')
      .description('Delete a workflow and all its revisions')
      .argument('<workflow_id>', 'the workflow'),
  ).action((workflowId: string, _options: unknown, command: Command) =>
    done(() => deleteWorkflow(workflowId, command.optsWithGlobals<ServerFlags>(), io)),
  )

  const executions =
    program.commands.find((command) => command.name() === 'executions') ??
    program.command('executions').description('Start, follow and control executions')
  for (const local of executions.commands) withServerOptions(local)
  if (!executions.commands.some((command) => command.name() === 'list')) {
    withServerOptions(
      executions
        .command('list')
        .description('List executions on the server, newest first')
        .option('--status <status>', 'only these statuses (comma-separated)')
        .option('--workflow <workflow_id>', 'only executions of this workflow')
        .option('--limit <n>', 'at most this many (default 20, at most 1000)'),
    ).action((_options: unknown, command: Command) =>
      done(() => listExecutionsOnServer(command.optsWithGlobals<ServerListFlags>(), io)),
    )
  }
  withServerOptions(
    executions
      .command('start')
      .description('Start an execution of a workflow saved on the server')
      .argument('<workflow_id>', 'the workflow')
      .option(
        '-i, --input <key=value>',
        'an input value (repeatable); JSON values are parsed (3, true, [1,2], {"a":1}), dotted keys nest (a.b=1)',
        collect,
      )
      .option('--input-file <file>', 'input values from a JSON or YAML file (--input values win)')
      .option('--idempotency-key <key>', 'starting again with the same key answers the same execution')
      .option('-w, --watch', 'show live progress until it ends; exit 0 when it completed, 1 otherwise'),
  ).action((workflowId: string, _options: unknown, command: Command) =>
    done(() => startExecution(workflowId, command.optsWithGlobals<StartFlags>(), io)),
  )
  withServerOptions(
    executions
      .command('get')
      .description('Show an execution on the server: status, timings, tasks, output')
      .argument('<execution_id>', 'the execution'),
  ).action((executionId: string, _options: unknown, command: Command) =>
    done(() => showExecutionOnServer(executionId, command.optsWithGlobals<ServerFlags>(), io)),
  )
  withServerOptions(
    executions
      .command('watch')
      .description('Show live progress of an execution until it ends; exit 0 when it completed, 1 otherwise')
      .argument('<execution_id>', 'the execution'),
  ).action((executionId: string, _options: unknown, command: Command) =>
    done(() => watchExecution(executionId, command.optsWithGlobals<ServerFlags>(), io)),
  )
  withServerOptions(
    executions
      .command('cancel')
      .description('Cancel an execution')
      .argument('<execution_id>', 'the execution')
      .option('--reason <text>', 'why (recorded with the cancellation)'),
  ).action((executionId: string, _options: unknown, command: Command) =>
    done(() => controlExecution('cancel', executionId, command.optsWithGlobals(), io)),
  )
  for (const action of ['pause', 'resume'] as const) {
    withServerOptions(
      executions
        .command(action)
        .description(
          action === 'pause'
            ? 'Pause an execution: running tasks finish, no new task starts'
            : 'Resume a paused execution',
        )
        .argument('<execution_id>', 'the execution'),
    ).action((executionId: string, _options: unknown, command: Command) =>
      done(() => controlExecution(action, executionId, command.optsWithGlobals<ServerFlags>(), io)),
    )
  }
  withServerOptions(
    executions
      .command('rerun')
      .description('Run a failed or cancelled execution again from its unfinished tasks')
      .argument('<execution_id>', 'the execution')
      .option('-w, --watch', 'show live progress until it ends; exit 0 when it completed, 1 otherwise'),
  ).action((executionId: string, _options: unknown, command: Command) =>
    done(() => rerunExecution(executionId, command.optsWithGlobals(), io)),
  )
  withServerOptions(
    executions
      .command('delete')
      .description('Delete a finished execution with its events and checkpoints (admin key)')
      .argument('<execution_id>', 'the execution'),
  ).action((executionId: string, _options: unknown, command: Command) =>
    done(() => deleteExecution(executionId, command.optsWithGlobals<ServerFlags>(), io)),
  )
  withServerOptions(
    executions
      .command('prune')
      .description('Delete the finished executions that finished before a time (admin key)')
      .option('--older-than-days <n>', 'finished more than this many days ago (0: every finished one)')
      .option('--finished-before <time>', 'finished before this ISO 8601 time'),
  ).action((_options: unknown, command: Command) =>
    done(() => pruneExecutions(command.optsWithGlobals(), io)),
  )
}
