/**
 * `harmonia schedules ...` against a server (`--server <url>` or `HARMONIA_URL`; `--api-key` or
 * `HARMONIA_API_KEY`):
 *
 *   harmonia schedules list
 *   harmonia schedules create --cron "<expr>" (--workflow <id> | --template <id> [--param k=v]...)
 *                             [--timezone tz] [--input k=v]... [--misfire skip|run_once] [--name n] [--disabled]
 *   harmonia schedules delete|enable|disable <schedule_id>
 */
import type { Command } from 'commander'
import type { Schedule, ScheduleInput } from '../client/index.ts'
import { ExitCode, prettyJson, type CliIo, type CommandRunner } from './cli-io.ts'
import { applyInputPairs, collect } from './input-args.ts'
import { withServer, withServerOptions, type ServerFlags } from './server-connection.ts'
import { formatTable } from './text-format.ts'

interface CreateFlags extends ServerFlags {
  cron: string
  workflow?: string
  template?: string
  param?: string[]
  timezone?: string
  input?: string[]
  misfire?: string
  name?: string
  disabled?: boolean
}

function scheduleLine(schedule: Schedule): string {
  const next = schedule.next_runs[0]
  return (
    `schedule ${schedule.schedule_id} (${schedule.cron} ${schedule.timezone}) ` +
    `${schedule.enabled ? `enabled; next run ${next ?? 'none'}` : 'disabled'}\n`
  )
}

async function listSchedules(flags: ServerFlags, io: CliIo): Promise<ExitCode> {
  return withServer(flags, io, async (client) => {
    const list = await client.schedules.list()
    if (flags.json === true) {
      io.stdout.write(prettyJson(list))
      return ExitCode.ok
    }
    if (list.items.length === 0) {
      io.stdout.write('no schedules\n')
      return ExitCode.ok
    }
    const rows = list.items.map((schedule) => [
      schedule.schedule_id,
      schedule.cron,
      schedule.timezone,
      schedule.workflow_id,
      schedule.enabled ? 'yes' : 'no',
      schedule.next_runs[0] ?? '',
    ])
    io.stdout.write(formatTable(['SCHEDULE', 'CRON', 'TIMEZONE', 'WORKFLOW', 'ENABLED', 'NEXT RUN'], rows))
    return ExitCode.ok
  })
}

async function createSchedule(flags: CreateFlags, io: CliIo): Promise<ExitCode> {
  if ((flags.workflow === undefined) === (flags.template === undefined)) {
    io.stderr.write('error: give exactly one of --workflow <id> or --template <id>\n')
    return ExitCode.invalid
  }
  // A pair that is not key=value throws InvalidRequestError: the command runner prints it and exits 2.
  const input = applyInputPairs(flags.input ?? [])
  const parameterValues = applyInputPairs(flags.param ?? [])
  const body: ScheduleInput = {
    cron: flags.cron,
    input,
    ...(flags.workflow === undefined ? {} : { workflow_id: flags.workflow }),
    ...(flags.template === undefined
      ? {}
      : { template_id: flags.template, parameter_values: parameterValues }),
    ...(flags.timezone === undefined ? {} : { timezone: flags.timezone }),
    ...(flags.misfire === undefined
      ? {}
      : { misfire_policy: flags.misfire as ScheduleInput['misfire_policy'] }),
    ...(flags.name === undefined ? {} : { name: flags.name }),
    ...(flags.disabled === true ? { enabled: false } : {}),
  }
  return withServer(flags, io, async (client) => {
    const schedule = await client.schedules.create(body)
    io.stdout.write(flags.json === true ? prettyJson(schedule) : scheduleLine(schedule))
    return ExitCode.ok
  })
}

async function changeSchedule(
  verb: 'delete' | 'enable' | 'disable',
  scheduleId: string,
  flags: ServerFlags,
  io: CliIo,
): Promise<ExitCode> {
  return withServer(flags, io, async (client) => {
    if (verb === 'delete') {
      const answer = await client.schedules.delete(scheduleId)
      io.stdout.write(flags.json === true ? prettyJson(answer) : `schedule ${scheduleId} deleted\n`)
      return ExitCode.ok
    }
    const schedule = await client.schedules[verb](scheduleId)
    io.stdout.write(flags.json === true ? prettyJson(schedule) : scheduleLine(schedule))
    return ExitCode.ok
  })
}

export function registerSchedulesCommand(program: Command, io: CliIo, done: CommandRunner): void {
  const schedules = program.command('schedules').description('Cron schedules on a server')
  withServerOptions(schedules.command('list').description('List schedules with their next run')).action(
    (_options: unknown, command: Command) =>
      done(() => listSchedules(command.optsWithGlobals<ServerFlags>(), io)),
  )
  withServerOptions(
    schedules
      .command('create')
      .description('Create a schedule that starts a workflow or a template')
      .requiredOption('--cron <expr>', 'cron expression (5 fields, or 6 with seconds first)')
      .option('--workflow <workflow_id>', 'the workflow to start')
      .option('--template <template_id>', 'a template, instantiated once now')
      .option('-p, --param <key=value>', 'a template parameter (repeatable)', collect)
      .option('--timezone <tz>', 'IANA time zone (default UTC)')
      .option('-i, --input <key=value>', 'an input value (repeatable)', collect)
      .option('--misfire <policy>', 'after downtime: skip (default) or run_once')
      .option('--name <name>', 'a name')
      .option('--disabled', 'create it disabled'),
  ).action((_options: unknown, command: Command) =>
    done(() => createSchedule(command.optsWithGlobals<CreateFlags>(), io)),
  )
  for (const verb of ['delete', 'enable', 'disable'] as const) {
    withServerOptions(
      schedules
        .command(verb)
        .description(`${verb[0]!.toUpperCase()}${verb.slice(1)} a schedule`)
        .argument('<schedule_id>'),
    ).action((scheduleId: string, _options: unknown, command: Command) =>
      done(() => changeSchedule(verb, scheduleId, command.optsWithGlobals<ServerFlags>(), io)),
    )
  }
}
