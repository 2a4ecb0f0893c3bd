/**
 * HTTP figures (issue 3), one JSON line per figure: executions started per second through
 * `POST /api/v1/executions` (a one-task workflow) and `GET /api/v1/executions/{id}` throughput, with latency
 * percentiles. The server is a real `harmonia serve` on the embedded SQLite store in a child process; the
 * load comes from autocannon in this process, over loopback.
 *
 *   npm run bench -- http
 */
import { spawn } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import autocannon from 'autocannon'
import { round, type Figure } from './engine.ts'

const BIN = fileURLToPath(new URL('../bin/harmonia.js', import.meta.url))
const DURATION_SECONDS = Number(process.env['HARMONIA_BENCH_HTTP_SECONDS'] ?? 10)
const CONNECTIONS = 64

async function startServer(): Promise<{ url: string; stop(): Promise<void> }> {
  const dir = await mkdtemp(path.join(tmpdir(), 'harmonia-bench-http-'))
  const env: Record<string, string> = {}
  for (const [key, value] of Object.entries(process.env))
    if (value !== undefined && !key.startsWith('HARMONIA_')) env[key] = value
  const child = spawn(process.execPath, [BIN, 'serve', '--port', '0', '--log-level', 'warn'], {
    cwd: dir,
    env: { ...env, HARMONIA_DATA_DIR: dir },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`harmonia serve did not start:\n${output}`)), 30_000)
    const read = (chunk: Buffer): void => {
      output += chunk.toString()
      const match = /Harmonia listening on (http:\/\/\S+)/.exec(output)
      if (match !== null) {
        clearTimeout(timer)
        resolve(match[1]!)
      }
    }
    child.stdout.on('data', read)
    child.stderr.on('data', read)
    child.once('exit', (code) => reject(new Error(`harmonia serve exited (${code}):\n${output}`)))
  })
  return {
    url,
    async stop() {
      const exited = new Promise((resolve) => child.once('exit', resolve))
      child.kill('SIGTERM')
      await exited
      await rm(dir, { recursive: true, force: true })
    },
  }
}

async function post<T>(url: string, body: unknown): Promise<T> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  })
  if (!response.ok) throw new Error(`POST ${url} answered ${response.status}: ${await response.text()}`)
  return (await response.json()) as T
}

function load(options: autocannon.Options): Promise<autocannon.Result> {
  return new Promise((resolve, reject) => {
    autocannon(options, (error, result) => (error ? reject(error) : resolve(result)))
  })
}

function figure(name: string, result: autocannon.Result, target?: string): Figure {
  const failed = result.errors + result.timeouts + result.non2xx
  return {
    name,
    value: round(result.requests.average, 0),
    unit: 'requests/s',
    latency_ms: {
      p50: result.latency.p50,
      p90: result.latency.p90,
      p99: result.latency.p99,
      max: result.latency.max,
    },
    requests: result.requests.total,
    failed,
    connections: CONNECTIONS,
    seconds: DURATION_SECONDS,
    ...(target === undefined ? {} : { target }),
  }
}

export async function httpFigures(): Promise<Figure[]> {
  const figures: Figure[] = []
  const emit = (f: Figure): void => {
    figures.push(f)
    console.log(JSON.stringify(f))
  }
  const server = await startServer()
  try {
    const api = `${server.url}/api/v1`
    const workflow = await post<{ workflow_id: string }>(`${api}/workflows`, {
      name: 'bench-http',
      tasks: { only: { component: 'core', action: 'echo', input: { x: 1 } } },
    })
    const start = JSON.stringify({ workflow_id: workflow.workflow_id, input: {} })
    emit(
      figure(
        'http_execution_starts',
        await load({
          url: `${api}/executions`,
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: start,
          connections: CONNECTIONS,
          duration: DURATION_SECONDS,
        }),
        '>= 1500 requests/s with p99 < 50 ms',
      ),
    )
    const ids = await Promise.all(
      Array.from(
        { length: 100 },
        async () =>
          (await post<{ execution_id: string }>(`${api}/executions`, JSON.parse(start))).execution_id,
      ),
    )
    emit(
      figure(
        'http_execution_reads',
        await load({
          url: api,
          connections: CONNECTIONS,
          duration: DURATION_SECONDS,
          requests: ids.map((id) => ({ method: 'GET', path: `/api/v1/executions/${id}` })),
        }),
      ),
    )
  } finally {
    await server.stop()
  }
  return figures
}
