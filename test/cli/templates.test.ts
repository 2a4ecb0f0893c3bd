/**
 * `harmonia templates ...` and `harmonia schedules ...` as a child process against a real server on
 * 127.0.0.1:0: import a Tekton file, list, export to a file, instantiate with parameters (a version, --run),
 * errors naming the parameter; schedules create, list, disable, enable, delete.
 */
import { fileURLToPath } from 'node:url'
import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import path from 'node:path'
import { after, before, describe, it } from 'node:test'
import { HarmoniaClient } from '../../src/client/index.ts'
import { startTestServer, type TestServer } from '../api/support.ts'
import { cliEnv, makeTempDir, removeDir, runCli } from './cli-harness.ts'

const FIXTURE = fileURLToPath(new URL('../fixtures/tekton-templates/bug_fix.json', import.meta.url))

let server: TestServer
let client: HarmoniaClient
let dir: string
let env: Record<string, string>

before(async () => {
  server = await startTestServer({ listen: true })
  client = new HarmoniaClient({ baseUrl: server.baseUrl })
  dir = await makeTempDir()
  env = cliEnv({ HARMONIA_URL: server.baseUrl })
})
after(async () => {
  await server.close()
  await removeDir(dir)
})

const run = (args: string[]) => runCli(args, { cwd: dir, env })

describe('harmonia templates', () => {
  it('imports a Tekton file, lists it, exports it, and instantiates it', async () => {
    const imported = await run(['templates', 'import', FIXTURE, '--json'])
    assert.equal(imported.code, 0, imported.stderr)
    const templateId = (JSON.parse(imported.stdout) as { template_id: string }).template_id

    const list = await run(['templates', 'list', '--tag', 'bug'])
    assert.equal(list.code, 0, list.stderr)
    assert.match(list.stdout, new RegExp(templateId))
    assert.match(list.stdout, /Bug Fix/)

    const exported = await run(['templates', 'export', templateId, '-o', 'bug.json'])
    assert.equal(exported.code, 0, exported.stderr)
    const file = JSON.parse(await readFile(path.join(dir, 'bug.json'), 'utf8')) as { name: string }
    assert.deepEqual(file, await client.templates.export(templateId))
    assert.equal(file.name, 'Bug Fix')

    const missing = await run(['templates', 'instantiate', templateId, '--param', 'bug_report=crash'])
    assert.notEqual(missing.code, 0)
    assert.match(missing.stderr, /reproduction_steps/)

    const made = await run([
      'templates',
      'instantiate',
      templateId,
      '--param',
      'bug_report=crash',
      '--param',
      'reproduction_steps=open, save',
      '--version',
      '1',
      '--json',
    ])
    assert.equal(made.code, 0, made.stderr)
    const workflow = JSON.parse(made.stdout) as { workflow_id: string; template_id: string }
    assert.equal(workflow.template_id, templateId)
    assert.equal((await client.workflows.get(workflow.workflow_id)).workflow_id, workflow.workflow_id)
  })

  it('instantiate --run starts the new workflow', async () => {
    const template = await client.templates.create({
      name: 'cli greeter',
      parameters: { who: { type: 'string', required: true } },
      workflow_definition: {
        name: 'cli_greeter',
        tasks: {
          hello: {
            name: 'hello',
            component: 'core',
            action: 'echo',
            input: { message: 'Hello ${param.who}' },
          },
        },
        output: { message: '${tasks.hello.output.message}' },
      },
    })
    const made = await run([
      'templates',
      'instantiate',
      template.template_id,
      '-p',
      'who=Ada',
      '--run',
      '--json',
    ])
    assert.equal(made.code, 0, made.stderr)
    const answer = JSON.parse(made.stdout) as { execution: { execution_id: string } }
    const done = await server.harmonia.engine.waitForExecution(answer.execution.execution_id, {
      timeoutMs: 10_000,
    })
    assert.deepEqual(done.output, { message: 'Hello Ada' })
  })
})

describe('harmonia schedules', () => {
  it('creates, lists, disables, enables and deletes a schedule', async () => {
    const workflow = await client.workflows.create({
      name: 'nightly',
      tasks: { noop: { name: 'noop', component: 'core', action: 'echo', input: {} } },
    })
    const bad = await run(['schedules', 'create', '--cron', 'nope', '--workflow', workflow.workflow_id])
    assert.equal(bad.code, 2, bad.stderr)
    assert.match(bad.stderr, /cron/)
    const created = await run([
      'schedules',
      'create',
      '--cron',
      '30 2 * * *',
      '--timezone',
      'America/New_York',
      '--workflow',
      workflow.workflow_id,
      '--misfire',
      'run_once',
      '--json',
    ])
    assert.equal(created.code, 0, created.stderr)
    const schedule = JSON.parse(created.stdout) as {
      schedule_id: string
      next_runs: string[]
      misfire_policy: string
    }
    assert.equal(schedule.misfire_policy, 'run_once')
    assert.equal(schedule.next_runs.length, 5)

    const list = await run(['schedules', 'list'])
    assert.equal(list.code, 0, list.stderr)
    assert.match(list.stdout, new RegExp(schedule.schedule_id))
    assert.match(list.stdout, /America\/New_York/)

    const disabled = await run(['schedules', 'disable', schedule.schedule_id])
    assert.match(disabled.stdout, /disabled/)
    assert.equal((await client.schedules.get(schedule.schedule_id)).enabled, false)
    const enabled = await run(['schedules', 'enable', schedule.schedule_id])
    assert.match(enabled.stdout, /next run 20/)
    const deleted = await run(['schedules', 'delete', schedule.schedule_id])
    assert.equal(deleted.code, 0, deleted.stderr)
    assert.equal((await client.schedules.list()).total, 0)
  })
})
