/**
 * `harmonia validate <file>`: every problem of a definition, one per line (exit 2), or
 * `valid: <name> (N tasks)` (exit 0). Unknown components and actions are errors, as in `harmonia run`.
 */
import type { Command } from 'commander'
import type { HarmoniaConfig } from '../core/config.ts'
import type { ValidationIssue } from '../core/errors.ts'
import { validateWorkflow } from '../core/validate.ts'
import { createStore } from '../storage/index.ts'
import {
  ExitCode,
  formatProblems,
  prettyJson,
  type CliIo,
  type CommandRunner,
  type GlobalFlags,
} from './cli-io.ts'
import { readDefinitionFile } from './definition-file.ts'
import { openHarmonia } from './execution-watch.ts'
import { loadConfig } from './load-config.ts'
import { plural } from './text-format.ts'

export interface DefinitionCheck {
  /** The workflow's name, when it has one. */
  name: string | undefined
  taskCount: number
  issues: ValidationIssue[]
}

/** Validates a parsed definition against the components this configuration provides. */
export async function checkDefinition(
  raw: unknown,
  config: Readonly<HarmoniaConfig>,
  io: CliIo,
): Promise<DefinitionCheck> {
  const harmonia = await openHarmonia(config, io, { store: createStore({ kind: 'memory' }) })
  try {
    const issues = validateWorkflow(raw, {
      components: harmonia.components,
      unknownComponents: 'error',
      envAllowList: config.expressions.envAllowList,
    })
    return { name: workflowName(raw), taskCount: taskCount(raw), issues }
  } finally {
    await harmonia.close()
  }
}

/** `error: workflow 'x' is invalid (2 problems):` and the problems, one per line. */
export function formatDefinitionProblems(file: string, check: DefinitionCheck): string {
  const label = check.name === undefined ? `workflow in ${file}` : `workflow '${check.name}' (${file})`
  return formatProblems(`${label} is invalid (${plural(check.issues.length, 'problem')}):`, check.issues)
}

export async function validateCommand(file: string, flags: GlobalFlags, io: CliIo): Promise<ExitCode> {
  const config = await loadConfig({ cwd: io.cwd, env: io.env, flags })
  const raw = await readDefinitionFile(file, io.cwd)
  const check = await checkDefinition(raw, config, io)
  if (flags.json === true) {
    io.stdout.write(
      prettyJson(
        check.issues.length === 0
          ? { valid: true, name: check.name ?? null, tasks: check.taskCount, errors: [] }
          : { valid: false, name: check.name ?? null, tasks: check.taskCount, errors: check.issues },
      ),
    )
  } else if (check.issues.length > 0) {
    io.stderr.write(formatDefinitionProblems(file, check))
  } else {
    io.stdout.write(`valid: ${check.name} (${plural(check.taskCount, 'task')})\n`)
  }
  return check.issues.length === 0 ? ExitCode.ok : ExitCode.invalid
}

export function registerValidateCommand(program: Command, io: CliIo, done: CommandRunner): Command {
  return program
    .command('validate')
    .description('Check a workflow definition (JSON or YAML) and print every problem')
    .argument('<file>', 'workflow definition file (.json, .yaml or .yml)')
    .action((file: string, _options: unknown, command: Command) =>
      done(() => validateCommand(file, command.optsWithGlobals<GlobalFlags>(), io)),
    )
}

function workflowName(raw: unknown): string | undefined {
  if (typeof raw !== 'object' || raw === null) return undefined
  const name = (raw as { name?: unknown }).name
  return typeof name === 'string' && name.trim() !== '' ? name : undefined
}

function taskCount(raw: unknown): number {
  if (typeof raw !== 'object' || raw === null) return 0
  const tasks = (raw as { tasks?: unknown }).tasks
  if (Array.isArray(tasks)) return tasks.length
  return typeof tasks === 'object' && tasks !== null ? Object.keys(tasks).length : 0
}
