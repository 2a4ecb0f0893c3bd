/**
 * `harmonia run <file>`: validates a workflow file, runs it to its end on the embedded store with live
 * progress, prints its output (or its error) and exits 0 when it completed, 1 when it failed, 2 when the
 * definition or the input is invalid, 130 when stopped by Ctrl-C (the execution stays resumable).
 */
import type { Command } from 'commander'
import {
  TASK_ROW,
  type JsonObject,
  type JsonValue,
  type TaskState,
  type WorkflowDefinition,
} from '../core/model.ts'
import {
  ExitCode,
  exitCodeForStatus,
  prettyJson,
  type CliIo,
  type CommandRunner,
  type GlobalFlags,
} from './cli-io.ts'
import { readDefinitionFile } from './definition-file.ts'
import { errorLine, executionReport } from './execution-report.ts'
import {
  EventFeed,
  LeaseKeeper,
  chooseProgress,
  openHarmonia,
  resumeHint,
  waitForExecutions,
} from './execution-watch.ts'
import { buildInput, collect, declaredInputSchema } from './input-args.ts'
import { exitCodeForSignal } from './interrupt.ts'
import { loadConfig } from './load-config.ts'
import { checkDefinition, formatDefinitionProblems } from './validate-command.ts'

export interface RunFlags extends GlobalFlags {
  input?: string[]
  inputFile?: string
}

export async function runCommand(file: string, flags: RunFlags, io: CliIo): Promise<ExitCode> {
  const config = await loadConfig({ cwd: io.cwd, env: io.env, flags })
  const raw = await readDefinitionFile(file, io.cwd)
  const schema = declaredInputSchema(raw)
  const input = await buildInput({
    pairs: flags.input ?? [],
    ...(flags.inputFile === undefined ? {} : { file: flags.inputFile }),
    cwd: io.cwd,
    ...(schema === undefined ? {} : { schema }),
  })
  const check = await checkDefinition(raw, config, io)
  if (check.issues.length > 0) {
    io.stderr.write(formatDefinitionProblems(file, check))
    return ExitCode.invalid
  }

  const harmonia = await openHarmonia(config, io)
  const feed = new EventFeed(harmonia)
  const keeper = new LeaseKeeper(harmonia)
  try {
    const started = await harmonia.engine.startExecution({ workflow: raw as WorkflowDefinition, input })
    const executionId = started.execution_id
    keeper.add(executionId)
    const json = flags.json === true
    const renderer = chooseProgress(io, json)
    if (json || io.stdout.isTTY === true) {
      io.stderr.write(
        `execution ${executionId} started (resume it with: ${resumeHint(executionId, flags)})\n`,
      )
    }
    const detail = await harmonia.engine.getExecution(executionId)
    renderer?.track({
      executionId,
      workflowName: started.workflow_name,
      tasks: detail.tasks.filter((state) => state.item_index === TASK_ROW).map((state) => state.task),
    })
    feed.attach(renderer)

    const result = await waitForExecutions(harmonia, [executionId], io, keeper)
    feed.dispose()
    if (result.kind === 'interrupted') {
      if (json) {
        const stopped = await harmonia.engine.getExecution(executionId)
        io.stdout.write(
          prettyJson({
            ...executionReport(stopped.execution, stopped.tasks),
            error: { code: 'interrupted', message: `stopped by ${result.signal}` },
          }),
        )
      }
      io.stderr.write(
        `interrupted: execution ${executionId} is unfinished; resume it with: ${resumeHint(executionId, flags)}\n`,
      )
      return exitCodeForSignal(result.signal)
    }
    const record = result.records[0]!
    const tasks = await harmonia.store.getTaskStates(executionId)
    if (json) {
      io.stdout.write(prettyJson(executionReport(record, tasks)))
    } else if (record.status === 'completed') {
      io.stdout.write(prettyJson(record.output ?? lastOutputs(record.definition, tasks)))
    } else {
      io.stderr.write(failureText(executionId, record.status, record.error, tasks))
    }
    return exitCodeForStatus(record.status)
  } finally {
    keeper.dispose()
    feed.dispose()
    await harmonia.close()
  }
}

/** Without an output mapping: the outputs of the tasks nothing depends on, by task name. */
function lastOutputs(definition: WorkflowDefinition, states: readonly TaskState[]): JsonObject {
  const dependedOn = new Set<string>()
  for (const task of Object.values(definition.tasks))
    for (const dep of task.depends_on ?? []) dependedOn.add(dep)
  const outputs: JsonObject = {}
  for (const state of states) {
    if (state.item_index !== TASK_ROW || dependedOn.has(state.task) || state.status !== 'completed') continue
    outputs[state.task] = (state.output ?? null) as JsonValue
  }
  return outputs
}

function failureText(
  executionId: string,
  status: string,
  error: { code: string; message: string } | undefined,
  states: readonly TaskState[],
): string {
  let text = `error: execution ${executionId} ${status}${error === undefined ? '' : `: ${error.message}`}\n`
  for (const state of states) {
    if (state.item_index !== TASK_ROW || state.status !== 'failed' || state.error === undefined) continue
    text += `  - task '${state.task}': ${errorLine(state.error as unknown as JsonValue)}${state.attempts > 1 ? ` (after ${state.attempts} attempts)` : ''}\n`
  }
  return text
}

export function registerRunCommand(program: Command, io: CliIo, done: CommandRunner): Command {
  return program
    .command('run')
    .description('Run a workflow file to its end on the embedded store, with live progress')
    .argument('<file>', 'workflow definition file (.json, .yaml or .yml)')
    .option(
      '-i, --input <key=value>',
      'an input value (repeatable); JSON values are parsed (3, true, [1,2], {"a":1}), dotted keys nest (a.b=1)',
      collect,
    )
    .option('--input-file <file>', 'input values from a JSON or YAML file (--input values win)')
    .action((file: string, _options: unknown, command: Command) =>
      done(() => runCommand(file, command.optsWithGlobals<RunFlags>(), io)),
    )
}
