/** `harmonia config print`: the resolved configuration as JSON, secrets masked. */
import type { Command } from 'commander'
import { maskConfig } from '../core/config.ts'
import { ExitCode, prettyJson, type CliIo, type CommandRunner, type GlobalFlags } from './cli-io.ts'
import { loadConfig } from './load-config.ts'

export async function configPrintCommand(flags: GlobalFlags, io: CliIo): Promise<ExitCode> {
  const config = await loadConfig({ cwd: io.cwd, env: io.env, flags })
  io.stdout.write(prettyJson(maskConfig(config)))
  return ExitCode.ok
}

export function registerConfigCommand(program: Command, io: CliIo, done: CommandRunner): Command {
  const config = program.command('config').description('Inspect the configuration')
  config
    .command('print')
    .description(
      'Print the resolved configuration (flags, HARMONIA_* environment, config file, defaults), secrets masked',
    )
    .action((_options: unknown, command: Command) =>
      done(() => configPrintCommand(command.optsWithGlobals<GlobalFlags>(), io)),
    )
  return config
}
