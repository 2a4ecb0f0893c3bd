/**
 * `harmonia serve` as a child process on SQLite (for crash tests: SIGKILL, then start again on the same
 * data dir), and a small JSON client for it.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'

const BIN = fileURLToPath(new URL('../../bin/harmonia.js', import.meta.url))

export interface Serve {
  child: ChildProcess
  url: string
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
  output: () => string
  kill(): Promise<void>
}

export async function serve(dataDir: string): Promise<Serve> {
  const child = spawn(
    process.execPath,
    [BIN, 'serve', '--port', '0', '--storage', 'sqlite', '--data-dir', dataDir, '--log-level', 'warn'],
    { cwd: dataDir, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, HARMONIA_API_KEYS: '' } },
  )
  let output = ''
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  )
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout!.on('data', (chunk: Buffer) => {
      output += chunk.toString()
      const match = /^Harmonia listening on (http:\/\/\S+)$/m.exec(output)
      if (match !== null) resolve(match[1]!)
    })
    child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()))
    void exited.then(({ code, signal }) =>
      reject(new Error(`harmonia serve exited (${code ?? signal}) before listening:\n${output}`)),
    )
  })
  return {
    child,
    url,
    exited,
    output: () => output,
    async kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
      await exited
    },
  }
}

export interface Json {
  status: number
  body: any // eslint-disable-line @typescript-eslint/no-explicit-any -- tests read arbitrary JSON
}

export async function api(base: string, method: string, route: string, body?: unknown): Promise<Json> {
  const response = await fetch(`${base}${route}`, {
    method,
    ...(body === undefined
      ? {}
      : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
  })
  const text = await response.text()
  return { status: response.status, body: text === '' ? undefined : JSON.parse(text) }
}
