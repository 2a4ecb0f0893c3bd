/**
 * `harmonia triggers ...` (event triggers: start workflow B when an execution of workflow A completes or
 * fails) against a server (`--server <url>` or `HARMONIA_URL`; `--api-key` or `HARMONIA_API_KEY`):
 *
 *   harmonia triggers list
 *   harmonia triggers get <trigger_id>
 *   harmonia triggers create --source <workflow_id> --target <workflow_id> --on completed|failed...
 *                            [--map name=<expression>]... [--name n] [--disabled]
 *   harmonia triggers delete <trigger_id>
 *
 * `--map` expressions read A's execution: `${output.x}`, `${input.x}`, `${status}`, `${error}`,
 * `${execution_id}`; without any, B's input is A's output.
 */
import type { Command } from 'commander'
import type { EventTrigger, EventTriggerInput } from '../client/index.ts'
import { ExitCode, prettyJson, type CliIo, type CommandRunner } from './cli-io.ts'
import { formatFields, mappingOf, mappingText } from './hook-args.ts'
import { collect } from './input-args.ts'
import { withServer, withServerOptions, type ServerFlags } from './server-connection.ts'
import { formatTable } from './text-format.ts'

const ENDS = ['completed', 'failed'] as const
type End = (typeof ENDS)[number]

interface CreateFlags extends ServerFlags {
  source: string
  target: string
  on: string[]
  map?: string[]
  name?: string
  disabled?: boolean
}

function triggerLine(trigger: EventTrigger): string {
  return (
    `trigger ${trigger.trigger_id}: when an execution of ${trigger.source_workflow_id} ` +
    `${trigger.on.join(' or ')}, start ${trigger.workflow_id}; ${trigger.enabled ? 'enabled' : 'disabled'}\n`
  )
}

async function listTriggers(flags: ServerFlags, io: CliIo): Promise<ExitCode> {
  return withServer(flags, io, async (client) => {
    const list = await client.triggers.list()
    if (flags.json === true) {
      io.stdout.write(prettyJson(list))
      return ExitCode.ok
    }
    if (list.items.length === 0) {
      io.stdout.write('no triggers\n')
      return ExitCode.ok
    }
    const rows = list.items.map((trigger) => [
      trigger.trigger_id,
      trigger.source_workflow_id,
      trigger.on.join(','),
      trigger.workflow_id,
      trigger.enabled ? 'yes' : 'no',
    ])
    io.stdout.write(formatTable(['TRIGGER', 'SOURCE', 'ON', 'TARGET', 'ENABLED'], rows))
    return ExitCode.ok
  })
}

async function getTrigger(triggerId: string, flags: ServerFlags, io: CliIo): Promise<ExitCode> {
  return withServer(flags, io, async (client) => {
    const trigger = await client.triggers.get(triggerId)
    if (flags.json === true) {
      io.stdout.write(prettyJson(trigger))
      return ExitCode.ok
    }
    io.stdout.write(
      formatFields([
        ['trigger', trigger.trigger_id],
        ['name', trigger.name],
        ['source', trigger.source_workflow_id],
        ['on', trigger.on.join(', ')],
        ['target', trigger.workflow_id],
        ['input mapping', mappingText(trigger.input_mapping)],
        ['enabled', trigger.enabled ? 'yes' : 'no'],
        ['created', trigger.created_at],
      ]),
    )
    return ExitCode.ok
  })
}

async function createTrigger(flags: CreateFlags, io: CliIo): Promise<ExitCode> {
  // `--on completed --on failed` and `--on completed,failed` alike.
  const ends = flags.on.flatMap((text) => text.split(',')).map((text) => text.trim())
  const wrong = ends.find((end) => !(ENDS as readonly string[]).includes(end))
  if (wrong !== undefined) {
    io.stderr.write(`error: --on '${wrong}' is not one of ${ENDS.join(', ')}\n`)
    return ExitCode.invalid
  }
  const mapping = mappingOf(flags.map)
  const body: EventTriggerInput = {
    source_workflow_id: flags.source,
    workflow_id: flags.target,
    on: [...new Set(ends as End[])],
    ...(mapping === undefined ? {} : { input_mapping: mapping }),
    ...(flags.name === undefined ? {} : { name: flags.name }),
    ...(flags.disabled === true ? { enabled: false } : {}),
  }
  return withServer(flags, io, async (client) => {
    const trigger = await client.triggers.create(body)
    io.stdout.write(flags.json === true ? prettyJson(trigger) : triggerLine(trigger))
    return ExitCode.ok
  })
}

async function deleteTrigger(triggerId: string, flags: ServerFlags, io: CliIo): Promise<ExitCode> {
  return withServer(flags, io, async (client) => {
    const answer = await client.triggers.delete(triggerId)
    io.stdout.write(flags.json === true ? prettyJson(answer) : `trigger ${triggerId} deleted\n`)
    return ExitCode.ok
  })
}

export function registerTriggersCommand(program: Command, io: CliIo, done: CommandRunner): void {
  const triggers = program
    .command('triggers')
    .description('Event triggers on a server: start a workflow when another completes or fails')
  withServerOptions(triggers.command('list').description('List event triggers')).action(
    (_options: unknown, command: Command) =>
      done(() => listTriggers(command.optsWithGlobals<ServerFlags>(), io)),
  )
  withServerOptions(
    triggers.command('get').description('Show an event trigger').argument('<trigger_id>'),
  ).action((triggerId: string, _options: unknown, command: Command) =>
    done(() => getTrigger(triggerId, command.optsWithGlobals<ServerFlags>(), io)),
  )
  withServerOptions(
    triggers
      .command('create')
      .description('Start the target workflow when an execution of the source workflow ends')
      .requiredOption('--source <workflow_id>', 'the workflow whose executions are watched (A)')
      .requiredOption('--target <workflow_id>', 'the workflow to start (B)')
      .requiredOption('--on <end>', 'completed or failed (repeatable, or completed,failed)', collect)
      .option(
        '-m, --map <name=expression>',
        "an input of B from A's execution, e.g. total=${output.total} (repeatable)",
        collect,
      )
      .option('--name <name>', 'a name')
      .option('--disabled', 'create it disabled'),
  ).action((_options: unknown, command: Command) =>
    done(() => createTrigger(command.optsWithGlobals<CreateFlags>(), io)),
  )
  withServerOptions(
    triggers.command('delete').description('Delete an event trigger').argument('<trigger_id>'),
  ).action((triggerId: string, _options: unknown, command: Command) =>
    done(() => deleteTrigger(triggerId, command.optsWithGlobals<ServerFlags>(), io)),
  )
}
