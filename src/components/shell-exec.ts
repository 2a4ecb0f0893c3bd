/**
 * The `shell` component: `shell.exec` runs a command on the server. It exists only when the config enables
 * it (`components.shell.enabled`), since it runs anything the workflow author writes with the server's
 * rights.
 *
 * - With `args` the command runs directly, without a shell; with only `command` the line runs through
 *   /bin/sh. With an allow-list of commands, only those run, and always directly (a shell line could
 *   chain anything after an allowed name).
 * - The process gets a small environment (PATH, HOME, LANG, ...) plus the task's `env`, not the server's
 *   own: the server's variables hold its secrets.
 * - It runs in its own process group; a timeout, a cancel or the task's timeout kills the whole group
 *   (SIGTERM, then SIGKILL after a grace period).
 * - Answers `{stdout, stderr, exit_code}`; output beyond the cap is cut (stdout keeps its start, stderr
 *   its end) and flagged. A non-zero exit fails with `EXIT_<n>` (not retriable), a death by signal with
 *   `EXIT_<128+signal>` as a shell reports it; details hold the end of stderr.
 */
import { spawn } from 'node:child_process'
import { constants } from 'node:os'
import type { ActionHandler, TaskContext } from '../core/component.ts'
import { TaskFailure } from '../core/errors.ts'
import type { JsonObject, JsonValue } from '../core/model.ts'
import { abortReason } from './abort-reason.ts'
import type { ComponentRegistration } from './registry.ts'

export interface ShellComponentOptions {
  /** Commands that may run (exact names or paths); when set, only these run, never through a shell. */
  allowedCommands?: string[]
  /** `timeout_ms` when the task gives none (default 10 minutes). */
  defaultTimeoutMs?: number
  /** Bytes of stdout and of stderr kept (default 1 MiB each). */
  maxOutputBytes?: number
  /** Time between SIGTERM and SIGKILL when the process group is killed (default 2 s). */
  killGraceMs?: number
  /** Variables of the server's environment passed on (default PATH, HOME, LANG, LC_ALL, TZ, TMPDIR, USER). */
  inheritEnv?: string[]
}

export const DEFAULT_SHELL_TIMEOUT_MS = 10 * 60 * 1000
export const DEFAULT_MAX_OUTPUT_BYTES = 1024 * 1024
const DEFAULT_INHERITED_ENV = ['PATH', 'HOME', 'LANG', 'LC_ALL', 'TZ', 'TMPDIR', 'USER']
const SHELL = '/bin/sh'
/** Characters of stderr (and stdout) kept in a failure's details. */
const TAIL_CHARS = 2000

export const shellComponent: ComponentRegistration = {
  name: 'shell',
  description: 'Runs commands on the server (enabled in config only)',
  kind: 'builtin',
}

export const SHELL_DISABLED_REASON =
  'shell.exec is disabled; enable it in config with components.shell.enabled: true or HARMONIA_SHELL_ENABLED=true'

interface ShellExecInput {
  command: string
  args?: string[]
  cwd?: string
  env?: Record<string, string | number | boolean>
  timeout_ms?: number
  input?: string
}

export function createShellActions(options: ShellComponentOptions = {}): ActionHandler[] {
  const settings: Required<Omit<ShellComponentOptions, 'allowedCommands'>> & { allowedCommands?: string[] } =
    {
      defaultTimeoutMs: options.defaultTimeoutMs ?? DEFAULT_SHELL_TIMEOUT_MS,
      maxOutputBytes: options.maxOutputBytes ?? DEFAULT_MAX_OUTPUT_BYTES,
      killGraceMs: options.killGraceMs ?? 2000,
      inheritEnv: options.inheritEnv ?? DEFAULT_INHERITED_ENV,
      ...(options.allowedCommands === undefined ? {} : { allowedCommands: [...options.allowedCommands] }),
    }
  const allowed = settings.allowedCommands
  const exec: ActionHandler = {
    descriptor: {
      name: 'exec',
      description:
        'Runs a command: with `args` directly (no shell), with only `command` through /bin/sh. Answers {stdout, stderr, exit_code}; a non-zero exit fails with EXIT_<n> (not retriable).' +
        (allowed === undefined ? '' : ` Allowed commands: ${allowed.join(', ')}.`),
      input_schema: {
        type: 'object',
        properties: {
          command: {
            type: 'string',
            minLength: 1,
            description: 'The executable (with args) or a shell line (without).',
            ...(allowed === undefined ? {} : { enum: [...allowed] }),
          },
          args: { type: 'array', items: { type: 'string' } },
          cwd: { type: 'string', minLength: 1, description: 'Working directory.' },
          env: {
            type: 'object',
            additionalProperties: { type: ['string', 'number', 'boolean'] },
            description: "Variables added to the process's small base environment.",
          },
          timeout_ms: {
            type: 'integer',
            minimum: 1,
            maximum: 24 * 3600 * 1000,
            description: `Default ${settings.defaultTimeoutMs} ms.`,
          },
          input: { type: 'string', description: 'Written to stdin.' },
        },
        required: ['command'],
        additionalProperties: false,
      },
      output_schema: {
        type: 'object',
        properties: {
          stdout: { type: 'string' },
          stderr: { type: 'string' },
          exit_code: { type: 'integer' },
          stdout_truncated: { type: 'boolean' },
          stderr_truncated: { type: 'boolean' },
        },
        required: ['stdout', 'stderr', 'exit_code'],
      },
    },
    invoke: (input, context) => run(input as unknown as ShellExecInput, context, settings),
  }
  return [exec]
}

function run(
  input: ShellExecInput,
  context: TaskContext,
  settings: Required<Omit<ShellComponentOptions, 'allowedCommands'>> & { allowedCommands?: string[] },
): Promise<JsonValue> {
  const allowed = settings.allowedCommands
  if (allowed !== undefined && !allowed.includes(input.command)) {
    return Promise.reject(
      new TaskFailure(
        'COMMAND_NOT_ALLOWED',
        `task '${context.task}': shell.exec may run only ${allowed.length === 0 ? 'no command' : allowed.join(', ')}; give the executable as 'command' and its arguments as 'args' (not retriable)`,
        { retriable: false, details: { component: 'shell', action: 'exec', allowed_commands: allowed } },
      ),
    )
  }
  const direct = input.args !== undefined || allowed !== undefined
  const file = direct ? input.command : SHELL
  const argv = direct ? (input.args ?? []) : ['-c', input.command]
  // Messages name the program only: arguments and shell lines may hold secrets.
  const label = direct
    ? `'${input.command}'`
    : `'${input.command.trim().split(/\s+/)[0]!.slice(0, 60)}' (shell line)`
  const where = `shell.exec ${label}`
  const env: Record<string, string> = {}
  for (const name of settings.inheritEnv) {
    const value = process.env[name]
    if (value !== undefined) env[name] = value
  }
  for (const [name, value] of Object.entries(input.env ?? {})) env[name] = String(value)
  const timeoutMs = input.timeout_ms ?? settings.defaultTimeoutMs

  return new Promise((resolve, reject) => {
    if (context.signal.aborted) {
      reject(abortReason(context.signal))
      return
    }
    const child = spawn(file, argv, {
      ...(input.cwd === undefined ? {} : { cwd: input.cwd }),
      env,
      detached: true,
      stdio: [input.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      windowsHide: true,
    })
    const stdout = new Capture(settings.maxOutputBytes, 'head')
    const stderr = new Capture(settings.maxOutputBytes, 'tail')
    child.stdout!.on('data', (chunk: Buffer) => stdout.add(chunk))
    child.stderr!.on('data', (chunk: Buffer) => stderr.add(chunk))
    if (child.stdin !== null) {
      // A command that exits without reading its input closes the pipe: not an error of the task.
      child.stdin.on('error', () => {})
      child.stdin.end(input.input)
    }

    let stopReason: unknown
    let escalation: ReturnType<typeof setTimeout> | undefined
    const killGroup = (signal: NodeJS.Signals): void => {
      if (child.pid === undefined) return
      try {
        process.kill(-child.pid, signal)
      } catch {
        // The group is already gone.
      }
    }
    const stop = (reason: unknown): void => {
      if (stopReason !== undefined) return
      stopReason = reason
      killGroup('SIGTERM')
      escalation = setTimeout(() => killGroup('SIGKILL'), settings.killGraceMs)
    }
    const onAbort = (): void => stop(abortReason(context.signal))
    context.signal.addEventListener('abort', onAbort, { once: true })
    const timer = setTimeout(
      () =>
        stop(
          new TaskFailure(
            'TIMEOUT',
            `${where} did not finish within ${timeoutMs} ms; its process group was killed (retriable)`,
            { retriable: true, details: { timeout_ms: timeoutMs } },
          ),
        ),
      timeoutMs,
    )
    const cleanUp = (): void => {
      clearTimeout(timer)
      context.signal.removeEventListener('abort', onAbort)
      if (escalation !== undefined) {
        clearTimeout(escalation)
        // What is left of a group being stopped does not get its grace period after the leader is gone.
        killGroup('SIGKILL')
      }
    }

    child.once('error', (error: NodeJS.ErrnoException) => {
      cleanUp()
      if (stopReason !== undefined) return reject(stopReason)
      const hint = error.code === 'ENOENT' ? ': the command or the working directory does not exist' : ''
      reject(
        new TaskFailure(
          'SPAWN_FAILED',
          `${where} could not start (${error.code ?? error.message})${hint} (not retriable)`,
          {
            retriable: false,
            details: { cause: error.code ?? error.message },
          },
        ),
      )
    })
    child.once('close', (code, signal) => {
      cleanUp()
      if (stopReason !== undefined) return reject(stopReason)
      const exitCode = code ?? 128 + (signal === null ? 0 : (constants.signals[signal] ?? 0))
      const output: JsonObject = { stdout: stdout.text(), stderr: stderr.text(), exit_code: exitCode }
      if (stdout.truncated) output.stdout_truncated = true
      if (stderr.truncated) output.stderr_truncated = true
      if (exitCode === 0) return resolve(output)
      const how = signal === null ? `exited with status ${exitCode}` : `was killed by ${signal}`
      reject(
        new TaskFailure(`EXIT_${exitCode}`, `${where} ${how} (not retriable)`, {
          retriable: false,
          details: {
            exit_code: exitCode,
            ...(signal === null ? {} : { signal }),
            stderr_tail: tail(output.stderr as string),
            stdout_tail: tail(output.stdout as string),
          },
        }),
      )
    })
  })
}

function tail(text: string): string {
  return text.length > TAIL_CHARS ? `…${text.slice(-TAIL_CHARS)}` : text
}

/** Keeps at most `maxBytes` of a stream: its start ('head') or its end ('tail'). */
class Capture {
  readonly #maxBytes: number
  readonly #keep: 'head' | 'tail'
  #chunks: Buffer[] = []
  #bytes = 0
  truncated = false

  constructor(maxBytes: number, keep: 'head' | 'tail') {
    this.#maxBytes = maxBytes
    this.#keep = keep
  }

  add(chunk: Buffer): void {
    if (this.#keep === 'head') {
      const room = this.#maxBytes - this.#bytes
      if (chunk.length > room) this.truncated = true
      if (room <= 0) return
      const kept = chunk.length > room ? chunk.subarray(0, room) : chunk
      this.#chunks.push(kept)
      this.#bytes += kept.length
      return
    }
    this.#chunks.push(chunk)
    this.#bytes += chunk.length
    while (this.#bytes - this.#chunks[0]!.length >= this.#maxBytes) {
      this.#bytes -= this.#chunks.shift()!.length
      this.truncated = true
    }
  }

  text(): string {
    const all = Buffer.concat(this.#chunks)
    if (all.length <= this.#maxBytes) return all.toString('utf8')
    this.truncated = true
    return all.subarray(all.length - this.#maxBytes).toString('utf8')
  }
}
