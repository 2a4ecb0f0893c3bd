/**
 * The LLM commands, which ask a Harmonia server (`--server <url>` or `HARMONIA_URL`; `--api-key` or
 * `HARMONIA_API_KEY`); the server's LLM is configured with HARMONIA_LLM_* (docs/llm.md):
 *
 *   harmonia create "<sentence>" [--save] [--output <file>]   a workflow from a description (a draft unless --save)
 *   harmonia explain <execution_id> [--no-llm]                why an execution failed, and a suggested fix
 *   harmonia optimize <workflow_id> [--no-llm]                optimization findings for a workflow
 */
import { writeFile } from 'node:fs/promises'
import path from 'node:path'
import type { Command } from 'commander'
import type {
  CallOptions,
  ExecutionExplanationAnswer,
  HarmoniaClient,
  OptimizationAnswer,
} from '../client/index.ts'
import type { JsonObject } from '../core/model.ts'
import { ExitCode, prettyJson, type CliIo, type CommandRunner } from './cli-io.ts'
import { withServer, withServerOptions, type ServerFlags } from './server-connection.ts'

/** LLM answers take a while (repair rounds); the client's default timeout is too short for them. */
const LLM_CALL_TIMEOUT_MS = 10 * 60_000

interface CreateFlags extends ServerFlags {
  save?: boolean
  output?: string
  repairRounds?: string
}

async function createFromSentence(sentence: string, flags: CreateFlags, io: CliIo): Promise<ExitCode> {
  const rounds = flags.repairRounds === undefined ? undefined : Number(flags.repairRounds)
  if (rounds !== undefined && (!Number.isInteger(rounds) || rounds < 0 || rounds > 5)) {
    io.stderr.write(`error: --repair-rounds: expected an integer from 0 to 5, got ${flags.repairRounds}\n`)
    return ExitCode.invalid
  }
  return withServer(flags, io, async (client) => {
    const answer = await client.llm.createWorkflow(
      sentence,
      { save: flags.save === true, ...(rounds === undefined ? {} : { max_repair_rounds: rounds }) },
      { timeoutMs: LLM_CALL_TIMEOUT_MS },
    )
    if (flags.output !== undefined) {
      await writeFile(path.resolve(io.cwd, flags.output), prettyJson(answer.definition))
    }
    if (flags.json === true) {
      io.stdout.write(prettyJson(answer))
      return answer.valid ? ExitCode.ok : ExitCode.invalid
    }
    const lines: string[] = []
    if (answer.explanation !== '') lines.push(answer.explanation, '')
    if (flags.output === undefined) lines.push(prettyJson(answer.definition).trimEnd(), '')
    else lines.push(`definition written to ${flags.output}`)
    if (!answer.valid) {
      lines.push(`the draft is NOT valid after ${answer.rounds} answers:`)
      for (const issue of answer.issues) lines.push(`  - ${issueLine(issue)}`)
    } else if (answer.saved) {
      const workflow = answer.workflow as { workflow_id?: string; revision?: number } | undefined
      lines.push(`workflow ${workflow?.workflow_id ?? '?'} saved (revision ${workflow?.revision ?? 1})`)
    } else {
      lines.push('a valid draft (not saved: pass --save to save it)')
    }
    lines.push(
      `(${answer.rounds} model ${answer.rounds === 1 ? 'answer' : 'answers'}, ${answer.usage.total_tokens} tokens)`,
    )
    io.stdout.write(`${lines.join('\n')}\n`)
    return answer.valid ? ExitCode.ok : ExitCode.invalid
  })
}

function issueLine(issue: JsonObject): string {
  const where = [issue['task'], issue['field']].filter((part) => typeof part === 'string').join('.')
  return `${where === '' ? '' : `${where}: `}${String(issue['message'] ?? JSON.stringify(issue))}`
}

/**
 * `harmonia explain` and `harmonia optimize`: asks the server's LLM (with the long timeout; rule-based only
 * with `--no-llm`) and prints its answer, as JSON with `--json`, else as the lines `linesOf` makes of it.
 */
async function askLlm<Answer>(
  ask: (client: HarmoniaClient, request: { use_llm: boolean }, options: CallOptions) => Promise<Answer>,
  linesOf: (answer: Answer) => string[],
  flags: ServerFlags & { llm?: boolean },
  io: CliIo,
): Promise<ExitCode> {
  return withServer(flags, io, async (client) => {
    const answer = await ask(client, { use_llm: flags.llm !== false }, { timeoutMs: LLM_CALL_TIMEOUT_MS })
    io.stdout.write(flags.json === true ? prettyJson(answer) : `${linesOf(answer).join('\n')}\n`)
    return ExitCode.ok
  })
}

function explanationLines(answer: ExecutionExplanationAnswer): string[] {
  const lines = [
    `execution ${answer.execution_id}${answer.status === undefined ? '' : ` (${answer.status})`}` +
      (answer.failed_task === null ? '' : `: task ${answer.failed_task} failed`),
    `category: ${answer.category} (${answer.source === 'llm' ? `diagnosed by ${answer.model ?? 'the LLM'}` : 'rule-based diagnosis'})`,
    '',
    `diagnosis: ${answer.diagnosis}`,
    '',
    `suggested fix: ${answer.suggested_fix}`,
  ]
  if (answer.patch !== null)
    lines.push('', 'patch (JSON merge patch of the definition):', prettyJson(answer.patch).trimEnd())
  if (answer.llm_error !== undefined) lines.push('', `note: ${answer.llm_error}`)
  return lines
}

function optimizationLines(answer: OptimizationAnswer): string[] {
  const lines = [
    `workflow ${answer.workflow_id} (revision ${answer.revision}): ${answer.findings.length} findings`,
  ]
  for (const finding of answer.findings) {
    const tasks = Array.isArray(finding['tasks']) ? ` [${(finding['tasks'] as string[]).join(', ')}]` : ''
    lines.push(`  - ${String(finding['kind'])}${tasks}: ${String(finding['message'] ?? '')}`)
  }
  if (answer.narrative !== undefined) lines.push('', answer.narrative)
  if (answer.llm_error !== undefined) lines.push('', `note: ${answer.llm_error}`)
  return lines
}

export function registerLlmCommands(program: Command, io: CliIo, done: CommandRunner): void {
  withServerOptions(
    program
      .command('create')
      .description("Create a workflow from a sentence with the server's LLM (a draft unless --save)")
      .argument('<sentence>', 'what the workflow should do')
      .option('--save', 'save the workflow on the server when it is valid')
      .option('-o, --output <file>', 'write the definition to this file')
      .option(
        '--repair-rounds <n>',
        'rounds in which the model may fix an invalid definition (0-5, default 2)',
      ),
  ).action((sentence: string, _options: unknown, command: Command) =>
    done(() => createFromSentence(sentence, command.optsWithGlobals<CreateFlags>(), io)),
  )
  withServerOptions(
    program
      .command('explain')
      .description('Explain why an execution failed and suggest a fix (rule-based without an LLM)')
      .argument('<execution_id>', 'the execution')
      .option('--no-llm', 'only the rule-based diagnosis'),
  ).action((executionId: string, _options: unknown, command: Command) =>
    done(() =>
      askLlm(
        (client, request, options) => client.llm.explain(executionId, request, options),
        explanationLines,
        command.optsWithGlobals(),
        io,
      ),
    ),
  )
  withServerOptions(
    program
      .command('optimize')
      .description('Suggest optimizations of a workflow (static analysis, plus a narrative with an LLM)')
      .argument('<workflow_id>', 'the workflow')
      .option('--no-llm', 'only the static analysis'),
  ).action((workflowId: string, _options: unknown, command: Command) =>
    done(() =>
      askLlm(
        (client, request, options) => client.llm.optimize(workflowId, request, options),
        optimizationLines,
        command.optsWithGlobals(),
        io,
      ),
    ),
  )
}
