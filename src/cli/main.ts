/**
 * The `harmonia` command (bin/harmonia.js): noun then verb.
 *
 *   harmonia run <file> [--input k=v]... [--input-file f] [--json]
 *   harmonia validate <file>
 *   harmonia resume [execution_id]
 *   harmonia executions list [--status s] [--workflow w] [--limit n]
 *   harmonia executions show <execution_id>
 *   harmonia config print
 *   harmonia serve
 *   harmonia workflows create -f <file> | list | get <id> | delete <id>                 (on a server)
 *   harmonia executions start <workflow_id> [--watch] | get | watch | cancel | pause | resume | rerun <id>
 *     (on a server: --server or HARMONIA_URL, --api-key or HARMONIA_API_KEY; list and show too when named)
 *   harmonia templates | schedules | webhooks | subscriptions | triggers <verb> ...       (on a server)
 *
 * Every command takes --data-dir, --storage, --config, --log-level and --json, before or after its name.
 * Exit codes: 0 done (executions completed), 1 an execution failed or the command could not do its work,
 * 2 invalid definition, input, configuration or command line, 130 stopped by Ctrl-C.
 * This module is the entry point: it reads argv and the environment and ends the process.
 */
import { Command, CommanderError, Option } from 'commander'
import packageJson from '../../package.json' with { type: 'json' }
import { ExitCode, exitCodeFor, formatError, type CliIo, type CommandRunner, type Output } from './cli-io.ts'
import { registerConfigCommand } from './config-command.ts'
import { registerExecutionsCommand } from './executions-command.ts'
import { registerLlmCommands } from './llm-commands.ts'
import { registerMcpCommand } from './mcp-command.ts'
import { registerResumeCommand } from './resume-command.ts'
import { registerRunCommand } from './run-command.ts'
import { registerSchedulesCommand } from './schedules-command.ts'
import { registerServerCommands } from './server-commands.ts'
import { registerSubscriptionsCommand } from './subscriptions-command.ts'
import { registerTemplatesCommand } from './templates-command.ts'
import { registerTriggersCommand } from './triggers-command.ts'
import { registerValidateCommand } from './validate-command.ts'
import { registerWebhooksCommand } from './webhooks-command.ts'

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']
const STORAGE_KINDS = ['sqlite', 'file', 'memory', 'postgres']

/** Adds the options every command takes. */
function withCommonOptions(command: Command): Command {
  return command
    .option(
      '--data-dir <dir>',
      'where the embedded store keeps its files (default .harmonia, HARMONIA_DATA_DIR)',
    )
    .addOption(
      new Option(
        '--storage <kind>',
        'store: sqlite (default), file, memory or postgres (HARMONIA_STORAGE)',
      ).choices(STORAGE_KINDS),
    )
    .option('--config <file>', 'config file (default harmonia.config.json, .yaml or .yml in this directory)')
    .addOption(new Option('--log-level <level>', 'log level on stderr (default warn)').choices(LOG_LEVELS))
    .option('--json', 'print one JSON document on stdout and nothing else')
}

/** Commands that run here; any other word (serve, help, a typo) also loads the server's commands. */
const LOCAL_COMMANDS = new Set(['run', 'validate', 'resume', 'executions', 'config', 'mcp'])
/** Options of the program that take a value (to find the command word after them). */
const OPTIONS_WITH_VALUES = new Set(['--data-dir', '--storage', '--config', '--log-level'])

/** The command word of an argument list (`run` in `--data-dir d run x.yaml`), if any. */
export function commandWord(args: readonly string[]): string | undefined {
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!
    if (OPTIONS_WITH_VALUES.has(arg)) i++
    else if (!arg.startsWith('-')) return arg
  }
  return undefined
}

export async function createProgram(
  io: CliIo,
  done: CommandRunner,
  args: readonly string[],
): Promise<Command> {
  const program = withCommonOptions(new Command('harmonia'))
    .description('Harmonia: a durable workflow orchestration engine')
    .version(packageJson.version, '-V, --version', 'print the version')
    .enablePositionalOptions()
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride()
    .configureOutput({
      writeOut: (text) => io.stdout.write(text),
      writeErr: (text) => io.stderr.write(text),
    })
  for (const register of [
    registerRunCommand,
    registerValidateCommand,
    registerResumeCommand,
    registerExecutionsCommand,
    registerConfigCommand,
    registerMcpCommand,
  ]) {
    const command = register(program, io, done)
    for (const leaf of command.commands.length > 0 ? command.commands : [command]) withCommonOptions(leaf)
  }
  // After `executions` exists: adds the server verbs to it, and `workflows`.
  registerServerCommands(program, io, done)
  registerLlmCommands(program, io, done)
  registerTemplatesCommand(program, io, done)
  registerSchedulesCommand(program, io, done)
  registerWebhooksCommand(program, io, done)
  registerSubscriptionsCommand(program, io, done)
  registerTriggersCommand(program, io, done)
  // The API server takes a while to load; local commands do without it.
  if (!LOCAL_COMMANDS.has(commandWord(args) ?? '')) {
    const { registerServeCommand } = await import('./serve-command.ts')
    registerServeCommand(program)
  }
  return program
}

function flush(stream: Output & { write(text: string, callback: () => void): boolean }): Promise<void> {
  return new Promise((resolve) => stream.write('', () => resolve()))
}

async function main(): Promise<void> {
  const io: CliIo = { stdout: process.stdout, stderr: process.stderr, cwd: process.cwd(), env: process.env }
  let exitCode: number | undefined
  const done: CommandRunner = async (action) => {
    try {
      exitCode = await action()
    } catch (error) {
      io.stderr.write(formatError(error))
      exitCode = exitCodeFor(error)
    }
  }
  try {
    const program = await createProgram(io, done, process.argv.slice(2))
    await program.parseAsync(process.argv)
  } catch (error) {
    if (error instanceof CommanderError) {
      // Commander has printed the message (or the help, or the version) already.
      const shown = error.code === 'commander.helpDisplayed' || error.code === 'commander.version'
      exitCode = shown ? ExitCode.ok : ExitCode.invalid
    } else {
      io.stderr.write(formatError(error))
      exitCode = exitCodeFor(error)
    }
  }
  // Commands that ran to an end exit now; a server (`harmonia serve`) keeps the process alive.
  if (exitCode !== undefined) {
    await Promise.all([flush(process.stdout), flush(process.stderr)])
    process.exit(exitCode)
  }
}

await main()
