/**
 * Harmonia and Hermes: a real server (`startServer`, port 0) against a Hermes test server on 127.0.0.1 —
 * registration with its endpoint and capabilities, heartbeats with the token, discovery of components
 * (that workflows then call), re-registration after Hermes forgets it, unregistration on shutdown; and a
 * Hermes that is down at first.
 */
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { after, describe, it } from 'node:test'
import { startServer, type RunningServer } from '../../src/api/server.ts'
import { hermesApiBase } from '../../src/components/hermes-client.ts'
import { resolveConfig } from '../../src/core/config.ts'
import { createHarmonia } from '../../src/harmonia.ts'
import { HarmoniaClient } from '../../src/client/index.ts'
import { freePort, startHermes, type HermesTestServer } from './hermes-server.ts'
import { startRemoteComponent, type RemoteComponentServer } from './remote-server.ts'

async function until<T>(read: () => T | Promise<T>, done: (value: T) => boolean, what: string): Promise<T> {
  const deadline = Date.now() + 10_000
  for (;;) {
    const value = await read()
    if (done(value)) return value
    if (Date.now() > deadline) throw new Error(`${what} not reached in time; last: ${JSON.stringify(value)}`)
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

async function startHarmonia(hermesUrl: string, dir: string): Promise<RunningServer> {
  const config = resolveConfig({
    flags: {
      dataDir: dir,
      storage: { kind: 'memory' },
      server: { port: 0 },
      log: { level: 'silent' },
      hermes: { url: hermesUrl, heartbeatIntervalMs: 40, refreshIntervalMs: 60 },
    },
  })
  return startServer(config, { cwd: dir, announce: () => {} })
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- tests read arbitrary JSON
async function getJson(url: string): Promise<any> {
  const response = await fetch(url)
  return response.json()
}

describe('Hermes', () => {
  const cleanup: Array<() => Promise<unknown>> = []
  after(async () => {
    for (const step of cleanup.reverse()) await step().catch(() => {})
  })

  it('reads HERMES_URL as the server or its API', () => {
    assert.equal(hermesApiBase('http://h:8001'), 'http://h:8001/api/')
    assert.equal(hermesApiBase('http://h:8001/api/'), 'http://h:8001/api/')
    assert.equal(hermesApiBase('http://h:8001/api/v1'), 'http://h:8001/api/v1/')
    const fromEnv = resolveConfig({
      env: {
        HERMES_URL: 'http://h:8001',
        HARMONIA_HERMES_HEARTBEAT_MS: '500',
        HARMONIA_HERMES_REFRESH_MS: '700',
        HARMONIA_HERMES_ENDPOINT: 'http://harmonia:8002',
      },
    }).hermes
    assert.deepEqual(fromEnv, {
      url: 'http://h:8001',
      endpoint: 'http://harmonia:8002',
      heartbeatIntervalMs: 500,
      refreshIntervalMs: 700,
    })
  })

  it('refuses to start with a HERMES_URL that is not an http URL, naming the setting', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'harmonia-hermes-'))
    cleanup.push(() => rm(dir, { recursive: true, force: true }))
    const config = resolveConfig({
      flags: { dataDir: dir, storage: { kind: 'memory' }, log: { level: 'silent' } },
      env: { HERMES_URL: 'hermes:8001' },
    })
    const harmonia = await createHarmonia(config, { cwd: dir })
    await assert.rejects(harmonia.start(), (error: Error & { code?: string }) => {
      assert.equal(error.code, 'validation_error')
      assert.match(error.message, /hermes\.url: expected an http:\/\/ or https:\/\/ URL \(HERMES_URL\)/)
      return true
    })
    await harmonia.close()
  })

  it('registers, heartbeats, discovers, re-registers when forgotten, and unregisters on shutdown', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'harmonia-hermes-'))
    cleanup.push(() => rm(dir, { recursive: true, force: true }))
    const ergon: RemoteComponentServer = await startRemoteComponent({
      execute_command: {
        run: (params) => ({ result: `ran ${(params as { command: string }).command}` }),
      },
    })
    cleanup.push(() => ergon.close())
    const hermes: HermesTestServer = await startHermes()
    cleanup.push(() => hermes.close())
    hermes.add({
      component_id: 'ergon',
      name: 'Ergon',
      endpoint: ergon.baseUrl,
      capabilities: ['execute_command'],
    })

    const harmonia = await startHarmonia(hermes.url, dir)
    cleanup.push(() => harmonia.close())

    const registration = await until(
      () => hermes.log.find((entry) => entry.kind === 'register'),
      (entry) => entry !== undefined,
      'registration',
    )
    assert.equal(registration!.component_id, 'harmonia')
    assert.equal(registration!.body?.endpoint, harmonia.url)
    assert.equal(registration!.body?.type, 'workflow')
    assert.ok((registration!.body?.capabilities as string[]).includes('workflow_execution'))
    const token = hermes.components.get('harmonia')!.token

    const heartbeats = await until(
      () => hermes.log.filter((entry) => entry.kind === 'heartbeat'),
      (list) => list.length >= 2,
      'two heartbeats',
    )
    assert.equal(heartbeats[0]!.token, token)
    assert.equal(heartbeats[0]!.component_id, 'harmonia')

    // Discovery: the component Hermes lists is callable at its endpoint.
    const listed = await until(
      () => getJson(`${harmonia.url}/api/v1/components`),
      (body) => body.items.some((c: { name: string }) => c.name === 'ergon'),
      'ergon discovered',
    )
    const ergonEntry = listed.items.find((c: { name: string }) => c.name === 'ergon')
    assert.equal(ergonEntry.kind, 'remote')
    assert.equal(ergonEntry.base_url, ergon.baseUrl)
    assert.equal(ergonEntry.remote.source, 'hermes')
    assert.ok(!listed.items.some((c: { name: string }) => c.name === 'harmonia'), 'not itself')
    assert.equal(listed.hermes.registered, true)

    const execution = await harmonia.harmonia.engine.startExecution({
      workflow: {
        name: 'via-hermes',
        tasks: {
          run: { name: 'run', component: 'ergon', action: 'execute_command', input: { command: 'echo hi' } },
        },
        output: { result: '${tasks.run.output.result}' },
      },
    })
    const done = await harmonia.harmonia.engine.waitForExecution(execution.execution_id, {
      timeoutMs: 10_000,
    })
    assert.equal(done.status, 'completed', JSON.stringify(done.error))
    assert.deepEqual(done.output, { result: 'ran echo hi' })

    // The SDK registers, refreshes and unregisters remote components over HTTP.
    const client = new HarmoniaClient({ baseUrl: harmonia.url })
    const registered = await client.components.register({ name: 'tool', base_url: ergon.baseUrl })
    assert.equal(registered.kind, 'remote')
    assert.deepEqual(
      registered.actions.map((a) => a.name),
      ['execute_command'],
    )
    assert.equal((await client.components.refresh('tool')).name, 'tool')
    assert.equal((await client.components.unregister('tool')).success, true)
    await assert.rejects(client.components.get('tool'), /not registered/)

    // A component Hermes no longer lists goes away; a new one appears.
    hermes.add({ component_id: 'athena', endpoint: ergon.baseUrl })
    hermes.components.delete('ergon')
    await until(
      () => getJson(`${harmonia.url}/api/v1/components`),
      (body) =>
        body.items.some((c: { name: string }) => c.name === 'athena') &&
        !body.items.some((c: { name: string }) => c.name === 'ergon'),
      'athena discovered, ergon gone',
    )

    // Hermes restarts and forgets everyone: the next heartbeat is refused and Harmonia registers again.
    const registrations = hermes.log.filter((entry) => entry.kind === 'register').length
    hermes.forget()
    await until(
      () => hermes.components.get('harmonia'),
      (entry) => entry !== undefined,
      're-registration',
    )
    assert.ok(hermes.log.some((entry) => entry.kind === 'heartbeat_unknown'))
    assert.equal(hermes.log.filter((entry) => entry.kind === 'register').length, registrations + 1)

    const newToken = hermes.components.get('harmonia')!.token
    await harmonia.close()
    const unregistration = hermes.log.find((entry) => entry.kind === 'unregister')
    assert.equal(unregistration?.component_id, 'harmonia')
    assert.equal(unregistration?.token, newToken)
    assert.equal(hermes.components.has('harmonia'), false)
    const after = hermes.log.length
    await new Promise((resolve) => setTimeout(resolve, 150))
    assert.equal(hermes.log.length, after, 'no timer survives close')
  })

  it('a Harmonia that does not serve (harmonia run) discovers components but never registers', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'harmonia-hermes-'))
    cleanup.push(() => rm(dir, { recursive: true, force: true }))
    const hermes = await startHermes()
    cleanup.push(() => hermes.close())
    hermes.add({ component_id: 'engram', endpoint: 'http://127.0.0.1:9', capabilities: ['store'] })
    const config = resolveConfig({
      flags: {
        dataDir: dir,
        storage: { kind: 'memory' },
        log: { level: 'silent' },
        hermes: { url: hermes.url },
      },
    })
    const harmonia = await createHarmonia(config, { cwd: dir })
    await harmonia.start()
    const engram = harmonia.components.describe('engram')
    assert.equal(engram?.kind, 'remote', 'discovered before start resolved')
    assert.deepEqual(
      engram.actions.map((a) => a.name),
      ['store'],
      "Hermes' capabilities name its actions when it cannot say",
    )
    await harmonia.close()
    assert.deepEqual(
      hermes.log.filter((entry) => entry.kind !== 'list'),
      [],
      'no registration, heartbeat or unregistration',
    )
  })

  it('keeps working while Hermes is down and registers once it is up', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'harmonia-hermes-'))
    cleanup.push(() => rm(dir, { recursive: true, force: true }))
    const port = await freePort()
    const harmonia = await startHarmonia(`http://127.0.0.1:${port}`, dir)
    cleanup.push(() => harmonia.close())

    const health = await fetch(`${harmonia.url}/health`)
    assert.equal(health.status, 200)
    const execution = await harmonia.harmonia.engine.startExecution({
      workflow: {
        name: 'local',
        tasks: { hello: { name: 'hello', component: 'core', action: 'echo', input: { a: 1 } } },
      },
    })
    const done = await harmonia.harmonia.engine.waitForExecution(execution.execution_id, {
      timeoutMs: 10_000,
    })
    assert.equal(done.status, 'completed')
    const state = (await getJson(`${harmonia.url}/api/v1/components`)).hermes
    assert.equal(state.registered, false)
    assert.match(state.last_error, /register|discovery/)

    const hermes = await startHermes({ port })
    cleanup.push(() => hermes.close())
    const entry = await until(
      () => hermes.components.get('harmonia'),
      (value) => value !== undefined,
      'registration once Hermes is up',
    )
    assert.equal(entry!.endpoint, harmonia.url)
    await until(
      () => hermes.log.filter((e) => e.kind === 'heartbeat').length,
      (count) => count >= 1,
      'a heartbeat',
    )
    await harmonia.close()
    assert.equal(hermes.components.has('harmonia'), false)
  })
})
