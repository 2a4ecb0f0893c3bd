/**
 * `harmonia templates ...` against a server (`--server <url>` or `HARMONIA_URL`; `--api-key` or
 * `HARMONIA_API_KEY`):
 *
 *   harmonia templates list [--search s] [--tag t] [--category c]
 *   harmonia templates import <file>                      a Tekton template file (JSON or YAML)
 *   harmonia templates export <id> [-o file] [--version n]
 *   harmonia templates instantiate <id> --param k=v... [--version n] [--name n] [--run [--input k=v...]]
 */
import { writeFile } from 'node:fs/promises'
import path from 'node:path'
import type { Command } from 'commander'
import type { TemplateFile } from '../client/index.ts'
import { ExitCode, prettyJson, type CliIo, type CommandRunner } from './cli-io.ts'
import { readDefinitionFile } from './definition-file.ts'
import { applyInputPairs, collect } from './input-args.ts'
import { withServer, withServerOptions, type ServerFlags } from './server-connection.ts'
import { formatTable } from './text-format.ts'

interface ListFlags extends ServerFlags {
  search?: string
  tag?: string
  category?: string
  limit?: string
}

interface InstantiateFlags extends ServerFlags {
  param?: string[]
  version?: string
  name?: string
  run?: boolean
  input?: string[]
}

async function listTemplates(flags: ListFlags, io: CliIo): Promise<ExitCode> {
  return withServer(flags, io, async (client) => {
    const page = await client.templates.list({
      limit: flags.limit === undefined ? 100 : Number(flags.limit),
      ...(flags.search === undefined ? {} : { search: flags.search }),
      ...(flags.tag === undefined ? {} : { tag: flags.tag }),
      ...(flags.category === undefined ? {} : { category: flags.category }),
    })
    if (flags.json === true) {
      io.stdout.write(prettyJson(page))
      return ExitCode.ok
    }
    if (page.items.length === 0) {
      io.stdout.write('no templates\n')
      return ExitCode.ok
    }
    const rows = page.items.map((template) => [
      template.template_id,
      template.name,
      String(template.version),
      template.category ?? '',
      template.tags.join(','),
    ])
    io.stdout.write(formatTable(['TEMPLATE', 'NAME', 'VERSION', 'CATEGORY', 'TAGS'], rows))
    if (page.total > page.items.length) io.stdout.write(`(${page.items.length} of ${page.total})\n`)
    return ExitCode.ok
  })
}

async function importTemplate(file: string, flags: ServerFlags, io: CliIo): Promise<ExitCode> {
  const body = (await readDefinitionFile(file, io.cwd)) as TemplateFile
  return withServer(flags, io, async (client) => {
    const answer = await client.templates.import(body)
    io.stdout.write(
      flags.json === true ? prettyJson(answer) : `template ${answer.template_id} imported: ${answer.name}\n`,
    )
    return ExitCode.ok
  })
}

async function exportTemplate(
  templateId: string,
  flags: ServerFlags & { output?: string; version?: string },
  io: CliIo,
): Promise<ExitCode> {
  const version = optionalVersion(flags.version, io)
  if (version === null) return ExitCode.invalid
  return withServer(flags, io, async (client) => {
    const file = await client.templates.export(templateId, version === undefined ? {} : { version })
    if (flags.output === undefined) {
      io.stdout.write(prettyJson(file))
    } else {
      await writeFile(path.resolve(io.cwd, flags.output), prettyJson(file))
      if (flags.json !== true) io.stdout.write(`template ${templateId} exported to ${flags.output}\n`)
    }
    return ExitCode.ok
  })
}

async function instantiate(templateId: string, flags: InstantiateFlags, io: CliIo): Promise<ExitCode> {
  const version = optionalVersion(flags.version, io)
  if (version === null) return ExitCode.invalid
  // A pair that is not key=value throws InvalidRequestError: the command runner prints it and exits 2.
  const parameterValues = applyInputPairs(flags.param ?? [])
  const input = applyInputPairs(flags.input ?? [])
  return withServer(flags, io, async (client) => {
    const workflow = await client.templates.instantiate(templateId, {
      parameter_values: parameterValues,
      ...(version === undefined ? {} : { version }),
      ...(flags.name === undefined ? {} : { name: flags.name }),
    })
    const execution =
      flags.run === true ? await client.workflows.execute(workflow.workflow_id, { input }) : undefined
    if (flags.json === true) {
      io.stdout.write(prettyJson(execution === undefined ? workflow : { workflow, execution }))
      return ExitCode.ok
    }
    io.stdout.write(`workflow ${workflow.workflow_id} created from template ${templateId}\n`)
    if (execution !== undefined) io.stdout.write(`execution ${execution.execution_id} started\n`)
    return ExitCode.ok
  })
}

/** undefined when absent, null (after an error line) when not a positive integer. */
function optionalVersion(text: string | undefined, io: CliIo): number | undefined | null {
  if (text === undefined) return undefined
  const version = Number(text)
  if (!Number.isInteger(version) || version < 1) {
    io.stderr.write(`error: --version: expected a positive integer, got '${text}'\n`)
    return null
  }
  return version
}

export function registerTemplatesCommand(program: Command, io: CliIo, done: CommandRunner): void {
  const templates = program
    .command('templates')
    .description('Template library on a server (Tekton import/export)')
  withServerOptions(
    templates
      .command('list')
      .description('List templates')
      .option('--search <text>', 'name or description contains')
      .option('--tag <tag>', 'only templates with this tag')
      .option('--category <category>', 'only this category')
      .option('--limit <n>', 'at most this many (default 100)'),
  ).action((_options: unknown, command: Command) =>
    done(() => listTemplates(command.optsWithGlobals<ListFlags>(), io)),
  )
  withServerOptions(
    templates
      .command('import')
      .description('Import a Tekton template file (JSON or YAML)')
      .argument('<file>', 'the template file'),
  ).action((file: string, _options: unknown, command: Command) =>
    done(() => importTemplate(file, command.optsWithGlobals<ServerFlags>(), io)),
  )
  withServerOptions(
    templates
      .command('export')
      .description("Export a template in Tekton's template file format")
      .argument('<template_id>', 'the template')
      .option('-o, --output <file>', 'write it to this file instead of stdout')
      .option('--version <n>', 'a past version (default the latest)'),
  ).action((templateId: string, _options: unknown, command: Command) =>
    done(() => exportTemplate(templateId, command.optsWithGlobals(), io)),
  )
  withServerOptions(
    templates
      .command('instantiate')
      .description('Make a workflow from a template (and start it with --run)')
      .argument('<template_id>', 'the template')
      .option('-p, --param <key=value>', 'a parameter value (repeatable; JSON values are parsed)', collect)
      .option('--version <n>', 'a past version (default the latest)')
      .option('--name <name>', "the new workflow's name")
      .option('--run', 'start an execution of the new workflow')
      .option('-i, --input <key=value>', 'an input value for --run (repeatable)', collect),
  ).action((templateId: string, _options: unknown, command: Command) =>
    done(() => instantiate(templateId, command.optsWithGlobals<InstantiateFlags>(), io)),
  )
}
