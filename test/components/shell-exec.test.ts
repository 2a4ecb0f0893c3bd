import assert from 'node:assert/strict'
import { mkdtemp, readFile, realpath, rm } from 'node:fs/promises'
import { readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { after, before, describe, test } from 'node:test'
import { TaskFailure } from '../../src/core/errors.ts'
import type { JsonValue } from '../../src/core/model.ts'
import {
  createComponentRegistry,
  createShellActions,
  invokeAction,
  registerBuiltins,
  type ShellComponentOptions,
} from '../../src/components/index.ts'
import { createTaskContext } from './context.ts'

function shell(options: ShellComponentOptions = {}) {
  const registry = createComponentRegistry()
  registerBuiltins(registry, { shell: { enabled: true, ...options } })
  return (input: JsonValue, context = createTaskContext()) =>
    invokeAction(registry, 'shell', 'exec', input, context) as Promise<Record<string, JsonValue>>
}

/** A process counts as gone when /proc no longer lists it or lists it as a zombie. */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const state = stat.slice(stat.lastIndexOf(')') + 2)[0]
    return state !== 'Z' && state !== 'X'
  } catch {
    return false
  }
}

async function poll<T>(
  read: () => Promise<T | undefined> | T | undefined,
  what: string,
  deadlineMs = 10_000,
): Promise<T> {
  const until = Date.now() + deadlineMs
  let last: unknown
  for (;;) {
    try {
      const value = await read()
      if (value !== undefined) return value
      last = value
    } catch (error) {
      last = error
    }
    if (Date.now() > until)
      assert.fail(`${what} not reached in ${deadlineMs} ms; last state: ${String(last)}`)
    await new Promise((resolve) => setImmediate(resolve))
  }
}

async function failure(
  promise: Promise<unknown>,
  expected: { code: string; retriable: boolean; message: RegExp },
): Promise<TaskFailure> {
  let caught: unknown
  await assert.rejects(promise, (error: unknown) => {
    caught = error
    return true
  })
  assert.ok(caught instanceof TaskFailure, `expected a TaskFailure, got ${String(caught)}`)
  assert.equal(caught.code, expected.code, caught.message)
  assert.equal(caught.retriable, expected.retriable)
  assert.match(caught.message, expected.message)
  return caught
}

describe('shell.exec', () => {
  let dir: string
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'harmonia-shell-'))
  })
  after(async () => {
    await rm(dir, { recursive: true, force: true })
  })
  const run = shell()

  test('with args it runs the program directly, without a shell', async () => {
    assert.deepEqual(await run({ command: 'printf', args: ['%s|%s', 'a b', '$HOME;`x`'] }), {
      stdout: 'a b|$HOME;`x`',
      stderr: '',
      exit_code: 0,
    })
  })

  test('with only a command it runs the line through /bin/sh, with stdin, env and cwd', async () => {
    process.env.HARMONIA_TEST_SERVER_SECRET = 'server-secret'
    try {
      const output = await run({
        command: 'cat; echo " $GREETING $HARMONIA_TEST_SERVER_SECRET"; pwd; echo warn >&2',
        input: 'from stdin',
        env: { GREETING: 'hello', COUNT: 3 },
        cwd: dir,
      })
      assert.deepEqual(output, {
        stdout: `from stdin hello \n${await realpath(dir)}\n`,
        stderr: 'warn\n',
        exit_code: 0,
      })
    } finally {
      delete process.env.HARMONIA_TEST_SERVER_SECRET
    }
  })

  test('a non-zero exit is EXIT_<n>, not retriable, with the end of stderr', async () => {
    const error = await failure(run({ command: 'echo partial; echo "it broke" >&2; exit 3' }), {
      code: 'EXIT_3',
      retriable: false,
      message: /^shell\.exec 'echo' \(shell line\) exited with status 3 \(not retriable\)$/,
    })
    assert.deepEqual(error.details, { exit_code: 3, stderr_tail: 'it broke\n', stdout_tail: 'partial\n' })
    await failure(run({ command: 'sh', args: ['-c', 'kill -9 $$'] }), {
      code: 'EXIT_137',
      retriable: false,
      message: /^shell\.exec 'sh' was killed by SIGKILL \(not retriable\)$/,
    })
  })

  test('a command that cannot start is SPAWN_FAILED', async () => {
    await failure(run({ command: 'harmonia-no-such-program', args: [] }), {
      code: 'SPAWN_FAILED',
      retriable: false,
      message: /could not start \(ENOENT\): the command or the working directory does not exist/,
    })
  })

  test('a timeout kills the whole process group and is TIMEOUT, retriable', async () => {
    const pidFile = path.join(dir, 'timeout.pid')
    await failure(run({ command: `sleep 30 & echo $! > ${pidFile}; wait`, timeout_ms: 200 }), {
      code: 'TIMEOUT',
      retriable: true,
      message: /did not finish within 200 ms; its process group was killed \(retriable\)$/,
    })
    const pid = Number(await readFile(pidFile, 'utf8'))
    await poll(() => (alive(pid) ? undefined : true), `background sleep ${pid} killed`)
  })

  test("the task's signal kills the group and rejects with the signal's reason", async () => {
    const pidFile = path.join(dir, 'abort.pid')
    const controller = new AbortController()
    const call = run(
      { command: `sleep 30 & echo $! > ${pidFile}; wait` },
      createTaskContext({ signal: controller.signal }),
    )
    const pid = await poll(async () => {
      const text = await readFile(pidFile, 'utf8')
      return text.endsWith('\n') ? Number(text) : undefined
    }, 'pid file written')
    assert.equal(alive(pid), true)
    const reason = new TaskFailure('CANCELLED', 'execution cancelled')
    controller.abort(reason)
    await assert.rejects(call, (error: unknown) => error === reason)
    await poll(() => (alive(pid) ? undefined : true), `background sleep ${pid} killed`)
  })

  test('a process group that ignores SIGTERM is killed after the grace period', async () => {
    const stubborn = shell({ killGraceMs: 50 })
    const pidFile = path.join(dir, 'stubborn.pid')
    await failure(
      stubborn({
        command: `trap '' TERM; sleep 30 & echo $! > ${pidFile}; wait; echo survived`,
        timeout_ms: 200,
      }),
      { code: 'TIMEOUT', retriable: true, message: /did not finish within 200 ms/ },
    )
    const pid = Number(await readFile(pidFile, 'utf8'))
    await poll(() => (alive(pid) ? undefined : true), `TERM-ignoring sleep ${pid} killed`)
  })

  test('output beyond the cap is cut: stdout keeps its start, stderr its end', async () => {
    const capped = shell({ maxOutputBytes: 100 })
    const output = await capped({
      command:
        'head -c 1000 /dev/zero | tr "\\0" a; i=0; while [ $i -lt 50 ]; do echo line$i >&2; i=$((i+1)); done',
    })
    assert.equal(output.stdout, 'a'.repeat(100))
    assert.equal(output.stdout_truncated, true)
    assert.equal((output.stderr as string).length, 100)
    assert.ok((output.stderr as string).endsWith('line48\nline49\n'))
    assert.equal(output.stderr_truncated, true)
  })

  test('with an allow-list only listed programs run, and never through a shell', async () => {
    const limited = shell({ allowedCommands: ['echo'] })
    assert.deepEqual(await limited({ command: 'echo', args: ['a;', 'b'] }), {
      stdout: 'a; b\n',
      stderr: '',
      exit_code: 0,
    })
    assert.deepEqual(await limited({ command: 'echo' }), { stdout: '\n', stderr: '', exit_code: 0 })
    await failure(limited({ command: 'echo hi; rm -rf /tmp/x' }), {
      code: 'INVALID_INPUT',
      retriable: false,
      message: /input\.command: expected one of "echo"/,
    })
    const [raw] = createShellActions({ allowedCommands: ['echo'] })
    await failure(raw!.invoke({ command: 'rm', args: ['-rf', '/'] }, createTaskContext()), {
      code: 'COMMAND_NOT_ALLOWED',
      retriable: false,
      message: /shell\.exec may run only echo; give the executable as 'command'/,
    })
  })
})
