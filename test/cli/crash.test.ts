/**
 * The crash test of the acceptance: `harmonia run` on a chain of HTTP calls to a counter on 127.0.0.1 is
 * killed with SIGKILL in the middle, then `harmonia resume` finishes it. Every task that had completed
 * before the kill was called exactly once in total, the interrupted one at most twice, and every call of a
 * task carried the same idempotency key `<execution_id>:<task>`.
 */
import assert from 'node:assert/strict'
import { writeFile } from 'node:fs/promises'
import path from 'node:path'
import { after, before, beforeEach, describe, it } from 'node:test'
import {
  executionIdOf,
  makeTempDir,
  removeDir,
  runCli,
  startCli,
  startRecordingServer,
  trailingJson,
  type RecordingServer,
} from './cli-harness.ts'

const CHAIN = ['a', 'pause1', 'b', 'pause2', 'c']
const HTTP_TASKS = ['a', 'b', 'c']

const workflow = (pause1Ms: number): string =>
  [
    'name: crash-chain',
    'input:',
    '  base: { type: string }',
    'tasks:',
    '  a: { component: http, action: request, input: { method: POST, url: "${workflow.input.base}/a" } }',
    `  pause1: { component: core, action: delay, depends_on: [a], input: { ms: ${pause1Ms} } }`,
    '  b: { component: http, action: request, depends_on: [pause1], input: { method: POST, url: "${workflow.input.base}/b" } }',
    '  pause2: { component: core, action: delay, depends_on: [b], input: { ms: 50 } }',
    '  c: { component: http, action: request, depends_on: [pause2], input: { method: POST, url: "${workflow.input.base}/c" } }',
    'output:',
    '  paths: ["${tasks.a.output.body.path}", "${tasks.b.output.body.path}", "${tasks.c.output.body.path}"]',
  ].join('\n')

describe('crash and resume', () => {
  let dir: string
  let server: RecordingServer
  /** While true, the counter never answers a call to /b (the run is killed while waiting for it). */
  let holdB = false

  before(async () => {
    server = await startRecordingServer((request) => (request.path === '/b' && holdB ? 'hold' : undefined))
  })
  after(() => server.close())
  const dirs: string[] = []
  beforeEach(async () => {
    dir = await makeTempDir()
    dirs.push(dir)
    server.requests.length = 0
    holdB = false
  })
  after(async () => {
    for (const made of dirs) await removeDir(made)
  })

  /** Runs the chain, kills it with SIGKILL once `killPoint` resolves, resumes, and checks exactly-once. */
  async function crashAndResume(
    pause1Ms: number,
    killPoint: (cli: ReturnType<typeof startCli>) => Promise<void>,
  ) {
    await writeFile(path.join(dir, 'chain.yaml'), workflow(pause1Ms))
    const cli = startCli(['run', 'chain.yaml', '--data-dir', 'data', '--input', `base=${server.url}`], {
      cwd: dir,
    })
    await killPoint(cli)
    cli.child.kill('SIGKILL')
    const killed = await cli.done
    assert.equal(killed.signal, 'SIGKILL')
    const executionId = executionIdOf(killed.stdout)
    // What the killed run had announced as completed (it prints a line only after the commit).
    const completedBeforeKill = CHAIN.filter((task) =>
      new RegExp(`task ${task} completed`).test(killed.stdout),
    )
    const callsBeforeKill = Object.fromEntries(
      HTTP_TASKS.map((task) => [task, server.calls(`/${task}`).length]),
    )
    holdB = false

    const resumed = await runCli(['resume', '--data-dir', 'data'], { cwd: dir })
    assert.equal(resumed.code, 0, `resume failed:\n${resumed.stdout}\n${resumed.stderr}`)
    assert.match(
      resumed.stdout,
      new RegExp(
        `resuming execution ${executionId}: crash-chain \\(${completedBeforeKill.length}/5 tasks done\\)`,
      ),
    )
    assert.deepEqual(trailingJson(resumed.stdout), { paths: ['/a', '/b', '/c'] })
    for (const task of completedBeforeKill) {
      assert.doesNotMatch(
        resumed.stdout,
        new RegExp(`task ${task} (started|completed)`),
        `${task} is not run again`,
      )
    }

    for (const task of HTTP_TASKS) {
      const calls = server.calls(`/${task}`)
      if (completedBeforeKill.includes(task)) {
        assert.equal(calls.length, 1, `${task} completed before the kill: called exactly once in total`)
      } else if (callsBeforeKill[task]! > 0) {
        assert.ok(calls.length <= 2, `${task} was interrupted: called at most twice, got ${calls.length}`)
      } else {
        assert.equal(calls.length, 1, `${task} ran only after the resume: called once`)
      }
      for (const call of calls) assert.equal(call.idempotencyKey, `${executionId}:${task}`, `key of ${task}`)
    }

    const shown = await runCli(['executions', 'show', executionId, '--data-dir', 'data', '--json'], {
      cwd: dir,
    })
    const report = JSON.parse(shown.stdout) as { status: string; tasks: Record<string, { status: string }> }
    assert.equal(report.status, 'completed')
    for (const task of CHAIN) assert.equal(report.tasks[task]!.status, 'completed', task)
    return { completedBeforeKill, callsBeforeKill }
  }

  it('killed while task b is in flight: a once, b at most twice with the same key, c once', async () => {
    holdB = true
    const { completedBeforeKill, callsBeforeKill } = await crashAndResume(50, async () => {
      await server.waitForCalls('/b', 1)
    })
    assert.deepEqual(completedBeforeKill, ['a', 'pause1'])
    assert.deepEqual(callsBeforeKill, { a: 1, b: 1, c: 0 })
    assert.equal(server.calls('/b').length, 2, 'the interrupted call is made again, with the same key')
  })

  it('killed inside a delay: the delay resumes, nothing completed is called again', async () => {
    const { completedBeforeKill, callsBeforeKill } = await crashAndResume(1500, async (cli) => {
      await cli.waitForLine(/task pause1 started/)
    })
    assert.deepEqual(completedBeforeKill, ['a'])
    assert.deepEqual(callsBeforeKill, { a: 1, b: 0, c: 0 })
  })
})
