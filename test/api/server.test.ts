import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { Writable } from 'node:stream'
import { after, before, describe, it } from 'node:test'
import { assertSafeBind, isLoopbackHost, startServer } from '../../src/api/server.ts'
import { flagsToOverrides, loadConfigFile } from '../../src/cli/serve-command.ts'
import { resolveConfig } from '../../src/core/config.ts'
import { HarmoniaError } from '../../src/core/errors.ts'
import { openSse, openWs } from './support.ts'

const quiet = () =>
  new Writable({
    write(_chunk, _encoding, done) {
      done()
    },
  })

describe('binding safety', () => {
  it('knows loopback addresses', () => {
    for (const host of ['127.0.0.1', '127.1.2.3', 'localhost', '::1', '[::1]', '::ffff:127.0.0.1']) {
      assert.equal(isLoopbackHost(host), true, host)
    }
    for (const host of ['0.0.0.0', '::', '10.0.0.5', 'example.org', '192.168.1.1']) {
      assert.equal(isLoopbackHost(host), false, host)
    }
  })

  it('refuses a non-loopback address without API keys unless noAuth is set, and says what to do', async () => {
    const exposed = resolveConfig({
      flags: { server: { host: '0.0.0.0', port: 0 }, storage: { kind: 'memory' } },
    })
    assert.throws(
      () => assertSafeBind(exposed),
      (error: unknown) => {
        assert.ok(error instanceof HarmoniaError)
        assert.equal(error.code, 'not_configured')
        assert.match(error.message, /refusing to listen on 0\.0\.0\.0 without API keys/)
        assert.match(error.message, /HARMONIA_API_KEYS/)
        assert.match(error.message, /--no-auth/)
        return true
      },
    )
    await assert.rejects(startServer(exposed, { logDestination: quiet(), announce: () => {} }), {
      code: 'not_configured',
    })
    assertSafeBind(resolveConfig({ flags: { server: { host: '0.0.0.0', noAuth: true } } }))
    assertSafeBind(
      resolveConfig({
        flags: { server: { host: '0.0.0.0', apiKeys: [{ key: 'k'.repeat(16), scope: 'admin' }] } },
      }),
    )
    assertSafeBind(resolveConfig({ flags: { server: { host: '127.0.0.1' } } }))
  })
})

describe('serve command options', () => {
  let dir: string
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'harmonia-serve-'))
  })
  after(() => rm(dir, { recursive: true, force: true }))

  it('turns flags into config overrides and rejects bad values by name', () => {
    assert.deepEqual(
      flagsToOverrides({
        host: '0.0.0.0',
        port: '0',
        storage: 'memory',
        dataDir: 'd',
        logLevel: 'warn',
        auth: false,
      }),
      {
        server: { host: '0.0.0.0', port: 0, noAuth: true },
        storage: { kind: 'memory' },
        dataDir: 'd',
        log: { level: 'warn' },
      },
    )
    assert.deepEqual(flagsToOverrides({ auth: true }), {})
    assert.throws(() => flagsToOverrides({ port: 'http' }), /--port 'http' is not a port number/)
    assert.throws(
      () => flagsToOverrides({ storage: 'mongo' }),
      /--storage 'mongo' is not one of memory, file, sqlite, postgres/,
    )
    assert.throws(() => flagsToOverrides({ logLevel: 'loud' }), /--log-level 'loud'/)
  })

  it('reads harmonia.config.json or .yaml from the working directory, or the file given', async () => {
    assert.equal(await loadConfigFile(undefined, dir), undefined)
    await writeFile(path.join(dir, 'harmonia.config.yaml'), 'server:\n  port: 9100\nlog:\n  level: warn\n')
    assert.deepEqual(await loadConfigFile(undefined, dir), { server: { port: 9100 }, log: { level: 'warn' } })
    await writeFile(path.join(dir, 'other.json'), '{"server": {"port": 9200}}')
    assert.deepEqual(await loadConfigFile('other.json', dir), { server: { port: 9200 } })
    await writeFile(path.join(dir, 'broken.json'), '{"server": ')
    await assert.rejects(loadConfigFile('broken.json', dir), /config file .*broken\.json is not valid/)
    await assert.rejects(loadConfigFile('missing.json', dir), /cannot read config file/)
    // Flags win over the environment, which wins over the file.
    const config = resolveConfig({
      file: await loadConfigFile(undefined, dir),
      env: { HARMONIA_PORT: '9300' },
      flags: flagsToOverrides({ logLevel: 'error' }),
    })
    assert.equal(config.server.port, 9300)
    assert.equal(config.log.level, 'error')
  })
})

describe('startServer', () => {
  it('listens on the port asked (0: any), prints the URL, and shuts down closing streams', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'harmonia-server-'))
    const lines: string[] = []
    let server: Awaited<ReturnType<typeof startServer>> | undefined
    try {
      const config = resolveConfig({
        flags: {
          dataDir: dir,
          storage: { kind: 'sqlite' },
          server: { port: 0, shutdownGraceMs: 50 },
          log: { level: 'silent' },
        },
      })
      server = await startServer(config, {
        cwd: dir,
        logDestination: quiet(),
        announce: (line) => lines.push(line),
      })
      assert.match(lines[0]!, /^Harmonia listening on http:\/\/127\.0\.0\.1:\d+$/)
      assert.equal(lines[0], `Harmonia listening on ${server.url}`)
      const health = (await (await fetch(`${server.url}/health`)).json()) as { store: { kind: string } }
      assert.equal(health.store.kind, 'sqlite')

      server.harmonia.components.register({ name: 'block', description: 'blocks', kind: 'builtin' }, [
        {
          descriptor: { name: 'wait' },
          invoke: (_input, context) =>
            new Promise((_, reject) =>
              context.signal.addEventListener('abort', () => reject(context.signal.reason as Error)),
            ),
        },
      ])
      const started = await fetch(`${server.url}/api/v1/executions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          workflow: {
            name: 'blocked',
            tasks: { hold: { name: 'hold', component: 'block', action: 'wait' } },
          },
        }),
      })
      const { execution_id: id } = (await started.json()) as { execution_id: string }
      const url = server.url
      const ws = await openWs(`${url.replace('http', 'ws')}/ws/executions/${id}`)
      await ws.messages.until((m) => m.some((x) => x.type === 'task_started'), 'task_started')
      const sse = await openSse(`${url}/events`)
      await sse.events.until((e) => e.length > 0, 'snapshot')

      await server.close()
      const closed = await ws.closed
      assert.equal(closed.code, 1001)
      assert.equal(closed.reason, 'server shutting down')
      await sse.events.until(() => sse.events.ended, 'SSE end')
      await sse.close()
      await assert.rejects(fetch(`${url}/health`))
    } finally {
      await server?.close()
      await rm(dir, { recursive: true, force: true })
    }
  })
})
