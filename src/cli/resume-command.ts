/**
 * `harmonia resume [execution_id]`: finishes executions left unfinished by a crash or a Ctrl-C — every
 * pending or running one in the store, or the one given (with its unfinished child executions; a paused
 * one is resumed only when named). Completed tasks keep their outputs and are not invoked again; tasks
 * that were running are invoked again with the same idempotency key. Same progress display as `run`; exits
 * 0 when every execution completed, 1 when any failed or was cancelled.
 */
import type { Command } from 'commander'
import { NotFoundError } from '../core/errors.ts'
import { topologicalOrder } from '../core/graph.ts'
import {
  FINISHED_EXECUTION_STATUSES,
  TASK_ROW,
  type ExecutionRecord,
  type ExecutionStatus,
  type JsonValue,
  type TaskState,
} from '../core/model.ts'
import type { ExecutionSummary, Store } from '../core/store.ts'
import {
  ExitCode,
  exitCodeForStatus,
  prettyJson,
  type CliIo,
  type CommandRunner,
  type GlobalFlags,
} from './cli-io.ts'
import { errorLine, executionReport } from './execution-report.ts'
import {
  EventFeed,
  LeaseKeeper,
  chooseProgress,
  openHarmonia,
  resumeHint,
  storeHasData,
  waitForExecutions,
} from './execution-watch.ts'
import { exitCodeForSignal } from './interrupt.ts'
import { loadConfig } from './load-config.ts'
import { clockTime, plural } from './text-format.ts'

const PAGE_SIZE = 500

export async function resumeCommand(
  executionId: string | undefined,
  flags: GlobalFlags,
  io: CliIo,
): Promise<ExitCode> {
  const config = await loadConfig({ cwd: io.cwd, env: io.env, flags })
  const json = flags.json === true
  if (!(await storeHasData(config, io.cwd))) {
    if (executionId !== undefined) throw notFound(executionId)
    return nothingToResume(io, json, `no data in ${config.dataDir} yet`)
  }
  const harmonia = await openHarmonia(config, io)
  const feed = new EventFeed(harmonia)
  let keeper: LeaseKeeper | undefined
  try {
    const store = harmonia.store
    let targets: ExecutionRecord[]
    if (executionId !== undefined) {
      const record = await store.getExecution(executionId)
      if (record === undefined) throw notFound(executionId)
      if (FINISHED_EXECUTION_STATUSES.has(record.status)) {
        io.stderr.write(`execution ${executionId} is already ${record.status}; nothing to resume\n`)
        printResults(io, json, [record], [await store.getTaskStates(executionId)], true)
        return exitCodeForStatus(record.status)
      }
      targets = [record, ...(await unfinishedDescendants(store, executionId))]
    } else {
      const paused = await listAll(store, ['paused'])
      for (const execution of paused) {
        io.stderr.write(
          `execution ${execution.execution_id} (${execution.workflow_name}) is paused; resume it with: ${resumeHint(execution.execution_id, flags)}\n`,
        )
      }
      const summaries = await listAll(store, ['pending', 'running'])
      targets = []
      for (const summary of summaries) {
        const record = await store.getExecution(summary.execution_id)
        if (record !== undefined && !FINISHED_EXECUTION_STATUSES.has(record.status)) targets.push(record)
      }
      if (targets.length === 0) {
        feed.dispose()
        return nothingToResume(io, json, 'no execution is unfinished')
      }
    }

    harmonia.holdDataDir()
    const renderer = chooseProgress(io, json)
    const plain = !json && io.stdout.isTTY !== true
    for (const record of targets) {
      const states = await store.getTaskStates(record.execution_id)
      const done = states.filter(
        (state) =>
          state.item_index === TASK_ROW && (state.status === 'completed' || state.status === 'skipped'),
      ).length
      const line = `resuming execution ${record.execution_id}: ${record.workflow_name} (${done}/${plural(record.total_tasks, 'task')} done)`
      if (plain) io.stdout.write(`${clockTime(Date.now())} ${line}\n`)
      else io.stderr.write(`${line}\n`)
      renderer?.track({
        executionId: record.execution_id,
        workflowName: record.workflow_name,
        tasks: taskOrder(record),
        states,
      })
    }
    feed.attach(renderer)
    const ids = targets.map((record) => record.execution_id)
    keeper = new LeaseKeeper(harmonia, ids)
    // Children first, so a parent that asks for its child finds it already running here.
    for (const record of [...targets].reverse()) await harmonia.engine.resume(record.execution_id)

    const result = await waitForExecutions(harmonia, ids, io, keeper)
    feed.dispose()
    if (result.kind === 'interrupted') {
      io.stderr.write(
        `interrupted: ${plural(ids.length, 'execution')} unfinished; resume with: ${resumeHint(executionId, flags)}\n`,
      )
      return exitCodeForSignal(result.signal)
    }
    const roots = rootsOf(result.records)
    const states = await Promise.all(roots.map((record) => store.getTaskStates(record.execution_id)))
    printResults(io, json, roots, states, executionId !== undefined)
    return roots.every((record) => record.status === 'completed') ? ExitCode.ok : ExitCode.failed
  } finally {
    keeper?.dispose()
    feed.dispose()
    await harmonia.close()
  }
}

/** The executions no other one in the list started (child executions are reported by their parents). */
function rootsOf(records: readonly ExecutionRecord[]): ExecutionRecord[] {
  const ids = new Set(records.map((record) => record.execution_id))
  return records.filter((record) => record.parent === undefined || !ids.has(record.parent.execution_id))
}

function printResults(
  io: CliIo,
  json: boolean,
  records: readonly ExecutionRecord[],
  states: readonly (readonly TaskState[])[],
  single: boolean,
): void {
  if (json) {
    const reports = records.map((record, index) => executionReport(record, states[index]!))
    io.stdout.write(prettyJson(single ? reports[0] : { executions: reports }))
    return
  }
  records.forEach((record, index) => {
    if (record.status === 'completed') {
      if (!single) io.stdout.write(`execution ${record.execution_id} (${record.workflow_name}) completed:\n`)
      io.stdout.write(prettyJson(record.output ?? null))
      return
    }
    let text = `error: execution ${record.execution_id} (${record.workflow_name}) ${record.status}${record.error === undefined ? '' : `: ${record.error.message}`}\n`
    for (const state of states[index]!) {
      if (state.item_index !== TASK_ROW || state.status !== 'failed' || state.error === undefined) continue
      text += `  - task '${state.task}': ${errorLine(state.error as unknown as JsonValue)}\n`
    }
    io.stderr.write(text)
  })
}

function nothingToResume(io: CliIo, json: boolean, why: string): ExitCode {
  if (json) io.stdout.write(prettyJson({ executions: [] }))
  io.stderr.write(`nothing to resume: ${why}\n`)
  return ExitCode.ok
}

function notFound(executionId: string): NotFoundError {
  return new NotFoundError('execution_not_found', `Execution with ID '${executionId}' not found`, {
    execution_id: executionId,
  })
}

async function listAll(store: Store, status: ExecutionStatus[]): Promise<ExecutionSummary[]> {
  const all: ExecutionSummary[] = []
  for (let page = 1; ; page++) {
    const result = await store.listExecutions({
      status,
      page,
      limit: PAGE_SIZE,
      sort_by: 'created_at',
      sort_order: 'asc',
    })
    all.push(...result.items)
    if (result.items.length < PAGE_SIZE || all.length >= result.total) return all
  }
}

/** Unfinished child executions of an execution, their children, and so on (parents before children). */
async function unfinishedDescendants(store: Store, executionId: string): Promise<ExecutionRecord[]> {
  const found: ExecutionRecord[] = []
  const queue = [executionId]
  const seen = new Set(queue)
  while (queue.length > 0) {
    const parent = queue.shift()!
    const children = await store.listExecutions({
      parent_execution_id: parent,
      status: ['pending', 'running', 'paused'],
      limit: PAGE_SIZE,
    })
    for (const child of children.items) {
      if (seen.has(child.execution_id)) continue
      seen.add(child.execution_id)
      const record = await store.getExecution(child.execution_id)
      if (record === undefined) continue
      found.push(record)
      queue.push(child.execution_id)
    }
  }
  return found
}

/** Task names in an order that follows the dependencies. */
function taskOrder(record: ExecutionRecord): string[] {
  const dependsOn = new Map<string, string[]>()
  for (const [name, task] of Object.entries(record.definition.tasks))
    dependsOn.set(name, task.depends_on ?? [])
  return topologicalOrder(dependsOn).order
}

export function registerResumeCommand(program: Command, io: CliIo, done: CommandRunner): Command {
  return program
    .command('resume')
    .description('Finish executions left unfinished by a crash or Ctrl-C (all of them, or the one given)')
    .argument('[execution_id]', 'the execution to resume (default: every pending or running one)')
    .action((executionId: string | undefined, _options: unknown, command: Command) =>
      done(() => resumeCommand(executionId, command.optsWithGlobals<GlobalFlags>(), io)),
    )
}
