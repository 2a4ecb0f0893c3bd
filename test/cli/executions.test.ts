import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { writeFile } from 'node:fs/promises'
import path from 'node:path'
import { after, before, describe, it } from 'node:test'
import { EXAMPLES, executionIdOf, makeTempDir, removeDir, runCli } from './cli-harness.ts'

describe('harmonia executions list and show', () => {
  let dir: string
  let worldId: string
  let adaId: string
  let failedId: string
  before(async () => {
    dir = await makeTempDir()
    const hello = path.join(EXAMPLES, 'hello.yaml')
    const world = await runCli(['run', hello, '--data-dir', 'data'], { cwd: dir })
    assert.equal(world.code, 0, world.stderr)
    worldId = executionIdOf(world.stdout)
    const ada = await runCli(['run', hello, '--data-dir', 'data', '-i', 'name=Ada'], { cwd: dir })
    assert.equal(ada.code, 0, ada.stderr)
    adaId = executionIdOf(ada.stdout)
    await writeFile(
      path.join(dir, 'fails.yaml'),
      [
        'name: fails',
        'tasks:',
        '  ok: { component: core, action: echo, input: { v: 1 } }',
        '  boom:',
        '    component: core',
        '    action: fail',
        '    depends_on: [ok]',
        '    input: { code: BOOM, message: it broke, retriable: true }',
        '    retry: { max_attempts: 2, initial_delay_ms: 10 }',
      ].join('\n'),
    )
    const failed = await runCli(['run', 'fails.yaml', '--data-dir', 'data'], { cwd: dir })
    assert.equal(failed.code, 1, failed.stderr)
    failedId = executionIdOf(failed.stdout)
  })
  after(() => removeDir(dir))

  it('lists executions newest first in a table', async () => {
    const result = await runCli(['executions', 'list', '--data-dir', 'data'], { cwd: dir })
    assert.equal(result.code, 0, result.stderr)
    const lines = result.stdout.trimEnd().split('\n')
    assert.match(lines[0]!, /^EXECUTION +WORKFLOW +STATUS +TASKS +CREATED +DURATION$/)
    assert.equal(lines.length, 4)
    // TASKS counts the tasks that completed (or were skipped): the failed one is not among them.
    assert.match(lines[1]!, new RegExp(`^${failedId} +fails +failed +1/2 `))
    assert.match(lines[2]!, new RegExp(`^${adaId} +hello +completed +1/1 `))
    assert.match(lines[3]!, new RegExp(`^${worldId} +hello +completed +1/1 `))
  })

  it('filters by status and workflow, limits, and says when there are more', async () => {
    const failed = await runCli(['executions', 'list', '--data-dir', 'data', '--status', 'failed'], {
      cwd: dir,
    })
    assert.equal(failed.code, 0)
    assert.equal(failed.stdout.trimEnd().split('\n').length, 2)
    assert.match(failed.stdout, new RegExp(failedId))

    const hello = await runCli(['executions', 'list', '--data-dir', 'data', '--workflow', 'hello'], {
      cwd: dir,
    })
    assert.equal(hello.stdout.trimEnd().split('\n').length, 3)
    assert.doesNotMatch(hello.stdout, new RegExp(failedId))

    const limited = await runCli(['executions', 'list', '--data-dir', 'data', '--limit', '1'], { cwd: dir })
    const lines = limited.stdout.trimEnd().split('\n')
    assert.equal(lines.length, 3)
    assert.equal(lines[2], '(1 of 3; use --limit to see more)')
  })

  it('lists as JSON with --json', async () => {
    const result = await runCli(
      ['executions', 'list', '--data-dir', 'data', '--json', '--status', 'completed'],
      {
        cwd: dir,
      },
    )
    assert.equal(result.code, 0)
    const page = JSON.parse(result.stdout) as {
      items: Array<{ execution_id: string; status: string }>
      total: number
      page: number
      limit: number
    }
    assert.equal(page.total, 2)
    assert.equal(page.page, 1)
    assert.equal(page.limit, 20)
    assert.deepEqual(page.items.map((item) => item.execution_id).sort(), [adaId, worldId].sort())
  })

  it('rejects a bad status or limit with exit 2', async () => {
    const status = await runCli(['executions', 'list', '--data-dir', 'data', '--status', 'done'], {
      cwd: dir,
    })
    assert.equal(status.code, 2)
    assert.match(
      status.stderr,
      /^error: --status 'done' is not a status; expected one or more \(comma-separated\) of pending, running/m,
    )
    const limit = await runCli(['executions', 'list', '--data-dir', 'data', '--limit', '0'], { cwd: dir })
    assert.equal(limit.code, 2)
    assert.match(limit.stderr, /^error: --limit '0' is not a whole number from 1 to 1000/m)
  })

  it('shows an execution: status, timings, tasks with attempts and errors', async () => {
    const result = await runCli(['executions', 'show', failedId, '--data-dir', 'data'], { cwd: dir })
    assert.equal(result.code, 0, result.stderr)
    const out = result.stdout
    assert.match(out, new RegExp(`^execution  ${failedId}$`, 'm'))
    assert.match(out, /^workflow {3}fails \(inline:fails\)$/m)
    assert.match(out, /^status {5}failed$/m)
    assert.match(out, /^started {4}\d{4}-\d\d-\d\dT/m)
    assert.match(out, /^duration {3}\d/m)
    assert.match(out, /^tasks {6}2 \(1 completed, 1 failed\)$/m)
    assert.match(out, /^error {6}BOOM: task 'boom' failed: it broke$/m)
    assert.match(out, /^TASK +STATUS +ATTEMPTS +DURATION +ERROR$/m)
    assert.match(out, /^ok +completed +1 +\d+ ms$/m)
    assert.match(out, /^boom +failed +2 +.+BOOM: it broke$/m)

    const completed = await runCli(['executions', 'show', adaId, '--data-dir', 'data'], { cwd: dir })
    assert.match(completed.stdout, /output:\n\{\n {2}"greeting": "Hello, Ada!",\n {2}"letters": 3\n\}\n$/)
  })

  it('shows an execution as JSON with --json', async () => {
    const result = await runCli(['executions', 'show', adaId, '--data-dir', 'data', '--json'], { cwd: dir })
    assert.equal(result.code, 0)
    const report = JSON.parse(result.stdout) as Record<string, unknown>
    assert.equal(report['execution_id'], adaId)
    assert.equal(report['status'], 'completed')
    assert.deepEqual(report['input'], { name: 'Ada' })
    assert.deepEqual(report['output'], { greeting: 'Hello, Ada!', letters: 3 })
    assert.deepEqual(report['progress'], { completed_tasks: 1, total_tasks: 1 })
    assert.equal((report['tasks'] as Record<string, { attempts: number }>)['greet']!.attempts, 1)
  })

  it('exits 1 for an unknown execution', async () => {
    const result = await runCli(['executions', 'show', 'exec-nope', '--data-dir', 'data'], { cwd: dir })
    assert.equal(result.code, 1)
    assert.equal(result.stderr, "error: Execution with ID 'exec-nope' not found\n")
  })

  it('finds nothing, and creates nothing, where there is no data dir', async () => {
    const list = await runCli(['executions', 'list', '--data-dir', 'empty'], { cwd: dir })
    assert.equal(list.code, 0)
    assert.equal(list.stdout, 'no executions\n')
    const resume = await runCli(['resume', '--data-dir', 'empty'], { cwd: dir })
    assert.equal(resume.code, 0)
    assert.match(resume.stderr, /^nothing to resume: no data in empty yet$/m)
    assert.ok(!existsSync(path.join(dir, 'empty')))
  })

  it('has nothing to resume when every execution is finished', async () => {
    const result = await runCli(['resume', '--data-dir', 'data'], { cwd: dir })
    assert.equal(result.code, 0)
    assert.equal(result.stderr, 'nothing to resume: no execution is unfinished\n')
    const finished = await runCli(['resume', failedId, '--data-dir', 'data'], { cwd: dir })
    assert.equal(finished.code, 1)
    assert.match(
      finished.stderr,
      new RegExp(`^execution ${failedId} is already failed; nothing to resume$`, 'm'),
    )
  })
})
