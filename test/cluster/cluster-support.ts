/**
 * Several real `harmonia serve` processes on one PostgreSQL schema, and a counter service on 127.0.0.1 that
 * records every call (with its Idempotency-Key) so tests can tell how often a task's effect happened.
 */
import type { ChildProcess } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { cliEnv, startCli } from '../cli/cli-harness.ts'
import { TEST_DATABASE_URL } from '../storage/postgres-support.ts'

export interface ClusterNodeProcess {
  readonly nodeId: string
  readonly url: string
  readonly child: ChildProcess
  output(): string
  /** SIGTERM (or SIGKILL) and wait for the exit. */
  stop(signal?: NodeJS.Signals): Promise<void>
}

export async function startNode(
  schema: string,
  nodeId: string,
  env: Record<string, string> = {},
): Promise<ClusterNodeProcess> {
  const dataDir = await mkdtemp(path.join(tmpdir(), `harmonia-${nodeId}-`))
  const cli = startCli(['serve', '--port', '0', '--log-level', 'warn'], {
    cwd: dataDir,
    env: cliEnv({
      HARMONIA_STORAGE: 'postgres',
      HARMONIA_DATABASE_URL: TEST_DATABASE_URL,
      HARMONIA_DB_SCHEMA: schema,
      HARMONIA_NODE_ID: nodeId,
      HARMONIA_DATA_DIR: dataDir,
      ...env,
    }),
  })
  const output = (): string => `${cli.stdout()}${cli.stderr()}`
  const line = await cli.waitForLine(/^Harmonia listening on http:\/\/\S+$/, { timeoutMs: 30_000 })
  const url = line.slice('Harmonia listening on '.length)
  let stopping = false
  void cli.done.then(({ code, signal }) => {
    if (!stopping) process.stderr.write(`${nodeId} exited unexpectedly (${code ?? signal}):\n${output()}\n`)
  })
  return {
    nodeId,
    url,
    child: cli.child,
    output,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      stopping = true
      if (cli.child.exitCode === null && cli.child.signalCode === null) {
        cli.child.kill(signal)
        const timer = setTimeout(() => cli.child.kill('SIGKILL'), 15_000)
        await cli.done
        clearTimeout(timer)
      }
      await rm(dataDir, { recursive: true, force: true })
    },
  }
}

export async function api<T>(base: string, method: string, route: string, body?: unknown): Promise<T> {
  const response = await fetch(`${base}/api/v1${route}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  }).catch((error: unknown) => {
    throw new Error(`${method} ${base}/api/v1${route}: ${String(error)} (${String((error as Error).cause)})`)
  })
  const text = await response.text()
  if (!response.ok) throw new Error(`${method} ${route} answered ${response.status}: ${text}`)
  return JSON.parse(text) as T
}

export async function getJson<T>(url: string): Promise<T> {
  const response = await fetch(url).catch((error: unknown) => {
    throw new Error(`GET ${url}: ${String(error)} (${String((error as Error).cause)})`)
  })
  const text = await response.text()
  if (!response.ok) throw new Error(`GET ${url} answered ${response.status}: ${text}`)
  return JSON.parse(text) as T
}

export interface CounterCall {
  idempotencyKey: string
  execution: string
  /** The node the workflow names in the body: the one that first resolved the task's input. */
  node: string
  /** When the call arrived (ms since the epoch). */
  at: number
  answered: boolean
}

/** Answers each POST after `delayMs` with the number of calls so far; records the calls. */
export class Counter {
  readonly calls: CounterCall[] = []
  #server: Server | undefined
  url = ''

  readonly delayMs: number

  constructor(delayMs: number) {
    this.delayMs = delayMs
  }

  async start(): Promise<void> {
    this.#server = createServer((request, response) => {
      let body = ''
      request.setEncoding('utf8')
      request.on('data', (chunk: string) => (body += chunk))
      request.on('end', () => {
        let parsed: { execution?: unknown; node?: unknown } = {}
        try {
          parsed = JSON.parse(body) as typeof parsed
        } catch {
          // recorded with an empty execution; the test reports it
        }
        const call: CounterCall = {
          idempotencyKey: String(request.headers['idempotency-key'] ?? ''),
          execution: String(parsed.execution ?? ''),
          node: String(parsed.node ?? ''),
          at: Date.now(),
          answered: false,
        }
        this.calls.push(call)
        const n = this.calls.length
        setTimeout(() => {
          call.answered = true
          response.writeHead(200, { 'content-type': 'application/json' })
          response.end(JSON.stringify({ n }))
        }, this.delayMs)
      })
    })
    await new Promise<void>((resolve) => this.#server!.listen(0, '127.0.0.1', resolve))
    this.url = `http://127.0.0.1:${(this.#server!.address() as AddressInfo).port}/count`
  }

  /** Calls from `node` not answered yet. */
  inFlight(node: string): CounterCall[] {
    return this.calls.filter((call) => call.node === node && !call.answered)
  }

  async stop(): Promise<void> {
    this.#server?.closeAllConnections()
    await new Promise<void>((resolve) => (this.#server ? this.#server.close(() => resolve()) : resolve()))
  }
}
