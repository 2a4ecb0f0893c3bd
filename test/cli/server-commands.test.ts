/**
 * `harmonia workflows ...` and `harmonia executions ...` against a real server: the CLI runs as a child
 * process (bin/harmonia.js) and talks to buildApp listening on 127.0.0.1:0 with the memory store, the
 * `probe` component and API keys.
 */
import assert from 'node:assert/strict'
import { writeFile } from 'node:fs/promises'
import path from 'node:path'
import { after, before, describe, it } from 'node:test'
import { HarmoniaClient } from '../../src/client/index.ts'
import { gatedWorkflow, startTestServer, twoTaskWorkflow, type TestServer } from '../api/support.ts'
import { cliEnv, makeTempDir, removeDir, runCli, startCli } from './cli-harness.ts'

const ADMIN_KEY = 'cli-admin-key-0123456789'

let server: TestServer
let client: HarmoniaClient
let dir: string
/** The environment that points the CLI at the test server. */
let env: Record<string, string>

before(async () => {
  server = await startTestServer({
    listen: true,
    flags: { server: { apiKeys: [{ key: ADMIN_KEY, scope: 'admin', name: 'cli' }] } },
  })
  client = new HarmoniaClient({ baseUrl: server.baseUrl, apiKey: ADMIN_KEY })
  dir = await makeTempDir()
  env = cliEnv({ HARMONIA_URL: server.baseUrl, HARMONIA_API_KEY: ADMIN_KEY })
})
after(async () => {
  await server.close()
  await removeDir(dir)
})

const run = (args: string[], extraEnv: Record<string, string> = env) =>
  runCli(args, { cwd: dir, env: extraEnv })

const failingWorkflow = {
  name: 'failing_flow',
  tasks: {
    ok: { name: 'ok', component: 'probe', action: 'echo', input: { fine: true } },
    broken: {
      name: 'broken',
      component: 'probe',
      action: 'fail',
      input: { code: 'BROKEN' },
      depends_on: ['ok'],
    },
  },
}

describe('harmonia workflows', () => {
  it('creates from a YAML file, lists, gets and deletes', async () => {
    const file = path.join(dir, 'hello.yaml')
    await writeFile(
      file,
      [
        'name: cli_hello',
        'tasks:',
        '  greet: { name: greet, component: probe, action: echo, input: { who: "${workflow.input.who}" } }',
        'output: { who: "${tasks.greet.output.who}" }',
        '',
      ].join('\n'),
    )
    const created = await run(['workflows', 'create', '-f', 'hello.yaml'])
    assert.equal(created.code, 0, created.stderr)
    const match = /^workflow (\S+) created: cli_hello \(revision 1, 1 tasks\)\n$/.exec(created.stdout)
    assert.ok(match, created.stdout)
    const workflowId = match[1]!

    const listed = await run(['workflows', 'list'])
    assert.equal(listed.code, 0, listed.stderr)
    assert.match(listed.stdout, /^WORKFLOW\s+NAME\s+REVISION\s+STATUS\s+TASKS\s+UPDATED\n/)
    assert.match(listed.stdout, new RegExp(`^${workflowId}\\s+cli_hello\\s+1\\s+published\\s+1\\s`, 'm'))

    const page = await run(['workflows', 'list', '--json', '--search', 'cli_hello'])
    assert.equal(JSON.parse(page.stdout).total, 1)

    const got = await run(['workflows', 'get', workflowId])
    assert.equal(got.code, 0, got.stderr)
    assert.deepEqual(JSON.parse(got.stdout), await client.workflows.get(workflowId))

    const deleted = await run(['workflows', 'delete', workflowId])
    assert.equal(deleted.code, 0, deleted.stderr)
    assert.equal(deleted.stdout, `workflow ${workflowId} deleted\n`)

    const gone = await run(['workflows', 'get', workflowId])
    assert.equal(gone.code, 1)
    assert.equal(gone.stdout, '')
    assert.equal(gone.stderr, `error: Workflow with ID '${workflowId}' not found\n`)
  })

  it('lists every problem of an invalid definition and exits 2', async () => {
    await writeFile(
      path.join(dir, 'bad.json'),
      JSON.stringify({
        name: 'bad_flow',
        tasks: { a: { name: 'a', component: 'probe', action: 'echo', depends_on: ['ghost'] } },
      }),
    )
    const result = await run(['workflows', 'create', '--file', 'bad.json'])
    assert.equal(result.code, 2)
    assert.equal(result.stdout, '')
    assert.match(result.stderr, /^error: .*bad_flow.*\n {2}- task 'a', depends_on\[0\]: .*ghost/)
  })

  it('names the problem when the key is missing or the server is unreachable', async () => {
    const noKey = await run(['workflows', 'list'], cliEnv({ HARMONIA_URL: server.baseUrl }))
    assert.equal(noKey.code, 1)
    assert.equal(
      noKey.stderr,
      'error: an API key is required: send X-API-Key or Authorization: Bearer <key>\n' +
        '  pass a key with --api-key <key> or HARMONIA_API_KEY\n',
    )
    const flagKey = await run(
      ['workflows', 'list', '--api-key', ADMIN_KEY],
      cliEnv({ HARMONIA_URL: server.baseUrl }),
    )
    assert.equal(flagKey.code, 0, flagKey.stderr)

    const offline = await run(['workflows', 'list', '--server', 'http://127.0.0.1:9'], env)
    assert.equal(offline.code, 1)
    assert.match(offline.stderr, /^error: GET \/api\/v1\/workflows: cannot reach http:\/\/127\.0\.0\.1:9: /)
    assert.match(offline.stderr, /is 'harmonia serve' running at http:\/\/127\.0\.0\.1:9\?/)
  })
})

describe('harmonia executions on a server', () => {
  it('starts with --watch: progress lines, the output, exit 0', async () => {
    const workflow = await client.workflows.create(twoTaskWorkflow)
    const result = await run(['executions', 'start', workflow.workflow_id, '--input', 'value=Ada', '--watch'])
    assert.equal(result.code, 0, result.stderr)
    const lines = result.stdout.split('\n')
    assert.match(lines[0]!, /^\d\d:\d\d:\d\d execution \S+ started: two_steps \(2 tasks\)$/)
    assert.ok(
      lines.some((line) => / task first completed in /.test(line)),
      result.stdout,
    )
    assert.ok(
      lines.some((line) => / execution completed in /.test(line)),
      result.stdout,
    )
    assert.ok(result.stdout.endsWith('{\n  "result": "Ada"\n}\n'), result.stdout)
  })

  it('keeps --input text for a field the workflow declares a string', async () => {
    const workflow = await client.workflows.create({
      name: 'typed_input',
      input: { version: { type: 'string' }, replicas: { type: 'integer' } },
      tasks: {
        show: {
          name: 'show',
          component: 'core',
          action: 'echo',
          input: { version: '${workflow.input.version}', replicas: '${workflow.input.replicas}' },
        },
      },
      output: { version: '${tasks.show.output.version}', replicas: '${tasks.show.output.replicas}' },
    })
    const result = await run([
      'executions',
      'start',
      workflow.workflow_id,
      '-i',
      'version=2.0',
      '-i',
      'replicas=3',
      '--watch',
      '--json',
    ])
    assert.equal(result.code, 0, result.stderr)
    const done = JSON.parse(result.stdout) as { output: unknown }
    assert.deepEqual(done.output, { version: '2.0', replicas: 3 })
  })

  it('starts with --watch --json: only the final execution on stdout', async () => {
    const workflow = await client.workflows.create(twoTaskWorkflow)
    await writeFile(path.join(dir, 'input.json'), JSON.stringify({ value: 'from file' }))
    const result = await run([
      'executions',
      'start',
      workflow.workflow_id,
      '--input-file',
      'input.json',
      '--watch',
      '--json',
    ])
    assert.equal(result.code, 0, result.stderr)
    const detail = JSON.parse(result.stdout)
    assert.equal(detail.status, 'completed')
    assert.deepEqual(detail.output, { result: 'from file' })
    assert.equal(detail.task_status.second.status, 'completed')
  })

  it('exits 1 with the failed task when the watched execution fails', async () => {
    const workflow = await client.workflows.create(failingWorkflow)
    const result = await run(['executions', 'start', workflow.workflow_id, '-w'])
    assert.equal(result.code, 1)
    assert.match(result.stdout, / task broken failed after 1 attempt: BROKEN: planned failure \(BROKEN\)/)
    assert.match(
      result.stderr,
      /^error: execution \S+ failed: .*\n {2}- task 'broken': BROKEN: planned failure \(BROKEN\)\n$/,
    )
  })

  it('starts without waiting, then gets, lists and shows it (list and show ask the named server)', async () => {
    const workflow = await client.workflows.create(twoTaskWorkflow)
    const started = await run([
      'executions',
      'start',
      workflow.workflow_id,
      '--json',
      '--idempotency-key',
      'cli-1',
    ])
    assert.equal(started.code, 0, started.stderr)
    const execution = JSON.parse(started.stdout)
    assert.equal(execution.workflow_id, workflow.workflow_id)
    const again = await run(['executions', 'start', workflow.workflow_id, '--idempotency-key', 'cli-1'])
    assert.match(again.stdout, new RegExp(`^execution ${execution.execution_id} started: two_steps`))
    await client.waitForExecution(execution.execution_id)

    const got = await run(['executions', 'get', execution.execution_id])
    assert.equal(got.code, 0, got.stderr)
    assert.match(
      got.stdout,
      new RegExp(
        `^execution {2}${execution.execution_id}\nworkflow {3}two_steps \\(${workflow.workflow_id}\\)\nstatus {5}completed\n`,
      ),
    )
    assert.match(got.stdout, /^first +completed +1 /m)
    assert.ok(got.stdout.endsWith('output:\n{\n  "result": "hello"\n}\n'), got.stdout)

    const shown = await run(['executions', 'show', execution.execution_id])
    assert.equal(shown.stdout, got.stdout)

    const listed = await run([
      'executions',
      'list',
      '--workflow',
      workflow.workflow_id,
      '--status',
      'completed',
    ])
    assert.equal(listed.code, 0, listed.stderr)
    assert.match(
      listed.stdout,
      new RegExp(`^${execution.execution_id}\\s+two_steps\\s+completed\\s+2/2\\s`, 'm'),
    )

    const flags = await run(
      ['executions', 'list', '--server', server.baseUrl, '--api-key', ADMIN_KEY, '--json', '--limit', '1'],
      cliEnv(),
    )
    assert.equal(flags.code, 0, flags.stderr)
    assert.equal(JSON.parse(flags.stdout).limit, 1)

    const badStatus = await run(['executions', 'list', '--status', 'sleeping'])
    assert.equal(badStatus.code, 2)
    assert.match(badStatus.stderr, /^error: status 'sleeping' is not an execution status/)
  })

  it('pauses, resumes, cancels, watches to the end (exit 1) and reruns with --watch (exit 0)', async () => {
    const gate = server.probe.gate('cli')
    const workflow = await client.workflows.create(gatedWorkflow('cli'))
    const execution = await client.executions.start({ workflow_id: workflow.workflow_id })
    const id = execution.execution_id
    await gate.entered

    const paused = await run(['executions', 'pause', id])
    assert.equal(paused.stdout, `execution ${id}: paused\n`)
    const resumed = await run(['executions', 'resume', id])
    assert.equal(resumed.stdout, `execution ${id}: running\n`)

    const watching = startCli(['executions', 'watch', id], { cwd: dir, env })
    await watching.waitForLine(/ task hold started$/)
    const cancelled = await run(['executions', 'cancel', id, '--reason', 'from the CLI'])
    assert.equal(cancelled.stdout, `execution ${id}: cancelling\n`)
    const watched = await watching.done
    assert.equal(watched.code, 1)
    assert.match(watched.stdout, / execution cancelled/)
    assert.match(watched.stderr, new RegExp(`^error: execution ${id} cancelled`))

    const late = await run(['executions', 'cancel', id])
    assert.equal(late.code, 1)
    assert.equal(late.stderr, `error: cannot cancel execution '${id}': it is already cancelled\n`)

    const second = server.probe.gate('cli')
    const rerun = startCli(['executions', 'rerun', id, '--watch'], { cwd: dir, env })
    await second.entered
    second.release()
    const rerunResult = await rerun.done
    assert.equal(rerunResult.code, 0, rerunResult.stderr)
    assert.match(rerunResult.stdout, / task after completed in /)
    assert.equal((await client.executions.get(id)).status, 'completed')

    const deleted = await run(['executions', 'delete', id])
    assert.equal(deleted.code, 0, deleted.stderr)
    assert.equal(deleted.stdout, `execution ${id} deleted\n`)
    const gone = await run(['executions', 'get', id])
    assert.equal(gone.code, 1)
    assert.equal(gone.stderr, `error: Execution with ID '${id}' not found\n`)

    const neither = await run(['executions', 'prune'])
    assert.equal(neither.code, 2)
    assert.equal(
      neither.stderr,
      'error: give exactly one of --older-than-days <n> or --finished-before <ISO time>\n',
    )
    const badDays = await run(['executions', 'prune', '--older-than-days', 'soon'])
    assert.equal(badDays.code, 2)
    assert.match(badDays.stderr, /--older-than-days 'soon' is not a number of days >= 0/)
    const finished = await client.executions.start({ workflow_id: workflow.workflow_id })
    second.release()
    await client.waitForExecution(finished.execution_id)
    const pruned = await run([
      'executions',
      'prune',
      '--finished-before',
      new Date(Date.now() + 60_000).toISOString(),
    ])
    assert.equal(pruned.code, 0, pruned.stderr)
    assert.match(pruned.stdout, /^[1-9]\d* finished execution\(s\) deleted \(finished before /)
    assert.equal((await run(['executions', 'get', finished.execution_id])).code, 1)
  })

  it('stops watching on Ctrl-C with exit 130 while the execution goes on', async () => {
    const gate = server.probe.gate('interrupt')
    const workflow = await client.workflows.create(gatedWorkflow('interrupt'))
    const execution = await client.executions.start({ workflow_id: workflow.workflow_id })
    await gate.entered
    const watching = startCli(['executions', 'watch', execution.execution_id], { cwd: dir, env })
    await watching.waitForLine(/ task hold started$/)
    watching.child.kill('SIGINT')
    const result = await watching.done
    assert.equal(result.code, 130)
    assert.equal(
      result.stderr,
      `stopped watching; execution ${execution.execution_id} goes on (watch it again with: harmonia executions watch ${execution.execution_id})\n`,
    )
    assert.equal((await client.executions.get(execution.execution_id)).status, 'running')
    gate.release()
    assert.equal((await client.waitForExecution(execution.execution_id)).status, 'completed')
  })

  it('refuses a bad --input before asking the server, and names an unknown execution', async () => {
    const before = (await client.executions.list()).total
    const bad = await run(['executions', 'start', 'wf-any', '--input', 'novalue'])
    assert.equal(bad.code, 2)
    assert.equal(
      bad.stderr,
      "error: --input 'novalue' is not key=value (for example --input name=Ada or --input retries=3)\n",
    )
    assert.equal((await client.executions.list()).total, before)

    const unknown = await run(['executions', 'watch', 'exec-unknown'])
    assert.equal(unknown.code, 1)
    assert.equal(unknown.stderr, "error: Execution with ID 'exec-unknown' not found\n")
  })
})
