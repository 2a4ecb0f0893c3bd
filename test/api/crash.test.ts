/**
 * Issue 3's crash acceptance: `harmonia serve` on SQLite is killed with SIGKILL while executions run, then
 * started again on the same data dir. Every execution finishes, and no task that had completed before the
 * kill is invoked again (the counter service counts calls per Idempotency-Key). SIGTERM then shuts the
 * server down cleanly with exit code 0.
 */
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { after, before, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { eventually, type Answer } from './support.ts'

const BIN = fileURLToPath(new URL('../../bin/harmonia.js', import.meta.url))
const EXECUTIONS = 6

/** Counts calls per Idempotency-Key; while `holding`, calls to /c get no answer (they are in flight). */
class CounterService {
  readonly counts = new Map<string, number>()
  holding = true
  readonly held: http.ServerResponse[] = []
  readonly server = http.createServer((request, response) => {
    const key = String(request.headers['idempotency-key'] ?? 'none')
    request.resume()
    request.on('end', () => {
      this.counts.set(key, (this.counts.get(key) ?? 0) + 1)
      if (this.holding && request.url === '/c') {
        this.held.push(response)
        return
      }
      response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ ok: true, key }))
    })
  })
  url = ''

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve))
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`
  }

  count(key: string): number {
    return this.counts.get(key) ?? 0
  }

  async stop(): Promise<void> {
    for (const response of this.held) response.destroy()
    this.server.closeAllConnections()
    await new Promise<void>((resolve) => this.server.close(() => resolve()))
  }
}

interface Serve {
  child: ChildProcess
  url: string
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
  output: () => string
}

async function serve(dataDir: string): Promise<Serve> {
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
    const onData = (chunk: Buffer): void => {
      output += chunk.toString()
      const match = /^Harmonia listening on (http:\/\/\S+)$/m.exec(output)
      if (match !== null) resolve(match[1]!)
    }
    child.stdout!.on('data', onData)
    child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()))
    void exited.then(({ code, signal }) =>
      reject(new Error(`harmonia serve exited (${code ?? signal}) before listening:\n${output}`)),
    )
  })
  return { child, url, exited, output: () => output }
}

async function api(
  base: string,
  method: string,
  route: string,
  body?: unknown,
): Promise<Pick<Answer, 'status' | 'body'>> {
  const response = await fetch(`${base}${route}`, {
    method,
    ...(body === undefined
      ? {}
      : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
  })
  return { status: response.status, body: await response.json() }
}

describe('harmonia serve survives kill -9', () => {
  let dir: string
  const counter = new CounterService()
  const children: ChildProcess[] = []
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'harmonia-crash-'))
    await counter.start()
  })
  after(async () => {
    for (const child of children)
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
    await counter.stop()
    await rm(dir, { recursive: true, force: true })
  })

  it('finishes every execution after a restart without invoking a completed task again', async () => {
    const first = await serve(dir)
    children.push(first.child)
    const call = (step: string) => ({
      component: 'http',
      action: 'request',
      input: { method: 'POST', url: `${counter.url}/${step}`, json: { step } },
    })
    const created = await api(first.url, 'POST', '/api/v1/workflows', {
      name: 'crashable',
      tasks: {
        a: { name: 'a', ...call('a') },
        b: { name: 'b', component: 'core', action: 'delay', input: { ms: 50 }, depends_on: ['a'] },
        c: { name: 'c', ...call('c'), depends_on: ['b'] },
        d: { name: 'd', component: 'core', action: 'delay', input: { ms: 50 }, depends_on: ['c'] },
        e: { name: 'e', ...call('e'), depends_on: ['d'] },
      },
    })
    assert.equal(created.status, 201, JSON.stringify(created.body))
    const ids: string[] = []
    for (let i = 0; i < EXECUTIONS; i++) {
      const started = await api(first.url, 'POST', '/api/v1/executions', {
        workflow_id: created.body.workflow_id,
      })
      assert.equal(started.status, 201, JSON.stringify(started.body))
      ids.push(started.body.execution_id)
    }

    // Midway: every execution has completed a and b, and its call to c is in flight.
    await eventually(
      () => ids.filter((id) => counter.count(`${id}:c`) > 0).length,
      (n) => n === EXECUTIONS,
      { what: 'every execution calling c', timeoutMs: 30_000 },
    )
    const completedBeforeKill = new Map<string, Set<string>>()
    for (const id of ids) {
      const events = await api(first.url, 'GET', `/api/v1/executions/${id}/events?limit=1000`)
      completedBeforeKill.set(
        id,
        new Set(
          events.body.items
            .filter((e: { type: string }) => e.type === 'task_completed')
            .map((e: { data: { task: string } }) => e.data.task),
        ),
      )
      assert.ok(completedBeforeKill.get(id)!.has('a'), `execution ${id}: a completed before the kill`)
    }
    first.child.kill('SIGKILL')
    assert.equal((await first.exited).signal, 'SIGKILL')
    counter.holding = false

    const second = await serve(dir)
    children.push(second.child)
    for (const id of ids) {
      const detail = await eventually(
        () => api(second.url, 'GET', `/api/v1/executions/${id}`),
        (answer) => ['completed', 'failed', 'cancelled'].includes(answer.body.status),
        { what: `execution ${id} finished after the restart`, timeoutMs: 30_000 },
      )
      assert.equal(detail.body.status, 'completed', JSON.stringify(detail.body))
      for (const task of ['a', 'b', 'c', 'd', 'e'])
        assert.equal(detail.body.task_status[task].status, 'completed')
      for (const task of completedBeforeKill.get(id)!) {
        if (task === 'a' || task === 'c' || task === 'e') {
          assert.equal(
            counter.count(`${id}:${task}`),
            1,
            `execution ${id}: task ${task} completed before the kill and ran once`,
          )
        }
      }
      assert.equal(counter.count(`${id}:a`), 1)
      assert.equal(counter.count(`${id}:e`), 1)
      assert.ok(counter.count(`${id}:c`) >= 1)
      const events = await api(second.url, 'GET', `/api/v1/executions/${id}/events?limit=1000`)
      const starts = (task: string) =>
        events.body.items.filter(
          (e: { type: string; data: { task?: string } }) => e.type === 'task_started' && e.data.task === task,
        ).length
      for (const task of completedBeforeKill.get(id)!)
        assert.equal(starts(task), 1, `execution ${id}: ${task} started once`)
      const seqs = events.body.items.map((e: { seq: number }) => e.seq)
      assert.deepEqual(
        seqs,
        seqs.map((_: number, i: number) => i + 1),
        'the event history has no gap across the crash',
      )
    }

    second.child.kill('SIGTERM')
    const exit = await second.exited
    assert.equal(exit.code, 0, `graceful shutdown exits 0; output:\n${second.output()}`)
  })
})
