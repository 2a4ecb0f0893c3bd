/**
 * Schedules: a schedule due every second fires once per slot across a restart over the same SQLite file
 * (and with two Harmonia instances sharing it); the API shows next run times, enable/disable, misfire
 * `run_once` after downtime; bad cron names the field.
 */
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { describe, it } from 'node:test'
import { resolveConfig } from '../../src/core/config.ts'
import { createHarmonia, type Harmonia } from '../../src/harmonia.ts'
import { call, eventually, startTestServer } from '../api/support.ts'

const EVERY_SECOND = '* * * * * *'
const workflow = {
  name: 'tick',
  tasks: { echo: { component: 'core', action: 'echo', input: { at: '${workflow.input.label}' } } },
}

async function open(dir: string, nodeId: string): Promise<Harmonia> {
  const config = resolveConfig({
    flags: { dataDir: dir, storage: { kind: 'sqlite' }, log: { level: 'silent' }, engine: { nodeId } },
  })
  const harmonia = await createHarmonia(config, { cwd: dir })
  await harmonia.start()
  return harmonia
}

describe('schedules', () => {
  it('a schedule due every second fires once per slot across a restart and with two nodes', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'harmonia-schedules-'))
    try {
      let harmonia = await open(dir, 'node-a')
      const saved = await harmonia.workflows.create(workflow)
      const schedule = await harmonia.schedules.create({
        schedule_id: 'every-second',
        cron: EVERY_SECOND,
        workflow_id: saved.workflow_id,
        input: { label: 'tick' },
        misfire_policy: 'run_once',
      })
      assert.equal(schedule.next_runs.length, 5)
      await eventually(
        () => harmonia.schedules.runs('every-second'),
        (runs) => runs.length >= 2,
        { what: 'two slots fired before the restart' },
      )
      await harmonia.close()
      // Restart over the same file, with a second node sharing it.
      harmonia = await open(dir, 'node-a')
      const other = await open(dir, 'node-b')
      try {
        const before = (await harmonia.schedules.runs('every-second')).length
        await eventually(
          () => harmonia.schedules.runs('every-second'),
          (runs) => runs.length >= before + 3,
          { what: 'three more slots fired after the restart' },
        )
        await harmonia.schedules.setEnabled('every-second', false)
      } finally {
        await other.close()
      }
      const runs = await harmonia.schedules.runs('every-second')
      const executions = await harmonia.store.listExecutions({ workflow_id: saved.workflow_id, limit: 500 })
      await harmonia.close()
      // One execution per slot: as many executions as slots, and no slot twice.
      const slots = runs.map((run) => run.slot)
      assert.equal(new Set(slots).size, slots.length, `a slot fired twice: ${slots.join(', ')}`)
      assert.equal(executions.total, slots.length)
      assert.equal(new Set(runs.map((run) => run.execution_id)).size, runs.length)
      for (const slot of slots) assert.equal(new Date(slot).getUTCMilliseconds(), 0)
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })

  it('after downtime, run_once fires the latest missed slot once and skip fires none', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'harmonia-misfire-'))
    try {
      let harmonia = await open(dir, 'node-a')
      const saved = await harmonia.workflows.create(workflow)
      const threeHoursAgo = new Date(Date.now() - 3 * 3_600_000).toISOString()
      for (const policy of ['run_once', 'skip']) {
        await harmonia.schedules.create({
          schedule_id: policy,
          cron: '0 * * * *',
          workflow_id: saved.workflow_id,
          misfire_policy: policy,
        })
      }
      await harmonia.close()
      // As if the last slot fired three hours ago and no node ran since.
      harmonia = await open(dir, 'node-a')
      for (const policy of ['run_once', 'skip']) {
        const doc = await harmonia.store.getDocument('schedules', policy)
        await harmonia.store.putDocument('schedules', policy, {
          ...doc!,
          last_slot: threeHoursAgo,
          updated_at: threeHoursAgo,
        })
      }
      await harmonia.close()
      harmonia = await open(dir, 'node-a')
      try {
        const runOnce = await harmonia.schedules.runs('run_once')
        const skip = await harmonia.schedules.runs('skip')
        const hourStart = new Date()
        hourStart.setUTCMinutes(0, 0, 0)
        assert.deepEqual(
          runOnce.map((run) => run.slot),
          [hourStart.toISOString()],
        )
        assert.deepEqual(skip, [])
        // A second restart does not fire that slot again.
        await harmonia.close()
        harmonia = await open(dir, 'node-b')
        assert.equal((await harmonia.schedules.runs('run_once')).length, 1)
      } finally {
        await harmonia.close()
      }
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })

  it('API: create, next runs, disable/enable, runs, delete; a bad cron names the field', async () => {
    await using server = await startTestServer()
    const saved = await call(server.app, 'POST', '/api/v1/workflows', workflow)
    assert.equal(saved.status, 201)
    const bad = await call(server.app, 'POST', '/api/v1/schedules', {
      cron: 'every tuesday',
      workflow_id: saved.body.workflow_id,
    })
    assert.equal(bad.status, 422)
    assert.equal(bad.body.error.code, 'validation_error')
    assert.match(bad.body.error.message, /cron/)
    const badPolicy = await call(server.app, 'POST', '/api/v1/schedules', {
      cron: '0 9 * * *',
      workflow_id: saved.body.workflow_id,
      misfire_policy: 'sometimes',
    })
    assert.equal(badPolicy.status, 422)
    assert.match(badPolicy.body.error.message, /misfire_policy/)

    const created = await call(server.app, 'POST', '/api/v1/schedules', {
      name: 'mornings',
      cron: '0 9 * * *',
      timezone: 'Europe/Paris',
      workflow_id: saved.body.workflow_id,
      input: { label: 'morning' },
    })
    assert.equal(created.status, 201, JSON.stringify(created.body))
    const id = created.body.schedule_id as string
    assert.equal(created.body.misfire_policy, 'skip')
    assert.equal(created.body.next_runs.length, 5)
    for (const next of created.body.next_runs as string[]) {
      const hour = new Intl.DateTimeFormat('en-GB', { timeZone: 'Europe/Paris', hour: '2-digit' }).format(
        new Date(next),
      )
      assert.equal(hour, '09')
    }
    const disabled = await call(server.app, 'POST', `/api/v1/schedules/${id}/disable`)
    assert.equal(disabled.body.enabled, false)
    assert.deepEqual(disabled.body.next_runs, [])
    const enabled = await call(server.app, 'POST', `/api/v1/schedules/${id}/enable`)
    assert.equal(enabled.body.next_runs.length, 5)
    const list = await call(server.app, 'GET', '/api/v1/schedules')
    assert.deepEqual(
      list.body.items.map((s: { schedule_id: string }) => s.schedule_id),
      [id],
    )
    const runs = await call(server.app, 'GET', `/api/v1/schedules/${id}/runs`)
    assert.deepEqual(runs.body.items, [])
    assert.equal((await call(server.app, 'DELETE', `/api/v1/schedules/${id}`)).status, 200)
    assert.equal((await call(server.app, 'GET', `/api/v1/schedules/${id}`)).status, 404)
  })

  it('a schedule from a template instantiates it once and runs its workflow', async () => {
    await using server = await startTestServer()
    const template = await call(server.app, 'POST', '/api/v1/templates', {
      template_id: 'say',
      name: 'say',
      parameters: { word: { type: 'string', required: true } },
      workflow_definition: {
        name: 'say',
        tasks: { echo: { component: 'core', action: 'echo', input: { word: '${param.word}' } } },
        output: { word: '${tasks.echo.output.word}' },
      },
    })
    assert.equal(template.status, 201, JSON.stringify(template.body))
    const missing = await call(server.app, 'POST', '/api/v1/schedules', {
      cron: EVERY_SECOND,
      template_id: 'say',
      parameter_values: {},
    })
    assert.equal(missing.status, 422)
    assert.match(missing.body.error.message, /word/)
    const created = await call(server.app, 'POST', '/api/v1/schedules', {
      cron: EVERY_SECOND,
      template_id: 'say',
      parameter_values: { word: 'hi' },
    })
    assert.equal(created.status, 201, JSON.stringify(created.body))
    const runs = await eventually(
      () => call(server.app, 'GET', `/api/v1/schedules/${created.body.schedule_id}/runs`),
      (answer) => answer.body.items.length >= 1,
      { what: 'the first slot fired' },
    )
    await call(server.app, 'POST', `/api/v1/schedules/${created.body.schedule_id}/disable`)
    const done = await server.harmonia.engine.waitForExecution(runs.body.items[0].execution_id, {
      timeoutMs: 10_000,
    })
    assert.equal(done.status, 'completed')
    assert.deepEqual(done.output, { word: 'hi' })
  })
})
