/**
 * `harmonia executions list` and `harmonia executions show <id>`: what the data dir holds, as a table or
 * text, or as JSON with `--json`. They never create a store: an absent data dir simply has no executions.
 */
import type { Command } from 'commander'
import { InvalidRequestError, NotFoundError } from '../core/errors.ts'
import { ExecutionStatus } from '../core/model.ts'
import type { ExecutionQuery, ExecutionSummary, Page } from '../core/store.ts'
import { ExitCode, prettyJson, type CliIo, type CommandRunner, type GlobalFlags } from './cli-io.ts'
import { executionReport, formatExecutionTable, formatExecutionText } from './execution-report.ts'
import { openHarmonia, storeHasData } from './execution-watch.ts'
import { loadConfig } from './load-config.ts'
import { listExecutionsOnServer, showExecutionOnServer, usesServer } from './server-commands.ts'

export interface ListFlags extends GlobalFlags {
  status?: string
  workflow?: string
  limit?: string
}

const STATUSES = Object.values(ExecutionStatus)
export const DEFAULT_LIST_LIMIT = 20
export const MAX_LIST_LIMIT = 1000

/** Checks the list flags and turns them into a store query. */
export function listQuery(flags: ListFlags): ExecutionQuery {
  const query: ExecutionQuery = { limit: DEFAULT_LIST_LIMIT, sort_by: 'created_at', sort_order: 'desc' }
  if (flags.status !== undefined) {
    const statuses = flags.status
      .split(',')
      .map((status) => status.trim())
      .filter(Boolean)
    const unknown = statuses.filter((status) => !(STATUSES as string[]).includes(status))
    if (statuses.length === 0 || unknown.length > 0) {
      throw new InvalidRequestError(
        `--status '${flags.status}' is not a status; expected one or more (comma-separated) of ${STATUSES.join(', ')}`,
      )
    }
    query.status = statuses as ExecutionStatus[]
  }
  if (flags.limit !== undefined) {
    const limit = Number(flags.limit)
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIST_LIMIT) {
      throw new InvalidRequestError(
        `--limit '${flags.limit}' is not a whole number from 1 to ${MAX_LIST_LIMIT}`,
      )
    }
    query.limit = limit
  }
  if (flags.workflow !== undefined) query.workflow_id = flags.workflow
  return query
}

export async function listCommand(flags: ListFlags, io: CliIo): Promise<ExitCode> {
  // With --server or HARMONIA_URL, the server answers instead of the data dir.
  if (usesServer(flags, io.env)) return listExecutionsOnServer(flags, io)
  const query = listQuery(flags)
  const config = await loadConfig({ cwd: io.cwd, env: io.env, flags })
  let page: Page<ExecutionSummary> = { items: [], total: 0, page: 1, limit: query.limit! }
  if (await storeHasData(config, io.cwd)) {
    const harmonia = await openHarmonia(config, io)
    try {
      page = await harmonia.store.listExecutions(query)
      // Workflows run from files are stored as `inline:<name>`: let `--workflow hello` find them.
      if (page.total === 0 && flags.workflow !== undefined && !flags.workflow.includes(':')) {
        page = await harmonia.store.listExecutions({ ...query, workflow_id: `inline:${flags.workflow}` })
      }
    } finally {
      await harmonia.close()
    }
  }
  if (flags.json === true) {
    io.stdout.write(prettyJson(page))
    return ExitCode.ok
  }
  if (page.items.length === 0) {
    io.stdout.write('no executions\n')
    return ExitCode.ok
  }
  io.stdout.write(formatExecutionTable(page.items))
  if (page.total > page.items.length) {
    io.stdout.write(`(${page.items.length} of ${page.total}; use --limit to see more)\n`)
  }
  return ExitCode.ok
}

export async function showCommand(executionId: string, flags: GlobalFlags, io: CliIo): Promise<ExitCode> {
  if (usesServer(flags, io.env)) return showExecutionOnServer(executionId, flags, io)
  const config = await loadConfig({ cwd: io.cwd, env: io.env, flags })
  const notFound = new NotFoundError('execution_not_found', `Execution with ID '${executionId}' not found`, {
    execution_id: executionId,
  })
  if (!(await storeHasData(config, io.cwd))) throw notFound
  const harmonia = await openHarmonia(config, io)
  try {
    const record = await harmonia.store.getExecution(executionId)
    if (record === undefined) throw notFound
    const states = await harmonia.store.getTaskStates(executionId)
    if (flags.json === true) {
      io.stdout.write(
        prettyJson({
          ...executionReport(record, states),
          input: record.input,
          parent: record.parent ?? null,
        }),
      )
    } else {
      io.stdout.write(formatExecutionText(record, states))
    }
    return ExitCode.ok
  } finally {
    await harmonia.close()
  }
}

export function registerExecutionsCommand(program: Command, io: CliIo, done: CommandRunner): Command {
  const executions = program.command('executions').description('List and inspect executions in the data dir')
  executions
    .command('list')
    .description('List executions, newest first')
    .option('--status <status>', `only these statuses (comma-separated): ${STATUSES.join(', ')}`)
    .option(
      '--workflow <workflow>',
      'only executions of this workflow (id, or name of a workflow run from a file)',
    )
    .option('--limit <n>', `at most this many (default ${DEFAULT_LIST_LIMIT}, at most ${MAX_LIST_LIMIT})`)
    .action((_options: unknown, command: Command) =>
      done(() => listCommand(command.optsWithGlobals<ListFlags>(), io)),
    )
  executions
    .command('show')
    .description('Show an execution: status, timings, tasks with attempts and errors, output')
    .argument('<execution_id>', 'the execution')
    .action((executionId: string, _options: unknown, command: Command) =>
      done(() => showCommand(executionId, command.optsWithGlobals<GlobalFlags>(), io)),
    )
  return executions
}
