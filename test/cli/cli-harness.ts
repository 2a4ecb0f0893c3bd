/**
 * Test support for the CLI: spawns the real `harmonia` command (bin/harmonia.js on this Node) in a temp
 * working directory, collects its output, and waits for lines or its end with deadlines that report what
 * was seen. Plus a small HTTP server on 127.0.0.1 that records each request.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
export const BIN = path.join(REPO_ROOT, 'bin/harmonia.js')
export const EXAMPLES = path.join(REPO_ROOT, 'examples')

export interface CliResult {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
}

export interface RunningCli {
  readonly child: ChildProcess
  /** Output so far. */
  readonly stdout: () => string
  readonly stderr: () => string
  /** Resolves with the first stdout (or stderr) line matching `pattern`; rejects at the deadline with the output. */
  waitForLine(
    pattern: RegExp,
    options?: { stream?: 'stdout' | 'stderr'; timeoutMs?: number },
  ): Promise<string>
  /** Resolves when the process has ended. */
  readonly done: Promise<CliResult>
}

/** Environment for the child: no HARMONIA_* from the developer's shell, no colors. */
export function cliEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {}
  for (const [key, value] of Object.entries(process.env)) {
    if (
      value !== undefined &&
      !key.startsWith('HARMONIA_') &&
      key !== 'NODE_OPTIONS' &&
      !key.startsWith('NODE_TEST')
    )
      env[key] = value
  }
  return { ...env, NO_COLOR: '1', ...extra }
}

export function startCli(
  args: readonly string[],
  options: { cwd: string; env?: Record<string, string> },
): RunningCli {
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd: options.cwd,
    env: options.env ?? cliEnv(),
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stdout = ''
  let stderr = ''
  const listeners = new Set<() => void>()
  const changed = (): void => {
    for (const listener of [...listeners]) listener()
  }
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk
    changed()
  })
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk
    changed()
  })
  const done = new Promise<CliResult>((resolve, reject) => {
    child.on('error', reject)
    child.on('close', (code, signal) => {
      changed()
      resolve({ code, signal, stdout, stderr })
    })
  })
  let ended = false
  void done.then(() => {
    ended = true
    changed()
  })
  return {
    child,
    stdout: () => stdout,
    stderr: () => stderr,
    done,
    waitForLine(pattern, { stream = 'stdout', timeoutMs = 20_000 } = {}) {
      return new Promise((resolve, reject) => {
        const check = (): boolean => {
          const text = stream === 'stdout' ? stdout : stderr
          const line = text.split('\n').find((candidate) => pattern.test(candidate))
          if (line !== undefined) {
            finish()
            resolve(line)
            return true
          }
          if (ended) {
            finish()
            reject(
              new Error(`the CLI ended before printing ${pattern}\nstdout:\n${stdout}\nstderr:\n${stderr}`),
            )
            return true
          }
          return false
        }
        const timer = setTimeout(() => {
          finish()
          reject(
            new Error(
              `no line matching ${pattern} within ${timeoutMs} ms\nstdout:\n${stdout}\nstderr:\n${stderr}`,
            ),
          )
        }, timeoutMs)
        const listener = (): void => void check()
        const finish = (): void => {
          clearTimeout(timer)
          listeners.delete(listener)
        }
        listeners.add(listener)
        check()
      })
    },
  }
}

/** Runs the CLI to its end (killed after `timeoutMs`, which fails the test with the output so far). */
export async function runCli(
  args: readonly string[],
  options: { cwd: string; env?: Record<string, string>; timeoutMs?: number },
): Promise<CliResult> {
  const cli = startCli(args, options)
  const timeoutMs = options.timeoutMs ?? 30_000
  let timer: NodeJS.Timeout | undefined
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      cli.child.kill('SIGKILL')
      reject(
        new Error(
          `harmonia ${args.join(' ')} did not end within ${timeoutMs} ms\nstdout:\n${cli.stdout()}\nstderr:\n${cli.stderr()}`,
        ),
      )
    }, timeoutMs)
  })
  try {
    return await Promise.race([cli.done, deadline])
  } finally {
    clearTimeout(timer)
  }
}

export async function makeTempDir(prefix = 'harmonia-cli-'): Promise<string> {
  return mkdtemp(path.join(tmpdir(), prefix))
}

export async function removeDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true })
}

export interface RecordedRequest {
  method: string
  path: string
  idempotencyKey: string | undefined
}

export interface RecordingServer {
  readonly url: string
  readonly requests: RecordedRequest[]
  /** Requests whose path is `path`. */
  calls(path: string): RecordedRequest[]
  /** Resolves once `count` requests to `path` have arrived; rejects at the deadline with what arrived. */
  waitForCalls(path: string, count: number, timeoutMs?: number): Promise<void>
  close(): Promise<void>
}

/**
 * An HTTP server on 127.0.0.1 that records every request (method, path, Idempotency-Key) and answers with
 * `respond` (default: 200 `{"ok": true, "path": ...}`). A `respond` that returns 'hold' leaves the request
 * unanswered until the server closes.
 */
export async function startRecordingServer(
  respond?: (request: RecordedRequest, res: ServerResponse) => 'hold' | void,
): Promise<RecordingServer> {
  const requests: RecordedRequest[] = []
  const waiters = new Set<() => void>()
  const held = new Set<ServerResponse>()
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    req.resume()
    req.on('end', () => {
      const recorded: RecordedRequest = {
        method: req.method ?? 'GET',
        path: new URL(req.url ?? '/', 'http://localhost').pathname,
        idempotencyKey: req.headers['idempotency-key'] as string | undefined,
      }
      requests.push(recorded)
      for (const waiter of [...waiters]) waiter()
      if (respond?.(recorded, res) === 'hold') {
        held.add(res)
        res.on('close', () => held.delete(res))
        return
      }
      if (!res.headersSent) {
        res.writeHead(200, { 'content-type': 'application/json' })
        res.end(JSON.stringify({ ok: true, path: recorded.path, count: requests.length }))
      }
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  const calls = (p: string): RecordedRequest[] => requests.filter((request) => request.path === p)
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    calls,
    waitForCalls(p, count, timeoutMs = 20_000) {
      return new Promise((resolve, reject) => {
        const check = (): void => {
          if (calls(p).length >= count) {
            clearTimeout(timer)
            waiters.delete(check)
            resolve()
          }
        }
        const timer = setTimeout(() => {
          waiters.delete(check)
          reject(new Error(`${p} was called ${calls(p).length} times, not ${count}, within ${timeoutMs} ms`))
        }, timeoutMs)
        waiters.add(check)
        check()
      })
    },
    async close() {
      for (const res of held) res.destroy()
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}

/** The pretty JSON a command printed after its progress lines (from the first line that opens an object). */
export function trailingJson(stdout: string): unknown {
  const start = stdout.startsWith('{') ? 0 : stdout.indexOf('\n{') + 1
  if (start === 0 && !stdout.startsWith('{')) throw new Error(`no JSON object in stdout:\n${stdout}`)
  return JSON.parse(stdout.slice(start))
}

/** The execution id a plain `run` printed in its first progress line. */
export function executionIdOf(stdout: string): string {
  const match = /execution (exec-[0-9a-f-]+) started/.exec(stdout)
  if (match === null) throw new Error(`no execution id in stdout:\n${stdout}`)
  return match[1]!
}
